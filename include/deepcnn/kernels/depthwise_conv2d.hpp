// deepcnn/kernels/depthwise_conv2d.hpp: depthwise 3x3 convolution (groups == C == K, stride 1 or 2, padding up to
// 2), forward, backward-data and backward-weights, as direct SIMD kernels along the output rows (the grouped plan's
// "depthwise3x3" variants, grouped_conv2d_plan.hpp). Each plane is first copied into a zero-bordered buffer on the
// stack, so that every tap of every output vector is one unmasked load (two and an even-lane shuffle at stride 2):
//   forward           y[oh][ow] = bias + sum_{kh,kw} w[kh][kw] xb[oh s + kh][ow s + kw],   xb = x bordered
//   backward-data     dx = the stride-1 correlation of dyb with the flipped window,       dyb = dy dilated by the
//                     stride, bordered by 2 - padding
//   backward-weights  dw[kh][kw] = sum_n sum_{oh,ow} dy[oh][ow] xb[oh s + kh][ow s + kw], in vector lanes, added up
//                     in a fixed order at the end
// Forward and backward-data split the planes (image, channel) over the threads, backward-weights the channels,
// each summing every image in order: results are the same on any thread count. No allocation, no workspace.

#if DEEPCNN_ISA_AVX2

#ifndef DEEPCNN_ISA_NS
#error "kernels/depthwise_conv2d.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

// The bordered plane lives on the stack: at most this many floats (64 KiB; a 3x3 plane of up to about 110x110 at
// stride 1). Larger planes take the row loops.
constexpr int depthwise_buffer_floats = 16384;

// The lanes the kernels run with: the widest vector.
using DepthwiseVec = Widest;

// The bordered plane of one direction: rows x cols floats; source pixel (i, j) at ((i dilation + top) cols +
// j dilation + left); zeros elsewhere.
struct DepthwiseBuffer {
    int rows = 0, cols = 0, top = 0, left = 0, dilation = 1;
    // (with a vector of slack past the end, for depthwise_fill's whole-vector stores)
    bool fits() const { return rows * cols + DepthwiseVec::lanes <= depthwise_buffer_floats; }
};

inline int depthwise_round_up(int n, int unit) { return (n + unit - 1) / unit * unit; }

// The columns a row of `out_cols` outputs at `stride` reads: whole vectors, plus the window, plus (stride 2) the
// second vector of each even-lane load.
inline int depthwise_read_cols(int out_cols, int stride) {
    const int L = DepthwiseVec::lanes;
    return stride == 1 ? depthwise_round_up(out_cols, L) + 2 : 2 * depthwise_round_up(out_cols, L) + 2;
}

// Forward and backward-weights read x bordered by the padding.
inline DepthwiseBuffer depthwise_input_buffer(const ConvGeometry& g) {
    DepthwiseBuffer b;
    b.top = g.pad_top, b.left = g.pad_left;
    b.rows = std::max((g.OH - 1) * g.stride_h + 3, g.pad_top + g.H);
    b.cols = std::max(depthwise_read_cols(g.OW, g.stride_w), g.pad_left + g.W);
    return b;
}

// Backward-data reads dy dilated by the stride, bordered by 2 - padding, and writes H x W at stride 1.
inline DepthwiseBuffer depthwise_gradient_buffer(const ConvGeometry& g) {
    DepthwiseBuffer b;
    b.top = 2 - g.pad_top, b.left = 2 - g.pad_left, b.dilation = g.stride_h;
    b.rows = std::max(g.H + 2, (g.OH - 1) * g.stride_h + b.top + 1);
    b.cols = std::max(depthwise_read_cols(g.W, 1), (g.OW - 1) * g.stride_w + b.left + 1);
    return b;
}

inline bool depthwise3x3_applies(const ConvGeometry& g, int groups) {
    return groups == g.C && g.K == g.C && g.KH == 3 && g.KW == 3 && g.stride_h == g.stride_w &&
           (g.stride_h == 1 || g.stride_h == 2) && g.pad_top <= 2 && g.pad_left <= 2 &&
           depthwise_input_buffer(g).fits() && depthwise_gradient_buffer(g).fits();
}

