// deepcnn/kernels/depthwise_stride2.hpp: depthwise 3x3 convolution (groups == C == K) at stride 2, straight from the
// NCHW planes: the grouped plan's "depthwise3x3_stride2" variants (grouped_conv2d_plan.hpp), with AVX-512 (16 lanes)
// and AVX2 (8). Two L-float loads of a source row hold every column a vector of up to L - 1 outputs reads; two
// in-lane shuffles (vshufps) split them into the even columns (tap kw = 0) and the odd ones (kw = 1), in a scrambled
// lane order, and kw = 2 reads the even columns one output on. Each vector walks down its rows, and a source row's
// taps serve two output rows (kh = 2 of one, kh = 0 of the next): per output vector 4 loads, 4 shuffles, 9 FMAs and
// 2 lane permutes back to natural order (where depthwise3x3 loads 18 vectors and permutes 9, and depthwise3x3_lanes
// transposes every plane into channel lanes and back). Rows of at most L / 2 - 1 outputs take two output rows per
// vector (a 6-pixel row fills 12 of 16 lanes, not 6). Edges read zeros through masked loads: no copy, no border.
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

#if DEEPCNN_ISA_AVX2

#ifndef DEEPCNN_ISA_NS
#error "kernels/depthwise_stride2.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

// The vector operations the kernel takes beyond simd.hpp's Zmm and Ymm (zero, broadcast, fma, add), on 16 lanes
// (AVX-512: masks are bits) or 8 (AVX2: masks are vectors, and stores of a vector's first lanes avoid the masked
// store, which AMD's Zen microcodes). `shuffle` is vshufps, within each 128-bit block on both.
#if DEEPCNN_ISA_AVX512
struct Stride2Zmm : Zmm {
    using Index = __m512i;
    static Mask from_bits(unsigned bits) { return static_cast<Mask>(bits); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    // the lanes under m loaded from p, the others zero (load_masked) or v's (load_into)
    static V load_masked(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
    static V load_into(V v, Mask m, const float* p) { return _mm512_mask_loadu_ps(v, m, p); }
    static void store_masked(float* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
    // the first n lanes
    static void store_lanes(float* p, int n, V v) { _mm512_mask_storeu_ps(p, between(0, n), v); }
    static Index index(const int* p) { return _mm512_load_si512(p); }
    static V permute(Index i, V v) { return _mm512_permutexvar_ps(i, v); }
    static V permute(Mask m, Index i, V v) { return _mm512_maskz_permutexvar_ps(m, i, v); }
    template <int Imm>
    static V shuffle(V a, V b) { return _mm512_shuffle_ps(a, b, Imm); }
    static V blend(Mask m, V a, V b) { return _mm512_mask_blend_ps(m, a, b); }
};
using S2 = Stride2Zmm;
#else
struct Stride2Ymm : Ymm {
    using Index = __m256i;
    static Mask from_bits(unsigned bits) {
        const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), bit), bit);
    }
    static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static V load_masked(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }
    static V load_into(V v, Mask m, const float* p) {
        return _mm256_blendv_ps(v, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
    }
    static void store_masked(float* p, Mask m, V v) { _mm256_maskstore_ps(p, m, v); }
    static void store_lanes(float* p, int n, V v) { store_first_lanes(p, v, n); }
    static Index index(const int* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
    static V permute(Index i, V v) { return _mm256_permutevar8x32_ps(v, i); }
    static V permute(Mask m, Index i, V v) {
        return _mm256_and_ps(_mm256_permutevar8x32_ps(v, i), _mm256_castsi256_ps(m));
    }
    template <int Imm>
    static V shuffle(V a, V b) { return _mm256_shuffle_ps(a, b, Imm); }
    static V blend(Mask m, V a, V b) { return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(m)); }
};
using S2 = Stride2Ymm;
#endif

// Zeros for the rows above and below a plane: a row outside it is loaded from here.
alignas(64) inline constexpr float stride2_zero_row[S2::lanes] = {};

// Columns [c, c + L) of row r of a rows x cols plane under `lanes` (those of columns in [0, cols):
// S2::between(-c, cols - c)); zeros for rows outside the plane. With a column of padding (c = -1 on row 0) the
// address is one float before the plane: its lane is masked off, and masked loads neither read nor fault there.
// The address is formed as an integer, so that no pointer points before the plane.
[[gnu::always_inline]] inline S2::V stride2_load(const float* plane, int rows, int cols, int r, int c,
                                                 S2::Mask lanes) {
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(plane) +
                              static_cast<std::uintptr_t>(static_cast<long>(r) * cols + c) * sizeof(float);
    const bool inside = static_cast<unsigned>(r) < static_cast<unsigned>(rows);
    return S2::load_masked(lanes, inside ? reinterpret_cast<const float*>(at) : stride2_zero_row);
}

// The two taps of one source row for a vector of outputs, from loads a and b: kw = 0 (the even columns) and kw = 1
// (the odd ones), each one in-lane shuffle (vshufps: within each 128-bit block, two floats of a then two of b), so
// the outputs sit in a scrambled lane order (Stride2Outputs::lane). Tap kw = 2 is the even columns one output on:
// it is not shuffled apart; the lane permutes that put a vector's outputs in order read it one output on.
struct Stride2Taps {
    S2::V even, odd;
};
[[gnu::always_inline]] inline Stride2Taps stride2_taps(S2::V a, S2::V b) {
    return {S2::shuffle<_MM_SHUFFLE(2, 0, 2, 0)>(a, b), S2::shuffle<_MM_SHUFFLE(3, 1, 3, 1)>(a, b)};
}

// How forward and backward-weights lay outputs into vectors of L lanes; each vector walks down its rows, every
// source row's taps shuffled once and kept for the next output row (whose kh = 0 row is this one's kh = 2).
//   chunks  a row's outputs [ow0, ow0 + n), n <= L - 1, from loads a and b of columns [c0, c0 + L) and
//           [c0 + L, c0 + 2 L), c0 = 2 ow0 - pad_left: output ow0 + j's taps are columns c0 + 2 j + kw
//   paired  rows of at most L / 2 - 1 outputs, and at least 3 of them: output rows v (from a) and v + half (from b),
//           half = ceil(OH / 2), both loads of columns [-pad_left, L - pad_left) of their source rows
// In the shuffled taps, output j of load a's part is at lane(j) = 4 (j / 2) + j % 2, of load b's at lane(j) + 2
// (chunks: output j >= L / 2 is load b's output j - L / 2). In natural order (what y and dy hold) a vector's outputs
// are lanes [0, n) (paired: [0, OW) the first row, [OW, 2 OW) the second).
struct Stride2Outputs {
    static constexpr int L = S2::lanes;
    struct Chunk {
        int ow0, n, c0;
        S2::Mask a_lanes, b_lanes;  // the lanes of the two loads inside the row
    };
    static constexpr int max_chunks = 128;
    bool paired = false;
    int chunks = 0, half = 0;
    Chunk chunk[max_chunks];
    // natural lane i from shuffled lanes: to_natural[i] (kw = 0, 1), to_natural_next[i] (kw = 2: one output on);
    // shuffled lane l from natural lanes, for dy: from_natural[l] (zero outside from_lanes), and dy one output back
    // (kw = 2) from_natural_back[l] (zero outside back_lanes)
    S2::Index to_natural, to_natural_next, from_natural, from_natural_back;
    S2::Mask from_lanes, back_lanes, first_row, second_row;
    static bool pairs(const ConvGeometry& g) { return 2 * g.OW + 2 <= L && g.OH >= 3; }
    static int lane(int j) { return 4 * (j / 2) + j % 2; }
    explicit Stride2Outputs(const ConvGeometry& g) {
        paired = pairs(g);
        half = (g.OH + 1) / 2;
        const int width = paired ? g.OW : std::min(g.OW, L - 1);
        for (int ow0 = 0; ow0 < g.OW && chunks < max_chunks; ow0 += width, ++chunks) {
            Chunk& k = chunk[chunks];
            k.ow0 = ow0, k.n = std::min(width, g.OW - ow0), k.c0 = 2 * ow0 - g.pad_left;
            k.a_lanes = S2::between(-k.c0, g.W - k.c0);
            k.b_lanes = paired ? k.a_lanes : S2::between(-k.c0 - L, g.W - k.c0 - L);
        }
        // shuffled lane of natural output i and of the output after it; -1 where none
        const auto shuffled = [&](int i, int after) {
            if (paired) {
                const int part = i < g.OW ? 0 : 1, j = i - part * g.OW + after;  // j <= OW: inside the load
                return i < 2 * g.OW ? lane(j) + 2 * part : -1;
            }
            const int j = i + after;
            return j < L / 2 ? lane(j) : j < L ? lane(j - L / 2) + 2 : -1;
        };
        alignas(64) int to[L] = {}, to_next[L] = {}, from[L] = {}, back[L] = {};
        unsigned from_bits = 0, back_bits = 0;
        for (int i = 0; i < L; ++i) {
            const int l = shuffled(i, 0), l1 = shuffled(i, 1);
            if (l >= 0) to[i] = l, from[l] = i, from_bits |= 1u << l;
            if (l1 >= 0) to_next[i] = l1, back[l1] = i, back_bits |= 1u << l1;
        }
        to_natural = S2::index(to), to_natural_next = S2::index(to_next);
        from_natural = S2::index(from), from_natural_back = S2::index(back);
        from_lanes = S2::from_bits(from_bits), back_lanes = S2::from_bits(back_bits);
        first_row = S2::between(0, g.OW), second_row = S2::between(g.OW, 2 * g.OW);
    }
};

// Output rows of at most this many chunks (rows up to 1920 outputs with AVX-512, 896 with AVX2).
inline bool depthwise_stride2_applies(const ConvGeometry& g, int groups) {
    return groups == g.C && g.K == g.C && g.KH == 3 && g.KW == 3 && g.stride_h == 2 && g.stride_w == 2 &&
           g.pad_top <= 1 && g.pad_left <= 1 && g.OH >= 1 && g.OW >= 1 &&
           g.OW <= (Stride2Outputs::L - 1) * Stride2Outputs::max_chunks;
}

// Channel c's nine weights, each in every lane.
inline void stride2_weights(const float* weight, long c, S2::V (&w)[9]) {
    for (int t = 0; t < 9; ++t) w[t] = S2::broadcast(weight + c * 9 + t);
}

// What a plane's walk reads, copied out of ConvGeometry and Stride2Outputs into a local once per call: through
// references every store to y would reload it, plane after plane.
struct Stride2Walk {
    int H, W, top, OH, half, chunks;
    bool paired;
    Stride2Outputs::Chunk first;  // the first chunk (the paired vectors' loads)
    const Stride2Outputs::Chunk* chunk;
    Stride2Walk(const ConvGeometry& g, const Stride2Outputs& o)
        : H(g.H), W(g.W), top(g.pad_top), OH(g.OH), half(o.half), chunks(o.chunks), paired(o.paired),
          first(o.chunk[0]), chunk(o.chunk) {}
};

// Walks the output vectors of one plane, each down its rows: calls out(t0, t1, t2, row, chunk) with the taps of the
// three source rows (kh = 0, 1, 2) of output row `row` (paired: rows row and row + half). Each source row's taps
// serve two output rows (kh = 2 of one, kh = 0 of the next). `out` must be always-inline.
template <class Out>
[[gnu::always_inline]] inline void stride2_walk(const Stride2Walk& s, const float* x, Out out) {
    const int H = s.H, W = s.W, top = s.top;
    // three named rows, not an array (GCC kept an array of them in memory)
    Stride2Taps t0, t1, t2;
    if (s.paired) {
        const Stride2Outputs::Chunk k = s.first;
        const int apart = 2 * s.half, half = s.half, c0 = k.c0;  // source rows between a vector's two output rows'
        const S2::Mask lanes = k.a_lanes;
        const auto taps = [&](int r) __attribute__((always_inline)) {
            return stride2_taps(stride2_load(x, H, W, r, c0, lanes), stride2_load(x, H, W, r + apart, c0, lanes));
        };
        t0 = taps(-top);
        for (int v = 0; v < half; ++v) {
            t1 = taps(2 * v - top + 1);
            t2 = taps(2 * v - top + 2);
            out(t0, t1, t2, v, k);
            t0 = t2;
        }
        return;
    }
    for (int i = 0; i < s.chunks; ++i) {
        const Stride2Outputs::Chunk k = s.chunk[i];
        const int c0 = k.c0, OH = s.OH;
        const S2::Mask a_lanes = k.a_lanes, b_lanes = k.b_lanes;
        const auto taps = [&](int r) __attribute__((always_inline)) {
            return stride2_taps(stride2_load(x, H, W, r, c0, a_lanes),
                                stride2_load(x, H, W, r, c0 + S2::lanes, b_lanes));
        };
        t0 = taps(-top);
        for (int oh = 0; oh < OH; ++oh) {
            t1 = taps(2 * oh - top + 1);
            t2 = taps(2 * oh - top + 2);
            out(t0, t1, t2, oh, k);
            t0 = t2;
        }
    }
}

// One row of taps' three sums in backward-weights: even += d t.even, odd += d t.odd, next += d_back t.even.
struct Stride2RowSums {
    S2::V even, odd, next;
};
[[gnu::always_inline]] inline void stride2_row_update(S2::V d, S2::V d_back, const Stride2Taps& t,
                                                      Stride2RowSums& row) {
    row.even = S2::fma(d, t.even, row.even);
    row.odd = S2::fma(d, t.odd, row.odd);
    row.next = S2::fma(d_back, t.even, row.next);
}

// Planes [p0, p1) (plane p: image p / C, channel p % C): y = bias + the stride-2 correlation. Taps kw = 0 and 1
// sum in one register, kw = 2 in another (in the shuffled order, its output is one lane on); two lane permutes put
// both in natural order. Everything the vectors use in locals: through references, every store to y would reload it.
inline void stride2_forward_planes(const ConvGeometry& g, const Stride2Outputs& o, const float* x, const float* weight,
                                   const float* bias, float* y, long p0, long p1) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const int OW = g.OW, OH = g.OH, half = o.half;
    const bool paired = o.paired;
    const S2::Mask second = o.second_row;
    const S2::Index to_natural = o.to_natural, to_natural_next = o.to_natural_next;
    const Stride2Walk walk(g, o);
    for (long p = p0, c = p0 % g.C; p < p1; ++p, c = c + 1 == g.C ? 0 : c + 1) {
        // named, not an array: GCC kept the array in memory
        const float* wc = weight + c * 9;
        const S2::V w0 = S2::broadcast(wc), w1 = S2::broadcast(wc + 1), w2 = S2::broadcast(wc + 2);
        const S2::V w3 = S2::broadcast(wc + 3), w4 = S2::broadcast(wc + 4), w5 = S2::broadcast(wc + 5);
        const S2::V w6 = S2::broadcast(wc + 6), w7 = S2::broadcast(wc + 7), w8 = S2::broadcast(wc + 8);
        const S2::V b = bias ? S2::broadcast(bias + c) : S2::zero();
        float* const yp = y + p * out_plane;
        stride2_walk(walk, x + p * in_plane, [&](const Stride2Taps& t0, const Stride2Taps& t1, const Stride2Taps& t2,
                                                 int row, const Stride2Outputs::Chunk& k)
                                                 __attribute__((always_inline)) {
            S2::V near = S2::fma(w1, t0.odd, S2::fma(w0, t0.even, b));
            near = S2::fma(w4, t1.odd, S2::fma(w3, t1.even, near));
            near = S2::fma(w7, t2.odd, S2::fma(w6, t2.even, near));
            const S2::V next = S2::fma(w8, t2.even, S2::fma(w5, t1.even, S2::mul(w2, t0.even)));
            const S2::V sum = S2::add(S2::permute(to_natural, near), S2::permute(to_natural_next, next));
            if (paired) {
                S2::store_lanes(yp + static_cast<long>(row) * OW, OW, sum);
                // the vector's second row, row + half: pixel (row + half) OW is lane OW
                if (row + half < OH) S2::store_masked(yp + static_cast<long>(row + half - 1) * OW, second, sum);
            } else {
                S2::store_lanes(yp + static_cast<long>(row) * OW + k.ow0, k.n, sum);
            }
        });
    }
}

