// deepcnn/kernels/gemm.hpp: packed GEMM, C (M, N) = [C +] A (M, K) B (K, N), BLIS style: B is packed in
// KC x NC blocks of NR-wide panels, A in MC x KC blocks of MR-high panels, and an MR x NR register-blocked
// micro-kernel (AVX2 + FMA for float when DEEPCNN_ISA_AVX2, portable C++ otherwise) runs over them.
// Operands are strided views or caller-supplied packers (implicit im2col in conv2d_fast.hpp). gemm_ref is
// the plain-loop twin. Kernels allocate nothing: the caller passes gemm_workspace_size() scalars per thread.

#ifndef DEEPCNN_ISA_NS
#error "kernels/gemm.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {

// Blocking: micro-tile MR x NR; A block MC x KC (L2); B block KC x NC (L2 / L3); one B micro-panel KC x NR and one
// A micro-panel MR x KC together in L1 (4.5 + 12 KiB with 6 x 16; 6 + 36 KiB with 8 x 48, within Zen 5's 48 KiB).
// KC and NC were picked by measurement on the conv shapes (Zen 4, with an 8 x 24 tile).
// The tile is 8 x 48 (24 zmm accumulators) with AVX-512F, 6 x 16 (12 ymm) with AVX2 alone. On Zen 5 (512-bit FMA
// units) a zmm FMA does twice a ymm one's work in the same time; on Zen 4 (zmm at half rate) an 8 x 48 zmm tile
// measured the same as an 8 x 24 ymm one, or up to 15% slower (Zen 4, 6766cec).
struct GemmBlocking {
#if DEEPCNN_ISA_AVX2 && DEEPCNN_ISA_AVX512 && !defined(DEEPCNN_GEMM_TILE_6X16)
    static constexpr int MR = 8;
    static constexpr int NR = 48;
    static constexpr int edge_unit = 16;  // an edge of n columns computes n rounded up to this (one zmm)
#else
    static constexpr int MR = 6;
    static constexpr int NR = 16;
    static constexpr int edge_unit = NR;
#endif
    static constexpr int MC = 144;
    static constexpr int KC = 192;
    static constexpr int NC = 1008 / NR * NR;
};


// Scalars of workspace one gemm() call needs: the packed A and B blocks, alignment and overrun slack.
template <class Scalar>
constexpr std::size_t gemm_workspace_size() {
    using B = GemmBlocking;
    return static_cast<std::size_t>(B::MC) * B::KC + static_cast<std::size_t>(B::KC) * B::NC + 2 * B::NR +
           64 / sizeof(Scalar);
}

namespace detail {

#if DEEPCNN_ISA_AVX2
// In place: r[p] lane i = r[i] lane p before, for i, p in [0, 8).
inline void transpose_8x8_in_registers(__m256 (&r)[8]) {
    __m256 t[8];
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = t[i];
}

// out[p] lane i = src[row[i] + p] for i, p in [0, 8): eight 8-float rows transposed in registers.
inline void transpose_8x8_registers(const float* src, const int* row, __m256 (&out)[8]) {
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) out[i] = _mm256_loadu_ps(src + row[i]);
    transpose_8x8_in_registers(out);
}

// dst[p * ld + i] = src[row[i] + p] for i, p in [0, 8): eight 8-float rows transposed in registers.
inline void transpose_8x8(const float* src, const int* row, float* dst, int ld) {
    __m256 out[8];
    transpose_8x8_registers(src, row, out);
#pragma GCC unroll 8
    for (int p = 0; p < 8; ++p) _mm256_storeu_ps(dst + p * ld, out[p]);
}

// dst[p * ld + i] = src[row[i] + 2 p] for i, p in [0, 8): the even elements of eight 16-float rows (stride-2
// pixels) transposed in registers.
inline void transpose_8x8_even(const float* src, const int* row, float* dst, int ld) {
    __m256 out[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) out[i] = Ymm::load_even(src + row[i]);
    transpose_8x8_in_registers(out);
#pragma GCC unroll 8
    for (int p = 0; p < 8; ++p) _mm256_storeu_ps(dst + p * ld, out[p]);
}

