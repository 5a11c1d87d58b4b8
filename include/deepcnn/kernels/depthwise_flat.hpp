// deepcnn/kernels/depthwise_flat.hpp: depthwise 3x3 convolution (groups == C == K) at stride 1 with output rows as
// wide as the input's (a row's padding adding up to 2, as 'same'), on whole planes read as one flat run of pixels:
// the grouped plan's "depthwise3x3_flat" variants (grouped_conv2d_plan.hpp). Output pixel q reads pixel q + offset
// of the source for each tap, whatever the row, so every vector of L outputs is 9 taps and 9 FMAs with all its
// lanes used, however narrow the plane (a 12-pixel row fills three quarters of a depthwise3x3 vector, 24 pixels
// one and a half). A lane whose tap leaves its row reads zero through a mask (its column plus the tap's column
// shift outside the row).
//   forward           y(q) = bias + sum_t w_t x(q + (kh - pad_top) W + kw - pad_left)
//   backward-data     dx(q) = sum_t w_t dy(q + (pad_top - kh) W + pad_left - kw)
//   backward-weights  dw_t = sum_n sum_q dy(q) x(q + (kh - pad_top) W + kw - pad_left), db = sum_n sum_q dy(q),
//                     summed over q' = q + kw - pad_left so that each dy and x vector serves three taps
// Forward and backward-data copy each plane between rows of zeros on the stack; with AVX-512 and one column of
// padding each side they read it as whole aligned vectors, each tap shifted out of two by a lane shuffle (an
// unaligned 16-float load crosses a cache line: two reads). Backward-weights reads both planes where they lie (masked
// loads at the first and last rows), dy's shifts by shuffles from whole vectors with AVX-512.
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

#if DEEPCNN_ISA_AVX512
// flat_correlate with whole, aligned vector loads (AVX-512, column shifts -1, 0 and 1: 'same' padding's one column
// each side). An unaligned 16-float load of a tap crosses a cache line and costs two; here each row of taps slides a
// window of aligned vectors along the plane, one new load per row and output vector, and each tap's 16 pixels come
// out of two neighbouring vectors through a two-source lane permute (vpermt2ps) that also zeroes the lanes whose tap
// leaves the row. A row whose offset is a whole number of vectors (Aligned: the output's own row, and every row
// where W is a multiple of 16) reads its centre tap as it is and permutes the two others out of the vectors before
// and after; any other row reads all three from the vectors around its offset. Transposed: the taps' column shifts
// run 1, 0, -1 (backward-data) instead of -1, 0, 1, so the sums add in flat_correlate's order: the same bits.
// Each lane's next pixel (lanes 1 .. 16 of lo then hi) and previous one (lanes 15 .. 30 of lo then hi), zero
// outside m: valignd, cheaper than vpermt2ps on Zen 4 (1.4 against 1.9 cycles).
inline __m512 flat_next_lanes(__mmask16 m, __m512 lo, __m512 hi) {
    return _mm512_castsi512_ps(_mm512_maskz_alignr_epi32(m, _mm512_castps_si512(hi), _mm512_castps_si512(lo), 1));
}
inline __m512 flat_previous_lanes(__mmask16 m, __m512 lo, __m512 hi) {
    return _mm512_castsi512_ps(_mm512_maskz_alignr_epi32(m, _mm512_castps_si512(hi), _mm512_castps_si512(lo), 15));
}

template <bool Aligned>
struct FlatRowWindow;

template <>
struct FlatRowWindow<false> {
    const float* p;  // the aligned vector at or below the row's offset
    __m512 lo;
    __m512i idx[3];  // tap shift s = k + C: lanes s .. s + 15 of (lo, hi), k the offset past p
    FlatRowWindow(const float* src, long offset) {
        const long k = ((offset % 16) + 16) % 16;
        p = src + offset - k;
        lo = _mm512_load_ps(p);
        const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (int c = 0; c < 3; ++c) idx[c] = _mm512_add_epi32(iota, _mm512_set1_epi32(static_cast<int>(k) + c - 1));
    }
    // The taps (shift -1, 0, 1) of the output vector at q, under their column masks m[1 .. 3]; slides on.
    [[gnu::always_inline]] void taps(long q, const __mmask16* m, __m512 (&x)[3]) {
        const __m512 hi = _mm512_load_ps(p + q + 16);
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) x[c] = _mm512_maskz_permutex2var_ps(m[c + 1], lo, idx[c], hi);
        lo = hi;
    }
};

