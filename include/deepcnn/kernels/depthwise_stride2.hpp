// deepcnn/kernels/depthwise_stride2.hpp: depthwise 3x3 convolution (groups == C == K) at stride 2 with AVX-512,
// straight from the NCHW planes: the grouped plan's "depthwise3x3_stride2" variants (grouped_conv2d_plan.hpp).
// Two 16-float loads of a source row hold every column a vector of up to 15 outputs reads; two in-lane shuffles
// (vshufps) split them into the even columns (tap kw = 0) and the odd ones (kw = 1), in a scrambled lane order, and
// kw = 2 reads the even columns one output on. Each vector walks down its rows, and a source row's taps serve two
// output rows (kh = 2 of one, kh = 0 of the next): per output vector 4 loads, 4 shuffles, 9 FMAs and 2 lane
// permutes back to natural order (where depthwise3x3 loads 18 vectors and permutes 9, and depthwise3x3_lanes
// transposes every plane into channel lanes and back). Rows of at most 7 outputs take two output rows per vector
// (a 6-pixel row fills 12 lanes, not 6). Edges read zeros through masked loads: no copy, no border.
//   forward           y(oh, ow) = bias + sum_{kh,kw} w[kh][kw] x(2 oh + kh - pad_top, 2 ow + kw - pad_left)
//   backward-data     dx(h, w) = sum over the taps with h + pad_top - kh and w + pad_left - kw even of w[kh][kw]
//                     dy((h + pad_top - kh) / 2, (w + pad_left - kw) / 2): per dy row, one permute gives kw = 0
//                     (even dx columns) and kw = 1 (odd ones) against alternating weights, a second kw = 2, and
//                     the two serve the three dx rows the dy row reaches
//   backward-weights  dw[kh][kw] = sum_n sum_{oh,ow} dy(oh, ow) x(2 oh + kh - pad_top, 2 ow + kw - pad_left), db =
//                     sum_n sum dy, in vector lanes added up in a fixed order at the end
// Forward and backward-data split the planes (image, channel) over the threads, backward-weights the channels, each
// summing every image in order: results are the same on any thread count. No allocation, no workspace. The _ref
// twins: grouped_conv2d_*_ref (grouped_conv2d.hpp).

#if DEEPCNN_ISA_AVX512

#ifndef DEEPCNN_ISA_NS
#error "kernels/depthwise_stride2.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

// Lanes [lo, hi) of 16.
inline __mmask16 stride2_lanes(int lo, int hi) {
    lo = std::max(lo, 0), hi = std::min(hi, 16);
    return hi <= lo ? 0 : static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

// Columns [c, c + 16) of row r of a rows x cols plane under `lanes` (those of columns in [0, cols):
// stride2_lanes(-c, cols - c)); zero outside the plane (c may be negative).
[[gnu::always_inline]] inline __m512 stride2_load(const float* plane, int rows, int cols, int r, int c,
                                                  __mmask16 lanes) {
    if (r < 0 || r >= rows) return _mm512_setzero_ps();
    const long offset = static_cast<long>(r) * cols + c;
    if (offset >= 0) return _mm512_maskz_loadu_ps(lanes, plane + offset);
    // before the plane's first pixel: loaded from that pixel, then moved up -offset lanes
    const int up = static_cast<int>(-offset);
    const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>(lanes >> up), plane);
    const __m512i from = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(up));
    return _mm512_maskz_permutexvar_ps(lanes, from, v);
}

// The two taps of one source row for a vector of outputs, from loads a and b: kw = 0 (the even columns) and kw = 1
// (the odd ones), each one in-lane shuffle (vshufps: within each 128-bit block, two floats of a then two of b), so
// the outputs sit in a scrambled lane order (Stride2Outputs::lane). Tap kw = 2 is the even columns one output on:
// it is not shuffled apart; the lane permutes that put a vector's outputs in order read it one output on.
struct Stride2Taps {
    __m512 even, odd;
};
[[gnu::always_inline]] inline Stride2Taps stride2_taps(__m512 a, __m512 b) {
    return {_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))};
}

