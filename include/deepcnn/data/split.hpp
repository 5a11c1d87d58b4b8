// deepcnn/data/split.hpp: turns the selected rows of a Fer2013Dataset into labelled image tensors
// (N, 1, 48, 48) with pixels scaled to [0, 1]: the Usage splits (Training / PublicTest / PrivateTest), a seeded
// stratified random split (the tutorial's 90/10), and batch gathering by index.
// Class selection is data/classes.hpp's job; normalisation is data/normalize.hpp's.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../io/fer2013.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "classes.hpp"

namespace deepcnn {

// Images with one label each.
template <class Scalar>
struct LabeledImages {
    Tensor<Scalar> images;          // (N, 1, 48, 48), pixel / 255
    std::vector<int> labels;        // (N), 0..classes-1
    std::vector<std::size_t> rows;  // (N), the index into the Fer2013Dataset each image came from

    int size() const { return images.n(); }
};

// The three Usage splits of the selected classes.
template <class Scalar>
struct UsageSplits {
    LabeledImages<Scalar> train;       // Training
    LabeledImages<Scalar> validation;  // PublicTest: model selection
    LabeledImages<Scalar> test;        // PrivateTest: reported once at the end
};

// Indices of the rows of `data` whose emotion is in `selection`, in file order.
inline std::vector<std::size_t> selected_rows(const Fer2013Dataset& data, const ClassSelection& selection) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (selection.label_of(data.emotions[i]) >= 0) out.push_back(i);
    }
    return out;
}

// The same, restricted to one Usage.
inline std::vector<std::size_t> selected_rows(const Fer2013Dataset& data, const ClassSelection& selection,
                                              Usage usage) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (data.usages[i] == usage && selection.label_of(data.emotions[i]) >= 0) out.push_back(i);
    }
    return out;
}

// The given rows as images (N, 1, 48, 48) in [0, 1] with their labels under `selection`.
// Throws data_error if a row index is out of range or a row's emotion is not selected.
template <class Scalar = float>
LabeledImages<Scalar> make_labeled_images(const Fer2013Dataset& data, const ClassSelection& selection,
                                          const std::vector<std::size_t>& rows) {
    LabeledImages<Scalar> out;
    out.images.resize(Shape(static_cast<int>(rows.size()), 1, fer_image_side, fer_image_side));
    out.labels.reserve(rows.size());
    out.rows = rows;
    const Scalar scale = Scalar(1) / Scalar(255);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const std::size_t row = rows[i];
        if (row >= data.size()) {
            throw data_error("make_labeled_images: row " + std::to_string(row) + " out of range for " +
                             std::to_string(data.size()) + " rows");
        }
        const int label = selection.label_of(data.emotions[row]);
        if (label < 0) {
            throw data_error("make_labeled_images: row " + std::to_string(row) + " has emotion " +
                             std::to_string(data.emotions[row]) + ", which is not selected");
        }
        out.labels.push_back(label);
        const std::uint8_t* src = data.image(row);
        Scalar* dst = out.images.sample(static_cast<int>(i));
        for (int p = 0; p < fer_image_pixels; ++p) dst[p] = static_cast<Scalar>(src[p]) * scale;
    }
    return out;
}

// Training / PublicTest / PrivateTest of the selected classes.
template <class Scalar = float>
UsageSplits<Scalar> split_by_usage(const Fer2013Dataset& data, const ClassSelection& selection) {
    UsageSplits<Scalar> out;
    out.train = make_labeled_images<Scalar>(data, selection, selected_rows(data, selection, Usage::training));
    out.validation = make_labeled_images<Scalar>(data, selection, selected_rows(data, selection, Usage::public_test));
    out.test = make_labeled_images<Scalar>(data, selection, selected_rows(data, selection, Usage::private_test));
    return out;
}

// Two disjoint parts of a list of items.
struct IndexSplit {
    std::vector<std::size_t> first;   // the larger part (training), in ascending order
    std::vector<std::size_t> second;  // the held-out part, in ascending order
};