template <>
struct FlatRowWindow<true> {
    const float* p;  // the row's offset, a whole number of vectors
    __m512 before, at;
    FlatRowWindow(const float* src, long offset) : p(src + offset) {
        before = _mm512_load_ps(p - 16), at = _mm512_load_ps(p);
    }
    [[gnu::always_inline]] void taps(long q, const __mmask16* m, __m512 (&x)[3]) {
        const __m512 after = _mm512_load_ps(p + q + 16);
        x[0] = flat_previous_lanes(m[1], before, at);
        x[1] = at;
        x[2] = flat_next_lanes(m[3], at, after);
        before = at, at = after;
    }
};

// out[q] (q < P) = bias + sum_{r,c} w[r][c] src[q + row[r] + col(c)], col(c) = c - 1 (Transposed: 1 - c), zero where
// the tap leaves the row; src aligned to 64 bytes, with numbers from 16 floats before its lowest row's offset to 32
// past P and its highest.
template <bool Transposed, bool A0, bool A1, bool A2>
void flat_correlate_whole(const float* src, const long (&row)[3], const float* w,
                          const FlatColumnMasks& masks, __m512 bias, float* out, long P) {
    FlatRowWindow<A0> r0(src, row[0]);
    FlatRowWindow<A1> r1(src, row[1]);
    FlatRowWindow<A2> r2(src, row[2]);
    __m512 wl[3][3];
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) wl[r][c] = _mm512_set1_ps(w[3 * r + c]);
    for (long q = 0, i = 0; q < P; q += 16, ++i) {
        const __mmask16* m = masks.m + 5 * i;
        __m512 x0[3], x1[3], x2[3];
        r0.taps(q, m, x0);
        r1.taps(q, m, x1);
        r2.taps(q, m, x2);
        __m512 a0 = bias, a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps();
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) {
            const int s = Transposed ? 2 - c : c;  // tap c's column shift, as an index of x
            a0 = _mm512_fmadd_ps(wl[0][c], x0[s], a0);
            a1 = _mm512_fmadd_ps(wl[1][c], x1[s], a1);
            a2 = _mm512_fmadd_ps(wl[2][c], x2[s], a2);
        }
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
        if (q + 16 <= P) {
            _mm512_storeu_ps(out + q, sum);
        } else {
            _mm512_mask_storeu_ps(out + q, static_cast<__mmask16>((1u << (P - q)) - 1u), sum);
        }
    }
}

// Whether the taps suit flat_correlate_whole: column shifts -1, 0, 1 (or 1, 0, -1).
inline bool flat_whole_applies(const FlatTaps& t) {
    return t.col_offset[1] == 0 && t.col_offset[0] == -t.col_offset[2] && std::abs(t.col_offset[0]) == 1;
}

// flat_correlate_whole for taps of which it applies, the rows' alignment chosen at run time.
inline void flat_correlate_whole(const float* src, const FlatTaps& t, const float* w,
                                 const FlatColumnMasks& masks, __m512 bias, float* out, long P) {
    const bool transposed = t.col_offset[0] == 1;
    const int kind = (transposed ? 8 : 0) | (t.row_offset[0] % 16 == 0 ? 1 : 0) | (t.row_offset[1] % 16 == 0 ? 2 : 0) |
                     (t.row_offset[2] % 16 == 0 ? 4 : 0);
    using Kernel = void (*)(const float*, const long (&)[3], const float*, const FlatColumnMasks&, __m512, float*,
                            long);
    static constexpr Kernel kernels[16] = {
        flat_correlate_whole<false, false, false, false>, flat_correlate_whole<false, true, false, false>,
        flat_correlate_whole<false, false, true, false>,  flat_correlate_whole<false, true, true, false>,
        flat_correlate_whole<false, false, false, true>,  flat_correlate_whole<false, true, false, true>,
        flat_correlate_whole<false, false, true, true>,   flat_correlate_whole<false, true, true, true>,
        flat_correlate_whole<true, false, false, false>,  flat_correlate_whole<true, true, false, false>,
        flat_correlate_whole<true, false, true, false>,   flat_correlate_whole<true, true, true, false>,
        flat_correlate_whole<true, false, false, true>,   flat_correlate_whole<true, true, false, true>,
        flat_correlate_whole<true, false, true, true>,    flat_correlate_whole<true, true, true, true>,
    };
    kernels[kind](src, t.row_offset, w, masks, bias, out, P);
}
#endif

