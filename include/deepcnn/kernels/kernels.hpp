// deepcnn/kernels/kernels.hpp: the one place that decides which instruction set's kernels run. Each function in
// deepcnn::kernels calls its namesake in the pass active_isa() picks (isa_kernels.hpp): float on the best the CPU
// has (or DEEPCNN_ISA), double always on the portable pass (its gradient checks need no speed). Layers and
// optimizers call these; tests may also call a pass's own functions (deepcnn::isa_avx2::...) directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "isa.hpp"
#include "isa_kernels.hpp"

// Returns `call` (an expression naming a kernel and its arguments) from the pass active_isa() picks for Scalar.
#if DEEPCNN_ISA_DISPATCH
#define DEEPCNN_ISA_CALL(Scalar, call)                                                                             \
    do {                                                                                                          \
        if constexpr (std::is_same<Scalar, float>::value) {                                                       \
            switch (::deepcnn::active_isa()) {                                                                    \
                case ::deepcnn::Isa::avx512: return ::deepcnn::isa_avx512::call;                                  \
                case ::deepcnn::Isa::avx2: return ::deepcnn::isa_avx2::call;                                      \
                case ::deepcnn::Isa::portable: break;                                                             \
            }                                                                                                     \
        }                                                                                                         \
        return ::deepcnn::isa_portable::call;                                                                     \
    } while (0)
#else
#define DEEPCNN_ISA_CALL(Scalar, call) return ::deepcnn::isa_portable::call
#endif