// sums[t] = sum_n dy_n x tap t's inputs of x_n, sums[9] = sum_n dy_n, over N images in order (planes x + n x_step,
// dy + n dy_step; lanes other than a vector's outputs read dy as zero; sums[9] adds dy in natural order). The sums
// stay in registers from the first image to the last; the planes two images ahead are asked for before they are read.
[[gnu::always_inline]] inline void stride2_weight_sums(const ConvGeometry& g, const Stride2Outputs& o,
                                                       const float* x_first, long x_step, const float* dy_first,
                                                       long dy_step, int N, S2::V (&sums)[10]) {
    // the sums in named locals, so that they stay in registers (in an array, GCC stored all nine on every vector)
    Stride2RowSums s0{S2::zero(), S2::zero(), S2::zero()}, s1 = s0, s2 = s0;
    S2::V d_sum = S2::zero();
    const S2::Mask first = o.first_row, second = o.second_row, from_lanes = o.from_lanes, back_lanes = o.back_lanes;
    const S2::Index from_natural = o.from_natural, from_natural_back = o.from_natural_back;
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const int OW = g.OW, OH = g.OH, half = o.half;
    const bool paired = o.paired;
    const Stride2Walk walk(g, o);
    for (int n = 0; n < N; ++n) {
        const float* x = x_first + n * x_step;
        const float* dy = dy_first + n * dy_step;
        depthwise_prefetch_ahead(n, N, x, x_step, in_plane, dy, dy_step, out_plane);
        stride2_walk(walk, x, [&](const Stride2Taps& t0, const Stride2Taps& t1, const Stride2Taps& t2, int row,
                                  const Stride2Outputs::Chunk& k) __attribute__((always_inline)) {
            S2::V d;
            if (paired) {
                d = S2::load_masked(first, dy + static_cast<long>(row) * OW);
                // the vector's second row, row + half: pixel (row + half) OW is lane OW
                if (row + half < OH) d = S2::load_into(d, second, dy + static_cast<long>(row + half - 1) * OW);
            } else {
                d = S2::load_masked(S2::between(0, k.n), dy + static_cast<long>(row) * OW + k.ow0);
            }
            // dy in the taps' shuffled order, and one output back for kw = 2
            const S2::V shuffled = S2::permute(from_lanes, from_natural, d);
            const S2::V back = S2::permute(back_lanes, from_natural_back, d);
            stride2_row_update(shuffled, back, t0, s0);
            stride2_row_update(shuffled, back, t1, s1);
            stride2_row_update(shuffled, back, t2, s2);
            d_sum = S2::add(d, d_sum);
        });
    }
    sums[0] = s0.even, sums[1] = s0.odd, sums[2] = s0.next;
    sums[3] = s1.even, sums[4] = s1.odd, sums[5] = s1.next;
    sums[6] = s2.even, sums[7] = s2.odd, sums[8] = s2.next;
    sums[9] = d_sum;
}

