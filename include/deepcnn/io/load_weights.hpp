// deepcnn/io/load_weights.hpp: weights from a .dcnn model file into an existing model, matched by parameter and
// buffer name ("dense_25.weight") with shape checks: strict by default, or taking only what matches (fine-tuning a
// model whose head differs). Reading the file is io/model_file.hpp's job.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"
#include "model_file.hpp"

namespace deepcnn {

// What load_weights did: the names it assigned, and (not strict) the ones it left alone with the reason.
struct WeightLoadReport {
    std::vector<std::string> loaded;
    std::vector<std::string> skipped;  // "dense_7.weight: file (3, 128), model (7, 128)"
};

// A shape as the messages print it: trailing 1s dropped, and a leading 1 before a single dimension:
// Dense weight (256, 4608, 1, 1) -> "(256, 4608)", a bias (1, 7, 1, 1) -> "(7)", Conv2D weight unchanged.
inline std::string compact_shape(const Shape& shape) {
    std::vector<int> dims{shape.n, shape.c, shape.h, shape.w};
    while (dims.size() > 1 && dims.back() == 1) dims.pop_back();
    if (dims.size() == 2 && dims.front() == 1) dims.erase(dims.begin());
    std::string out = "(";
    for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
    return out + ")";
}

// Every parameter and buffer a model file holds, by name. Throws as load_model.
template <class Scalar>
std::map<std::string, Tensor<Scalar>> read_weights(const std::string& path) {
    Sequential<Scalar> stored = load_model<Scalar>(path);
    std::map<std::string, Tensor<Scalar>> weights;
    for (const auto& p : stored.params()) weights[p.name] = std::move(*p.value);
    for (const auto& b : stored.buffers()) weights[b.name] = std::move(*b.value);
    return weights;
}

// Copies of every parameter and buffer of `model`, by name (to keep the best weights, or to compare).
template <class Model>
auto snapshot_weights(Model& model) {
    std::map<std::string, Tensor<typename Model::scalar_type>> weights;
    for (const auto& p : model.params()) weights[p.name] = *p.value;
    for (const auto& b : model.buffers()) weights[b.name] = *b.value;
    return weights;
}

// Assigns `weights` to the model's parameters and buffers of the same names. Strict: every name of the model must
// be in `weights` with the same shape and every name in `weights` in the model, else shape_error
// "SOURCE: weights do not match the model: dense_25.weight: file (256, 4608), model (128, 4608); ..." listing
// every difference, and nothing is assigned. Not strict: assigns what matches, reports the rest.
template <class Model, class Scalar>
WeightLoadReport assign_weights(Model& model, const std::map<std::string, Tensor<Scalar>>& weights,
                                const std::string& source, bool strict = true) {
    std::vector<std::pair<std::string, Tensor<Scalar>*>> targets;
    for (const auto& p : model.params()) targets.emplace_back(p.name, p.value);
    for (const auto& b : model.buffers()) targets.emplace_back(b.name, b.value);
    WeightLoadReport report;
    std::vector<std::pair<Tensor<Scalar>*, const Tensor<Scalar>*>> assignments;
    std::map<std::string, bool> used;
    for (const auto& target : targets) {
        auto it = weights.find(target.first);
        if (it == weights.end()) {
            report.skipped.push_back(target.first + ": not in the file");
            continue;
        }
        used[target.first] = true;
        if (it->second.shape() != target.second->shape()) {
            report.skipped.push_back(target.first + ": file " + compact_shape(it->second.shape()) + ", model " +
                                     compact_shape(target.second->shape()));
            continue;
        }
        assignments.emplace_back(target.second, &it->second);
        report.loaded.push_back(target.first);
    }
    for (const auto& entry : weights)
        if (!used.count(entry.first)) report.skipped.push_back(entry.first + ": in the file, not in the model");
    if (strict && !report.skipped.empty()) {
        std::string message = source + ": weights do not match the model: ";
        for (std::size_t i = 0; i < report.skipped.size(); ++i) message += (i ? "; " : "") + report.skipped[i];
        throw shape_error(message);
    }
    for (const auto& a : assignments) *a.first = *a.second;
    return report;
}

// Loads the weights of the model file at `path` into `model` by name; see assign_weights. Throws io_error /
// serialization_error for a file that cannot be read, shape_error (strict) for weights that do not match.
template <class Model>
WeightLoadReport load_weights(Model& model, const std::string& path, bool strict = true) {
    using Scalar = typename Model::scalar_type;
    return assign_weights(model, read_weights<Scalar>(path), path, strict);
}

}  // namespace deepcnn
