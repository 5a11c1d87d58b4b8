// deepcnn/kernels/conv2d_direct.hpp: direct (not GEMM) convolution kernels for the first layer of a net, where
// one input channel leaves a GEMM a reduction of only KH*KW: forward keeps a tile of 4 filters x 6 output vectors
// of a row in registers and feeds each loaded input vector to the 4 filters; backward-weights keeps all KH*KW
// sums of a block of filters in registers and reads dy once. float with AVX2; stride 1, 3x3 or 5x5. Twins: conv2d_ref.hpp.
#pragma once

#include <algorithm>
#include <cstddef>

#include "../config.hpp"
#include "../parallel/thread_pool.hpp"
#include "conv_geometry.hpp"
#include "gemm.hpp"
#include "padded_image.hpp"

namespace deepcnn {
namespace detail {

#if DEEPCNN_HAVE_AVX2
// Whether forward takes the direct path: one input channel, stride 1, 3x3 or 5x5.
inline bool forward_direct(const ConvGeometry& g) {
    return g.C == 1 && g.stride_h == 1 && g.stride_w == 1 && g.KH == g.KW && (g.KH == 3 || g.KH == 5);
}

// Filters and 8-pixel vectors of one forward tile: FB * V accumulators, FB broadcast weights and the input
// vector must fit the registers (32 ymm with AVX-512VL, else 16).
#if defined(__AVX512VL__)
constexpr int direct_forward_filters = 4;
constexpr int direct_forward_vectors = 6;
#else
constexpr int direct_forward_filters = 3;
constexpr int direct_forward_vectors = 4;
#endif

// out(f, 0..8V) for filters f < FB of a row chunk (filter f's row at out + f * plane), at `in` (the padded image
// at the chunk's first input pixel): bias + the KS*KS taps in tap order. wb holds the block's weights tap-major,
// (KS*KS, FB). Per tap, FB weights are broadcast and V input vectors loaded, and each input vector feeds FB
// FMAs. `width` < 8V (V == 1 only) stores through a scratch row.
template <int KS, int FB, int V>
inline void forward_direct_tile(const float* in, int Wp, const float* wb, const float* b, float* out,
                                std::size_t plane, int width) {
    __m256 acc[FB][V];
#pragma GCC unroll 4
    for (int f = 0; f < FB; ++f) {
        const __m256 bf = _mm256_broadcast_ss(b + f);
#pragma GCC unroll 6
        for (int v = 0; v < V; ++v) acc[f][v] = bf;
    }
    for (int i = 0; i < KS; ++i, in += Wp) {
#pragma GCC unroll 5
        for (int j = 0; j < KS; ++j, wb += FB) {
            __m256 wf[FB];
#pragma GCC unroll 4
            for (int f = 0; f < FB; ++f) wf[f] = _mm256_broadcast_ss(wb + f);
#pragma GCC unroll 6
            for (int v = 0; v < V; ++v) {
                __m256 x = _mm256_loadu_ps(in + 8 * v + j);
                // Keeps x in a register: folded into each FMA, the load would be repeated FB times, and the
                // loads (most of them across two cache lines) would bound the loop.
                __asm__("" : "+v"(x));
#pragma GCC unroll 4
                for (int f = 0; f < FB; ++f) acc[f][v] = _mm256_fmadd_ps(wf[f], x, acc[f][v]);
            }
        }
    }
#pragma GCC unroll 4
    for (int f = 0; f < FB; ++f, out += plane) {
        if (width >= 8 * V) {
#pragma GCC unroll 6
            for (int v = 0; v < V; ++v) _mm256_storeu_ps(out + 8 * v, acc[f][v]);
        } else {
            alignas(32) float row[8];
            _mm256_store_ps(row, acc[f][0]);
            std::copy(row, row + width, out);
        }
    }
}

// y (K, OH, OW) for filters [k, k + FB) of one padded single-channel image xp: each row in chunks of V vectors,
// then single vectors, a last partial vector through a scratch row. Reads up to 7 + KS - 1 values past a row's
// end (the next row, or the slack).
template <int KS, int FB>
void forward_direct_filters(const ConvGeometry& g, const PaddedLayout& l, const float* xp, const float* weight,
                            const float* bias, int k, float* y) {
    constexpr int V = direct_forward_vectors;
    float wb[KS * KS * FB], b[FB];
    for (int f = 0; f < FB; ++f) {
        for (int t = 0; t < KS * KS; ++t) wb[t * FB + f] = weight[static_cast<std::size_t>(k + f) * KS * KS + t];
        b[f] = bias ? bias[k + f] : 0.0f;
    }
    const std::size_t plane = static_cast<std::size_t>(g.OH) * g.OW;
    for (int oh = 0; oh < g.OH; ++oh) {
        const float* in = xp + static_cast<std::size_t>(oh) * l.Wp;
        float* out = y + static_cast<std::size_t>(k) * plane + static_cast<std::size_t>(oh) * g.OW;
        int ow = 0;
        for (; ow + 8 * V <= g.OW; ow += 8 * V)
            forward_direct_tile<KS, FB, V>(in + ow, l.Wp, wb, b, out + ow, plane, 8 * V);
        for (; ow < g.OW; ow += 8) forward_direct_tile<KS, FB, 1>(in + ow, l.Wp, wb, b, out + ow, plane, g.OW - ow);
    }
}

// y (K, OH, OW) for filters [k0, k1) of one padded single-channel image xp: y = bias + sum of the KS*KS taps, in
// tap order (forward_direct_filters).
template <int KS>
void forward_direct_image(const ConvGeometry& g, const PaddedLayout& l, const float* xp, const float* weight,
                          const float* bias, int k0, int k1, float* y) {
    constexpr int FB = direct_forward_filters;
    int k = k0;
    for (; k + FB <= k1; k += FB) forward_direct_filters<KS, FB>(g, l, xp, weight, bias, k, y);
    for (; k < k1; ++k) forward_direct_filters<KS, 1>(g, l, xp, weight, bias, k, y);
}

// Forward for a batch by forward_direct_image: threads split the images, or the filters when N is smaller than
// the pool. `workspace` holds `thread_scalars` per thread, a padded image first.
inline void forward_direct_batch(const ConvGeometry& g, int N, const float* x, const float* weight, const float* bias,
                                 float* y, float* workspace, std::size_t thread_scalars, ThreadPool* pool) {
    const int threads = pool ? pool->size() : 1;
    const PaddedLayout l = padded_layout(g);
    const std::size_t in_size = static_cast<std::size_t>(g.H) * g.W;
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.OH * g.OW;
    auto image = [&](const float* xp, int n, int k0, int k1) {
        if (g.KH == 3) {
            forward_direct_image<3>(g, l, xp, weight, bias, k0, k1, y + n * out_size);
        } else {
            forward_direct_image<5>(g, l, xp, weight, bias, k0, k1, y + n * out_size);
        }
    };
    auto task = [&](int t) {
        float* xp = workspace + static_cast<std::size_t>(t) * thread_scalars;
        int begin = 0, end = 0;
        if (N >= threads) {
            split_range(N, threads, t, 1, begin, end);
            for (int n = begin; n < end; ++n) {
                pad_image(g, l, x + n * in_size, xp);
                image(xp, n, 0, g.K);
            }
        } else {
            split_range(g.K, threads, t, 1, begin, end);
            if (begin == end) return;
            for (int n = 0; n < N; ++n) {
                pad_image(g, l, x + n * in_size, xp);
                image(xp, n, begin, end);
            }
        }
    };
    pool_run(pool, threads, task);
}

// Scalars of one filter's dy widened to the padded width, OH * Wp, rounded up to a multiple of 8.
inline std::size_t direct_dy_scalars(const ConvGeometry& g) {
    return (static_cast<std::size_t>(g.OH) * padded_layout(g).Wp + 7) / 8 * 8;
}

// Filters per block of the direct backward-weights: KB * KH * KW accumulators must fit the registers (32 ymm
// with AVX-512VL, else 16). 0: no direct kernel for this window.
template <int KH, int KW>
constexpr int direct_filter_block() {
#if defined(__AVX512VL__)
    return KH * KW <= 9 ? 2 : KH * KW <= 25 ? 1 : 0;
#else
    return KH * KW <= 9 ? 1 : 0;
#endif
}

// Whether backward-weights takes the direct path: stride 1, a 3x3 or 5x5 window with a kernel for it and a small
// patch (the first layer), where a GEMM would have a reduction of only C*KH*KW and narrow panels.
inline bool backward_weights_direct(const ConvGeometry& g) {
    const bool window = (g.KH == 3 && g.KW == 3 && direct_filter_block<3, 3>() > 0) ||
                        (g.KH == 5 && g.KW == 5 && direct_filter_block<5, 5>() > 0);
    const std::size_t scratch = static_cast<std::size_t>(g.K) * (g.patch_size() + 1) * 8 + 2 * direct_dy_scalars(g);
    return g.stride_h == 1 && g.stride_w == 1 && window && g.patch_size() <= 32 &&
           scratch + 64 <= gemm_workspace_size<float>();
}

// Direct backward-weights for filters [k0, k1) of one image, stride 1, a KH x KW window. Per block of KB filters,
// their dy rows are first widened to the padded width Wp in dyp (KB, Q): zeros past OW and past OH * Wp, which
// the caller sets once. Then, with q = oh * Wp + ow,
//   dweight(k, c, kh, kw) = sum_q dyp(k, q) * xp(c, q + kh * Wp + kw)
// is one flat loop over q, 8 at a time, with all KB * KH * KW sums in registers (each dy vector loaded once):
// acc (k1-k0, C, KH, KW, 8 lanes) += the image's 8-lane partial sums. The same pass sums dy for the bias
// gradient: bias_acc (k1-k0, 8 lanes) += the image's 8-lane sums of dy, so dy is read once.
template <int KH, int KW, int KB>
void backward_weights_direct_image(const ConvGeometry& g, const PaddedLayout& l, const float* xp, const float* dy,
                                   int k0, int k1, float* acc, float* bias_acc, float* dyp) {
    constexpr int T = KH * KW;
    const int Q = static_cast<int>(direct_dy_scalars(g));
    const int P = g.out_pixels();
    for (int kb = k0; kb < k1; kb += KB) {
        const int nk = std::min(KB, k1 - kb);
        for (int i = 0; i < nk; ++i)
            for (int oh = 0; oh < g.OH; ++oh) {
                const float* src = dy + static_cast<std::size_t>(kb + i) * P + oh * g.OW;
                std::copy(src, src + g.OW, dyp + static_cast<std::size_t>(i) * Q + oh * l.Wp);
            }
        const float* dk[KB];  // a partial block repeats its last filter in the unused slots
#pragma GCC unroll 4
        for (int i = 0; i < KB; ++i) dk[i] = dyp + static_cast<std::size_t>(std::min(i, nk - 1)) * Q;
        for (int c = 0; c < g.C; ++c) {
            const float* x0 = xp + static_cast<std::size_t>(c) * l.Hp * l.Wp;
            __m256 t[KB][T], dsum[KB];
#pragma GCC unroll 4
            for (int i = 0; i < KB; ++i) {
                dsum[i] = _mm256_setzero_ps();
#pragma GCC unroll 25
                for (int j = 0; j < T; ++j) t[i][j] = _mm256_setzero_ps();
            }
            for (int q = 0; q < Q; q += 8) {
                __m256 d[KB];
#pragma GCC unroll 4
                for (int i = 0; i < KB; ++i) {
                    d[i] = _mm256_loadu_ps(dk[i] + q);
                    dsum[i] = _mm256_add_ps(dsum[i], d[i]);
                }
#pragma GCC unroll 5
                for (int kh = 0; kh < KH; ++kh)
#pragma GCC unroll 5
                    for (int kw = 0; kw < KW; ++kw) {
                        const __m256 xv = _mm256_loadu_ps(x0 + q + kh * l.Wp + kw);
#pragma GCC unroll 4
                        for (int i = 0; i < KB; ++i) t[i][kh * KW + kw] = _mm256_fmadd_ps(d[i], xv, t[i][kh * KW + kw]);
                    }
            }
            for (int i = 0; i < nk; ++i) {
                float* out = acc + (static_cast<std::size_t>(kb + i - k0) * g.C + c) * T * 8;
#pragma GCC unroll 25
                for (int j = 0; j < T; ++j)
                    _mm256_storeu_ps(out + 8 * j, _mm256_add_ps(_mm256_loadu_ps(out + 8 * j), t[i][j]));
                if (c == 0) {
                    float* lanes = bias_acc + static_cast<std::size_t>(kb + i - k0) * 8;
                    _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_loadu_ps(lanes), dsum[i]));
                }
            }
        }
    }
}
#endif

}  // namespace detail
}  // namespace deepcnn