// The lanes j of a vector with from <= j < to (bounds within a plane's size), and two masks' common lanes.
inline typename FlatVec::Mask flat_lane_range(long from, long to) {
    return FlatVec::between(static_cast<int>(from), static_cast<int>(to));
}
#if DEEPCNN_ISA_AVX512
inline __mmask16 flat_both(__mmask16 a, __mmask16 b) { return a & b; }
#else
inline __m256i flat_both(__m256i a, __m256i b) { return _mm256_and_si256(a, b); }
#endif

// Backward-weights sums dw(r, c) = sum_q dy(q) x(q + row_offset[r] + c) as sum_q' dy(q' - c) x(q' + row_offset[r]):
// per vector of q', the three column-shifted dy vectors d[c] serve all three rows of taps, and the three x vectors
// all three columns (9 FMAs). A term is valid where q' - c and q' share a row (the column mask of shift -c at q', on
// d[c]), q' < P and x's pixel lies in the plane. Terms q' = -1 (c = -1) and q' = P (c = 1) would cross a row's edge,
// so q' runs over [0, P) only. Both planes are read where they lie: an `edge` vector (the first and last rows, where
// x's rows above or below the plane, or dy's lanes past P, would be read) loads x through masks of the lanes in
// range, whose other lanes neither fault nor are read.
template <bool edge>
[[gnu::always_inline]] inline void flat_weight_step(const float* x, const long (&row)[3],
                                                    const typename FlatVec::V (&d)[3],
                                                    const typename FlatVec::Mask (&in_range)[4],
                                                    typename FlatVec::V (&sum)[3][3], typename FlatVec::V& db,
                                                    int unshifted) {
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r) {
        typename FlatVec::V xr = edge ? flat_load(x + row[r], in_range[r]) : FlatVec::load(x + row[r]);
        // loaded once for its three FMAs (GCC folded the load into each of them: three loads, not one)
        asm("" : "+v"(xr));
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) sum[r][c] = FlatVec::fma(d[c], xr, sum[r][c]);
    }
    db = FlatVec::add(unshifted == 0 ? d[0] : unshifted == 1 ? d[1] : d[2], db);
}

// The shifted dy vectors of flat_weight_step, each one masked load: d[c] = dy(q' - col[c]) (6 loads a vector, with
// x's three, most of them across two cache lines).
struct FlatShiftedLoads {
    const float* dy = nullptr;
    long col[3];
    int unshift[3];
    explicit FlatShiftedLoads(const FlatTaps& t) {
        for (int c = 0; c < 3; ++c) col[c] = t.col_offset[c], unshift[c] = 2 - static_cast<int>(t.col_offset[c]);
    }
    void start(const float* plane) { dy = plane; }
    template <bool edge>
    [[gnu::always_inline]] void get(long i, const typename FlatVec::Mask* m, typename FlatVec::Mask in_p,
                                    typename FlatVec::V (&d)[3]) {
        const long q = i * FlatVec::lanes;
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) d[c] = flat_load(dy + q - col[c], edge ? flat_both(m[unshift[c]], in_p) : m[unshift[c]]);
    }
};

