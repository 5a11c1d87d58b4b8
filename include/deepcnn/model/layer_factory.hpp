// deepcnn/model/layer_factory.hpp: rebuilds a built-in layer from its type name and LayerConfig, the inverse
// of Layer::config(); used when loading model files.
#pragma once

#include <cmath>
#include <memory>
#include <string>

#include "../error.hpp"
#include "../layers/avg_pool2d.hpp"
#include "../layers/batch_norm.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/dense.hpp"
#include "../layers/dropout.hpp"
#include "../layers/flatten.hpp"
#include "../layers/global_avg_pool2d.hpp"
#include "../layers/max_pool2d.hpp"
#include "../layers/relu.hpp"
#include "../layers/softmax.hpp"

namespace deepcnn {

namespace detail {

inline double config_number(const LayerConfig& config, const std::string& type, const std::string& key) {
    for (const auto& entry : config)
        if (entry.first == key) return entry.second;
    throw serialization_error(type + ": configuration lacks '" + key + "'");
}

inline int config_int(const LayerConfig& config, const std::string& type, const std::string& key, int lo, int hi) {
    const double value = config_number(config, type, key);
    if (!(value >= lo && value <= hi) || value != std::floor(value)) {
        throw serialization_error(type + ": configuration '" + key + "' = " + std::to_string(value) +
                                  " is not an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    return static_cast<int>(value);
}

// As config_int for a key that files written before it existed lack: `absent` when the key is missing.
inline int config_int_or(const LayerConfig& config, const std::string& type, const std::string& key, int lo, int hi,
                         int absent) {
    for (const auto& entry : config)
        if (entry.first == key) return config_int(config, type, key, lo, hi);
    return absent;
}

inline Padding config_padding(const LayerConfig& config, const std::string& type) {
    const int mode = config_int(config, type, "padding", 0, 2);
    return Padding{static_cast<PaddingMode>(mode), config_int(config, type, "pad_h", 0, 1 << 16),
                   config_int(config, type, "pad_w", 0, 1 << 16)};
}

}  // namespace detail

// A new, unbuilt layer of `type` configured by `config`; throws serialization_error for an unknown type or a
// missing / out-of-range entry, and config_error for values a layer rejects.
template <class Scalar>
LayerPtr<Scalar> make_layer(const std::string& type, const LayerConfig& config) {
    using detail::config_int;
    using detail::config_number;
    constexpr int big = 1 << 24;
    if (type == "Conv2D") {
        auto layer = std::make_unique<Conv2D<Scalar>>(config_int(config, type, "filters", 1, big),
                                                      config_int(config, type, "kernel_h", 1, big),
                                                      config_int(config, type, "kernel_w", 1, big));
        layer->with_stride(config_int(config, type, "stride_h", 1, big), config_int(config, type, "stride_w", 1, big))
            .with_padding(detail::config_padding(config, type))
            .with_bias(config_int(config, type, "bias", 0, 1) != 0)
            .with_init(init_from_code(config_int(config, type, "init", 0, 3)))
            .with_groups(detail::config_int_or(config, type, "groups", 1, big, 1));
        return layer;
    }
    if (type == "Dense") {
        auto layer = std::make_unique<Dense<Scalar>>(config_int(config, type, "units", 1, big));
        layer->with_bias(config_int(config, type, "bias", 0, 1) != 0)
            .with_init(init_from_code(config_int(config, type, "init", 0, 3)))
            .with_in_features(config_int(config, type, "in_features", 0, big));
        return layer;
    }
    if (type == "BatchNorm") {
        return std::make_unique<BatchNorm<Scalar>>(config_number(config, type, "momentum"),
                                                   config_number(config, type, "eps"));
    }
    if (type == "Dropout") return std::make_unique<Dropout<Scalar>>(config_number(config, type, "rate"));
    if (type == "MaxPool2D") {
        auto layer = std::make_unique<MaxPool2D<Scalar>>(2);
        layer->with_window(config_int(config, type, "pool_h", 1, big), config_int(config, type, "pool_w", 1, big),
                           config_int(config, type, "stride_h", 1, big), config_int(config, type, "stride_w", 1, big))
            .with_padding(detail::config_padding(config, type));
        return layer;
    }
    if (type == "AvgPool2D") {
        auto layer = std::make_unique<AvgPool2D<Scalar>>(2);
        layer->with_window(config_int(config, type, "pool_h", 1, big), config_int(config, type, "pool_w", 1, big),
                           config_int(config, type, "stride_h", 1, big), config_int(config, type, "stride_w", 1, big))
            .with_padding(detail::config_padding(config, type))
            .with_count_include_pad(config_int(config, type, "count_include_pad", 0, 1) != 0);
        return layer;
    }
    if (type == "GlobalAvgPool2D") return std::make_unique<GlobalAvgPool2D<Scalar>>();
    if (type == "Flatten") return std::make_unique<Flatten<Scalar>>();
    if (type == "ReLU") return std::make_unique<ReLU<Scalar>>();
    if (type == "Softmax") return std::make_unique<Softmax<Scalar>>();
    throw serialization_error("unknown layer type '" + type + "'");
}

}  // namespace deepcnn
