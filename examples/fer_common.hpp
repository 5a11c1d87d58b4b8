// examples/fer_common.hpp: what fer_train and fer_predict share: the metadata a FER model file carries
// (classes, normalisation, flip averaging), prediction with test-time flip averaging, and command-line helpers.
#pragma once

#include <deepcnn/data/augment.hpp>
#include <deepcnn/data/normalize.hpp>
#include <deepcnn/deepcnn.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fer {

// Exit codes of both programs.
constexpr int exit_ok = 0;
constexpr int exit_data_error = 1;
constexpr int exit_usage = 2;

// A bad command line: main prints the message and the usage, and exits with exit_usage.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What a FER model file says about its inputs and outputs.
struct ModelInfo {
    std::vector<std::string> classes;  // label order
    std::vector<int> emotions;         // FER2013 emotion code of each class
    deepcnn::Normalization normalization;
    bool flip_averaging = true;
    std::string net;
};

inline std::vector<std::string> split_text(const std::string& text, char separator) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) return parts;
        start = end + 1;
    }
}

inline void store_model_info(const ModelInfo& info, deepcnn::ModelMetadata& meta) {
    std::string classes, emotions;
    for (std::size_t i = 0; i < info.classes.size(); ++i) {
        classes += (i ? "\n" : "") + info.classes[i];
        emotions += (i ? "," : "") + std::to_string(info.emotions[i]);
    }
    meta.text["classes"] = classes;
    meta.text["emotions"] = emotions;
    meta.text["net"] = info.net;
    meta.numbers["norm.mean"] = info.normalization.mean;
    meta.numbers["norm.std"] = info.normalization.stddev;
    meta.numbers["tta.flip"] = info.flip_averaging ? 1.0 : 0.0;
}

// Reads the FER fields of a model file's metadata; throws serialization_error naming `source` if one is
// missing or does not match the model's output size.
inline ModelInfo read_model_info(const deepcnn::ModelMetadata& meta, int outputs, const std::string& source) {
    auto text = [&](const char* key) {
        auto it = meta.text.find(key);
        if (it == meta.text.end()) throw deepcnn::serialization_error(source + ": not a FER model (no '" + key + "')");
        return it->second;
    };
    auto number = [&](const char* key) {
        auto it = meta.numbers.find(key);
        if (it == meta.numbers.end()) throw deepcnn::serialization_error(source + ": not a FER model (no '" + key + "')");
        return it->second;
    };
    ModelInfo info;
    info.classes = split_text(text("classes"), '\n');
    for (const std::string& code : split_text(text("emotions"), ',')) {
        char* end = nullptr;
        const long value = std::strtol(code.c_str(), &end, 10);
        if (code.empty() || *end != '\0' || value < 0 || value > 6) {
            throw deepcnn::serialization_error(source + ": bad emotion code '" + code + "'");
        }
        info.emotions.push_back(static_cast<int>(value));
    }
    info.net = text("net");
    info.normalization.mean = number("norm.mean");
    info.normalization.stddev = number("norm.std");
    info.flip_averaging = number("tta.flip") != 0.0;
    if (static_cast<int>(info.classes.size()) != outputs || info.emotions.size() != info.classes.size()) {
        throw deepcnn::serialization_error(source + ": " + std::to_string(info.classes.size()) +
                                           " class names for a model with " + std::to_string(outputs) + " outputs");
    }
    if (!(info.normalization.stddev > 0.0)) {
        throw deepcnn::serialization_error(source + ": normalisation std must be > 0");
    }
    return info;
}

// Class probabilities (N, K) of normalised images, averaged with those of their mirror images if `flip`.
inline deepcnn::Tensor<float> predict_probabilities(deepcnn::Sequential<float>& model,
                                                    const deepcnn::Tensor<float>& images, bool flip, int batch = 256) {
    deepcnn::Tensor<float> probabilities = model.predict(images, batch);
    if (flip && images.n() > 0) {
        deepcnn::Tensor<float> mirrored;
        deepcnn::flip_horizontal(images, mirrored);
        const deepcnn::Tensor<float> mirrored_probabilities = model.predict(mirrored, batch);
        for (std::size_t i = 0; i < probabilities.size(); ++i) {
            probabilities[i] = 0.5f * (probabilities[i] + mirrored_probabilities[i]);
        }
    }
    return probabilities;
}

inline std::vector<int> argmax_rows(const deepcnn::Tensor<float>& probabilities) {
    std::vector<int> out(static_cast<std::size_t>(probabilities.n()));
    const int K = static_cast<int>(probabilities.shape().per_sample());
    for (int i = 0; i < probabilities.n(); ++i) {
        const float* p = probabilities.sample(i);
        out[static_cast<std::size_t>(i)] = static_cast<int>(std::max_element(p, p + K) - p);
    }
    return out;
}

// Flushes standard output and reports whether everything written to it arrived: empty if so, otherwise why not
// ("No space left on device" for `> /dev/full` or a full disk). A program that printed its results must exit 1 then,
// not 0: a redirected output cut short is a lost result.
inline std::string standard_output_error() {
    errno = 0;
    std::cout.flush();
    const bool flushed = std::fflush(stdout) == 0;
    const int code = errno;
    if (flushed && !std::ferror(stdout) && std::cout.good()) return std::string();
    return code != 0 ? std::strerror(code) : "write error";
}

// Strict number parsing for options: the whole text must be a number in [lo, hi].
inline long parse_integer(const std::string& option, const std::string& text, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || value < lo || value > hi) {
        throw usage_error(option + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "], got '" + text + "'");
    }
    return value;
}

inline double parse_positive(const std::string& option, const std::string& text) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(value > 0.0) || !std::isfinite(value)) {
        throw usage_error(option + ": expected a number > 0, got '" + text + "'");
    }
    return value;
}

}  // namespace fer
