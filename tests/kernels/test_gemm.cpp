// tests/kernels/test_gemm.cpp: the packed GEMM (kernels/gemm.hpp) against gemm_ref on odd shapes, transposed
// and strided operands, several KC / NC blocks, assign and accumulate, float and double, and gemm_parallel on
// many threads against one (bit-identical); the AVX2 helpers the packers and transforms share (8x8 register
// transposes, stores of a vector's first lanes).
#include <catch2/catch.hpp>

#include <deepcnn/kernels/kernels.hpp>
#include <deepcnn/random.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "isa_passes.hpp"

using namespace deepcnn;

namespace {

template <class Scalar>
std::vector<Scalar> random_values(std::size_t count, Rng& rng) {
    std::vector<Scalar> v(count);
    for (auto& e : v) e = static_cast<Scalar>(rng.uniform(-1.0, 1.0));
    return v;
}

// An M x K (or K x N) operand stored row-major or transposed, with a padded leading dimension.
template <class Scalar>
StridedMatrix<Scalar> view(const std::vector<Scalar>& data, int rows, int cols, bool transposed) {
    return transposed ? StridedMatrix<Scalar>{data.data(), 1, rows + 3} : StridedMatrix<Scalar>{data.data(), cols + 3, 1};
}

std::size_t storage(int rows, int cols, bool transposed) {
    return transposed ? static_cast<std::size_t>(cols) * (rows + 3) : static_cast<std::size_t>(rows) * (cols + 3);
}

template <class Scalar>
void check_gemm(int M, int N, int K, bool ta, bool tb, bool accumulate) {
    Rng rng(static_cast<std::uint64_t>(M * 7919 + N * 104729 + K * 31 + ta * 2 + tb));
    const auto a = random_values<Scalar>(storage(M, K, ta), rng);
    const auto b = random_values<Scalar>(storage(K, N, tb), rng);
    const long ldc = N + 5;
    const auto c0 = random_values<Scalar>(static_cast<std::size_t>(M) * ldc, rng);
    std::vector<Scalar> fast = c0, ref = c0;
    std::vector<Scalar> workspace(kernels::gemm_workspace_size<Scalar>(), std::numeric_limits<Scalar>::quiet_NaN());
    const auto A = view(a, M, K, ta);
    const auto B = view(b, K, N, tb);
    kernels::gemm_parallel(nullptr, M, N, K, A, B, fast.data(), ldc, accumulate, workspace.data());
    gemm_ref(M, N, K, A, B, ref.data(), ldc, accumulate);
    const double tolerance = 8 * std::numeric_limits<Scalar>::epsilon() * (K + 1);
    INFO("M " << M << " N " << N << " K " << K << " A^T " << ta << " B^T " << tb << " accumulate " << accumulate);
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < ldc; ++j) {
            const std::size_t at = static_cast<std::size_t>(i) * ldc + j;
            if (j >= N) {
                REQUIRE(fast[at] == c0[at]);  // columns past N untouched
            } else if (std::abs(double(fast[at]) - double(ref[at])) > tolerance) {
                FAIL("C(" << i << ", " << j << ") = " << fast[at] << ", reference " << ref[at]);
            }
        }
}

}  // namespace

TEST_CASE("gemm matches gemm_ref on odd shapes and layouts", "[kernels][gemm]") {
    RUN_ON_EACH_ISA();
    const int sizes[][3] = {{1, 1, 1},   {5, 7, 3},    {6, 16, 1},  {7, 17, 9},   {13, 33, 31},
                            {64, 25, 49}, {1, 300, 20}, {150, 5, 7}, {37, 40, 300}, {145, 70, 257},
                            // whole 8-column groups in a partial 8 x 48 panel (the Winograd backward-weights' C)
                            {9, 32, 20},  {16, 64, 24}};
    for (const auto& s : sizes)
        for (int layout = 0; layout < 4; ++layout)
            for (bool accumulate : {false, true}) {
                check_gemm<float>(s[0], s[1], s[2], layout & 1, layout & 2, accumulate);
                check_gemm<double>(s[0], s[1], s[2], layout & 1, layout & 2, accumulate);
            }
}

TEST_CASE("gemm spans several NC blocks", "[kernels][gemm]") {
    RUN_ON_EACH_ISA();
    check_gemm<float>(9, isa_portable::GemmBlocking::NC + 37, 11, false, false, false);
    check_gemm<float>(3, isa_portable::GemmBlocking::NC * 2 + 1, 5, true, true, true);
}

