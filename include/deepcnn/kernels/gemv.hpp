// deepcnn/kernels/gemv.hpp: matrix-vector products of a few vectors against one row-major matrix A (M, K), which
// each read A once where the packed GEMM (gemm.hpp) would first copy all of it into panels: gemv, Y = X A^T (Dense's
// forward at small batches), and gemv_transposed, Y = X A (its input gradient). Float on AVX2 / AVX-512 runs the
// vectorised bodies below; double and the portable pass run the plain loops of gemv_ref.hpp. Threads split the
// outputs, never a sum: every output is summed in the same order whatever the thread count or the batch, so the
// results are bit-identical on any thread count. Stateless, no allocation.

#ifndef DEEPCNN_ISA_NS
#error "kernels/gemv.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {

// Multiply-adds below which one thread runs a product alone: splitting it costs more than it saves.
constexpr long gemv_min_parallel_products = 128L * 1024;

namespace detail {

#if DEEPCNN_ISA_AVX2
using GemvVector = Widest;

// Registers each block may give to the broadcast values of X (gemv_columns_block) and the most vectors of X one
// block takes at a time (its accumulators and their operands stay within the 32 zmm or 16 ymm registers).
constexpr int gemv_broadcast_registers = GemvVector::lanes == 16 ? 16 : 8;
constexpr int gemv_vectors = GemvVector::lanes == 16 ? 4 : 2;

// Loads and stores of whole vectors, or of the first lanes of `mask` (a row's last, partial vector).
struct GemvWhole {
    GemvVector::V load(const float* p) const { return GemvVector::load(p); }
    void store(float* p, GemvVector::V v) const { GemvVector::store(p, v); }
};
struct GemvPart {
    GemvVector::Mask mask;
    GemvVector::V load(const float* p) const { return GemvVector::load_first(p, mask); }
    void store(float* p, GemvVector::V v) const { GemvVector::store_first(p, mask, v); }
};

// The sum of v's 8 lanes in a fixed order: halves, then pairs, then the last two.
inline float sum_lanes(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// y[n * ldy + r] = row r of a (R rows, row stride K) . x_n (at x + n * K), for r < R, n < NB: each an accumulator
// of one vector's lanes over k (whole vectors, then the masked rest), then its lanes summed (sum_lanes).
template <int R, int NB>
inline void gemv_rows_block(int K, const float* a, const float* x, float* y, long ldy) {
    using Vec = GemvVector;
    constexpr int L = Vec::lanes;
    typename Vec::V acc[R][NB];
    for (int r = 0; r < R; ++r)
        for (int n = 0; n < NB; ++n) acc[r][n] = Vec::zero();
    const auto step = [&](int k, auto access) {
        typename Vec::V xv[NB];
        for (int n = 0; n < NB; ++n) xv[n] = access.load(x + static_cast<long>(n) * K + k);
        for (int r = 0; r < R; ++r) {
            const typename Vec::V av = access.load(a + static_cast<long>(r) * K + k);
            for (int n = 0; n < NB; ++n) acc[r][n] = Vec::fma(av, xv[n], acc[r][n]);
        }
    };
    int k = 0;
    for (; k + L <= K; k += L) step(k, GemvWhole{});
    if (k < K) step(k, GemvPart{Vec::first(K - k)});
    for (int r = 0; r < R; ++r)
        for (int n = 0; n < NB; ++n) y[n * ldy + r] = sum_lanes(Vec::fold8(acc[r][n]));
}

// Outputs [i0, i1) of gemv for NB vectors: 8 rows of A at a time for one vector, 4 for several, then row by row.
template <int NB>
void gemv_rows(int M, int K, const float* a, const float* x, float* y, int i0, int i1) {
    constexpr int R = NB == 1 ? 8 : 4;
    int i = i0;
    for (; i + R <= i1; i += R) gemv_rows_block<R, NB>(K, a + static_cast<long>(i) * K, x, y + i, M);
    for (; i < i1; ++i) gemv_rows_block<1, NB>(K, a + static_cast<long>(i) * K, x, y + i, M);
}

// Columns [j0, j1) of y_n += sum over G rows q of x_n[q] * row q of a, for n < NB (x_n at x + n * M, y_n at
// y + n * K; y_n starts from zero where `first`): the G broadcast values stay in registers while the columns pass,
// and each y vector is loaded and stored once per G rows. Each output's terms are added in row order.
template <int NB, int G>
inline void gemv_columns_block(int M, int K, const float* a, const float* x, float* y, int j0, int j1, bool first) {
    using Vec = GemvVector;
    constexpr int L = Vec::lanes;
    typename Vec::V xb[NB][G];
    for (int n = 0; n < NB; ++n)
        for (int q = 0; q < G; ++q) xb[n][q] = Vec::broadcast(x + static_cast<long>(n) * M + q);
    const auto step = [&](int j, auto access) {
        typename Vec::V acc[NB];
        for (int n = 0; n < NB; ++n) acc[n] = first ? Vec::zero() : access.load(y + static_cast<long>(n) * K + j);
        for (int q = 0; q < G; ++q) {
            const typename Vec::V av = access.load(a + static_cast<long>(q) * K + j);
            for (int n = 0; n < NB; ++n) acc[n] = Vec::fma(xb[n][q], av, acc[n]);
        }
        for (int n = 0; n < NB; ++n) access.store(y + static_cast<long>(n) * K + j, acc[n]);
    };
    int j = j0;
    for (; j + L <= j1; j += L) step(j, GemvWhole{});
    if (j < j1) step(j, GemvPart{Vec::first(j1 - j)});
}

// Outputs [j0, j1) of gemv_transposed for NB vectors: the rows of A in blocks of G (as many as the broadcast
// registers hold), in order, then one by one.
template <int NB>
void gemv_columns(int M, int K, const float* a, const float* x, float* y, int j0, int j1) {
    constexpr int G = std::min(8, std::max(1, gemv_broadcast_registers / NB));
    int m = 0;
    for (; m + G <= M; m += G)
        gemv_columns_block<NB, G>(M, K, a + static_cast<long>(m) * K, x + m, y, j0, j1, m == 0);
    for (; m < M; ++m) gemv_columns_block<NB, 1>(M, K, a + static_cast<long>(m) * K, x + m, y, j0, j1, m == 0);
}

// Runs body(NB) (NB a std::integral_constant) for nb (1 <= nb <= NB) vectors.
template <int NB, class Body>
void with_vector_count(int nb, Body&& body) {
    if (nb == NB) {
        body(std::integral_constant<int, NB>{});
    } else if constexpr (NB > 1) {
        with_vector_count<NB - 1>(nb, body);
    }
}

// Runs body(n, NB) for X's N vectors in groups of NB <= gemv_vectors from vector n, in order.
template <class Body>
void for_vector_groups(int N, Body&& body) {
    for (int n = 0; n < N; n += gemv_vectors)
        with_vector_count<gemv_vectors>(std::min(gemv_vectors, N - n), [&](auto NB) { body(n, NB); });
}
#endif

// Runs body(begin, end) on each thread's share of `outputs` outputs (in multiples of `align`): on the pool's threads
// where the product has gemv_min_parallel_products multiply-adds or more, else on the calling thread alone.
template <class Body>
void gemv_split(ThreadPool* pool, long products, int outputs, int align, Body&& body) {
    const int threads = pool && products >= gemv_min_parallel_products ? pool->size() : 1;
    pool_run(pool, threads, [&](int t) {
        int begin = 0, end = 0;
        split_range(outputs, threads, t, align, begin, end);
        if (begin < end) body(begin, end);
    });
}

}  // namespace detail

// Y (N, M) = X (N, K) A^T for a row-major A (M, K): y_n = A x_n for each row x_n of X (rows contiguous, strides K,
// M and K). Assigns Y. Threads split the M outputs in multiples of 8; each output is one thread's sum over k (vector
// lanes over k, then the lanes in a fixed order), the same for any thread count and any N.
template <class Scalar>
void gemv(ThreadPool* pool, int N, int M, int K, const Scalar* a, const Scalar* x, Scalar* y) {
    if (N <= 0 || M <= 0) return;
    detail::gemv_split(pool, static_cast<long>(N) * M * K, M, 8, [&](int begin, int end) {
#if DEEPCNN_ISA_AVX2
        if constexpr (std::is_same<Scalar, float>::value) {
            detail::for_vector_groups(N, [&](int n, auto NB) {
                detail::gemv_rows<decltype(NB)::value>(M, K, a, x + static_cast<long>(n) * K,
                                                       y + static_cast<long>(n) * M, begin, end);
            });
            return;
        }
#endif
        gemv_ref_range(N, M, K, a, x, y, begin, end);
    });
}

// Y (N, K) = X (N, M) A for a row-major A (M, K): y_n = A^T x_n for each row x_n of X (rows contiguous, strides M,
// K and K). Assigns Y. Threads split the K outputs in multiples of 16; each output is one thread's sum over m in
// order from zero, the same for any thread count and any N.
template <class Scalar>
void gemv_transposed(ThreadPool* pool, int N, int M, int K, const Scalar* a, const Scalar* x, Scalar* y) {
    if (N <= 0 || K <= 0) return;
    detail::gemv_split(pool, static_cast<long>(N) * M * K, K, 16, [&](int begin, int end) {
#if DEEPCNN_ISA_AVX2
        if constexpr (std::is_same<Scalar, float>::value) {
            if (M > 0) {
                detail::for_vector_groups(N, [&](int n, auto NB) {
                    detail::gemv_columns<decltype(NB)::value>(M, K, a, x + static_cast<long>(n) * M,
                                                              y + static_cast<long>(n) * K, begin, end);
                });
                return;
            }
        }
#endif
        gemv_transposed_ref_range(N, M, K, a, x, y, begin, end);  // also the zeros of an empty sum (M = 0)
    });
}

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
