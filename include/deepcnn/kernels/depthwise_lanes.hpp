// deepcnn/kernels/depthwise_lanes.hpp: depthwise 3x3 convolution (groups == C == K, stride 1 or 2, padding up to 2)
// with the channels in the vector lanes, as oneDNN (nChw16c) and XNNPACK lay them out: the grouped plan's
// "depthwise3x3_lanes" variants (grouped_conv2d_plan.hpp). Each task takes blocks of L channels (L = 16 with
// AVX-512, 8 with AVX2; the last block may hold fewer, its other lanes zero) of one image, transposes their NCHW
// planes in registers (L x L at a time) into a zero-bordered grid of pixels on the stack, one vector of L channels
// per pixel, and back; in between, every output vector is 9 whole-vector loads and FMAs, whatever the width:
//   forward           y(oh, ow) = bias + sum_{kh,kw} w[kh][kw] xg(oh s + kh, ow s + kw),   xg = x bordered by the padding
//   backward-data     stride 1: dx(h, w) = sum_{i,j} w[2-i][2-j] dyg(h + i, w + j),   dyg = dy bordered by 2 - padding
//                     stride 2: dx(h, w) = sum over the taps with h + pad_top - kh and w + pad_left - kw even of
//                     w[kh][kw] dy((h + pad_top - kh) / 2, (w + pad_left - kw) / 2): 1, 2 or 4 taps, no zeros
//                     multiplied
//   backward-weights  dw[kh][kw] = sum_n sum_{oh,ow} dy(oh, ow) xg(oh s + kh, ow s + kw), db = sum_n sum dy: one
//                     lane per channel, so no lane is ever added to another
// Forward and backward-data split the (image, channel block) pairs over the threads; backward-weights splits the
// channel blocks, each summing every image and pixel in order: results are the same on any thread count. No
// allocation, no workspace. The _ref twins: grouped_conv2d_*_ref (grouped_conv2d.hpp).

#if DEEPCNN_ISA_AVX2

#ifndef DEEPCNN_ISA_NS
#error "kernels/depthwise_lanes.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

using LanesVec = Widest;

// A task's grids live on the stack: at most this many floats (256 KiB; with 16 lanes, the grid and the output of a
// 48x48 plane at stride 2, or of a 44x44 plane at stride 1). Larger planes take "depthwise3x3" or the row loops.
constexpr int depthwise_lanes_floats = 65536;

// L x L floats transposed in place in registers.
#if DEEPCNN_ISA_AVX512
inline void transpose_lanes(__m512 (&r)[16]) { transpose_16x16_in_registers(r); }
#endif
inline void transpose_lanes(__m256 (&r)[8]) { transpose_8x8_in_registers(r); }

// A grid of rows x cols pixels, L floats each; source pixel (i, j) at (top + i, left + j); zero elsewhere.
struct LanesGrid {
    int rows = 0, cols = 0, top = 0, left = 0;
    std::size_t floats() const { return static_cast<std::size_t>(rows) * cols * LanesVec::lanes; }
};

// Forward and backward-weights read x bordered by the padding.
inline LanesGrid lanes_input_grid(const ConvGeometry& g) {
    LanesGrid b;
    b.top = g.pad_top, b.left = g.pad_left;
    b.rows = std::max((g.OH - 1) * g.stride_h + 3, g.pad_top + g.H);
    b.cols = std::max((g.OW - 1) * g.stride_w + 3, g.pad_left + g.W);
    return b;
}

// Backward-data reads dy bordered by 2 - padding (stride 1) or by one pixel (stride 2, where the taps read dy
// rows (h + pad_top - kh) / 2 from -1 to (H - 1 + pad_top) / 2).
inline LanesGrid lanes_gradient_grid(const ConvGeometry& g) {
    LanesGrid b;
    if (g.stride_h == 1) {
        b.top = 2 - g.pad_top, b.left = 2 - g.pad_left;
        b.rows = std::max(g.H + 2, b.top + g.OH);
        b.cols = std::max(g.W + 2, b.left + g.OW);
    } else {
        b.top = 1, b.left = 1;
        b.rows = std::max(g.OH, (g.H - 1 + g.pad_top) / 2 + 1) + 1;
        b.cols = std::max(g.OW, (g.W - 1 + g.pad_left) / 2 + 1) + 1;
    }
    return b;
}

inline std::size_t lanes_plane_floats(int pixels) { return static_cast<std::size_t>(pixels) * LanesVec::lanes; }

