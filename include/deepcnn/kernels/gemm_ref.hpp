// deepcnn/kernels/gemm_ref.hpp: StridedMatrix, the strided matrix view every GEMM takes, and gemm_ref, the
// plain-loop GEMM that the packed one (gemm.hpp) is tested against.
#pragma once

#include <cstddef>

namespace deepcnn {

// A read-only strided matrix: element (i, j) at data[i * rs + j * cs]. Row-major (rows, cols) has rs = cols,
// cs = 1; its transpose is the same data with rs and cs swapped.
template <class Scalar>
struct StridedMatrix {
    const Scalar* data;
    long rs;
    long cs;
    const Scalar& operator()(long i, long j) const { return data[i * rs + j * cs]; }
};

// C (M, N), row stride ldc = [C +] A (M, K) x B (K, N), plain loops in k order. Assigns unless `accumulate`.
template <class Scalar>
void gemm_ref(int M, int N, int K, StridedMatrix<Scalar> A, StridedMatrix<Scalar> B, Scalar* C, long ldc,
              bool accumulate) {
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
            Scalar sum(0);
            for (int k = 0; k < K; ++k) sum += A(i, k) * B(k, j);
            C[i * ldc + j] = accumulate ? C[i * ldc + j] + sum : sum;
        }
}

}  // namespace deepcnn