// Zeroes buf, once per task: every plane of a task writes the same pixels (depthwise_fill), the rest stays zero.
inline void depthwise_clear(const DepthwiseBuffer& b, float* buf) {
    std::fill(buf, buf + static_cast<std::size_t>(b.rows) * b.cols, 0.0f);
}

// Copies the plane src (rows x cols) into buf (cleared by depthwise_clear) as b lays it out.
inline void depthwise_fill(const DepthwiseBuffer& b, const float* src, int rows, int cols, float* buf) {
    for (int i = 0; i < rows; ++i) {
        float* dst = buf + static_cast<std::size_t>(i * b.dilation + b.top) * b.cols + b.left;
        const float* row = src + static_cast<std::size_t>(i) * cols;
        if (b.dilation == 1) {
            // vector copies (a library call per short row would cost as much as the row's arithmetic)
            using V = DepthwiseVec;
            int j = 0;
            for (; j + V::lanes <= cols; j += V::lanes) V::store(dst + j, V::load(row + j));
            // the last part with zeros past the row, stored whole (a masked store would stall the loads that
            // read it back soon after): they land on the border or on pixels written later
            if (j < cols) V::store(dst + j, V::load_first(row + j, V::first(cols - j)));
        } else {
            for (int j = 0; j < cols; ++j) dst[j * b.dilation] = row[j];
        }
    }
}

// One tap's input vector for outputs [ow0, ow0 + L) of a row at `stride`, the tap's column offset kw.
template <int Stride>
inline DepthwiseVec::V depthwise_tap(const float* row, int ow0, int kw) {
    if constexpr (Stride == 1) {
        return DepthwiseVec::load(row + ow0 + kw);
    } else {
        return DepthwiseVec::load_even(row + 2 * ow0 + kw);
    }
}

// out (out_rows x out_cols) = bias + the 3x3 correlation of buf (b.cols wide) with w (9), at Stride.
template <int Stride>
void depthwise_correlate(const float* buf, int buf_cols, const float* w, float bias, float* out, int out_rows,
                         int out_cols) {
    using V = DepthwiseVec;
    constexpr int L = V::lanes;
    typename V::V wv[9];
    for (int i = 0; i < 9; ++i) wv[i] = V::broadcast(w + i);
    const typename V::V bv = V::broadcast(&bias);
    const int tail = out_cols % L, whole = out_cols - tail;
    const typename V::Mask tail_mask = V::first(tail == 0 ? L : tail);
    for (int oh = 0; oh < out_rows; ++oh) {
        const float* r0 = buf + static_cast<std::size_t>(oh * Stride) * buf_cols;
        const float* r1 = r0 + buf_cols;
        const float* r2 = r1 + buf_cols;
        float* o = out + static_cast<std::size_t>(oh) * out_cols;
        for (int ow0 = 0; ow0 < out_cols; ow0 += L) {
            typename V::V acc = bv;
            acc = V::fma(wv[0], depthwise_tap<Stride>(r0, ow0, 0), acc);
            acc = V::fma(wv[1], depthwise_tap<Stride>(r0, ow0, 1), acc);
            acc = V::fma(wv[2], depthwise_tap<Stride>(r0, ow0, 2), acc);
            acc = V::fma(wv[3], depthwise_tap<Stride>(r1, ow0, 0), acc);
            acc = V::fma(wv[4], depthwise_tap<Stride>(r1, ow0, 1), acc);
            acc = V::fma(wv[5], depthwise_tap<Stride>(r1, ow0, 2), acc);
            acc = V::fma(wv[6], depthwise_tap<Stride>(r2, ow0, 0), acc);
            acc = V::fma(wv[7], depthwise_tap<Stride>(r2, ow0, 1), acc);
            acc = V::fma(wv[8], depthwise_tap<Stride>(r2, ow0, 2), acc);
            if (ow0 < whole) {
                V::store(o + ow0, acc);
            } else {
                V::store_first(o + ow0, tail_mask, acc);
            }
        }
    }
}

// Planes per task so that a task holds about 32k multiply-adds.
inline long depthwise_planes_per_task(long pixels) { return std::max(1L, 32768L / std::max(1L, 9 * pixels)); }