inline bool depthwise_lanes_applies(const ConvGeometry& g, int groups) {
    const std::size_t budget = depthwise_lanes_floats;
    return groups == g.C && g.K == g.C && g.KH == 3 && g.KW == 3 && g.stride_h == g.stride_w &&
           (g.stride_h == 1 || g.stride_h == 2) && g.pad_top <= 2 && g.pad_left <= 2 &&
           lanes_input_grid(g).floats() + lanes_plane_floats(g.OH * g.OW) <= budget &&
           lanes_gradient_grid(g).floats() + lanes_plane_floats(g.H * g.W) <= budget;
}

inline int lanes_blocks(int C) { return (C + LanesVec::lanes - 1) / LanesVec::lanes; }

// Grid pixels (b.top + i, b.left + j) = channels [0, cl) of the planes at src (plane_stride apart) at pixel (i, j)
// of a rows x cols image; lanes from cl on zero. Flat chunks of L pixels are transposed in registers.
inline void planes_to_lanes(const float* src, std::size_t plane_stride, int cl, int rows, int cols,
                            const LanesGrid& b, float* grid) {
    using V = LanesVec;
    constexpr int L = V::lanes;
    const int P = rows * cols;
    int i = 0, j = 0;  // the pixel of the chunk's first value
    for (int p0 = 0; p0 < P; p0 += L) {
        const int n = std::min(L, P - p0);
        const typename V::Mask m = V::first(n);
        typename V::V r[L];
        for (int c = 0; c < L; ++c) {
            if (c >= cl) {
                r[c] = V::zero();
                continue;
            }
            const float* s = src + c * plane_stride + p0;
            r[c] = n == L ? V::load(s) : V::load_first(s, m);
        }
        transpose_lanes(r);
        for (int k = 0; k < n; ++k) {
            V::store(grid + (static_cast<std::size_t>(b.top + i) * b.cols + b.left + j) * L, r[k]);
            if (++j == cols) j = 0, ++i;
        }
    }
}

// Channels [0, cl) of the planes at dst (P pixels each, plane_stride apart) = the pixels (P, L) at buf.
inline void lanes_to_planes(const float* buf, int P, int cl, float* dst, std::size_t plane_stride) {
    using V = LanesVec;
    constexpr int L = V::lanes;
    for (int p0 = 0; p0 < P; p0 += L) {
        const int n = std::min(L, P - p0);
        typename V::V r[L];
        for (int k = 0; k < L; ++k) r[k] = k < n ? V::load(buf + static_cast<std::size_t>(p0 + k) * L) : V::zero();
        transpose_lanes(r);
        const typename V::Mask m = V::first(n);
        for (int c = 0; c < cl; ++c) {
            float* d = dst + c * plane_stride + p0;
            if (n == L) {
                V::store(d, r[c]);
            } else {
                V::store_first(d, m, r[c]);
            }
        }
    }
}

// wv[t] lane l = weight of channel c0 + l, tap t (tap 8 - t where flipped), for l < cl; zero past cl.
inline void lanes_weights(const float* weight, int c0, int cl, bool flipped, typename LanesVec::V (&wv)[9]) {
    constexpr int L = LanesVec::lanes;
    alignas(64) float w[9][L] = {};
    for (int l = 0; l < cl; ++l)
        for (int t = 0; t < 9; ++t) w[t][l] = weight[static_cast<std::size_t>(c0 + l) * 9 + (flipped ? 8 - t : t)];
    for (int t = 0; t < 9; ++t) wv[t] = LanesVec::load(w[t]);
}

// Output pixels per register tile along a row: 4 with AVX-512's 32 registers (9 weights, 4 sums and up to 9 inputs),
// 2 with AVX2's 16.
constexpr int lanes_tile = LanesVec::lanes == 16 ? 4 : 2;

// T output pixels from column ow: acc[t] += sum_{kh,kw} wv[kh*3+kw] grid(row kh, (ow + t) S + kw), the rows at r[kh].
template <int S, int T>
inline void lanes_correlate_tile(const float* const (&r)[3], int ow, const typename LanesVec::V (&wv)[9],
                                 typename LanesVec::V (&acc)[T]) {
    using V = LanesVec;
    constexpr int L = V::lanes, reads = (T - 1) * S + 3;
#pragma GCC unroll 3
    for (int kh = 0; kh < 3; ++kh) {
        typename V::V in[reads];
#pragma GCC unroll 9
        for (int q = 0; q < reads; ++q) in[q] = V::load(r[kh] + static_cast<std::size_t>(ow * S + q) * L);
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t)
#pragma GCC unroll 3
            for (int kw = 0; kw < 3; ++kw) acc[t] = V::fma(wv[kh * 3 + kw], in[t * S + kw], acc[t]);
    }
}

