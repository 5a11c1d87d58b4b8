// deepcnn/model/model_common.hpp: what every model (Sequential, Graph) shares: the results of a training step and
// of an evaluation, per-layer timings and the timer that fills them, and the batched prediction and evaluation
// loops, written once over any model that offers infer_logits() (eval mode, the inference plan).
#pragma once

#include <algorithm>
#include <cmath>
#include <cctype>
#include <chrono>
#include <iomanip>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "../cancellation.hpp"
#include "../error.hpp"
#include "../layers/softmax.hpp"
#include "../loss/softmax_cross_entropy.hpp"
#include "../tensor.hpp"

namespace deepcnn {

// Loss and accuracy over a set of samples.
struct Evaluation {
    double loss = 0.0;
    double accuracy = 0.0;
    long count = 0;
};

// What one train_step did.
struct StepResult {
    double loss = 0.0;
    int correct = 0;
    int count = 0;
};

// Where the time of a model's passes went, summed since the model's reset_timings() while set_timing(true):
// wall-clock seconds and calls of every layer's forward and backward, in layer order, and of the optimizer steps
// train_step made. A ReLU that the layer before it applies (fused) keeps zero calls.
struct LayerTiming {
    std::string name;  // "conv2d_1", as in parameter names
    double forward_seconds = 0.0;
    double backward_seconds = 0.0;
    long forward_calls = 0;
    long backward_calls = 0;
};
struct ModelTimings {
    std::vector<LayerTiming> layers;
    double optimizer_seconds = 0.0;
    long optimizer_steps = 0;