// Backward-data's fixed lanes for dx columns [w0, w0 + L), w0 even: the dy load starts at column w0 / 2 - 1; lane
// j's dy column (w0 + j + pad_left) / 2 is at near[j], (w0 + j + pad_left) / 2 - 1 (kw = 2, lanes with w0 + j +
// pad_left even only) at near[j] - 1.
struct Stride2Gradient {
    S2::Index near, far;
    S2::Mask even;
    explicit Stride2Gradient(const ConvGeometry& g) {
        alignas(64) int a[S2::lanes], b[S2::lanes];
        unsigned even_bits = 0;
        for (int j = 0; j < S2::lanes; ++j) {
            a[j] = (j + g.pad_left) / 2 + 1;
            b[j] = a[j] - 1;
            if ((j + g.pad_left) % 2 == 0) even_bits |= 1u << j;
        }
        near = S2::index(a), far = S2::index(b), even = S2::from_bits(even_bits);
    }
};

// One plane: dx from dy, dy row by dy row. Dy row oh reaches dx rows 2 oh - pad_top + kh with tap row kh: its two
// permutes serve all three, with alternating[kh] (w[kh][0] on the even lanes, w[kh][1] on the odd ones) and
// w[kh][2]. Dx row 2 oh - pad_top + 2 waits for dy row oh + 1's kh = 0 terms; rows no dy row reaches are zero.
inline void stride2_backward_data_plane(const ConvGeometry& g, const Stride2Gradient& s, const float* dy,
                                        const float* weight, long c, float* dx) {
    S2::V w[9], alternating[3];
    stride2_weights(weight, c, w);
    for (int kh = 0; kh < 3; ++kh) alternating[kh] = S2::blend(s.even, w[kh * 3 + 1], w[kh * 3]);
    const S2::Index near = s.near, far = s.far;
    const S2::Mask even = s.even;
    const auto store = [&](int h, int w0, int n, S2::V v) {
        if (h >= 0 && h < g.H) S2::store_lanes(dx + static_cast<long>(h) * g.W + w0, n, v);
    };
    for (int w0 = 0; w0 < g.W; w0 += S2::lanes) {
        const int d0 = w0 / 2 - 1, n = std::min(S2::lanes, g.W - w0);
        const S2::Mask d_lanes = S2::between(-d0, g.OW - d0);
        S2::V carry = S2::zero();
        for (int oh = 0; oh < g.OH; ++oh) {
            const S2::V d = stride2_load(dy, g.OH, g.OW, oh, d0, d_lanes);
            const S2::V p1 = S2::permute(near, d), p2 = S2::permute(even, far, d);
            const int h = 2 * oh - g.pad_top;
            store(h, w0, n, S2::fma(w[2], p2, S2::fma(alternating[0], p1, carry)));
            store(h + 1, w0, n, S2::fma(w[5], p2, S2::mul(alternating[1], p1)));
            carry = S2::fma(w[8], p2, S2::mul(alternating[2], p1));
        }
        store(2 * g.OH - g.pad_top, w0, n, carry);
        for (int h = 2 * g.OH - g.pad_top + 1; h < g.H; ++h) store(h, w0, n, S2::zero());
    }
}