// out (out_rows x out_cols, L) = bias + the 3x3 correlation of the grid (grid_cols wide) with wv, at stride S.
template <int S>
void lanes_correlate(const float* grid, int grid_cols, const typename LanesVec::V (&wv)[9], typename LanesVec::V bias,
                     float* out, int out_rows, int out_cols) {
    using V = LanesVec;
    constexpr int L = V::lanes, T = lanes_tile;
    const std::size_t row = static_cast<std::size_t>(grid_cols) * L;
    for (int oh = 0; oh < out_rows; ++oh) {
        const float* r0 = grid + static_cast<std::size_t>(oh * S) * row;
        const float* const r[3] = {r0, r0 + row, r0 + 2 * row};
        float* o = out + static_cast<std::size_t>(oh) * out_cols * L;
        int ow = 0;
        for (; ow + T <= out_cols; ow += T) {
            typename V::V acc[T];
            for (auto& a : acc) a = bias;
            lanes_correlate_tile<S, T>(r, ow, wv, acc);
#pragma GCC unroll 4
            for (int t = 0; t < T; ++t) V::store(o + static_cast<std::size_t>(ow + t) * L, acc[t]);
        }
        for (; ow < out_cols; ++ow) {
            typename V::V acc[1] = {bias};
            lanes_correlate_tile<S, 1>(r, ow, wv, acc);
            V::store(o + static_cast<std::size_t>(ow) * L, acc[0]);
        }
    }
}

// Backward-data at stride 2: rows [h0, h1) of out (H x W, L) = dx from the dy grid (lanes_gradient_grid: dy(i, j) at
// (1 + i, 1 + j)), each pixel summing only the taps that land on a dy pixel (kh even where h + pad_top is, odd
// otherwise; so kw).
inline void lanes_transposed_stride2(const float* grid, int grid_cols, const typename LanesVec::V (&wv)[9], float* out,
                                     int h0, int h1, int W, int pad_top, int pad_left) {
    using V = LanesVec;
    constexpr int L = V::lanes;
    const std::size_t row = static_cast<std::size_t>(grid_cols) * L;
    for (int h = h0; h < h1; ++h) {
        const int a = h + pad_top;
        const bool even_row = a % 2 == 0;
        // the taps' kernel rows and the dy rows they read (a - kh >= -2, even: the grid's row (a - kh) / 2 + 1)
        const int kh0 = even_row ? 0 : 1;
        const float* r0 = grid + static_cast<std::size_t>((a - kh0) / 2 + 1) * row;
        const float* r2 = grid + static_cast<std::size_t>((a - 2) / 2 + 1) * row;
        float* o = out + static_cast<std::size_t>(h) * W * L;
        for (int w = 0; w < W; ++w) {
            const int b = w + pad_left;
            typename V::V acc = V::zero();
            if (b % 2 == 0) {
                const std::size_t q0 = static_cast<std::size_t>(b / 2 + 1) * L, q2 = static_cast<std::size_t>(b / 2) * L;
                acc = V::fma(wv[kh0 * 3], V::load(r0 + q0), acc);
                acc = V::fma(wv[kh0 * 3 + 2], V::load(r0 + q2), acc);
                if (even_row) {
                    acc = V::fma(wv[6], V::load(r2 + q0), acc);
                    acc = V::fma(wv[8], V::load(r2 + q2), acc);
                }
            } else {
                const std::size_t q1 = static_cast<std::size_t>((b - 1) / 2 + 1) * L;
                acc = V::fma(wv[kh0 * 3 + 1], V::load(r0 + q1), acc);
                if (even_row) acc = V::fma(wv[7], V::load(r2 + q1), acc);
            }
            V::store(o + static_cast<std::size_t>(w) * L, acc);
        }
    }
}

