// deepcnn/kernels/conv2d_variant.hpp: the vocabulary of the convolution's kernel plan (conv2d_plan.hpp): the three
// directions, the arguments every variant of a direction takes, and ConvPlan, the variant each direction runs for
// one shape, batch size, thread count and instruction set.
#pragma once

#include <string>

#include "../parallel/thread_pool.hpp"
#include "conv_geometry.hpp"
#include "isa.hpp"

namespace deepcnn {

enum class ConvDirection { forward, backward_data, backward_weights };

inline const char* conv_direction_name(ConvDirection d) {
    switch (d) {
        case ConvDirection::forward: return "forward";
        case ConvDirection::backward_data: return "backward-data";
        case ConvDirection::backward_weights: return "backward-weights";
    }
    return "?";
}

// "C 16, 12x12, K 64, window 3x3, stride 1x1, padding 1 1" (for messages).
inline std::string conv_geometry_str(const ConvGeometry& g) {
    return "C " + std::to_string(g.C) + ", " + std::to_string(g.H) + "x" + std::to_string(g.W) + ", K " +
           std::to_string(g.K) + ", window " + std::to_string(g.KH) + "x" + std::to_string(g.KW) + ", stride " +
           std::to_string(g.stride_h) + "x" + std::to_string(g.stride_w) + ", padding " + std::to_string(g.pad_top) +
           " " + std::to_string(g.pad_left);
}

// The operands of one convolution call; each direction reads the ones it needs:
//   forward           y (N, K, OH, OW) = conv(x, weight) + bias [bias may be null], then with relu max(y, 0)
//                     (0 for NaN, as the ReLU layer): inference with a ReLU folded in (model/inference_plan.hpp)
//   backward-data     dx (N, C, H, W) from dy (N, K, OH, OW) and weight
//   backward-weights  dweight (K, C, KH, KW) and dbias (K) [may be null] from x and dy
// workspace: conv2d_fast_workspace_size(g, threads) scalars; pool may be null (the calling thread).
// prepared_weight (forward only, may be null): `weight` already prepared for the variant that runs, as
// conv2d_forward_prepare writes it (Winograd's transformed U, broadcast's packed filter blocks); the variant
// then reads it instead of preparing its own copy, with the same arithmetic: inference with constant weights
// (model/inference_plan.hpp). Variants with nothing to prepare ignore it.
template <class Scalar>
struct ConvArgs {
    int N = 0;
    const Scalar* x = nullptr;
    const Scalar* weight = nullptr;
    const Scalar* bias = nullptr;
    Scalar* y = nullptr;
    const Scalar* dy = nullptr;
    Scalar* dx = nullptr;
    Scalar* dweight = nullptr;
    Scalar* dbias = nullptr;
    Scalar* workspace = nullptr;
    ThreadPool* pool = nullptr;
    bool relu = false;  // forward only
    const Scalar* prepared_weight = nullptr;
};

// The variant each direction runs (names from conv2d_plan.hpp's lists), decided for one batch size, thread count
// and instruction set.
struct ConvPlan {
    Isa isa = Isa::portable;
    int N = 0;
    int threads = 0;
    const char* forward = "";
    const char* backward_data = "";
    const char* backward_weights = "";

    const char* variant(ConvDirection d) const {
        return d == ConvDirection::forward ? forward : d == ConvDirection::backward_data ? backward_data
                                                                                          : backward_weights;
    }
    // "avx512: forward winograd, backward-data winograd_flipped, backward-weights winograd"
    std::string str() const {
        return std::string(isa_name(isa)) + ": forward " + forward + ", backward-data " + backward_data +
               ", backward-weights " + backward_weights;
    }
};

}  // namespace deepcnn
