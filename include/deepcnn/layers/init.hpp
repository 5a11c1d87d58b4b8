// deepcnn/layers/init.hpp: weight initialisers (He and Glorot, normal and uniform) drawn from a seeded Rng.
#pragma once

#include <cmath>
#include <string>

#include "../error.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace deepcnn {

enum class Init { he_normal = 0, he_uniform = 1, glorot_normal = 2, glorot_uniform = 3 };

inline std::string init_name(Init init) {
    switch (init) {
        case Init::he_normal: return "he_normal";
        case Init::he_uniform: return "he_uniform";
        case Init::glorot_normal: return "glorot_normal";
        case Init::glorot_uniform: return "glorot_uniform";
    }
    return "?";
}

inline Init init_from_code(int code) {
    if (code < 0 || code > 3) throw config_error("unknown initialiser code " + std::to_string(code));
    return static_cast<Init>(code);
}

// Fills `weights` for a layer with fan_in inputs and fan_out outputs per weight:
// He: variance 2 / fan_in; Glorot: variance 2 / (fan_in + fan_out). Normal draws are truncated at two standard
// deviations (as Keras does); uniform draws cover [-limit, limit] with limit = sqrt(3 * variance).
template <class Scalar>
void initialize_weights(Tensor<Scalar>& weights, Init init, int fan_in, int fan_out, Rng& rng) {
    const bool he = init == Init::he_normal || init == Init::he_uniform;
    const double variance = he ? 2.0 / fan_in : 2.0 / (fan_in + fan_out);
    const bool normal = init == Init::he_normal || init == Init::glorot_normal;
    // A normal truncated at 2 sigma has variance 0.7737 sigma^2; scale up so the result has `variance`.
    const double stddev = std::sqrt(variance) / 0.87962566103423978;
    const double limit = std::sqrt(3.0 * variance);
    for (auto& w : weights) {
        if (normal) {
            double z = rng.normal();
            while (std::abs(z) > 2.0) z = rng.normal();
            w = static_cast<Scalar>(z * stddev);
        } else {
            w = static_cast<Scalar>(rng.uniform(-limit, limit));
        }
    }
}

}  // namespace deepcnn