// How forward and backward-weights lay outputs into vectors; each vector walks down its rows, every source row's
// taps shuffled once and kept for the next output row (whose kh = 0 row is this one's kh = 2).
//   chunks  a row's outputs [ow0, ow0 + n), n <= 15, from loads a and b of columns [c0, c0 + 16) and
//           [c0 + 16, c0 + 32), c0 = 2 ow0 - pad_left: output ow0 + j's taps are columns c0 + 2 j + kw
//   paired  rows of at most 7 outputs, and at least 3 of them: output rows v (from a) and v + half (from b), half =
//           ceil(OH / 2), both loads of columns [-pad_left, 16 - pad_left) of their source rows
// In the shuffled taps, output j of load a's part is at lane(j) = 4 (j / 2) + j % 2, of load b's at lane(j) + 2
// (chunks: output j >= 8 is load b's output j - 8). In natural order (what y and dy hold) a vector's outputs are
// lanes [0, n) (paired: [0, OW) the first row, [OW, 2 OW) the second).
struct Stride2Outputs {
    struct Chunk {
        int ow0, n, c0;
        __mmask16 a_lanes, b_lanes;  // the lanes of the two loads inside the row
    };
    static constexpr int max_chunks = 64;
    bool paired = false;
    int chunks = 0, half = 0;
    Chunk chunk[max_chunks];
    // natural lane i from shuffled lanes: to_natural[i] (kw = 0, 1), to_natural_next[i] (kw = 2: one output on);
    // shuffled lane l from natural lanes, for dy: from_natural[l] (zero outside from_lanes), and dy one output back
    // (kw = 2) from_natural_back[l] (zero outside back_lanes)
    __m512i to_natural, to_natural_next, from_natural, from_natural_back;
    __mmask16 from_lanes = 0, back_lanes = 0;
    static bool pairs(const ConvGeometry& g) { return 2 * g.OW + 2 <= 16 && g.OH >= 3; }
    static int lane(int j) { return 4 * (j / 2) + j % 2; }
    explicit Stride2Outputs(const ConvGeometry& g) {
        paired = pairs(g);
        half = (g.OH + 1) / 2;
        const int width = paired ? g.OW : std::min(g.OW, 15);
        for (int ow0 = 0; ow0 < g.OW && chunks < max_chunks; ow0 += width, ++chunks) {
            Chunk& k = chunk[chunks];
            k.ow0 = ow0, k.n = std::min(width, g.OW - ow0), k.c0 = 2 * ow0 - g.pad_left;
            k.a_lanes = stride2_lanes(-k.c0, g.W - k.c0);
            k.b_lanes = paired ? k.a_lanes : stride2_lanes(-k.c0 - 16, g.W - k.c0 - 16);
        }
        // shuffled lane of natural output i and of the output after it; -1 where none
        const auto shuffled = [&](int i, int after) {
            if (paired) {
                const int part = i < g.OW ? 0 : 1, j = i - part * g.OW + after;  // j <= OW <= 7: inside the load
                return i < 2 * g.OW ? lane(j) + 2 * part : -1;
            }
            const int j = i + after;
            return j < 8 ? lane(j) : j < 16 ? lane(j - 8) + 2 : -1;
        };
        alignas(64) int to[16] = {}, to_next[16] = {}, from[16] = {}, back[16] = {};
        for (int i = 0; i < 16; ++i) {
            const int l = shuffled(i, 0), l1 = shuffled(i, 1);
            if (l >= 0) to[i] = l, from[l] = i, from_lanes = static_cast<__mmask16>(from_lanes | (1u << l));
            if (l1 >= 0) to_next[i] = l1, back[l1] = i, back_lanes = static_cast<__mmask16>(back_lanes | (1u << l1));
        }
        to_natural = _mm512_load_si512(to), to_natural_next = _mm512_load_si512(to_next);
        from_natural = _mm512_load_si512(from), from_natural_back = _mm512_load_si512(back);
    }
    // The paired vectors' second rows' lanes, and where they store or load: pixel (v + half) OW is lane OW.
    __mmask16 second_lanes(const ConvGeometry& g) const { return stride2_lanes(g.OW, 2 * g.OW); }
    long second_offset(const ConvGeometry& g, int v) const { return static_cast<long>(v + half - 1) * g.OW; }
};