inline void depthwise3x3_forward(const ConvGeometry& g, int N, const float* x, const float* weight, const float* bias,
                                 float* y, ThreadPool* pool) {
    const DepthwiseBuffer b = depthwise_input_buffer(g);
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    parallel_for(pool, static_cast<long>(N) * g.C, depthwise_planes_per_task(out_plane), 1, [&](long p0, long p1) {
        alignas(64) float buf[depthwise_buffer_floats];
        depthwise_clear(b, buf);
        for (long p = p0; p < p1; ++p) {
            const int c = static_cast<int>(p % g.C);
            depthwise_fill(b, x + p * in_plane, g.H, g.W, buf);
            const float bias_c = bias ? bias[c] : 0.0f;
            if (g.stride_h == 1) {
                depthwise_correlate<1>(buf, b.cols, weight + 9 * c, bias_c, y + p * out_plane, g.OH, g.OW);
            } else {
                depthwise_correlate<2>(buf, b.cols, weight + 9 * c, bias_c, y + p * out_plane, g.OH, g.OW);
            }
        }
    });
}

inline void depthwise3x3_backward_data(const ConvGeometry& g, int N, const float* dy, const float* weight, float* dx,
                                       ThreadPool* pool) {
    const DepthwiseBuffer b = depthwise_gradient_buffer(g);
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    parallel_for(pool, static_cast<long>(N) * g.C, depthwise_planes_per_task(in_plane), 1, [&](long p0, long p1) {
        alignas(64) float buf[depthwise_buffer_floats];
        depthwise_clear(b, buf);
        for (long p = p0; p < p1; ++p) {
            const int c = static_cast<int>(p % g.C);
            float flipped[9];
            for (int i = 0; i < 9; ++i) flipped[i] = weight[9 * c + 8 - i];
            depthwise_fill(b, dy + p * out_plane, g.OH, g.OW, buf);
            depthwise_correlate<1>(buf, b.cols, flipped, 0.0f, dx + p * in_plane, g.H, g.W);
        }
    });
}

// acc[i] += dy row x the tap i's inputs, over one plane (dy: OH x OW; buf: x bordered).
template <int Stride>
void depthwise_weight_sums(const float* buf, int buf_cols, const float* dy, int out_rows, int out_cols,
                           typename DepthwiseVec::V (&acc)[10]) {
    using V = DepthwiseVec;
    constexpr int L = V::lanes;
    const int tail = out_cols % L, whole = out_cols - tail;
    const typename V::Mask tail_mask = V::first(tail == 0 ? L : tail);
    // the sums in locals, so that they stay in registers (through the reference, each update went to memory)
    typename V::V sum[10];
    for (int i = 0; i < 10; ++i) sum[i] = acc[i];
    for (int oh = 0; oh < out_rows; ++oh) {
        const float* r0 = buf + static_cast<std::size_t>(oh * Stride) * buf_cols;
        const float* r1 = r0 + buf_cols;
        const float* r2 = r1 + buf_cols;
        const float* d = dy + static_cast<std::size_t>(oh) * out_cols;
        for (int ow0 = 0; ow0 < out_cols; ow0 += L) {
            const typename V::V dv = ow0 < whole ? V::load(d + ow0) : V::load_first(d + ow0, tail_mask);
            sum[0] = V::fma(dv, depthwise_tap<Stride>(r0, ow0, 0), sum[0]);
            sum[1] = V::fma(dv, depthwise_tap<Stride>(r0, ow0, 1), sum[1]);
            sum[2] = V::fma(dv, depthwise_tap<Stride>(r0, ow0, 2), sum[2]);
            sum[3] = V::fma(dv, depthwise_tap<Stride>(r1, ow0, 0), sum[3]);
            sum[4] = V::fma(dv, depthwise_tap<Stride>(r1, ow0, 1), sum[4]);
            sum[5] = V::fma(dv, depthwise_tap<Stride>(r1, ow0, 2), sum[5]);
            sum[6] = V::fma(dv, depthwise_tap<Stride>(r2, ow0, 0), sum[6]);
            sum[7] = V::fma(dv, depthwise_tap<Stride>(r2, ow0, 1), sum[7]);
            sum[8] = V::fma(dv, depthwise_tap<Stride>(r2, ow0, 2), sum[8]);
            sum[9] = V::add(dv, sum[9]);
        }
    }
    for (int i = 0; i < 10; ++i) acc[i] = sum[i];
}