#if DEEPCNN_ISA_AVX512
// The same for column shifts -1, 0, 1 (pad_left 1) from a sliding window of whole vectors: dy(q' + 1) and dy(q' - 1)
// come out of the vectors at q' - 16, q' and q' + 16 through valignd (1 load and 2 shuffles a vector, not 3 loads
// across cache lines). Lanes past P read zero: the window's loads at the end are masked.
struct FlatShiftedWindow {
    const float* dy;
    long P;
    __m512 before, at;
    void start(const float* plane) {
        dy = plane;
        before = _mm512_setzero_ps(), at = _mm512_maskz_loadu_ps(flat_lane_range(0, P), plane);
    }
    template <bool edge>
    [[gnu::always_inline]] void get(long i, const __mmask16* m, __mmask16, __m512 (&d)[3]) {
        const long q = i * 16;
        const __m512 after = edge ? _mm512_maskz_loadu_ps(flat_lane_range(0, P - q - 16), dy + q + 16)
                                  : _mm512_loadu_ps(dy + q + 16);
        // d[0] = dy(q' + 1) (col -1: column shift +1, m[3]), d[1] = dy(q'), d[2] = dy(q' - 1) (m[1])
        d[0] = flat_next_lanes(m[3], at, after);
        d[1] = at;
        d[2] = flat_previous_lanes(m[1], before, at);
        before = at, at = after;
    }
};
#endif

// sums[3 r + c] = sum_n sum_q dy_n[q] x_n[q + offset of tap (r, c)] (zero where the tap leaves the row or the
// plane), sums[9] = sum_n sum_q dy_n[q], over q < P and N images in order, on the planes x + n x_step (x_pixels) and
// dy + n dy_step (P) where they lie, the shifted dy vectors from `Shifted`; the sums stay in registers from the first
// image to the last. `window`: the vectors past the last one Shifted may read without a mask.
template <class Shifted>
[[gnu::always_inline]] inline void flat_weight_sums(Shifted shifted, long window, const float* x, long x_pixels,
                                                    long x_step, const float* dy, long dy_step, int N,
                                                    const FlatTaps& t, const FlatColumnMasks& masks, long P,
                                                    typename FlatVec::V (&sums)[10]) {
    using V = FlatVec;
    constexpr long L = V::lanes;
    long row[3];
    int unshifted = 0;
    for (int r = 0; r < 3; ++r) row[r] = t.row_offset[r];
    for (int c = 0; c < 3; ++c)
        if (t.col_offset[c] == 0) unshifted = c;
    // vectors [inner_begin, inner_end) read x's rows within the plane and dy's lanes below P
    const long row_lo = std::min(row[0], row[2]), row_hi = std::max(row[0], row[2]);
    const long vectors = (P + L - 1) / L;
    const long inner_begin = std::min(vectors, (std::max(0L, -row_lo) + L - 1) / L);
    const long inner_end = std::max(inner_begin, std::min(x_pixels - row_hi, P) / L - window);
    // the sums in locals (through the references, GCC stored every sum to memory on every vector)
    typename V::V sum[3][3], bias_sum = V::zero();
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r)
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) sum[r][c] = V::zero();
    typename V::Mask in_range[4] = {};
    typename V::V d[3];
    for (int n = 0; n < N; ++n) {
        const float* xn = x + n * x_step;
        const float* dyn = dy + n * dy_step;
        depthwise_prefetch_ahead(n, N, xn, x_step, x_pixels, dyn, dy_step, P);
        shifted.start(dyn);
        const auto edge_step = [&](long i) {
            const long q = i * L;
            for (int r = 0; r < 3; ++r) in_range[r] = flat_lane_range(-q - row[r], x_pixels - q - row[r]);
            in_range[3] = flat_lane_range(0, P - q);
            shifted.template get<true>(i, masks.m + 5 * i, in_range[3], d);
            flat_weight_step<true>(xn + q, row, d, in_range, sum, bias_sum, unshifted);
        };
        for (long i = 0; i < inner_begin; ++i) edge_step(i);
        for (long i = inner_begin; i < inner_end; ++i) {
            shifted.template get<false>(i, masks.m + 5 * i, in_range[3], d);
            flat_weight_step<false>(xn + i * L, row, d, in_range, sum, bias_sum, unshifted);
        }
        for (long i = inner_end; i < vectors; ++i) edge_step(i);
    }
#pragma GCC unroll 3
    for (int r = 0; r < 3; ++r)
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) sums[3 * r + c] = sum[r][c];
    sums[9] = bias_sum;
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