namespace deepcnn {
namespace kernels {

// Whether Scalar runs hand-vectorised kernels now (float on AVX2 or AVX-512); the layers take their Eigen paths
// otherwise.
template <class Scalar>
bool simd_active() {
    return std::is_same<Scalar, float>::value && active_isa() != Isa::portable;
}

// ---- GEMM (gemm.hpp): scratch per thread and the threaded product.
template <class Scalar>
std::size_t gemm_workspace_size() {
    DEEPCNN_ISA_CALL(Scalar, gemm_workspace_size<Scalar>());
}
template <class Scalar>
void gemm_parallel(ThreadPool* pool, int M, int N, int K, StridedMatrix<Scalar> A, StridedMatrix<Scalar> B, Scalar* C,
                   long ldc, bool accumulate, Scalar* workspace) {
    DEEPCNN_ISA_CALL(Scalar, gemm_parallel(pool, M, N, K, A, B, C, ldc, accumulate, workspace));
}

// ---- Matrix-vector products (gemv.hpp): Y (N, M) = X (N, K) A^T and Y (N, K) = X (N, M) A for a row-major A (M, K)
// and a few rows of X, split over the pool's threads by outputs (bit-identical on any thread count).
template <class Scalar>
void gemv(ThreadPool* pool, int N, int M, int K, const Scalar* a, const Scalar* x, Scalar* y) {
    DEEPCNN_ISA_CALL(Scalar, gemv(pool, N, M, K, a, x, y));
}
template <class Scalar>
void gemv_transposed(ThreadPool* pool, int N, int M, int K, const Scalar* a, const Scalar* x, Scalar* y) {
    DEEPCNN_ISA_CALL(Scalar, gemv_transposed(pool, N, M, K, a, x, y));
}

// ---- Convolution (conv2d_fast.hpp).
template <class Scalar>
std::size_t conv2d_fast_workspace_size(const ConvGeometry& g, int threads) {
    DEEPCNN_ISA_CALL(Scalar, conv2d_fast_workspace_size<Scalar>(g, threads));
}
template <class Scalar>
void conv2d_forward_fast(const ConvGeometry& g, int N, const Scalar* x, const Scalar* weight, const Scalar* bias,
                         Scalar* y, Scalar* workspace, ThreadPool* pool) {
    DEEPCNN_ISA_CALL(Scalar, conv2d_forward_fast(g, N, x, weight, bias, y, workspace, pool));
}
template <class Scalar>
void conv2d_backward_data_fast(const ConvGeometry& g, int N, const Scalar* dy, const Scalar* weight, Scalar* dx,
                               Scalar* workspace, ThreadPool* pool) {
    DEEPCNN_ISA_CALL(Scalar, conv2d_backward_data_fast(g, N, dy, weight, dx, workspace, pool));
}
template <class Scalar>
void conv2d_backward_weights_fast(const ConvGeometry& g, int N, const Scalar* x, const Scalar* dy, Scalar* dweight,
                                  Scalar* dbias, Scalar* workspace, ThreadPool* pool) {
    DEEPCNN_ISA_CALL(Scalar, conv2d_backward_weights_fast(g, N, x, dy, dweight, dbias, workspace, pool));
}

// The convolution's kernel plan (conv2d_plan.hpp): the variant each direction runs for N images on `threads`
// threads, on the active instruction set.
template <class Scalar>
ConvPlan conv2d_plan(const ConvGeometry& g, int N, int threads) {
    const Isa isa = std::is_same<Scalar, float>::value ? active_isa() : Isa::portable;
    DEEPCNN_ISA_CALL(Scalar, conv2d_plan<Scalar>(g, N, threads, isa));
}
// The names of direction d's variants, in the order they are tried.
template <class Scalar>
std::vector<std::string> conv2d_variant_names(ConvDirection d) {
    DEEPCNN_ISA_CALL(Scalar, conv2d_variant_names<Scalar>(d));
}
// Runs direction d's variant `name` (tests, benchmarks); throws config_error where it does not exist or apply.
template <class Scalar>
void conv2d_run(ConvDirection d, const char* name, const ConvGeometry& g, const ConvArgs<Scalar>& a) {
    DEEPCNN_ISA_CALL(Scalar, conv2d_run<Scalar>(d, name, g, a));
}
// The weights of the forward variant `name` prepared once, for ConvArgs::prepared_weight: their scalars (0 where the
// variant prepares none), and the preparation of weight (K, C, KH, KW) into `prepared`. The layout belongs to the
// active instruction set's variant.
template <class Scalar>
std::size_t conv2d_forward_prepared_size(const char* name, const ConvGeometry& g) {
    DEEPCNN_ISA_CALL(Scalar, conv2d_forward_prepared_size<Scalar>(name, g));
}
template <class Scalar>
void conv2d_forward_prepare(const char* name, const ConvGeometry& g, const Scalar* weight, Scalar* prepared) {
    DEEPCNN_ISA_CALL(Scalar, conv2d_forward_prepare<Scalar>(name, g, weight, prepared));
}

// ---- Grouped convolution (grouped_conv2d_plan.hpp): the variant each direction runs (for a shape and batch, on any
// thread count), their names, a forced run and the chosen run of direction d. No workspace.
template <class Scalar>
ConvPlan grouped_conv2d_plan(const ConvGeometry& g, int groups, int N, int threads) {
    const Isa isa = std::is_same<Scalar, float>::value ? active_isa() : Isa::portable;
    DEEPCNN_ISA_CALL(Scalar, grouped_conv2d_plan<Scalar>(g, groups, N, threads, isa));
}
template <class Scalar>
std::vector<std::string> grouped_conv2d_variant_names(ConvDirection d) {
    DEEPCNN_ISA_CALL(Scalar, grouped_conv2d_variant_names<Scalar>(d));
}
template <class Scalar>
void grouped_conv2d_run(ConvDirection d, const char* name, const ConvGeometry& g, int groups,
                        const ConvArgs<Scalar>& a) {
    DEEPCNN_ISA_CALL(Scalar, grouped_conv2d_run<Scalar>(d, name, g, groups, a));
}
template <class Scalar>
void grouped_conv2d_fast(ConvDirection d, const ConvGeometry& g, int groups, const ConvArgs<Scalar>& a) {
    DEEPCNN_ISA_CALL(Scalar, grouped_conv2d_fast<Scalar>(d, g, groups, a));
}

// ---- ReLU (elementwise.hpp).
template <class Scalar>
void relu_forward(long count, const Scalar* x, Scalar* y, std::uint8_t* mask) {
    DEEPCNN_ISA_CALL(Scalar, relu_forward(count, x, y, mask));
}
template <class Scalar>
void relu_backward(long count, const Scalar* dy, const std::uint8_t* mask, Scalar* dx) {
    DEEPCNN_ISA_CALL(Scalar, relu_backward(count, dy, mask, dx));
}

// ---- BatchNorm (batch_norm.hpp).
template <class Scalar>
void batch_norm_shifted_sums(const Scalar* x, long count, Scalar shift, Scalar* s, Scalar* q) {
    DEEPCNN_ISA_CALL(Scalar, batch_norm_shifted_sums(x, count, shift, s, q));
}
template <class Scalar>
void batch_norm_normalize(const Scalar* x, long count, Scalar scale, Scalar offset, Scalar* y, std::uint8_t* mask) {
    DEEPCNN_ISA_CALL(Scalar, batch_norm_normalize(x, count, scale, offset, y, mask));
}
template <class Scalar>
void batch_norm_gradient_sums(const Scalar* dy, const std::uint8_t* mask, const Scalar* x, long count, Scalar mean,
                              Scalar* s, Scalar* q) {
    DEEPCNN_ISA_CALL(Scalar, batch_norm_gradient_sums(dy, mask, x, count, mean, s, q));
}
template <class Scalar>
void batch_norm_input_gradient(const Scalar* dy, const std::uint8_t* mask, const Scalar* x, long count, Scalar a,
                               Scalar b, Scalar mean, Scalar k, Scalar* dx) {
    DEEPCNN_ISA_CALL(Scalar, batch_norm_input_gradient(dy, mask, x, count, a, b, mean, k, dx));
}

// ---- Max pooling (max_pool.hpp).
template <class Scalar>
void max_pool_forward(const ConvGeometry& g, int N, const Scalar* x, Scalar* y, std::int32_t* argmax,
                      ThreadPool* pool = nullptr) {
    DEEPCNN_ISA_CALL(Scalar, max_pool_forward(g, N, x, y, argmax, pool));
}
template <class Scalar>
void max_pool_backward(const ConvGeometry& g, int N, const Scalar* dy, const std::int32_t* argmax, Scalar* dx,
                       ThreadPool* pool = nullptr) {
    DEEPCNN_ISA_CALL(Scalar, max_pool_backward(g, N, dy, argmax, dx, pool));
}

// ---- Adam (adam.hpp).
template <class Scalar>
void adam_update(long count, const AdamStep<Scalar>& s, const Scalar* grad, Scalar* value, Scalar* m, Scalar* v) {
    DEEPCNN_ISA_CALL(Scalar, adam_update(count, s, grad, value, m, v));
}

// Every dispatching function above, instantiated for one Scalar, listed once: DEEPCNN_KERNEL_INSTANTIATIONS(extern
// template, float) declares the instantiations, DEEPCNN_KERNEL_INSTANTIATIONS(template, float) defines them. With
// DEEPCNN_SEPARATE_KERNELS defined, every translation unit declares them and so leaves the kernels (three
// instruction sets' copies, two thirds of a translation unit's compile time) to the one that includes
// <deepcnn/kernels/instantiate_kernels.hpp>. A function missing from this list is still correct: each unit
// then compiles its own copy.
#define DEEPCNN_KERNEL_INSTANTIATIONS(KEYWORD, S)                                                                 \
    KEYWORD std::size_t gemm_workspace_size<S>();                                                                 \
    KEYWORD void gemm_parallel<S>(ThreadPool*, int, int, int, StridedMatrix<S>, StridedMatrix<S>, S*, long, bool, \
                                  S*);                                                                            \
    KEYWORD void gemv<S>(ThreadPool*, int, int, int, const S*, const S*, S*);                                     \
    KEYWORD void gemv_transposed<S>(ThreadPool*, int, int, int, const S*, const S*, S*);                          \
    KEYWORD std::size_t conv2d_fast_workspace_size<S>(const ConvGeometry&, int);                                  \
    KEYWORD void conv2d_forward_fast<S>(const ConvGeometry&, int, const S*, const S*, const S*, S*, S*,           \
                                        ThreadPool*);                                                             \
    KEYWORD void conv2d_backward_data_fast<S>(const ConvGeometry&, int, const S*, const S*, S*, S*, ThreadPool*); \
    KEYWORD void conv2d_backward_weights_fast<S>(const ConvGeometry&, int, const S*, const S*, S*, S*, S*,        \
                                                 ThreadPool*);                                                    \
    KEYWORD ConvPlan conv2d_plan<S>(const ConvGeometry&, int, int);                                               \
    KEYWORD std::vector<std::string> conv2d_variant_names<S>(ConvDirection);                                      \
    KEYWORD void conv2d_run<S>(ConvDirection, const char*, const ConvGeometry&, const ConvArgs<S>&);              \
    KEYWORD std::size_t conv2d_forward_prepared_size<S>(const char*, const ConvGeometry&);                        \
    KEYWORD void conv2d_forward_prepare<S>(const char*, const ConvGeometry&, const S*, S*);                       \
    KEYWORD ConvPlan grouped_conv2d_plan<S>(const ConvGeometry&, int, int, int);                                  \
    KEYWORD std::vector<std::string> grouped_conv2d_variant_names<S>(ConvDirection);                              \
    KEYWORD void grouped_conv2d_run<S>(ConvDirection, const char*, const ConvGeometry&, int, const ConvArgs<S>&); \
    KEYWORD void grouped_conv2d_fast<S>(ConvDirection, const ConvGeometry&, int, const ConvArgs<S>&);             \
    KEYWORD void relu_forward<S>(long, const S*, S*, std::uint8_t*);                                              \
    KEYWORD void relu_backward<S>(long, const S*, const std::uint8_t*, S*);                                       \
    KEYWORD void batch_norm_shifted_sums<S>(const S*, long, S, S*, S*);                                           \
    KEYWORD void batch_norm_normalize<S>(const S*, long, S, S, S*, std::uint8_t*);                                \
    KEYWORD void batch_norm_gradient_sums<S>(const S*, const std::uint8_t*, const S*, long, S, S*, S*);           \
    KEYWORD void batch_norm_input_gradient<S>(const S*, const std::uint8_t*, const S*, long, S, S, S, S, S*);     \
    KEYWORD void max_pool_forward<S>(const ConvGeometry&, int, const S*, S*, std::int32_t*, ThreadPool*);         \
    KEYWORD void max_pool_backward<S>(const ConvGeometry&, int, const S*, const std::int32_t*, S*, ThreadPool*);  \
    KEYWORD void adam_update<S>(long, const AdamStep<S>&, const S*, S*, S*, S*);

#if defined(DEEPCNN_SEPARATE_KERNELS)
DEEPCNN_KERNEL_INSTANTIATIONS(extern template, float)
DEEPCNN_KERNEL_INSTANTIATIONS(extern template, double)
#endif

}  // namespace kernels
}  // namespace deepcnn
