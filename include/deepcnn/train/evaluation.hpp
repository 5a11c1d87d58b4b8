// deepcnn/train/evaluation.hpp: a classifier's probabilities, optionally averaged over views of each image
// (test-time augmentation: the mirror image, shifted copies), and its loss and accuracy on a labelled DataSource. Works on any model with
// predict(images, batch) returning (N, K, 1, 1) probabilities. Data-parallel training splits an evaluation over
// its ranks with the two steps in detail (distributed/data_parallel.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "../data/augment.hpp"
#include "../error.hpp"
#include "../tensor.hpp"
#include "data_source.hpp"

namespace deepcnn {

// Class probabilities (N, K, 1, 1) of `images`, averaged with those of their mirror images if `flip`, predicted in
// batches of `batch`.
template <class Model, class Scalar>
Tensor<Scalar> predict_probabilities(Model& model, const Tensor<Scalar>& images, bool flip, int batch = 256) {
    Tensor<Scalar> probabilities = model.predict(images, batch);
    if (flip && images.n() > 0) {
        Tensor<Scalar> mirrored;
        flip_horizontal(images, mirrored);
        const Tensor<Scalar> mirrored_probabilities = model.predict(mirrored, batch);
        for (std::size_t i = 0; i < probabilities.size(); ++i) {
            probabilities[i] = Scalar(0.5) * (probabilities[i] + mirrored_probabilities[i]);
        }
    }
    return probabilities;
}

// Test-time augmentation: the views of each image whose class probabilities are averaged. The image itself and, if
// `shift` > 0, four copies moved `shift` pixels down, up, right and left (shift_images); each of these also mirrored
// if `flip`. {false, 0} predicts the images alone.
struct TestTimeAugmentation {
    bool flip = false;
    int shift = 0;