inline void depthwise_stride2_forward(const ConvGeometry& g, int N, const float* x, const float* weight,
                                      const float* bias, float* y, ThreadPool* pool) {
    const long out_plane = static_cast<long>(g.OH) * g.OW;
    const Stride2Outputs o(g);
    parallel_for(pool, static_cast<long>(N) * g.C, depthwise_planes_per_task(out_plane), 1, [&](long p0, long p1) {
        stride2_forward_planes(g, o, x, weight, bias, y, p0, p1);
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

// Backward-weights takes the channels one at a time, each summing its images in order, as depthwise3x3_flat.
inline void depthwise_stride2_backward_weights(const ConvGeometry& g, int N, const float* x, const float* dy,
                                               float* dweight, float* dbias, ThreadPool* pool) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const Stride2Outputs o(g);
    const long per_task = std::max(1L, depthwise_planes_per_task(out_plane) / std::max(1, N));
    parallel_for(pool, g.C, per_task, 1, [&](long c0, long c1) {
        for (long c = c0; c < c1; ++c) {
            S2::V sums[10];
            stride2_weight_sums(g, o, x + c * in_plane, g.C * in_plane, dy + c * out_plane, g.C * out_plane, N, sums);
            depthwise_store_weight_sums(sums, c, dweight, dbias);
        }
    });
}

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn

#endif
