// deepcnn/kernels/gemv_ref.hpp: gemv_ref and gemv_transposed_ref, the plain-loop matrix-vector products that the
// vectorised ones (gemv.hpp) are tested against: N vectors against one row-major matrix, as Dense runs them at small
// batches. The _range forms compute a slice of the outputs (the portable pass's bodies). Stateless, no allocation,
// one thread.
#pragma once

namespace deepcnn {

// Outputs [i0, i1) of gemv_ref: y[n * M + i] = row i of A . x_n, summed in k order from zero.
template <class Scalar>
void gemv_ref_range(int N, int M, int K, const Scalar* a, const Scalar* x, Scalar* y, int i0, int i1) {
    for (int n = 0; n < N; ++n)
        for (int i = i0; i < i1; ++i) {
            Scalar sum(0);
            for (int k = 0; k < K; ++k) sum += a[static_cast<long>(i) * K + k] * x[static_cast<long>(n) * K + k];
            y[static_cast<long>(n) * M + i] = sum;
        }
}

// Y (N, M) = X (N, K) A^T for a row-major A (M, K): y_n = A x_n for each of the N rows x_n of X. Rows of X, Y and A
// are contiguous (row strides K, M and K). Assigns Y.
template <class Scalar>
void gemv_ref(int N, int M, int K, const Scalar* a, const Scalar* x, Scalar* y) {
    gemv_ref_range(N, M, K, a, x, y, 0, M);
}

// Outputs [j0, j1) of gemv_transposed_ref: y[n * K + j] = column j of A . x_n, summed in m order from zero.
template <class Scalar>
void gemv_transposed_ref_range(int N, int M, int K, const Scalar* a, const Scalar* x, Scalar* y, int j0, int j1) {
    for (int n = 0; n < N; ++n)
        for (int j = j0; j < j1; ++j) {
            Scalar sum(0);
            for (int m = 0; m < M; ++m) sum += x[static_cast<long>(n) * M + m] * a[static_cast<long>(m) * K + j];
            y[static_cast<long>(n) * K + j] = sum;
        }
}

// Y (N, K) = X (N, M) A for a row-major A (M, K): y_n = A^T x_n for each of the N rows x_n of X. Rows contiguous
// (row strides M, K and K). Assigns Y.
template <class Scalar>
void gemv_transposed_ref(int N, int M, int K, const Scalar* a, const Scalar* x, Scalar* y) {
    gemv_transposed_ref_range(N, M, K, a, x, y, 0, K);
}

}  // namespace deepcnn