// sums[t] += sum over the pixels of dy(oh, ow) grid(oh S + kh, ow S + kw) (t = kh * 3 + kw), sums[9] += sum of dy;
// dy (out_rows x out_cols, L) compact. In order of the pixels.
template <int S>
void lanes_weight_sums(const float* grid, int grid_cols, const float* dy, int out_rows, int out_cols,
                       typename LanesVec::V (&sums)[10]) {
    using V = LanesVec;
    constexpr int L = V::lanes;
    const std::size_t row = static_cast<std::size_t>(grid_cols) * L;
    typename V::V s[10];  // in locals, so that they stay in registers
    for (int i = 0; i < 10; ++i) s[i] = sums[i];
    for (int oh = 0; oh < out_rows; ++oh) {
        const float* r0 = grid + static_cast<std::size_t>(oh * S) * row;
        const float* d = dy + static_cast<std::size_t>(oh) * out_cols * L;
        for (int ow = 0; ow < out_cols; ++ow) {
            const typename V::V dv = V::load(d + static_cast<std::size_t>(ow) * L);
            const float* x = r0 + static_cast<std::size_t>(ow * S) * L;
#pragma GCC unroll 3
            for (int kh = 0; kh < 3; ++kh)
#pragma GCC unroll 3
                for (int kw = 0; kw < 3; ++kw)
                    s[kh * 3 + kw] = V::fma(dv, V::load(x + kh * row + static_cast<std::size_t>(kw) * L), s[kh * 3 + kw]);
            s[9] = V::add(dv, s[9]);
        }
    }
    for (int i = 0; i < 10; ++i) sums[i] = s[i];
}

// Channel block cb's first channel and the channels it holds.
inline void lanes_block(int C, int cb, int& c0, int& cl) {
    c0 = cb * LanesVec::lanes;
    cl = std::min(LanesVec::lanes, C - c0);
}

// Runs a row-by-row kernel over one channel block so that its data stay in L1 (the whole grid and output of a 24x24
// plane, 80 KiB, did not: forward at batch 64 ran at a third of the per-plane kernel's speed): the source planes
// (src_rows x src_cols, src_plane apart) are transposed into the grid (layout b) in bands of rows just before the
// first output row that reads them (needs(o): the source rows, from 0, that output row o reads), and each output row's
// finished chunks of L pixels are transposed out to the planes at dst (dst_plane apart) right after row(o) computes
// it into out (out_rows x out_cols, L).
template <class Needs, class Row>
void lanes_stream(const float* src, std::size_t src_plane, int src_rows, int src_cols, const LanesGrid& b, float* grid,
                  int cl, int out_rows, int out_cols, float* out, float* dst, std::size_t dst_plane, Needs needs, Row row) {
    constexpr int L = LanesVec::lanes;
    int band = 1;  // source rows per fill: whole chunks of L pixels where the width allows
    while ((band * src_cols) % L != 0 && band < L) ++band;
    int filled = 0, flushed = 0;
    for (int o = 0; o < out_rows; ++o) {
        const int need = std::min(src_rows, needs(o));
        while (filled < need) {
            const int r1 = std::min(src_rows, filled + band);
            LanesGrid part = b;
            part.top = b.top + filled;
            planes_to_lanes(src + static_cast<std::size_t>(filled) * src_cols, src_plane, cl, r1 - filled, src_cols,
                            part, grid);
            filled = r1;
        }
        row(o);
        const int done = (o + 1) * out_cols, upto = o + 1 == out_rows ? done : done / L * L;
        if (upto > flushed) {
            lanes_to_planes(out + static_cast<std::size_t>(flushed) * L, upto - flushed, cl, dst + flushed, dst_plane);
            flushed = upto;
        }
    }
}

// Runs fn(first, c0, cl, grid, out) for every (image, channel block) pair, the pairs split over the threads: first
// is the block's first plane (n C + c0), grid the task's grid of b's size (cleared once per task: every block
// writes the same interior), out the floats after it.
template <class F>
void for_each_lanes_block(const ConvGeometry& g, int N, const LanesGrid& b, ThreadPool* pool, F&& fn) {
    const int blocks = lanes_blocks(g.C);
    parallel_for(pool, static_cast<long>(N) * blocks, 1, 1, [&](long i0, long i1) {
        alignas(64) float buf[depthwise_lanes_floats];
        std::fill(buf, buf + b.floats(), 0.0f);
        for (long i = i0; i < i1; ++i) {
            int c0 = 0, cl = 0;
            lanes_block(g.C, static_cast<int>(i % blocks), c0, cl);
            fn(static_cast<std::size_t>(i / blocks) * g.C + c0, c0, cl, buf, buf + b.floats());
        }
    });
}

