// deepcnn/kernels/depthwise_flat.hpp: depthwise 3x3 convolution (groups == C == K) at stride 1 with output rows as
// wide as the input's (a row's padding adding up to 2, as 'same'), on whole planes read as one flat run of pixels:
// the grouped plan's "depthwise3x3_flat" variants (grouped_conv2d_plan.hpp). Output pixel q reads pixel q + offset
// of the source for each tap, whatever the row, so every vector of L outputs is 9 loads and 9 FMAs with all its
// lanes used, however narrow the plane (a 12-pixel row fills three quarters of a depthwise3x3 vector, 24 pixels
// one and a half). A lane whose tap leaves its row reads zero through a mask (its column plus the tap's column
// shift outside the row); the rows above and below the plane are zeros around a copy of it on the stack.
//   forward           y(q) = bias + sum_t w_t x(q + (kh - pad_top) W + kw - pad_left)
//   backward-data     dx(q) = sum_t w_t dy(q + (pad_top - kh) W + pad_left - kw)
//   backward-weights  dw_t = sum_n sum_q dy(q) x(q + (kh - pad_top) W + kw - pad_left), db = sum_n sum_q dy(q),
//                     summed over q' = q + kw - pad_left so that each dy and x vector loaded serves three taps
// Each row of taps sums in its own register, the rows added in order. Forward and backward-data split the planes
// (image, channel) over the threads, backward-weights the channels, each summing every image in order, its lanes
// added up in a fixed order at the end: results are the same on any thread count. No allocation, no workspace (a
// task's copy and the masks live on the stack). The _ref twins: grouped_conv2d_*_ref (grouped_conv2d.hpp).

#if DEEPCNN_ISA_AVX2

#ifndef DEEPCNN_ISA_NS
#error "kernels/depthwise_flat.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

using FlatVec = Widest;

// At most this many output vectors per plane (4096 pixels with AVX2, 8192 with AVX-512), and this many floats of a
// plane's bordered copy on a task's stack (64 KiB).
constexpr int depthwise_flat_max_vectors = 512;
constexpr int depthwise_flat_copy_floats = 16384;

#if DEEPCNN_ISA_AVX512
inline __m512 flat_load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
#else
inline __m256 flat_load(const float* p, __m256i m) { return _mm256_maskload_ps(p, m); }
#endif