    void reset() {
        for (auto& layer : layers) layer = LayerTiming{layer.name};
        optimizer_seconds = 0.0;
        optimizer_steps = 0;
    }
};

namespace detail {

// f(), adding its wall-clock time to `seconds` and one to `calls` when `on`.
template <class F>
void timed(bool on, double& seconds, long& calls, F&& f) {
    if (!on) {
        f();
        return;
    }
    const auto start = std::chrono::steady_clock::now();
    f();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++calls;
}

inline void check_batch(int batch) {
    if (batch <= 0) throw config_error("batch size must be positive, got " + std::to_string(batch));
}

// How many rows of `probabilities` (N, K, 1, 1) have their largest value at the label.
template <class Scalar>
int count_correct(const Tensor<Scalar>& probabilities, const std::vector<int>& labels) {
    int correct = 0;
    const int K = static_cast<int>(probabilities.shape().per_sample());
    for (int i = 0; i < probabilities.n(); ++i) {
        const Scalar* p = probabilities.sample(i);
        if (std::max_element(p, p + K) - p == labels[i]) ++correct;
    }
    return correct;
}

// Inputs are data: a NaN or an infinity is rejected here rather than let through (ReLU maps NaN to 0, so a
// poisoned sample can train without the loss ever showing it). `who` and `where` name the call in the message.
template <class Scalar>
void check_finite(const Tensor<Scalar>& x, const char* who, const char* where) {
    const std::size_t per_sample = x.shape().per_sample();
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (!std::isfinite(x[i])) {
            throw data_error(std::string(who) + "::" + where + ": input sample " + std::to_string(i / per_sample) +
                             " holds a non-finite value (" + (std::isnan(x[i]) ? "nan" : "inf") + ") at element " +
                             std::to_string(i % per_sample));
        }
    }
}

// Rows [first, first + count) of x: x itself where that is all of it (no copy), else a copy in `chunk`.
template <class Scalar>
const Tensor<Scalar>& batch_of(const Tensor<Scalar>& x, int first, int count, Tensor<Scalar>& chunk) {
    if (first == 0 && count == x.n()) return x;
    chunk = x.slice(first, count);
    return chunk;
}

// Class probabilities (N, K, 1, 1) of `model` in eval mode, computed in batches of `batch`; `cancel` (may be null)
// is polled before each batch.
template <class Model, class Scalar>
Tensor<Scalar> predict_in_batches(Model& model, const char* who, const Tensor<Scalar>& x, int batch,
                                  const CancelFlag* cancel) {
    check_batch(batch);
    check_finite(x, who, "predict");
    model.eval();
    Tensor<Scalar> out(Shape(x.n(), static_cast<int>(model.output_shape().per_sample()), 1, 1));
    Tensor<Scalar> chunk;
    for (int first = 0; first < x.n(); first += batch) {
        throw_if_cancelled(cancel, "predicting");
        const int count = std::min(batch, x.n() - first);
        const Tensor<Scalar>& logits = model.infer_logits(batch_of(x, first, count, chunk));
        const int K = static_cast<int>(logits.shape().per_sample());
        for (int i = 0; i < count; ++i) softmax_row(logits.sample(i), out.sample(first + i), K, 1);
    }
    return out;
}

// Mean loss and accuracy of `model` in eval mode (the loss's class weights apply); `who` names the model in errors;
// `cancel` (may be null) is polled before each batch.
template <class Model, class Scalar>
Evaluation evaluate_in_batches(Model& model, const char* who, const Tensor<Scalar>& x, const std::vector<int>& labels,
                               int batch, const SoftmaxCrossEntropy<Scalar>& loss, const CancelFlag* cancel) {
    check_batch(batch);
    if (static_cast<int>(labels.size()) != x.n()) {
        throw shape_error(std::string(who) + "::evaluate: " + std::to_string(x.n()) + " samples but " +
                          std::to_string(labels.size()) + " labels");
    }
    check_finite(x, who, "evaluate");
    model.eval();
    SoftmaxCrossEntropy<Scalar> batch_loss(loss.class_weights());
    Evaluation result;
    double weighted_loss = 0.0, weight_total = 0.0;
    long correct = 0;
    Tensor<Scalar> chunk;
    for (int first = 0; first < x.n(); first += batch) {
        throw_if_cancelled(cancel, "evaluating");
        const int count = std::min(batch, x.n() - first);
        const std::vector<int> chunk_labels(labels.begin() + first, labels.begin() + first + count);
        const Tensor<Scalar>& logits = model.infer_logits(batch_of(x, first, count, chunk));
        const double l = double(batch_loss.forward(logits, chunk_labels));
        double w = 0.0;
        for (int label : chunk_labels) w += loss.class_weights().empty() ? 1.0 : loss.class_weights()[label];
        weighted_loss += l * w;
        weight_total += w;
        correct += count_correct(batch_loss.probabilities(), chunk_labels);
    }
    result.count = x.n();
    result.loss = weight_total > 0 ? weighted_loss / weight_total : 0.0;
    result.accuracy = x.n() > 0 ? double(correct) / x.n() : 0.0;
    return result;
}

// "Conv2D" -> "conv2d": the lower-case type that default layer names start with.
inline std::string lower_case(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
    return text;
}

// The Keras-style table of a model's summary(): one row per layer (name and type, output shape, parameters, forward
// MFLOPs per image, and with `connected` the layers it takes its inputs from), then the totals.
template <class Scalar>
class SummaryTable {
public:
    SummaryTable(const std::string& model, bool connected) : connected_(connected) {
        out_ << "Model: " << model << "<" << (std::is_same<Scalar, float>::value ? "float" : "double") << ">\n"
             << rule('=') << '\n';
        cells("Layer (type)", "Output Shape", "Param #", "MFLOPs", "Connected to");
        out_ << rule('=') << '\n';
    }
    void row(const std::string& name, const std::string& type, const Shape& shape, std::size_t params, double flops,
             const std::string& connected = "") {
        std::ostringstream mflops;
        mflops << std::fixed << std::setprecision(2) << flops / 1e6;
        cells(type.empty() ? name : name + " (" + type + ")", shape.sample_str(), std::to_string(params), mflops.str(),
              connected);
        total_params_ += params;
        total_flops_ += flops;
    }
    std::string finish() {
        out_ << rule('=') << '\n';
        out_ << "Total params: " << total_params_ << '\n';
        out_ << "Forward MFLOPs per image: " << std::fixed << std::setprecision(2) << total_flops_ / 1e6 << '\n';
        out_ << rule('-') << '\n';
        return out_.str();
    }

private:
    static constexpr int w_layer = 26, w_shape = 18, w_params = 12, w_flops = 14, w_connected = 30;
    std::string rule(char ch) const {
        return std::string(w_layer + w_shape + w_params + w_flops + (connected_ ? w_connected : 0), ch);
    }
    void cells(const std::string& layer, const std::string& shape, const std::string& params, const std::string& flops,
               const std::string& connected) {
        out_ << std::left << std::setw(w_layer) << layer << std::setw(w_shape) << shape << std::right
             << std::setw(w_params) << params << std::setw(w_flops) << flops;
        if (connected_ && !connected.empty()) out_ << "  " << std::left << connected;
        out_ << '\n';
    }

    bool connected_;
    std::ostringstream out_;
    std::size_t total_params_ = 0;
    double total_flops_ = 0.0;
};

}  // namespace detail

}  // namespace deepcnn