// A seeded random split of `items` stratified by `labels` (labels[i] is the class of items[i]): from each
// class, round(second_fraction * class size) items, drawn at random, go to `second`; the rest to `first`.
// The same inputs and seed give the same split. Throws config_error unless 0 <= second_fraction <= 1 and the
// two lists have the same length.
inline IndexSplit stratified_split(const std::vector<std::size_t>& items, const std::vector<int>& labels,
                                   double second_fraction, std::uint64_t seed) {
    if (!(second_fraction >= 0.0 && second_fraction <= 1.0)) {
        throw config_error("stratified_split: expected a fraction in [0, 1], got " + std::to_string(second_fraction));
    }
    if (items.size() != labels.size()) {
        throw config_error("stratified_split: " + std::to_string(items.size()) + " items but " +
                           std::to_string(labels.size()) + " labels");
    }
    int classes = 0;
    for (int label : labels) {
        if (label < 0) throw config_error("stratified_split: negative label " + std::to_string(label));
        classes = std::max(classes, label + 1);
    }
    std::vector<std::vector<std::size_t>> by_class(static_cast<std::size_t>(classes));
    for (std::size_t i = 0; i < items.size(); ++i) by_class[static_cast<std::size_t>(labels[i])].push_back(i);

    Rng rng(seed);
    std::vector<char> held_out(items.size(), 0);
    for (std::vector<std::size_t>& members : by_class) {
        rng.shuffle(members.begin(), members.end());
        const auto take = static_cast<std::size_t>(second_fraction * static_cast<double>(members.size()) + 0.5);
        for (std::size_t j = 0; j < take && j < members.size(); ++j) held_out[members[j]] = 1;
    }
    IndexSplit out;
    for (std::size_t i = 0; i < items.size(); ++i) (held_out[i] ? out.second : out.first).push_back(items[i]);
    return out;
}

// The tutorial's split: all rows of the selected classes, whatever their Usage, split at random (seeded) and
// stratified by class into train (1 - validation_fraction) and validation (validation_fraction, 0.1 there).
// `test` is left empty: the tutorial used its 10% split for both selection and the reported figure.
template <class Scalar = float>
UsageSplits<Scalar> split_stratified(const Fer2013Dataset& data, const ClassSelection& selection,
                                     double validation_fraction, std::uint64_t seed) {
    const std::vector<std::size_t> rows = selected_rows(data, selection);
    std::vector<int> labels;
    labels.reserve(rows.size());
    for (std::size_t row : rows) labels.push_back(selection.label_of(data.emotions[row]));
    const IndexSplit parts = stratified_split(rows, labels, validation_fraction, seed);
    UsageSplits<Scalar> out;
    out.train = make_labeled_images<Scalar>(data, selection, parts.first);
    out.validation = make_labeled_images<Scalar>(data, selection, parts.second);
    out.test.images.resize(Shape(0, 1, fer_image_side, fer_image_side));
    return out;
}

// Copies samples source[indices[first]], ..., source[indices[first + count - 1]] into `batch`, resized to
// (count, C, H, W) (no allocation once it has held that many), and their labels into `batch_labels`.
// Throws shape_error for an index or range out of bounds.
template <class Scalar>
void gather_batch(const LabeledImages<Scalar>& source, const std::vector<std::size_t>& indices, std::size_t first,
                  std::size_t count, Tensor<Scalar>& batch, std::vector<int>& batch_labels) {
    if (first > indices.size() || count > indices.size() - first) {
        throw shape_error("gather_batch: range [" + std::to_string(first) + ", " + std::to_string(first + count) +
                          ") out of range for " + std::to_string(indices.size()) + " indices");
    }
    batch.resize(source.images.shape().with_batch(static_cast<int>(count)));
    batch_labels.resize(count);
    const std::size_t per_sample = source.images.shape().per_sample();
    for (std::size_t i = 0; i < count; ++i) {
        const std::size_t index = indices[first + i];
        if (index >= static_cast<std::size_t>(source.size())) {
            throw shape_error("gather_batch: index " + std::to_string(index) + " out of range for " +
                              std::to_string(source.size()) + " samples");
        }
        std::memcpy(batch.sample(static_cast<int>(i)), source.images.sample(static_cast<int>(index)),
                    per_sample * sizeof(Scalar));
        batch_labels[i] = source.labels[index];
    }
}

}  // namespace deepcnn