// Each lane's column c + L (the next vector's), brought below width by subtracting it as often as a narrow row needs.
#if DEEPCNN_ISA_AVX512
using FlatLanes = __m512i;
inline FlatLanes flat_first_columns() { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
inline FlatLanes flat_wrap_columns(FlatLanes c, int width) {
    for (;;) {
        const __mmask16 over = _mm512_cmpge_epi32_mask(c, _mm512_set1_epi32(width));
        if (!over) return c;
        c = _mm512_mask_sub_epi32(c, over, c, _mm512_set1_epi32(width));
    }
}
inline FlatLanes flat_next_columns(FlatLanes c, int width) {
    return flat_wrap_columns(_mm512_add_epi32(c, _mm512_set1_epi32(16)), width);
}
// The lanes whose column c + s is in [0, width).
inline __mmask16 flat_column_mask(FlatLanes c, int s, int width) {
    return _mm512_cmpge_epi32_mask(c, _mm512_set1_epi32(-s)) & _mm512_cmplt_epi32_mask(c, _mm512_set1_epi32(width - s));
}
#else
using FlatLanes = __m256i;
inline FlatLanes flat_first_columns() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
inline FlatLanes flat_wrap_columns(FlatLanes c, int width) {
    for (;;) {
        const __m256i over = _mm256_cmpgt_epi32(c, _mm256_set1_epi32(width - 1));
        if (_mm256_testz_si256(over, over)) return c;
        c = _mm256_sub_epi32(c, _mm256_and_si256(over, _mm256_set1_epi32(width)));
    }
}
inline FlatLanes flat_next_columns(FlatLanes c, int width) {
    return flat_wrap_columns(_mm256_add_epi32(c, _mm256_set1_epi32(8)), width);
}
inline __m256i flat_column_mask(FlatLanes c, int s, int width) {
    return _mm256_and_si256(_mm256_cmpgt_epi32(c, _mm256_set1_epi32(-s - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(width - s), c));
}
#endif

// For each vector of L pixels of a plane `width` wide and each column shift s in [-2, 2]: the lanes whose column
// plus s stays in the row, at m[5 i + s + 2].
struct FlatColumnMasks {
    typename FlatVec::Mask m[5 * depthwise_flat_max_vectors];
    FlatColumnMasks(int width, long pixels) {
        const long vectors = (pixels + FlatVec::lanes - 1) / FlatVec::lanes;
        FlatLanes col = flat_wrap_columns(flat_first_columns(), width);
        for (long i = 0; i < vectors; ++i, col = flat_next_columns(col, width))
            for (int s = -2; s <= 2; ++s) m[5 * i + s + 2] = flat_column_mask(col, s, width);
    }
};

// The 3 x 3 taps of one flat correlation: tap (r, c) reads the source at q + row_offset[r] + col_offset[c]; its
// column shift is col_offset[c].
struct FlatTaps {
    long row_offset[3];
    long col_offset[3];
};

// out[q] (q < P) = bias + sum_{r,c} w[r][c] src[q + offset of tap (r, c)], zero where the tap leaves the row; every
// tap of every vector must stay in memory that holds numbers (a copy with zeros around it).
inline void flat_correlate(const float* src, const FlatTaps& t, const typename FlatVec::V (&w)[3][3],
                           const FlatColumnMasks& masks, typename FlatVec::V bias, float* out, long P) {
    using V = FlatVec;
    constexpr int L = V::lanes;
    // the taps in locals (through the references, every store to out would reload them)
    const float* row[3];
    typename V::V wl[3][3];
    long col[3];
    int shift[3];
    for (int r = 0; r < 3; ++r) row[r] = src + t.row_offset[r];
    for (int c = 0; c < 3; ++c) col[c] = t.col_offset[c], shift[c] = static_cast<int>(t.col_offset[c]) + 2;
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) wl[r][c] = w[r][c];
    for (long q = 0, i = 0; q < P; q += L, ++i) {
        const typename V::Mask* m = masks.m + 5 * i;
        typename V::V acc[3];
#pragma GCC unroll 3
        for (int r = 0; r < 3; ++r) {
            acc[r] = r == 0 ? bias : V::zero();
#pragma GCC unroll 3
            for (int c = 0; c < 3; ++c) acc[r] = V::fma(wl[r][c], flat_load(row[r] + q + col[c], m[shift[c]]), acc[r]);
        }
        const typename V::V sum = V::add(V::add(acc[0], acc[1]), acc[2]);
        if (q + L <= P) {
            V::store(out + q, sum);
        } else {
            V::store_first(out + q, V::first(static_cast<int>(P - q)), sum);
        }
    }
}

// Backward-weights sums dw(r, c) = sum_q dy(q) x(q + row_offset[r] + c) as sum_q' dy(q' - c) x(q' + row_offset[r]):
// per vector of q', the three column-shifted dy vectors serve all three rows of taps, and the three x vectors all
// three columns: 6 loads for 9 FMAs, not 10. A term is valid where q' - c and q' share a row (the column mask of
// shift -c at q', on the dy load); its other bounds are the zeros around both copies (q' - c outside dy, or x's
// rows outside the plane). Terms q' = -1 (c = -1) and q' = P (c = 1) would cross a row's edge, so q' runs over
// [0, P) only, and lanes past P read dy's zeros.
[[gnu::always_inline]] inline void flat_weight_step(const float* x, const long (&row)[3], const float* dy,
                                                    const long (&col)[3], const int (&unshift)[3],
                                                    const typename FlatVec::Mask* m, typename FlatVec::V (&sum)[3][3],
                                                    typename FlatVec::V& db, int unshifted) {
    typename FlatVec::V d[3];
#pragma GCC unroll 3
    for (int c = 0; c < 3; ++c) d[c] = flat_load(dy - col[c], m[unshift[c]]);
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r) {
        typename FlatVec::V xr = FlatVec::load(x + row[r]);
        // loaded once for its three FMAs (GCC folded the load into each of them: three loads, not one)
        asm("" : "+v"(xr));
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) sum[r][c] = FlatVec::fma(d[c], xr, sum[r][c]);
    }
    db = FlatVec::add(unshifted == 0 ? d[0] : unshifted == 1 ? d[1] : d[2], db);
}

