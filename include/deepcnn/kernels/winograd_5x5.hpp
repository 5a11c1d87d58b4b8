// deepcnn/kernels/winograd_5x5.hpp: 5x5 stride-1 convolution on the F(2x2, 3x3) Winograd kernels of winograd.hpp.
// The 5x5 window, extended by a zero row and column to 6x6, is four 3x3 windows at the offsets (r_s, c_s) =
// (0, 0), (0, 3), (3, 0), (3, 3); so y = conv5x5(x, w) is one 3x3 convolution without padding, over 4C input
// channels that are four shifted copies of the input:
//   x4[n, s * C + c](p, q) = x[n, c](p + r_s - pad_top, q + c_s - pad_left)   (zero outside x),  p < OH + 2,
//   w4[k, s * C + c](i, j) = w[k, c](r_s + i, c_s + j)                        (zero past the 5x5),  q < OW + 2.
// A 2x2 output tile then costs 4 x 16 = 64 multiplications per filter and channel instead of 100, for four input
// transforms per channel instead of none. The copies are made a fixed chunk of images at a time, so the workspace
// does not grow with the batch and the results depend on neither the batch size nor the thread count.
#pragma once

#include <algorithm>
#include <cstddef>

#include "../config.hpp"
#include "../parallel/thread_pool.hpp"
#include "conv_geometry.hpp"
#include "winograd.hpp"

namespace deepcnn {
namespace detail {

constexpr int split5x5_chunk = 8;  // images whose shifted copies exist at once
constexpr int split5x5_offsets[4][2] = {{0, 0}, {0, 3}, {3, 0}, {3, 3}};

// The 3x3 convolution over the shifted copies that computes the 5x5 convolution g.
inline ConvGeometry split5x5_geometry(const ConvGeometry& g) {
    ConvGeometry t = g;
    t.C = 4 * g.C;
    t.H = g.OH + 2;
    t.W = g.OW + 2;
    t.KH = t.KW = 3;
    t.pad_top = t.pad_left = 0;
    return t;
}

// Where it runs: 5x5 stride 1 where the 3x3 convolution takes Winograd (C >= 4, K >= 8, at most 64 x 64 outputs).
inline bool split5x5_applies(const ConvGeometry& g) {
    return DEEPCNN_HAVE_AVX2 && g.KH == 5 && g.KW == 5 && g.stride_h == 1 && g.stride_w == 1 &&
           winograd_applies(split5x5_geometry(g));
}

// Where it also pays for a batch of N images (the 3x3 rule: enough tiles).
inline bool split5x5_pays(const ConvGeometry& g, int N) {
    return split5x5_applies(g) && winograd_pays(split5x5_geometry(g), N);
}

inline std::size_t split5x5_weight_scalars(const ConvGeometry& g) {
    return (static_cast<std::size_t>(g.K) * 4 * g.C * 9 + 15) / 16 * 16;
}
inline std::size_t split5x5_input_scalars(const ConvGeometry& g) {
    return (static_cast<std::size_t>(split5x5_chunk) * 4 * g.C * (g.OH + 2) * (g.OW + 2) + 15) / 16 * 16;
}

// Shared workspace: w4 (K, 4C, 3, 3), its Winograd transform and one chunk's shifted copies.
inline std::size_t split5x5_shared_scalars(const ConvGeometry& g) {
    return split5x5_weight_scalars(g) + winograd_weight_scalars(split5x5_geometry(g)) + split5x5_input_scalars(g);
}

// Per thread: the 3x3 Winograd kernel's workspace.
inline std::size_t split5x5_thread_scalars(const ConvGeometry& g) {
    return winograd_thread_scalars(split5x5_geometry(g));
}

// w4 (K, 4C, 3, 3) from weight (K, C, 5, 5), as above.
inline void split5x5_weights(const ConvGeometry& g, const float* weight, float* w4) {
    for (int k = 0; k < g.K; ++k)
        for (int s = 0; s < 4; ++s)
            for (int c = 0; c < g.C; ++c) {
                float* out = w4 + ((static_cast<std::size_t>(k) * 4 + s) * g.C + c) * 9;
                const float* in = weight + (static_cast<std::size_t>(k) * g.C + c) * 25;
                for (int i = 0; i < 3; ++i)
                    for (int j = 0; j < 3; ++j) {
                        const int r = split5x5_offsets[s][0] + i, q = split5x5_offsets[s][1] + j;
                        out[i * 3 + j] = r < 5 && q < 5 ? in[r * 5 + q] : 0.0f;
                    }
            }
}

// x4 (count, 4C, OH + 2, OW + 2) from x (count, C, H, W), as above; threads split the planes.
inline void split5x5_input(const ConvGeometry& g, int count, const float* x, float* x4, ThreadPool* pool) {
    const int threads = pool ? pool->size() : 1;
    const int Hq = g.OH + 2, Wq = g.OW + 2;
    const std::size_t in_plane = static_cast<std::size_t>(g.H) * g.W, out_plane = static_cast<std::size_t>(Hq) * Wq;
    pool_run(pool, threads, [&](int t) {
        int begin = 0, end = 0;
        split_range(count * 4 * g.C, threads, t, 1, begin, end);
        for (int plane = begin; plane < end; ++plane) {
            const int n = plane / (4 * g.C), s = plane / g.C % 4, c = plane % g.C;
            const float* src = x + (static_cast<std::size_t>(n) * g.C + c) * in_plane;
            float* dst = x4 + static_cast<std::size_t>(plane) * out_plane;
            const int dr = split5x5_offsets[s][0] - g.pad_top, dc = split5x5_offsets[s][1] - g.pad_left;
            const int q0 = std::min(std::max(-dc, 0), Wq), q1 = std::min(std::max(g.W - dc, q0), Wq);
            for (int p = 0; p < Hq; ++p) {
                float* row = dst + static_cast<std::size_t>(p) * Wq;
                const int r = p + dr;
                if (r < 0 || r >= g.H) {
                    std::fill(row, row + Wq, 0.0f);
                    continue;
                }
                std::fill(row, row + q0, 0.0f);
                std::copy(src + static_cast<std::size_t>(r) * g.W + q0 + dc, src + static_cast<std::size_t>(r) * g.W + q1 + dc,
                          row + q0);
                std::fill(row + q1, row + Wq, 0.0f);
            }
        }
    });
}

#if DEEPCNN_HAVE_AVX2
// y (N, K, OH, OW) = conv5x5(x, weight) + bias [bias may be null] by the 3x3 Winograd kernels, split5x5_chunk
// images at a time. `shared`: split5x5_shared_scalars(g); `workspace`: thread_scalars >=
// split5x5_thread_scalars(g) per thread.
inline void split5x5_forward(const ConvGeometry& g, int N, const float* x, const float* weight, const float* bias,
                             float* y, float* shared, float* workspace, std::size_t thread_scalars, ThreadPool* pool) {
    const ConvGeometry t = split5x5_geometry(g);
    float* w4 = shared;
    float* U = w4 + split5x5_weight_scalars(g);
    float* x4 = U + winograd_weight_scalars(t);
    split5x5_weights(g, weight, w4);
    winograd_transform_weights(t, w4, U);
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.OH * g.OW;
    for (int n0 = 0; n0 < N; n0 += split5x5_chunk) {
        const int count = std::min(split5x5_chunk, N - n0);
        split5x5_input(g, count, x + n0 * in_size, x4, pool);
        winograd_forward(t, count, x4, U, bias, y + n0 * out_size, workspace, thread_scalars, pool);
    }
}
#endif

}  // namespace detail
}  // namespace deepcnn