// Images ahead whose planes backward-weights asks for before it reads them: it reads a channel's planes image by
// image, each a batch row after the last, where the hardware prefetcher finds each new stream only after its misses.
constexpr int depthwise_prefetch_images = 2;

// Asks for a plane's cache lines before it is read.
inline void depthwise_prefetch_plane(const float* p, long floats) {
    const char* bytes = reinterpret_cast<const char*>(p);
    for (long o = 0; o < floats * static_cast<long>(sizeof(float)); o += 64) _mm_prefetch(bytes + o, _MM_HINT_T0);
}

// While image n of N is read: image n + depthwise_prefetch_images's x plane (x_pixels, x_step floats on from x's)
// and dy plane (dy_pixels, dy_step on), if there is one.
inline void depthwise_prefetch_ahead(int n, int N, const float* x, long x_step, long x_pixels, const float* dy,
                                     long dy_step, long dy_pixels) {
    if (n + depthwise_prefetch_images >= N) return;
    depthwise_prefetch_plane(x + depthwise_prefetch_images * x_step, x_pixels);
    depthwise_prefetch_plane(dy + depthwise_prefetch_images * dy_step, dy_pixels);
}

// The lane sums of v[0 .. n) into out[0 .. n), in a fixed order: each vector folded to 8 lanes (its upper half
// added to its lower), then ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)), eight vectors at a time through a
// tree of horizontal adds.
inline void depthwise_lane_totals(const DepthwiseVec::V* v, int n, float* out) {
    for (int i = 0; i < n; i += 8) {
        __m256 f[8];
        for (int j = 0; j < 8; ++j) f[j] = i + j < n ? DepthwiseVec::fold8(v[i + j]) : _mm256_setzero_ps();
        // a: lanes 0-3 of f[0..3] summed, then lanes 4-7; b: the same of f[4..7]
        const __m256 a = _mm256_hadd_ps(_mm256_hadd_ps(f[0], f[1]), _mm256_hadd_ps(f[2], f[3]));
        const __m256 b = _mm256_hadd_ps(_mm256_hadd_ps(f[4], f[5]), _mm256_hadd_ps(f[6], f[7]));
        alignas(32) float sums[8];
        _mm256_store_ps(sums, _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31)));
        for (int j = 0; j < 8 && i + j < n; ++j) out[i + j] = sums[j];
    }
}

// Backward-weights' nine tap sums and the bias sum (sums[9]) of channel c, totalled into dweight and dbias (if
// given).
inline void depthwise_store_weight_sums(const DepthwiseVec::V (&sums)[10], long c, float* dweight, float* dbias) {
    float totals[10];
    depthwise_lane_totals(sums, 10, totals);
    for (int t = 0; t < 9; ++t) dweight[9 * c + t] = totals[t];
    if (dbias) dbias[c] = totals[9];
}

inline void depthwise3x3_backward_weights(const ConvGeometry& g, int N, const float* x, const float* dy,
                                          float* dweight, float* dbias, ThreadPool* pool) {
    const DepthwiseBuffer b = depthwise_input_buffer(g);
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const long per_task = std::max(1L, depthwise_planes_per_task(out_plane) / std::max(1, N));
    parallel_for(pool, g.C, per_task, 1, [&](long c0, long c1) {
        alignas(64) float buf[depthwise_buffer_floats];
        depthwise_clear(b, buf);
        for (long c = c0; c < c1; ++c) {
            typename DepthwiseVec::V acc[10];
            for (auto& a : acc) a = DepthwiseVec::zero();
            for (int n = 0; n < N; ++n) {
                const long p = static_cast<long>(n) * g.C + c;
                depthwise_fill(b, x + p * in_plane, g.H, g.W, buf);
                if (g.stride_h == 1) {
                    depthwise_weight_sums<1>(buf, b.cols, dy + p * out_plane, g.OH, g.OW, acc);
                } else {
                    depthwise_weight_sums<2>(buf, b.cols, dy + p * out_plane, g.OH, g.OW, acc);
                }
            }
            depthwise_store_weight_sums(acc, c, dweight, dbias);
        }
    });
}

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn

#endif