// Output rows of at most this many chunks (rows up to 960 outputs).
inline bool depthwise_stride2_applies(const ConvGeometry& g, int groups) {
    return groups == g.C && g.K == g.C && g.KH == 3 && g.KW == 3 && g.stride_h == 2 && g.stride_w == 2 &&
           g.pad_top <= 1 && g.pad_left <= 1 && g.OH >= 1 && g.OW >= 1 && g.OW <= 15 * Stride2Outputs::max_chunks;
}

// Channel c's nine weights, each in every lane.
inline void stride2_weights(const float* weight, long c, __m512 (&w)[9]) {
    for (int t = 0; t < 9; ++t) w[t] = _mm512_set1_ps(weight[c * 9 + t]);
}

// A chunk's taps of source row r (zero outside the plane), and the paired vectors' of rows r and r2. Unchecked:
// rows known to lie inside the plane, from its first pixel on.
template <bool Checked = true>
[[gnu::always_inline]] inline __m512 stride2_source(const float* x, const ConvGeometry& g, int r, int c,
                                                    __mmask16 lanes) {
    if constexpr (Checked) {
        return stride2_load(x, g.H, g.W, r, c, lanes);
    } else {
        return _mm512_maskz_loadu_ps(lanes, x + static_cast<long>(r) * g.W + c);
    }
}
template <bool Checked = true>
[[gnu::always_inline]] inline Stride2Taps stride2_chunk_taps(const ConvGeometry& g, const float* x,
                                                             const Stride2Outputs::Chunk& k, int r) {
    return stride2_taps(stride2_source<Checked>(x, g, r, k.c0, k.a_lanes),
                        stride2_source<Checked>(x, g, r, k.c0 + 16, k.b_lanes));
}
template <bool Checked = true>
[[gnu::always_inline]] inline Stride2Taps stride2_paired_taps(const ConvGeometry& g, const float* x,
                                                              const Stride2Outputs::Chunk& k, int r, int r2) {
    return stride2_taps(stride2_source<Checked>(x, g, r, k.c0, k.a_lanes),
                        stride2_source<Checked>(x, g, r2, k.c0, k.a_lanes));
}

// Whether source rows [first, last] lie inside the plane, from its first pixel on, for loads from column c.
inline bool stride2_rows_inside(const ConvGeometry& g, int first, int last, int c) {
    return first >= 0 && last < g.H && static_cast<long>(first) * g.W + c >= 0;
}

// Walks the output vectors of one plane, each down its rows: calls out(t0, t1, t2, row, chunk) with the taps of the
// three source rows (kh = 0, 1, 2) of output row `row` (paired: rows row and row + half). `out` must be always-inline.
template <class Out>
[[gnu::always_inline]] inline void stride2_walk(const ConvGeometry& g, const Stride2Outputs& o, const float* x,
                                                Out out) {
    // three named rows, not an array (GCC kept an array of them in memory)
    Stride2Taps t0, t1, t2;
    if (o.paired) {
        const Stride2Outputs::Chunk k = o.chunk[0];
        const int apart = 2 * o.half;  // source rows between a vector's two output rows'
        t0 = stride2_paired_taps(g, x, k, -g.pad_top, apart - g.pad_top);
        for (int v = 0; v < o.half; ++v) {
            const int r = 2 * v - g.pad_top;
            if (stride2_rows_inside(g, r + 1, r + 2 + apart, k.c0)) {
                t1 = stride2_paired_taps<false>(g, x, k, r + 1, r + 1 + apart);
                t2 = stride2_paired_taps<false>(g, x, k, r + 2, r + 2 + apart);
            } else {
                t1 = stride2_paired_taps(g, x, k, r + 1, r + 1 + apart);
                t2 = stride2_paired_taps(g, x, k, r + 2, r + 2 + apart);
            }
            out(t0, t1, t2, v, k);
            t0 = t2;
        }
        return;
    }
    for (int i = 0; i < o.chunks; ++i) {
        const Stride2Outputs::Chunk k = o.chunk[i];
        t0 = stride2_chunk_taps(g, x, k, -g.pad_top);
        for (int oh = 0; oh < g.OH; ++oh) {
            const int r = 2 * oh - g.pad_top;
            if (stride2_rows_inside(g, r + 1, r + 2, k.c0)) {
                t1 = stride2_chunk_taps<false>(g, x, k, r + 1);
                t2 = stride2_chunk_taps<false>(g, x, k, r + 2);
            } else {
                t1 = stride2_chunk_taps(g, x, k, r + 1);
                t2 = stride2_chunk_taps(g, x, k, r + 2);
            }
            out(t0, t1, t2, oh, k);
            t0 = t2;
        }
    }
}