inline bool depthwise_flat_applies(const ConvGeometry& g, int groups) {
    const long out = static_cast<long>(g.OH) * g.OW, in = static_cast<long>(g.H) * g.W;
    return groups == g.C && g.K == g.C && g.KH == 3 && g.KW == 3 && g.stride_h == 1 && g.stride_w == 1 &&
           g.pad_top <= 2 && g.pad_left <= 2 && g.OW == g.W &&
           std::max(out, in) <= depthwise_flat_max_vectors * FlatVec::lanes &&
           flat_stride1_copy(g, false).floats <= depthwise_flat_copy_floats &&
           flat_stride1_copy(g, true).floats <= depthwise_flat_copy_floats;
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
    const FlatTaps taps = flat_stride1_taps(g, transposed);
    FlatCopy copy = flat_stride1_copy(g, transposed);
#if DEEPCNN_ISA_AVX512
    // whole vectors where the taps suit and the wider border fits
    const long row_lo = std::min(taps.row_offset[0], taps.row_offset[2]);
    const long row_hi = std::max(taps.row_offset[0], taps.row_offset[2]);
    const FlatCopy whole_copy(src_plane, dst_plane, row_lo - 16, row_hi + 16);
    const bool whole = flat_whole_applies(taps) && whole_copy.floats <= depthwise_flat_copy_floats;
    if (whole) copy = whole_copy;
#endif
    parallel_for(pool, static_cast<long>(N) * g.C, depthwise_planes_per_task(dst_plane), 1, [&](long p0, long p1) {
        alignas(64) float buf[depthwise_flat_copy_floats];
        typename FlatVec::V w[3][3];
        copy.clear(buf);
        for (long p = p0; p < p1; ++p) {
            const long c = p % g.C;
            copy.fill(src + p * src_plane, buf);
            const typename FlatVec::V b = bias ? FlatVec::broadcast(bias + c) : FlatVec::zero();
#if DEEPCNN_ISA_AVX512
            if (whole) {
                // it broadcasts the nine weights itself: vectors stored here and loaded back there at once cost a
                // store-forwarding stall each (1.04-1.15x without them, Zen 4)
                flat_correlate_whole(buf + copy.front, taps, weight + c * 9, masks, b, dst + p * dst_plane, dst_plane);
                continue;
            }
#endif
            flat_weights(weight, c, w);
            flat_correlate(buf + copy.front, taps, w, masks, b, dst + p * dst_plane, dst_plane);
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

// Backward-weights takes the channels one at a time, each summing its images in order with its sums in registers,
// and asks for the planes two images ahead (a pass of 16 channels read image by image, its sums in memory between
// planes, measured slower on Zen 4: performance.md).
inline void depthwise_flat_backward_weights(const ConvGeometry& g, int N, const float* x, const float* dy,
                                            float* dweight, float* dbias, ThreadPool* pool) {
    using V = FlatVec;
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const FlatColumnMasks masks(g.OW, out_plane);
    const FlatTaps taps = flat_stride1_taps(g, false);
    const long per_task = std::max(1L, depthwise_planes_per_task(out_plane) / std::max(1, N));
    parallel_for(pool, g.C, per_task, 1, [&](long c0, long c1) {
        // the window made once per task, not per channel (one 12x12 image: 1.15x, Zen 4, measured while
        // flat_weight_sums was still a call that took it by copy)
#if DEEPCNN_ISA_AVX512
        const FlatShiftedWindow window{nullptr, out_plane, _mm512_setzero_ps(), _mm512_setzero_ps()};
#endif
        const FlatShiftedLoads loads(taps);
        for (long c = c0; c < c1; ++c) {
            typename V::V sums[10];
            const float* xc = x + c * in_plane;
            const float* dyc = dy + c * out_plane;
#if DEEPCNN_ISA_AVX512
            if (flat_whole_applies(taps) && taps.col_offset[0] == -1) {
                flat_weight_sums(window, 1, xc, in_plane, g.C * in_plane, dyc, g.C * out_plane, N, taps, masks,
                                 out_plane, sums);
            } else
#endif
            {
                flat_weight_sums(loads, 0, xc, in_plane, g.C * in_plane, dyc, g.C * out_plane, N, taps, masks,
                                 out_plane, sums);
            }
            depthwise_store_weight_sums(sums, c, dweight, dbias);
        }
    });
}

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn

#endif