// acc[r][c] += sum_q dy[q] x[q + offset of tap (r, c)] (zero where the tap leaves the row), db += sum_q dy[q], over
// q < P; x and dy point into their bordered copies.
inline void flat_weight_sums(const float* x, const float* dy, const FlatTaps& t, const FlatColumnMasks& masks,
                             long P, typename FlatVec::V (&acc)[3][3], typename FlatVec::V& db) {
    using V = FlatVec;
    constexpr int L = V::lanes;
    long row[3], col[3];
    int unshift[3], unshifted = 0;
    for (int r = 0; r < 3; ++r) row[r] = t.row_offset[r];
    for (int c = 0; c < 3; ++c) {
        col[c] = t.col_offset[c], unshift[c] = 2 - static_cast<int>(t.col_offset[c]);
        if (t.col_offset[c] == 0) unshifted = c;
    }
    // the sums in locals (through the references, GCC stored every sum to memory on every vector)
    typename V::V sum[3][3], bias_sum = db;
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r)
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) sum[r][c] = acc[r][c];
    for (long q = 0, i = 0; q < P; q += L, ++i)
        flat_weight_step(x + q, row, dy + q, col, unshift, masks.m + 5 * i, sum, bias_sum, unshifted);
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r)
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) acc[r][c] = sum[r][c];
    db = bias_sum;
}

// A plane's zero-bordered copy: `front` zeros, the plane (pixels floats), then zeros up to `floats`. The taps of a
// flat correlation over P outputs at offsets [lo, hi] read [lo, P - 1 + L - 1 + hi] around the plane's start.
struct FlatCopy {
    long front = 0, pixels = 0, floats = 0;
    FlatCopy(long pixels_, long P, long lo, long hi) : pixels(pixels_) {
        constexpr long L = FlatVec::lanes;
        front = (std::max(0L, -lo) + L - 1) / L * L;
        floats = front + std::max(pixels, P + L - 1 + hi + 1);
    }
    // Zeroes the border, once per task: every plane writes the same floats.
    void clear(float* buf) const { std::fill(buf, buf + floats, 0.0f); }
    void fill(const float* src, float* buf) const {
        using V = FlatVec;
        constexpr int L = V::lanes;
        float* dst = buf + front;
        long q = 0;
        for (; q + L <= pixels; q += L) V::store(dst + q, V::load(src + q));
        if (q < pixels) {
            const typename V::Mask m = V::first(static_cast<int>(pixels - q));
            V::store_first(dst + q, m, V::load_first(src + q, m));
        }
    }
};

// The stride-1 taps: forward and backward-weights read x at (kh - pad_top, kw - pad_left), backward-data dy at
// (pad_top - kh, pad_left - kw) with w[kh][kw].
inline FlatTaps flat_stride1_taps(const ConvGeometry& g, bool transposed) {
    FlatTaps t;
    for (int k = 0; k < 3; ++k) {
        const int r = transposed ? g.pad_top - k : k - g.pad_top, c = transposed ? g.pad_left - k : k - g.pad_left;
        t.row_offset[k] = static_cast<long>(r) * g.W, t.col_offset[k] = c;
    }
    return t;
}

inline FlatCopy flat_stride1_copy(const ConvGeometry& g, bool transposed) {
    const long P = transposed ? static_cast<long>(g.H) * g.W : static_cast<long>(g.OH) * g.OW;
    const long pixels = transposed ? static_cast<long>(g.OH) * g.OW : static_cast<long>(g.H) * g.W;
    const FlatTaps t = flat_stride1_taps(g, transposed);
    const long lo = std::min(t.row_offset[0], t.row_offset[2]) + std::min(t.col_offset[0], t.col_offset[2]);
    const long hi = std::max(t.row_offset[0], t.row_offset[2]) + std::max(t.col_offset[0], t.col_offset[2]);
    return FlatCopy(pixels, P, lo, hi);
}

// Backward-weights reads dy at column offsets -2 to 2 around each output vector.
inline FlatCopy flat_weights_dy_copy(const ConvGeometry& g) {
    const long P = static_cast<long>(g.OH) * g.OW;
    return FlatCopy(P, P, -2, 2);
}

inline bool depthwise_flat_applies(const ConvGeometry& g, int groups) {
    const long out = static_cast<long>(g.OH) * g.OW, in = static_cast<long>(g.H) * g.W;
    return groups == g.C && g.K == g.C && g.KH == 3 && g.KW == 3 && g.stride_h == 1 && g.stride_w == 1 &&
           g.pad_top <= 2 && g.pad_left <= 2 && g.OW == g.W &&
           std::max(out, in) <= depthwise_flat_max_vectors * FlatVec::lanes &&
           flat_stride1_copy(g, false).floats <= depthwise_flat_copy_floats &&
           flat_stride1_copy(g, true).floats <= depthwise_flat_copy_floats &&
           flat_weights_dy_copy(g).floats <= depthwise_flat_copy_floats;
}