// dst[p * ld + i] = src[row[i] + p] for i in [0, 8), p in [0, 4): eight 4-float rows transposed in registers.
inline void transpose_8x4(const float* src, const int* row, float* dst, int ld) {
    __m256 r[4];  // r[i] = (row i | row i + 4)
    for (int i = 0; i < 4; ++i)
        r[i] = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(src + row[i])), _mm_loadu_ps(src + row[i + 4]),
                                    1);
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    _mm256_storeu_ps(dst, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm256_storeu_ps(dst + ld, _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2)));
    _mm256_storeu_ps(dst + 2 * ld, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)));
    _mm256_storeu_ps(dst + 3 * ld, _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2)));
}
#endif

#if DEEPCNN_ISA_AVX512
// In place: r[p] lane i = r[i] lane p before, for i, p in [0, 16).
inline void transpose_16x16_in_registers(__m512 (&r)[16]) {
    // The zero-masking forms with every lane kept: the same instructions, without GCC 12's self-initialised
    // undefined source operand, which -Wuninitialized reports (GCC bug 105593).
    const __mmask16 all = 0xffff;
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_maskz_unpacklo_ps(all, r[i], r[i + 1]);
        t[i + 1] = _mm512_maskz_unpackhi_ps(all, r[i], r[i + 1]);
    }
    // r[i + q]: 128-bit lane j holds rows i .. i + 3 of column 4 j + q
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_maskz_shuffle_ps(all, t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_maskz_shuffle_ps(all, t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_maskz_shuffle_ps(all, t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_maskz_shuffle_ps(all, t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    // then 128-bit lanes regrouped in two steps, so that r[p] holds column p of all 16 rows
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm512_maskz_shuffle_f32x4(all, r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_maskz_shuffle_f32x4(all, r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_maskz_shuffle_f32x4(all, r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_maskz_shuffle_f32x4(all, r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm512_maskz_shuffle_f32x4(all, t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_maskz_shuffle_f32x4(all, t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_maskz_shuffle_f32x4(all, t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_maskz_shuffle_f32x4(all, t[i + 4], t[i + 12], 0xdd);
    }
}

// dst[p * ld + i] = src[i * rs + p] for i in [0, 16), p in [0, count), count <= 16: sixteen rows transposed in
// registers. Each row is read 16 floats long, whatever count is.
inline void transpose_16x16(const float* src, std::ptrdiff_t rs, float* dst, std::ptrdiff_t ld, int count) {
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * rs);
    transpose_16x16_in_registers(r);
    for (int p = 0; p < count; ++p) _mm512_storeu_ps(dst + p * ld, r[p]);
}
#endif

// Packs rows [i0, i0 + mc) x columns [k0, k0 + kc) of A as ceil(mc / MR) panels of kc x MR (k-major); rows past
// mc are zero. Row-major float A is transposed 8x8 in registers when MR is 8.
template <class Scalar>
struct StridedPackA {
    StridedMatrix<Scalar> a;
    void operator()(int i0, int mc, int k0, int kc, Scalar* dst) const {
        constexpr int MR = GemmBlocking::MR;
        for (int ip = 0; ip < mc; ip += MR, dst += static_cast<long>(kc) * MR) {
            const int m = std::min(MR, mc - ip);
            const Scalar* src = a.data + (i0 + ip) * a.rs + k0 * a.cs;
            if (m == MR && a.cs == 1) {
                int k = 0;
#if DEEPCNN_ISA_AVX2
                if constexpr (std::is_same<Scalar, float>::value && MR == 8) {
                    int row[8];
                    for (int i = 0; i < 8; ++i) row[i] = static_cast<int>(i * a.rs);
                    for (; k + 8 <= kc; k += 8) transpose_8x8(src + k, row, dst + k * MR, MR);
                }
#endif
                for (; k < kc; ++k) {
                    Scalar* d = dst + k * MR;
#pragma GCC unroll 8
                    for (int i = 0; i < MR; ++i) d[i] = src[i * a.rs + k];
                }
            } else {
                for (int k = 0; k < kc; ++k) {
                    Scalar* d = dst + k * MR;
                    for (int i = 0; i < m; ++i) d[i] = src[i * a.rs + k * a.cs];
                    for (int i = m; i < MR; ++i) d[i] = Scalar(0);
                }
            }
        }
    }
};

// One kc x NR panel of a column-major B (column j at src + j * cs, contiguous in k) whose first n <= NR columns
// are wanted: whole groups of 8 columns by 8x8 register transposes, the rest one by one, then zeros up to the
// last column the micro-kernel reads (the columns past it are left as they are). False (nothing done) where
// there is no such path: not float, no AVX2, or fewer than 8 rows or columns.
template <class Scalar>
bool pack_columns_transposed(const Scalar*, long, int, int, Scalar*) {
    return false;
}

#if DEEPCNN_ISA_AVX2
inline bool pack_columns_transposed(const float* src, long cs, int kc, int n, float* dst) {
    constexpr int NR = GemmBlocking::NR;
    if (kc < 8 || n < 8) return false;
    // Columns the micro-kernel reads (gemm_micro_kernel_edge): the zeros past n end there.
    constexpr int unit = GemmBlocking::edge_unit;
    const int read = std::min(NR, (n + unit - 1) / unit * unit);
    const int grouped = n / 8 * 8;
    int column[NR];
    for (int j = 0; j < NR; ++j) column[j] = static_cast<int>(j * cs);
    int k = 0;
    for (; k + 8 <= kc; k += 8) {
        for (int v = 0; v < grouped; v += 8) transpose_8x8(src + k, column + v, dst + k * NR + v, NR);
        for (int i = k; i < k + 8; ++i) {
            for (int j = grouped; j < n; ++j) dst[i * NR + j] = src[i + column[j]];
            for (int j = n; j < read; ++j) dst[i * NR + j] = 0.0f;
        }
    }
    for (; k < kc; ++k) {
        for (int j = 0; j < n; ++j) dst[k * NR + j] = src[k + column[j]];
        for (int j = n; j < read; ++j) dst[k * NR + j] = 0.0f;
    }
    return true;
}
#endif

// Packs rows [k0, k0 + kc) x columns [j0, j0 + nc) of B as ceil(nc / NR) panels of kc x NR (k-major); columns
// past nc are zero. Row-major B is copied row by row, each row's whole panels in one pass (reading the rows one
// after another, a stream the hardware prefetcher follows; panel by panel, every row's part of a panel is a
// stream of its own, too many to follow); column-major float B (rs 1) is transposed 8x8 in registers (see
// pack_columns_transposed).
template <class Scalar>
struct StridedPackB {
    StridedMatrix<Scalar> b;
    void operator()(int k0, int kc, int j0, int nc, Scalar* dst) const {
        constexpr int NR = GemmBlocking::NR;
        const long panel = static_cast<long>(kc) * NR;
        int jp = 0;
        if (b.cs == 1 && nc >= NR) {
            const int whole = nc / NR;
            for (int k = 0; k < kc; ++k) {
                const Scalar* s = b.data + (k0 + k) * b.rs + j0;
                Scalar* d = dst + k * NR;
                for (int q = 0; q < whole; ++q, s += NR, d += panel)
                    for (int j = 0; j < NR; ++j) d[j] = s[j];
            }
            jp = whole * NR;
            dst += whole * panel;
        }
        for (; jp < nc; jp += NR, dst += panel) {
            const int n = std::min(NR, nc - jp);
            const Scalar* src = b.data + k0 * b.rs + (j0 + jp) * b.cs;
            if (b.rs == 1 && pack_columns_transposed(src, b.cs, kc, n, dst)) {
                // column-major float B: packed by register transposes
            } else {
                for (int k = 0; k < kc; ++k) {
                    Scalar* d = dst + k * NR;
                    for (int j = 0; j < n; ++j) d[j] = src[k * b.rs + j * b.cs];
                    for (int j = n; j < NR; ++j) d[j] = Scalar(0);
                }
            }
        }
    }
};

// Micro-kernel, portable: c (MR x NR, row stride ldc) = [c +] a (kc x MR panel)^T b (kc x NR panel), the sums
// starting from init[i] on row i where init is given (a bias), from zero otherwise.
template <class Scalar>
inline void gemm_micro_kernel_generic(int kc, const Scalar* a, const Scalar* b, Scalar* c, long ldc, bool accumulate,
                                      const Scalar* init) {
    constexpr int MR = GemmBlocking::MR, NR = GemmBlocking::NR;
    Scalar t[MR][NR] = {};
    if (init)
        for (int i = 0; i < MR; ++i)
            for (int j = 0; j < NR; ++j) t[i][j] = init[i];
    for (int k = 0; k < kc; ++k, a += MR, b += NR)
        for (int i = 0; i < MR; ++i) {
            const Scalar ai = a[i];
            for (int j = 0; j < NR; ++j) t[i][j] += ai * b[j];
        }
    for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + t[i][j] : t[i][j];
}

#if DEEPCNN_ISA_AVX2
using GemmVector = Widest;
static_assert(GemmBlocking::NR != 3 * GemmVector::lanes || GemmBlocking::edge_unit == GemmVector::lanes,
              "pack_columns_transposed zeroes up to whole edge vectors (gemm_micro_kernel_edge)");

// Micro-kernel, float, FMA: the MR x NR tile lives in MR * NV vector accumulators; each k loads NV vectors of B,
// broadcasts MR values of A and issues MR * NV FMAs. 6 x 16 (ymm) uses 12 of the 16 registers; 8 x 48 (zmm, 32
// registers) 24: 11 loads per 24 FMAs. NV < NR / lanes computes only the first NV vectors of the panel's columns
// (a narrow edge of C).
template <int MR, int NV>
inline void gemm_micro_kernel_simd(int kc, const float* a, const float* b, float* c, long ldc, bool accumulate,
                                   const float* init) {
    using Vec = GemmVector;
    constexpr int L = Vec::lanes;
    typename Vec::V t[MR][NV];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) t[i][j] = init ? Vec::broadcast(init + i) : Vec::zero();
    for (int k = 0; k < kc; ++k, a += MR, b += GemmBlocking::NR) {
        typename Vec::V bv[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) bv[j] = Vec::load(b + L * j);
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) {
            const typename Vec::V ai = Vec::broadcast(a + i);
#pragma GCC unroll 4
            for (int j = 0; j < NV; ++j) t[i][j] = Vec::fma(ai, bv[j], t[i][j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) {
            float* out = c + i * ldc + L * j;
            Vec::store(out, accumulate ? Vec::add(Vec::load(out), t[i][j]) : t[i][j]);
        }
}
#endif

template <class Scalar>
inline void gemm_micro_kernel(int kc, const Scalar* a, const Scalar* b, Scalar* c, long ldc, bool accumulate,
                              const Scalar* init) {
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        gemm_micro_kernel_simd<GemmBlocking::MR, GemmBlocking::NR / GemmVector::lanes>(kc, a, b, c, ldc, accumulate,
                                                                                        init);
        return;
    }
#endif
    gemm_micro_kernel_generic(kc, a, b, c, ldc, accumulate, init);
}

// tile (MR x NR, assigned) = a^T b where only the first n <= NR columns are wanted: with the 8 x 48 tile, panels
// of one or two thirds skip the columns past n.
template <class Scalar>
inline void gemm_micro_kernel_edge(int kc, int n, const Scalar* a, const Scalar* b, Scalar* tile, const Scalar* init) {
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value && GemmBlocking::NR == 3 * GemmVector::lanes) {
        constexpr int L = GemmVector::lanes;
        if (n <= L) {
            gemm_micro_kernel_simd<GemmBlocking::MR, 1>(kc, a, b, tile, GemmBlocking::NR, false, init);
            return;
        }
        if (n <= 2 * L) {
            gemm_micro_kernel_simd<GemmBlocking::MR, 2>(kc, a, b, tile, GemmBlocking::NR, false, init);
            return;
        }
    }
#endif
    (void)n;
    gemm_micro_kernel(kc, a, b, tile, GemmBlocking::NR, false, init);
}

// `count` rounded up to a multiple of W.
template <int W>
constexpr long padded_to(long count) {
    return (count + W - 1) / W * W;
}

// The packed layout both operands share, panels W wide (MR rows of A, NR columns of B) along x, k the index summed
// over (`depth` of them, in KC blocks): where element (x, k) is, with x padded to `padded_x`.
template <int W>
long panel_offset(long x, long k, int depth, long padded_x) {
    const long k0 = k / GemmBlocking::KC * GemmBlocking::KC;
    const long kc = std::min<long>(GemmBlocking::KC, depth - k0);
    return k0 * padded_x + (x / W) * kc * W + (k - k0) * W + x % W;
}

// B already in the layout gemm_packed packs it into, written so by its producer (Winograd's input transform,
// winograd.hpp), and read in place: rows in KC blocks, each block's columns in NR-wide panels of kc x NR
// (k-major); the block of rows from k0 starts at k0 * padded_columns, the panel of columns from j0 at j0 * kc
// within it. The operand is the columns from first_column on. Columns past N up to padded_columns may hold any
// value: their products are never stored.
template <class Scalar>
struct PrepackedB {
    const Scalar* data;
    long padded_columns;   // all of the matrix's columns, rounded up to a multiple of NR
    int first_column = 0;  // a multiple of NR

    static long padded(long columns) { return padded_to<GemmBlocking::NR>(columns); }
    // Where element (k, j) of a B with `rows` rows is.
    static long offset(long k, long j, int rows, long padded_columns) {
        return panel_offset<GemmBlocking::NR>(j, k, rows, padded_columns);
    }
    const Scalar* panels(int k0, int kc, int j0) const {
        return data + k0 * padded_columns + static_cast<long>(first_column + j0) * kc;
    }
};

template <class PackB>
struct is_prepacked_b : std::false_type {};
template <class Scalar>
struct is_prepacked_b<PrepackedB<Scalar>> : std::true_type {};

// A already in the layout gemm_packed packs it into (Winograd's transformed weights, winograd.hpp), read in
// place: columns in KC blocks, each block's rows in MR-high panels of kc x MR (k-major); the block of columns
// from k0 starts at k0 * padded_rows, the panel of rows from i0 at i0 * kc within it. The operand is the rows
// from first_row on. Rows past M up to padded_rows may hold any value: their products are never stored.
template <class Scalar>
struct PrepackedA {
    const Scalar* data;
    long padded_rows;  // all of the matrix's rows, rounded up to a multiple of MR
    int first_row;     // a multiple of MR

    static long padded(long rows) { return padded_to<GemmBlocking::MR>(rows); }
    // Where element (i, k) of an A with `columns` columns is.
    static long offset(long i, long k, int columns, long padded_rows) {
        return panel_offset<GemmBlocking::MR>(i, k, columns, padded_rows);
    }
    const Scalar* panels(int i0, int k0, int kc) const {
        return data + k0 * padded_rows + static_cast<long>(first_row + i0) * kc;
    }
};

// A (M, K), strided, packed once into dst (PrepackedA::padded(M) * K scalars) as PrepackedA lays it out: for a
// matrix that many GEMM calls read (a 1x1 convolution's weights, one call per image).
template <class Scalar>
PrepackedA<Scalar> prepack_a(int M, int K, StridedMatrix<Scalar> A, Scalar* dst) {
    const long padded_rows = PrepackedA<Scalar>::padded(M);
    for (int k0 = 0; k0 < K; k0 += GemmBlocking::KC)
        StridedPackA<Scalar>{A}(0, M, k0, std::min(GemmBlocking::KC, K - k0), dst + k0 * padded_rows);
    return PrepackedA<Scalar>{dst, padded_rows, 0};
}

// An A operand that many GEMM calls read (a convolution's weights, one call per image): packed once (prepack_a)
// where each thread makes at least two of the calls, else packed by each call, block by block, as gemm_packed does
// (a single image's call then packs the weights into an L2-sized block just before it uses it, where packing them
// whole first measured 0.85-0.89x on down4 of bench_conv2d at batch 1).
template <class Scalar>
class SharedA {
public:
    // A (M, K); dst: PrepackedA::padded(M) * K scalars; `calls` GEMM calls on `threads` threads.
    SharedA(int M, int K, StridedMatrix<Scalar> A, Scalar* dst, int calls, int threads) : a_(A) {
        prepacked_ = calls >= 2 * std::max(threads, 1);
        if (prepacked_) packed_ = prepack_a(M, K, A, dst);
    }
    // Calls f with a packer of A's rows from `first` on (a multiple of MR).
    template <class F>
    void rows(int first, F&& f) const {
        if (prepacked_) {
            PrepackedA<Scalar> p = packed_;
            p.first_row = first;
            f(p);
        } else {
            f(StridedPackA<Scalar>{{a_.data + first * a_.rs, a_.rs, a_.cs}});
        }
    }

private:
    StridedMatrix<Scalar> a_;
    PrepackedA<Scalar> packed_{};
    bool prepacked_ = false;
};

// A packer that copies a PrepackedA's panels into the GEMM's block (one contiguous copy per block): for
// operands read many times over, where the block stays in the core's own cache.
template <class Scalar>
struct CopyPrepackedA {
    PrepackedA<Scalar> a;
    void operator()(int i0, int mc, int k0, int kc, Scalar* dst) const {
        const Scalar* src = a.panels(i0, k0, kc);
        std::copy(src, src + PrepackedA<Scalar>::padded(mc) * kc, dst);
    }
};

template <class PackA>
struct is_prepacked_a : std::false_type {};
template <class Scalar>
struct is_prepacked_a<PrepackedA<Scalar>> : std::true_type {};

template <class Scalar>
Scalar* align64(Scalar* p) {
    const auto bits = reinterpret_cast<std::uintptr_t>(p);
    return reinterpret_cast<Scalar*>((bits + 63) & ~std::uintptr_t(63));
}

}  // namespace detail

// C (M, N), row stride ldc = [C +] A (M, K) B (K, N) where the operands come from packers:
//   pack_a(i0, mc, k0, kc, dst): rows [i0, i0+mc) x cols [k0, k0+kc) of A as kc x MR panels (rows past mc zero)
//   pack_b(k0, kc, j0, nc, dst): rows [k0, k0+kc) x cols [j0, j0+nc) of B as kc x NR panels; columns past nc
//                                may hold any finite value; may write up to NR scalars past the last panel.
// Either may instead be a detail::PrepackedA / PrepackedB, read in place.
// Every C element sums its k terms in the same order (KC blocks in turn) whatever M and N are, so splitting C
// between threads never changes a result. Assigns C unless `accumulate`; with row_bias (M values), row i of an
// assigned C is row_bias[i] + its products, the sum starting from the bias. `workspace`: gemm_workspace_size().
template <class Scalar, class PackA, class PackB>
void gemm_packed(int M, int N, int K, const PackA& pack_a, const PackB& pack_b, Scalar* C, long ldc, bool accumulate,
                 Scalar* workspace, const Scalar* row_bias = nullptr) {
    using B = GemmBlocking;
    constexpr int MR = B::MR, NR = B::NR;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, row_bias ? row_bias[i] : Scalar(0));
        return;
    }
    Scalar* packed_a = detail::align64(workspace);
    Scalar* packed_b = packed_a + static_cast<std::size_t>(B::MC) * B::KC;
    alignas(64) Scalar tile[MR * NR];
    for (int jc = 0; jc < N; jc += B::NC) {
        const int nc = std::min(B::NC, N - jc);
        for (int pc = 0; pc < K; pc += B::KC) {
            const int kc = std::min(B::KC, K - pc);
            const bool acc = accumulate || pc > 0;
            const Scalar* b_panels = packed_b;
            if constexpr (detail::is_prepacked_b<PackB>::value) {
                b_panels = pack_b.panels(pc, kc, jc);
            } else {
                pack_b(pc, kc, jc, nc, packed_b);
            }
            for (int ic = 0; ic < M; ic += B::MC) {
                const int mc = std::min(B::MC, M - ic);
                const Scalar* a_panels = packed_a;
                if constexpr (detail::is_prepacked_a<PackA>::value) {
                    a_panels = pack_a.panels(ic, pc, kc);
                } else {
                    pack_a(ic, mc, pc, kc, packed_a);
                }
                for (int jr = 0; jr < nc; jr += NR) {
                    const int n = std::min(NR, nc - jr);
                    const Scalar* bp = b_panels + static_cast<long>(jr) * kc;
                    for (int ir = 0; ir < mc; ir += MR) {
                        const int m = std::min(MR, mc - ir);
                        const Scalar* ap = a_panels + static_cast<long>(ir) * kc;
                        Scalar* c = C + (ic + ir) * ldc + jc + jr;
                        // the bias starts the first KC block's sums of an assigned C (padded to MR rows at an edge)
                        const Scalar* init = row_bias && !acc ? row_bias + ic + ir : nullptr;
                        Scalar init_rows[MR];
                        if (init && m < MR) {
                            std::fill(std::copy(init, init + m, init_rows), init_rows + MR, Scalar(0));
                            init = init_rows;
                        }
                        if (m == MR && n == NR) {
                            detail::gemm_micro_kernel(kc, ap, bp, c, ldc, acc, init);
                        } else {
                            detail::gemm_micro_kernel_edge(kc, n, ap, bp, tile, init);
                            for (int i = 0; i < m; ++i)
                                for (int j = 0; j < n; ++j)
                                    c[i * ldc + j] = acc ? c[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
                        }
                    }
                }
            }
        }
    }
}

// C (M, N), row stride ldc = [C +] A (M, K) B (K, N) for strided A and B, on one thread.
template <class Scalar>
void gemm(int M, int N, int K, StridedMatrix<Scalar> A, StridedMatrix<Scalar> B, Scalar* C, long ldc, bool accumulate,
          Scalar* workspace) {
    gemm_packed(M, N, K, detail::StridedPackA<Scalar>{A}, detail::StridedPackB<Scalar>{B}, C, ldc, accumulate,
                workspace);
}

// As gemm(), split over the pool's threads by columns of C (or rows, when C is narrow); `workspace` holds
// gemm_workspace_size() scalars per thread. Results are bit-identical for any thread count.
template <class Scalar>
void gemm_parallel(ThreadPool* pool, int M, int N, int K, StridedMatrix<Scalar> A, StridedMatrix<Scalar> B, Scalar* C,
                   long ldc, bool accumulate, Scalar* workspace) {
    const int threads = pool ? pool->size() : 1;
    const long flops = static_cast<long>(M) * N * K;
    if (threads <= 1 || flops < 32L * 1024 * 16) {
        gemm(M, N, K, A, B, C, ldc, accumulate, workspace);
        return;
    }
    const bool by_columns = N >= M || N >= 2 * GemmBlocking::NR * threads;
    pool->run(threads, [&](int t) {
        Scalar* ws = workspace + static_cast<std::size_t>(t) * gemm_workspace_size<Scalar>();
        int begin = 0, end = 0;
        if (by_columns) {
            split_range(N, threads, t, GemmBlocking::NR, begin, end);
            if (begin < end)
                gemm(M, end - begin, K, A, StridedMatrix<Scalar>{B.data + begin * B.cs, B.rs, B.cs}, C + begin, ldc,
                     accumulate, ws);
        } else {
            split_range(M, threads, t, GemmBlocking::MR, begin, end);
            if (begin < end)
                gemm(end - begin, N, K, StridedMatrix<Scalar>{A.data + begin * A.rs, A.rs, A.cs}, B, C + begin * ldc,
                     ldc, accumulate, ws);
        }
    });
}

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