// One row of taps' three sums in backward-weights: even += d t.even, odd += d t.odd, next += d_back t.even.
struct Stride2RowSums {
    __m512 even, odd, next;
};
[[gnu::always_inline]] inline void stride2_row_update(__m512 d, __m512 d_back, const Stride2Taps& t,
                                                      Stride2RowSums& row) {
    row.even = _mm512_fmadd_ps(d, t.even, row.even);
    row.odd = _mm512_fmadd_ps(d, t.odd, row.odd);
    row.next = _mm512_fmadd_ps(d_back, t.even, row.next);
}

// One plane of channel c: y = bias + the stride-2 correlation. Taps kw = 0 and 1 sum in one register, kw = 2 in
// another (in the shuffled order, its output is one lane on); two lane permutes put both in natural order. The
// weights in locals, so that they stay in registers (through references, every store to y would reload them).
inline void stride2_forward_plane(const ConvGeometry& g, const Stride2Outputs& o, const float* x, const float* weight,
                                  long c, __m512 bias, float* y) {
    __m512 w[9];
    stride2_weights(weight, c, w);
    const __mmask16 second = o.second_lanes(g);
    const __m512i to_natural = o.to_natural, to_natural_next = o.to_natural_next;
    stride2_walk(g, o, x, [&](const Stride2Taps& t0, const Stride2Taps& t1, const Stride2Taps& t2, int row,
                              const Stride2Outputs::Chunk& k) __attribute__((always_inline)) {
        __m512 near = _mm512_fmadd_ps(w[1], t0.odd, _mm512_fmadd_ps(w[0], t0.even, bias));
        near = _mm512_fmadd_ps(w[4], t1.odd, _mm512_fmadd_ps(w[3], t1.even, near));
        near = _mm512_fmadd_ps(w[7], t2.odd, _mm512_fmadd_ps(w[6], t2.even, near));
        const __m512 next =
            _mm512_fmadd_ps(w[8], t2.even, _mm512_fmadd_ps(w[5], t1.even, _mm512_mul_ps(w[2], t0.even)));
        const __m512 sum = _mm512_add_ps(_mm512_permutexvar_ps(to_natural, near),
                                         _mm512_permutexvar_ps(to_natural_next, next));
        if (o.paired) {
            _mm512_mask_storeu_ps(y + static_cast<long>(row) * g.OW, stride2_lanes(0, g.OW), sum);
            if (row + o.half < g.OH) _mm512_mask_storeu_ps(y + o.second_offset(g, row), second, sum);
        } else {
            _mm512_mask_storeu_ps(y + static_cast<long>(row) * g.OW + k.ow0, stride2_lanes(0, k.n), sum);
        }
    });
}

