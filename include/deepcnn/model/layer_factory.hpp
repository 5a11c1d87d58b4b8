// deepcnn/model/layer_factory.hpp: rebuilds a layer from its type name and LayerConfig, the inverse of
// Layer::config(); used when loading model files. Built-in types are made here; a user's own layer types are made
// by the factories registered with register_layer (a registry per scalar type), so that models holding them save
// and load. layer_loadable() is what save_model asks before it writes a type.
#pragma once

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

#include "../error.hpp"
#include "../layers/avg_pool2d.hpp"
#include "../layers/add.hpp"
#include "../layers/batch_norm.hpp"
#include "../layers/concat.hpp"
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

// The built-in layer types, which make_layer knows without a registration.
inline bool is_builtin_layer(const std::string& type) {
    static const char* const types[] = {"Conv2D",  "Dense", "BatchNorm", "Dropout", "MaxPool2D", "AvgPool2D",
                                        "GlobalAvgPool2D", "Flatten", "ReLU", "Softmax", "Add", "Concat"};
    for (const char* t : types)
        if (type == t) return true;
    return false;
}

template <class Scalar>
Scalar scalar_of_layer(const Layer<Scalar>*);

}  // namespace detail

// Makes a new, unbuilt layer from the configuration its config() returned.
template <class Scalar>
using LayerMaker = std::function<LayerPtr<Scalar>(const LayerConfig&)>;

// The user-registered layer types of one scalar type, process-wide and guarded by a mutex.
template <class Scalar>
class LayerRegistry {
public:
    static LayerRegistry& instance() {
        static LayerRegistry registry;
        return registry;
    }
    // Registers (or replaces) the maker of `type`; a built-in type name or an empty one is a config_error.
    void add(const std::string& type, LayerMaker<Scalar> maker) {
        if (type.empty() || detail::is_builtin_layer(type)) {
            throw config_error("register_layer: '" + type + "' is " +
                               (type.empty() ? "empty" : "a built-in layer type"));
        }
        if (!maker) throw config_error("register_layer: no factory for '" + type + "'");
        std::lock_guard<std::mutex> lock(mutex_);
        makers_[type] = std::move(maker);
    }
    bool contains(const std::string& type) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return makers_.count(type) != 0;
    }
    // The registered layer, or null if `type` is not registered.
    LayerPtr<Scalar> make(const std::string& type, const LayerConfig& config) const {
        LayerMaker<Scalar> maker;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            const auto it = makers_.find(type);
            if (it == makers_.end()) return nullptr;
            maker = it->second;
        }
        return maker(config);
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, LayerMaker<Scalar>> makers_;
};

// Registers a layer type so that make_layer (and so load_model / load_graph) can make it: `maker` rebuilds the layer
// from its config().
template <class Scalar>
void register_layer(const std::string& type, LayerMaker<Scalar> maker) {
    LayerRegistry<Scalar>::instance().add(type, std::move(maker));
}

// Registers layer class L (derived from Layer<float> or Layer<double>) under `type`, the name its type() returns:
// L is made as L(config) if it has that constructor, else as L() (a layer without configuration).
// Register L<float> and L<double> separately to load a file into either scalar type.
template <class L>
void register_layer(const std::string& type) {
    using Scalar = decltype(detail::scalar_of_layer(static_cast<const L*>(nullptr)));
    register_layer<Scalar>(type, LayerMaker<Scalar>([](const LayerConfig& config) -> LayerPtr<Scalar> {
        if constexpr (std::is_constructible<L, const LayerConfig&>::value) {
            return std::make_unique<L>(config);
        } else {
            static_cast<void>(config);
            return std::make_unique<L>();
        }
    }));
}

// Whether make_layer<Scalar> can make `type`: a built-in type or a registered one.
template <class Scalar>
bool layer_loadable(const std::string& type) {
    return detail::is_builtin_layer(type) || LayerRegistry<Scalar>::instance().contains(type);
}

// A new, unbuilt layer of `type` configured by `config`: a built-in type, else a registered one; throws
// serialization_error for an unknown type or a missing / out-of-range entry, and config_error for values a layer
// rejects.
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
    if (type == "Add") return std::make_unique<Add<Scalar>>();
    if (type == "Concat") return std::make_unique<Concat<Scalar>>();
    if (auto layer = LayerRegistry<Scalar>::instance().make(type, config)) return layer;
    throw serialization_error("unknown layer type '" + type + "' (a layer of your own must be registered: "
                              "register_layer<" + type + ">(\"" + type + "\"))");
}

}  // namespace deepcnn