// Channel c's weights of the 3 x 3 taps, in every lane.
inline void flat_weights(const float* weight, long c, typename FlatVec::V (&w)[3][3]) {
    for (int kh = 0; kh < 3; ++kh)
        for (int kw = 0; kw < 3; ++kw) w[kh][kw] = FlatVec::broadcast(weight + c * 9 + kh * 3 + kw);
}

// Forward (x to y, with the bias) and backward-data (dy to dx, transposed taps): the same flat correlation of each
// plane of src into the plane of dst at the same (image, channel).
inline void depthwise_flat_correlate_planes(const ConvGeometry& g, int N, bool transposed, const float* src,
                                            const float* weight, const float* bias, float* dst, ThreadPool* pool) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const long src_plane = transposed ? out_plane : in_plane, dst_plane = transposed ? in_plane : out_plane;
    const FlatColumnMasks masks(g.W, dst_plane);
    const FlatCopy copy = flat_stride1_copy(g, transposed);
    const FlatTaps taps = flat_stride1_taps(g, transposed);
    parallel_for(pool, static_cast<long>(N) * g.C, depthwise_planes_per_task(dst_plane), 1, [&](long p0, long p1) {
        alignas(64) float buf[depthwise_flat_copy_floats];
        typename FlatVec::V w[3][3];
        copy.clear(buf);
        for (long p = p0; p < p1; ++p) {
            const long c = p % g.C;
            flat_weights(weight, c, w);
            copy.fill(src + p * src_plane, buf);
            flat_correlate(buf + copy.front, taps, w, masks, bias ? FlatVec::broadcast(bias + c) : FlatVec::zero(),
                           dst + p * dst_plane, dst_plane);
        }
    });
}

inline void depthwise_flat_forward(const ConvGeometry& g, int N, const float* x, const float* weight, const float* bias,
                                   float* y, ThreadPool* pool) {
    depthwise_flat_correlate_planes(g, N, false, x, weight, bias, y, pool);
}

inline void depthwise_flat_backward_data(const ConvGeometry& g, int N, const float* dy, const float* weight, float* dx,
                                         ThreadPool* pool) {
    depthwise_flat_correlate_planes(g, N, true, dy, weight, nullptr, dx, pool);
}

// Channels per pass of backward-weights: each image's planes of a pass are read one after another (a stream the
// hardware prefetcher follows; one channel at a time read 2.3 KB planes 147 KB apart, image after image).
constexpr int depthwise_flat_pass_channels = 16;

inline void depthwise_flat_backward_weights(const ConvGeometry& g, int N, const float* x, const float* dy,
                                            float* dweight, float* dbias, ThreadPool* pool) {
    using V = FlatVec;
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const FlatColumnMasks masks(g.OW, out_plane);
    const FlatCopy copy = flat_stride1_copy(g, false), dy_copy = flat_weights_dy_copy(g);
    const FlatTaps taps = flat_stride1_taps(g, false);
    const long per_task = std::max(1L, depthwise_planes_per_task(out_plane) / std::max(1, N));
    parallel_for(pool, g.C, per_task, 1, [&](long c0, long c1) {
        alignas(64) float buf[depthwise_flat_copy_floats], dy_buf[depthwise_flat_copy_floats];
        copy.clear(buf);
        dy_copy.clear(dy_buf);
        for (long pass = c0; pass < c1; pass += depthwise_flat_pass_channels) {
            const long pass_end = std::min(c1, pass + depthwise_flat_pass_channels);
            typename V::V acc[depthwise_flat_pass_channels][3][3], db[depthwise_flat_pass_channels];
            for (long c = pass; c < pass_end; ++c) {
                db[c - pass] = V::zero();
                for (auto& row : acc[c - pass])
                    for (auto& s : row) s = V::zero();
            }
            // each channel sums its images in order, whatever the pass
            for (int n = 0; n < N; ++n)
                for (long c = pass; c < pass_end; ++c) {
                    const long p = static_cast<long>(n) * g.C + c;
                    copy.fill(x + p * in_plane, buf);
                    dy_copy.fill(dy + p * out_plane, dy_buf);
                    flat_weight_sums(buf + copy.front, dy_buf + dy_copy.front, taps, masks, out_plane, acc[c - pass],
                                     db[c - pass]);
                }
            for (long c = pass; c < pass_end; ++c) {
                for (int k = 0; k < 9; ++k) dweight[9 * c + k] = depthwise_lane_total(acc[c - pass][k / 3][k % 3]);
                if (dbias) dbias[c] = depthwise_lane_total(db[c - pass]);
            }
        }
    });
}

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn

#endif