// acc[t] += dy x tap t's inputs, db += dy, over one plane (lanes other than a vector's outputs read dy as zero; db
// sums dy in natural order).
inline void stride2_weight_sums(const ConvGeometry& g, const Stride2Outputs& o, const float* x, const float* dy,
                                __m512 (&acc)[9], __m512& db) {
    // the sums in named locals, so that they stay in registers (in an array, GCC stored all nine on every vector)
    Stride2RowSums s0{acc[0], acc[1], acc[2]}, s1{acc[3], acc[4], acc[5]}, s2{acc[6], acc[7], acc[8]};
    __m512 d_sum = db;
    const __mmask16 second = o.second_lanes(g), from_lanes = o.from_lanes, back_lanes = o.back_lanes;
    const __m512i from_natural = o.from_natural, from_natural_back = o.from_natural_back;
    stride2_walk(g, o, x, [&](const Stride2Taps& t0, const Stride2Taps& t1, const Stride2Taps& t2, int row,
                              const Stride2Outputs::Chunk& k) __attribute__((always_inline)) {
        __m512 d;
        if (o.paired) {
            d = _mm512_maskz_loadu_ps(stride2_lanes(0, g.OW), dy + static_cast<long>(row) * g.OW);
            if (row + o.half < g.OH) d = _mm512_mask_loadu_ps(d, second, dy + o.second_offset(g, row));
        } else {
            d = _mm512_maskz_loadu_ps(stride2_lanes(0, k.n), dy + static_cast<long>(row) * g.OW + k.ow0);
        }
        // dy in the taps' shuffled order, and one output back for kw = 2
        const __m512 shuffled = _mm512_maskz_permutexvar_ps(from_lanes, from_natural, d);
        const __m512 back = _mm512_maskz_permutexvar_ps(back_lanes, from_natural_back, d);
        stride2_row_update(shuffled, back, t0, s0);
        stride2_row_update(shuffled, back, t1, s1);
        stride2_row_update(shuffled, back, t2, s2);
        d_sum = _mm512_add_ps(d, d_sum);
    });
    acc[0] = s0.even, acc[1] = s0.odd, acc[2] = s0.next;
    acc[3] = s1.even, acc[4] = s1.odd, acc[5] = s1.next;
    acc[6] = s2.even, acc[7] = s2.odd, acc[8] = s2.next;
    db = d_sum;
}

// Backward-data's fixed lanes for dx columns [w0, w0 + 16), w0 even: the dy load starts at column w0 / 2 - 1;
// lane j's dy column (w0 + j + pad_left) / 2 is at near[j], (w0 + j + pad_left) / 2 - 1 (kw = 2, lanes with w0 + j
// + pad_left even only) at near[j] - 1.
struct Stride2Gradient {
    __m512i near, far;
    __mmask16 even = 0;
    explicit Stride2Gradient(const ConvGeometry& g) {
        alignas(64) int a[16], b[16];
        for (int j = 0; j < 16; ++j) {
            a[j] = (j + g.pad_left) / 2 + 1;
            b[j] = a[j] - 1;
            if ((j + g.pad_left) % 2 == 0) even = static_cast<__mmask16>(even | (1u << j));
        }
        near = _mm512_load_si512(a), far = _mm512_load_si512(b);
    }
};

// One plane: dx from dy, dy row by dy row. Dy row oh reaches dx rows 2 oh - pad_top + kh with tap row kh: its two
// permutes serve all three, with alternating[kh] (w[kh][0] on the even lanes, w[kh][1] on the odd ones) and
// w[kh][2]. Dx row 2 oh - pad_top + 2 waits for dy row oh + 1's kh = 0 terms; rows no dy row reaches are zero.
inline void stride2_backward_data_plane(const ConvGeometry& g, const Stride2Gradient& s, const float* dy,
                                        const float* weight, long c, float* dx) {
    __m512 w[9], alternating[3];
    stride2_weights(weight, c, w);
    for (int kh = 0; kh < 3; ++kh) alternating[kh] = _mm512_mask_blend_ps(s.even, w[kh * 3 + 1], w[kh * 3]);
    const __m512i near = s.near, far = s.far;
    const __mmask16 even = s.even;
    const auto store = [&](int h, int w0, __mmask16 lanes, __m512 v) {
        if (h >= 0 && h < g.H) _mm512_mask_storeu_ps(dx + static_cast<long>(h) * g.W + w0, lanes, v);
    };
    for (int w0 = 0; w0 < g.W; w0 += 16) {
        const int d0 = w0 / 2 - 1;
        const __mmask16 d_lanes = stride2_lanes(-d0, g.OW - d0), dx_lanes = stride2_lanes(0, g.W - w0);
        __m512 carry = _mm512_setzero_ps();
        for (int oh = 0; oh < g.OH; ++oh) {
            const __m512 d = stride2_load(dy, g.OH, g.OW, oh, d0, d_lanes);
            const __m512 p1 = _mm512_permutexvar_ps(near, d), p2 = _mm512_maskz_permutexvar_ps(even, far, d);
            const int h = 2 * oh - g.pad_top;
            store(h, w0, dx_lanes, _mm512_fmadd_ps(w[2], p2, _mm512_fmadd_ps(alternating[0], p1, carry)));
            store(h + 1, w0, dx_lanes, _mm512_fmadd_ps(w[5], p2, _mm512_mul_ps(alternating[1], p1)));
            carry = _mm512_fmadd_ps(w[8], p2, _mm512_mul_ps(alternating[2], p1));
        }
        store(2 * g.OH - g.pad_top, w0, dx_lanes, carry);
        for (int h = 2 * g.OH - g.pad_top + 1; h < g.H; ++h) store(h, w0, dx_lanes, _mm512_setzero_ps());
    }
}