inline void depthwise_lanes_forward(const ConvGeometry& g, int N, const float* x, const float* weight,
                                    const float* bias, float* y, ThreadPool* pool) {
    using V = LanesVec;
    const LanesGrid b = lanes_input_grid(g);
    const std::size_t in_plane = static_cast<std::size_t>(g.H) * g.W, out_plane = static_cast<std::size_t>(g.OH) * g.OW;
    const std::size_t grid_row = static_cast<std::size_t>(b.cols) * V::lanes, out_row = lanes_plane_floats(g.OW);
    const int S = g.stride_h;
    for_each_lanes_block(g, N, b, pool, [&](std::size_t first, int c0, int cl, float* grid, float* out) {
        typename V::V wv[9];
        lanes_weights(weight, c0, cl, false, wv);
        const typename V::V bv = bias ? V::load_first(bias + c0, V::first(cl)) : V::zero();
        lanes_stream(
            x + first * in_plane, in_plane, g.H, g.W, b, grid, cl, g.OH, g.OW, out, y + first * out_plane, out_plane,
            [&](int oh) { return oh * S + 3 - g.pad_top; },
            [&](int oh) {
                if (S == 1) {
                    lanes_correlate<1>(grid + oh * grid_row, b.cols, wv, bv, out + oh * out_row, 1, g.OW);
                } else {
                    lanes_correlate<2>(grid + 2 * oh * grid_row, b.cols, wv, bv, out + oh * out_row, 1, g.OW);
                }
            });
    });
}

inline void depthwise_lanes_backward_data(const ConvGeometry& g, int N, const float* dy, const float* weight,
                                          float* dx, ThreadPool* pool) {
    using V = LanesVec;
    const LanesGrid b = lanes_gradient_grid(g);
    const std::size_t in_plane = static_cast<std::size_t>(g.H) * g.W, out_plane = static_cast<std::size_t>(g.OH) * g.OW;
    const std::size_t grid_row = static_cast<std::size_t>(b.cols) * V::lanes, out_row = lanes_plane_floats(g.W);
    const bool unit = g.stride_h == 1;
    for_each_lanes_block(g, N, b, pool, [&](std::size_t first, int c0, int cl, float* grid, float* out) {
        typename V::V wv[9];
        lanes_weights(weight, c0, cl, unit, wv);
        lanes_stream(
            dy + first * out_plane, out_plane, g.OH, g.OW, b, grid, cl, g.H, g.W, out, dx + first * in_plane, in_plane,
            // stride 1: dx row h reads grid rows h .. h + 2, dy rows up to h + pad_top; stride 2: up to
            // (h + pad_top) / 2
            [&](int h) { return unit ? h + g.pad_top + 1 : (h + g.pad_top) / 2 + 1; },
            [&](int h) {
                if (unit) {
                    lanes_correlate<1>(grid + h * grid_row, b.cols, wv, V::zero(), out + h * out_row, 1, g.W);
                } else {
                    lanes_transposed_stride2(grid, b.cols, wv, out, h, h + 1, g.W, g.pad_top, g.pad_left);
                }
            });
    });
}

inline void depthwise_lanes_backward_weights(const ConvGeometry& g, int N, const float* x, const float* dy,
                                             float* dweight, float* dbias, ThreadPool* pool) {
    using V = LanesVec;
    constexpr int L = V::lanes;
    const LanesGrid b = lanes_input_grid(g);
    LanesGrid compact;  // dy as it is, (OH x OW, L)
    compact.rows = g.OH, compact.cols = g.OW;
    const int blocks = lanes_blocks(g.C);
    const std::size_t in_plane = static_cast<std::size_t>(g.H) * g.W, out_plane = static_cast<std::size_t>(g.OH) * g.OW;
    parallel_for(pool, blocks, 1, 1, [&](long b0, long b1) {
        alignas(64) float buf[depthwise_lanes_floats];
        float* dyb = buf + b.floats();
        std::fill(buf, buf + b.floats(), 0.0f);
        for (long cb = b0; cb < b1; ++cb) {
            int c0 = 0, cl = 0;
            lanes_block(g.C, static_cast<int>(cb), c0, cl);
            typename V::V sums[10];
            for (auto& s : sums) s = V::zero();
            for (int n = 0; n < N; ++n) {
                const std::size_t first = static_cast<std::size_t>(n) * g.C + c0;
                planes_to_lanes(x + first * in_plane, in_plane, cl, g.H, g.W, b, buf);
                planes_to_lanes(dy + first * out_plane, out_plane, cl, g.OH, g.OW, compact, dyb);
                if (g.stride_h == 1) {
                    lanes_weight_sums<1>(buf, b.cols, dyb, g.OH, g.OW, sums);
                } else {
                    lanes_weight_sums<2>(buf, b.cols, dyb, g.OH, g.OW, sums);
                }
            }
            alignas(64) float lanes[10][L];
            for (int t = 0; t < 10; ++t) V::store(lanes[t], sums[t]);
            for (int l = 0; l < cl; ++l) {
                for (int t = 0; t < 9; ++t) dweight[static_cast<std::size_t>(c0 + l) * 9 + t] = lanes[t][l];
                if (dbias) dbias[c0 + l] = lanes[9][l];
            }
        }
    });
}

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn

#endif