    int views() const { return (shift > 0 ? 5 : 1) * (flip ? 2 : 1); }
};

// Class probabilities (N, K, 1, 1) of `images`, averaged over the views `tta` names. With shift 0 the same bits as
// the flip-only overload above.
template <class Model, class Scalar>
Tensor<Scalar> predict_probabilities(Model& model, const Tensor<Scalar>& images, const TestTimeAugmentation& tta,
                                     int batch = 256) {
    if (tta.shift < 0 || (images.size() > 0 && tta.shift >= std::min(images.h(), images.w()))) {
        throw config_error("test-time augmentation: expected a shift of 0 to " +
                           std::to_string(std::max(0, std::min(images.h(), images.w()) - 1)) + " pixels for " +
                           std::to_string(images.h()) + "x" + std::to_string(images.w()) + " images, got " +
                           std::to_string(tta.shift));
    }
    Tensor<Scalar> probabilities = predict_probabilities(model, images, tta.flip, batch);
    if (tta.shift == 0 || images.n() == 0) return probabilities;
    const int s = tta.shift;
    const int moves[4][2] = {{s, 0}, {-s, 0}, {0, s}, {0, -s}};
    Tensor<Scalar> shifted;
    for (const auto& move : moves) {
        shift_images(images, move[0], move[1], shifted);
        const Tensor<Scalar> view = predict_probabilities(model, shifted, tta.flip, batch);
        for (std::size_t i = 0; i < probabilities.size(); ++i) probabilities[i] += view[i];
    }
    for (Scalar& p : probabilities) p *= Scalar(0.2);
    return probabilities;
}

// The index of the largest probability of each row (the first one on ties).
template <class Scalar>
std::vector<int> argmax_rows(const Tensor<Scalar>& probabilities) {
    std::vector<int> out(static_cast<std::size_t>(probabilities.n()));
    const int K = static_cast<int>(probabilities.shape().per_sample());
    for (int i = 0; i < probabilities.n(); ++i) {
        const Scalar* p = probabilities.sample(i);
        out[static_cast<std::size_t>(i)] = static_cast<int>(std::max_element(p, p + K) - p);
    }
    return out;
}

// A classifier on a labelled set: the mean of -log p(true class) (p floored at 1e-12), the accuracy, every
// prediction and probability row, in the source's order. NaN loss and accuracy for an empty set.
template <class Scalar>
struct ClassifierEvaluation {
    double loss = NAN;
    double accuracy = NAN;
    std::vector<int> labels;
    std::vector<int> predicted;
    Tensor<Scalar> probabilities;  // (N, K, 1, 1)
};

namespace detail {
// Predicts samples [first, end) of `source`, fetched in order in chunks of `batch` from `first`, into rows [first, end)
// of result.probabilities and result.labels; sizes both for the source's N samples first if they are empty.
template <class Model, class Scalar>
void predict_rows(Model& model, DataSource<Scalar>& source, const TestTimeAugmentation& tta, int batch, int first,
                  int end, ClassifierEvaluation<Scalar>& result) {
    const int N = source.size();
    std::vector<std::size_t> indices;
    Tensor<Scalar> chunk;
    std::vector<int> chunk_labels;
    if (result.labels.empty()) result.labels.resize(static_cast<std::size_t>(N));
    for (int at = first; at < end; at += batch) {
        const int count = std::min(batch, end - at);
        indices.resize(static_cast<std::size_t>(count));
        std::iota(indices.begin(), indices.end(), static_cast<std::size_t>(at));
        source.fetch(indices.data(), indices.size(), chunk, chunk_labels);
        const Tensor<Scalar> probabilities = predict_probabilities(model, chunk, tta, batch);
        if (result.probabilities.size() == 0) result.probabilities.resize(probabilities.shape().with_batch(N));
        std::copy(probabilities.begin(), probabilities.end(), result.probabilities.sample(at));
        std::copy(chunk_labels.begin(), chunk_labels.end(), result.labels.begin() + at);
    }
}

// The loss, accuracy and predictions of result.probabilities against result.labels, every sample in order (the loss
// a sum in sample order). Throws data_error naming the first sample whose label the model has no class for.
template <class Scalar>
void score_predictions(ClassifierEvaluation<Scalar>& result) {
    const int N = result.probabilities.n();
    const std::size_t K = result.probabilities.shape().per_sample();
    result.predicted = argmax_rows(result.probabilities);
    double loss = 0.0;
    long correct = 0;
    for (int i = 0; i < N; ++i) {
        const int label = result.labels[static_cast<std::size_t>(i)];
        if (label < 0 || static_cast<std::size_t>(label) >= K) {
            throw data_error("evaluate_classifier: sample " + std::to_string(i) + " has label " + std::to_string(label) +
                             ", the model has " + std::to_string(K) + " classes");
        }
        loss -= std::log(std::max(double(result.probabilities.sample(i)[label]), 1e-12));
        correct += result.predicted[static_cast<std::size_t>(i)] == label;
    }
    result.loss = loss / N;
    result.accuracy = double(correct) / N;
}
}  // namespace detail

// Evaluates `model` on every sample of `source`, fetched in order in chunks of `batch` (predicted in eval mode,
// averaged over the views `tta` names).
template <class Model, class Scalar>
ClassifierEvaluation<Scalar> evaluate_classifier(Model& model, DataSource<Scalar>& source,
                                                 const TestTimeAugmentation& tta, int batch = 256) {
    ClassifierEvaluation<Scalar> result;
    const int N = source.size();
    if (N == 0) return result;
    detail::predict_rows(model, source, tta, batch, 0, N, result);
    detail::score_predictions(result);
    return result;
}

// The same, flip-averaged if `flip`.
template <class Model, class Scalar>
ClassifierEvaluation<Scalar> evaluate_classifier(Model& model, DataSource<Scalar>& source, bool flip, int batch = 256) {
    return evaluate_classifier(model, source, TestTimeAugmentation{flip, 0}, batch);
}

}  // namespace deepcnn