TEST_CASE("gemm with K = 0 assigns zero or leaves C", "[kernels][gemm]") {
    RUN_ON_EACH_ISA();
    std::vector<float> c(12, 2.0f), workspace(kernels::gemm_workspace_size<float>());
    const StridedMatrix<float> none{nullptr, 0, 0};
    kernels::gemm_parallel(nullptr, 3, 4, 0, none, none, c.data(), 4, true, workspace.data());
    CHECK(c[5] == 2.0f);
    kernels::gemm_parallel(nullptr, 3, 4, 0, none, none, c.data(), 4, false, workspace.data());
    CHECK(c[5] == 0.0f);
}

TEST_CASE("gemm_parallel gives bit-identical results on any number of threads", "[kernels][gemm][threads]") {
    RUN_ON_EACH_ISA();
    Rng rng(7);
    for (const auto& s : {std::vector<int>{200, 90, 130}, std::vector<int>{20, 700, 64}, std::vector<int>{64, 128, 600}}) {
        const int M = s[0], N = s[1], K = s[2];
        const auto a = random_values<float>(static_cast<std::size_t>(M) * K, rng);
        const auto b = random_values<float>(static_cast<std::size_t>(K) * N, rng);
        const StridedMatrix<float> A{a.data(), K, 1}, B{b.data(), 1, K};
        std::vector<float> one(static_cast<std::size_t>(M) * N);
        std::vector<float> workspace(4 * kernels::gemm_workspace_size<float>());
        kernels::gemm_parallel(nullptr, M, N, K, A, B, one.data(), N, false, workspace.data());
        for (int threads : {1, 2, 3, 4}) {
            ThreadPool pool(threads);
            std::vector<float> many(one.size(), 1.0f);
            kernels::gemm_parallel(&pool, M, N, K, A, B, many.data(), N, false, workspace.data());
            INFO("M " << M << " N " << N << " K " << K << " threads " << threads);
            REQUIRE(many == one);
        }
    }
}

#if DEEPCNN_ISA_DISPATCH
namespace {
// The AVX2 pass's helpers, called from code compiled for AVX2 as they are.
__attribute__((target("avx2,fma"))) void check_store_first_lanes() {
    const __m256 v = _mm256_setr_ps(1, 2, 3, 4, 5, 6, 7, 8);
    for (int offset : {0, 1, 3}) {
        for (int n = 0; n <= 8; ++n) {
            INFO("offset " << offset << ", n " << n);
            std::vector<float> out(16, -1.0f);
            isa_avx2::detail::store_first_lanes(out.data() + offset, v, n);
            for (int i = 0; i < 16; ++i) {
                const int lane = i - offset;
                CHECK(out[i] == (lane >= 0 && lane < n ? static_cast<float>(lane + 1) : -1.0f));
            }
        }
    }
}

__attribute__((target("avx2,fma"))) void check_transpose_8x8() {
    std::vector<float> src(200);
    for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i);
    const int rows[8] = {0, 9, 18, 27, 100, 37, 61, 150};
    __m256 out[8];
    isa_avx2::detail::transpose_8x8_registers(src.data() + 3, rows, out);
    std::vector<float> dst(8 * 10, -1.0f);
    isa_avx2::detail::transpose_8x8(src.data() + 3, rows, dst.data(), 10);
    for (int p = 0; p < 8; ++p) {
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, out[p]);
        for (int i = 0; i < 8; ++i) {
            CHECK(lanes[i] == src[3 + rows[i] + p]);
            CHECK(dst[p * 10 + i] == src[3 + rows[i] + p]);
        }
        CHECK(dst[p * 10 + 8] == -1.0f);
    }
}
}  // namespace

TEST_CASE("store_first_lanes writes a vector's first n lanes and nothing else", "[kernels][simd]") {
    if (best_supported_isa() >= Isa::avx2) check_store_first_lanes();
}

TEST_CASE("transpose_8x8 and transpose_8x8_registers transpose eight rows at any offsets", "[kernels][simd]") {
    if (best_supported_isa() >= Isa::avx2) check_transpose_8x8();
}
#endif

TEST_CASE("ThreadPool runs every task once and rethrows a task's exception", "[kernels][threads]") {
    ThreadPool pool(3);
    CHECK(pool.size() == 3);
    for (int round = 0; round < 50; ++round) {
        std::vector<int> hits(3, 0);
        pool.run(3, [&](int t) { ++hits[static_cast<std::size_t>(t)]; });
        REQUIRE(hits == std::vector<int>{1, 1, 1});
    }
    CHECK_THROWS_WITH(pool.run(3, [](int t) { if (t == 2) throw std::runtime_error("task 2 failed"); }),
                      "task 2 failed");
    int begin = 0, end = 0, covered = 0;
    for (int part = 0; part < 3; ++part) {
        split_range(50, 3, part, 16, begin, end);
        CHECK(begin % 16 == 0);
        covered += end - begin;
    }
    CHECK(covered == 50);
}