inline void depthwise_stride2_forward(const ConvGeometry& g, int N, const float* x, const float* weight,
                                      const float* bias, float* y, ThreadPool* pool) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const Stride2Outputs o(g);
    parallel_for(pool, static_cast<long>(N) * g.C, depthwise_planes_per_task(out_plane), 1, [&](long p0, long p1) {
        for (long p = p0, c = p0 % g.C; p < p1; ++p, c = c + 1 == g.C ? 0 : c + 1) {
            const __m512 b = bias ? _mm512_set1_ps(bias[c]) : _mm512_setzero_ps();
            stride2_forward_plane(g, o, x + p * in_plane, weight, c, b, y + p * out_plane);
        }
    });
}

inline void depthwise_stride2_backward_data(const ConvGeometry& g, int N, const float* dy, const float* weight,
                                            float* dx, ThreadPool* pool) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const Stride2Gradient s(g);
    parallel_for(pool, static_cast<long>(N) * g.C, depthwise_planes_per_task(in_plane), 1, [&](long p0, long p1) {
        for (long p = p0, c = p0 % g.C; p < p1; ++p, c = c + 1 == g.C ? 0 : c + 1)
            stride2_backward_data_plane(g, s, dy + p * out_plane, weight, c, dx + p * in_plane);
    });
}

// Channels per pass of backward-weights, as depthwise3x3_flat: each image's planes of a pass read in order.
constexpr int depthwise_stride2_pass_channels = 16;

inline void depthwise_stride2_backward_weights(const ConvGeometry& g, int N, const float* x, const float* dy,
                                               float* dweight, float* dbias, ThreadPool* pool) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const Stride2Outputs o(g);
    const long per_task = std::max(1L, depthwise_planes_per_task(out_plane) / std::max(1, N));
    parallel_for(pool, g.C, per_task, 1, [&](long c0, long c1) {
        for (long pass = c0; pass < c1; pass += depthwise_stride2_pass_channels) {
            const long pass_end = std::min(c1, pass + depthwise_stride2_pass_channels);
            __m512 acc[depthwise_stride2_pass_channels][9], db[depthwise_stride2_pass_channels];
            for (long c = pass; c < pass_end; ++c) {
                db[c - pass] = _mm512_setzero_ps();
                for (__m512& s : acc[c - pass]) s = _mm512_setzero_ps();
            }
            // each channel sums its images in order, whatever the pass
            for (int n = 0; n < N; ++n)
                for (long c = pass; c < pass_end; ++c) {
                    const long p = static_cast<long>(n) * g.C + c;
                    stride2_weight_sums(g, o, x + p * in_plane, dy + p * out_plane, acc[c - pass], db[c - pass]);
                }
            for (long c = pass; c < pass_end; ++c) {
                for (int t = 0; t < 9; ++t) dweight[9 * c + t] = depthwise_lane_total(acc[c - pass][t]);
                if (dbias) dbias[c] = depthwise_lane_total(db[c - pass]);
            }
        }
    });
}

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn

#endif
