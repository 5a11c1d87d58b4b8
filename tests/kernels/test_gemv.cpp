// tests/kernels/test_gemv.cpp: the matrix-vector products (kernels/gemv.hpp) against gemv_ref / gemv_transposed_ref
// on odd shapes (partial vectors, row and column tails, several vectors at once), float and double, on every
// instruction set this CPU runs; nothing written past Y; bit-identical results on 1, 2 and 3 threads, and each row
// of Y the same bits whatever the batch it is computed in.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/kernels.hpp>
#include <deepcnn/random.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "gradient_check.hpp"
#include "isa_passes.hpp"

using namespace deepcnn;

// A named namespace: the unity build compiles this file with its neighbours.
namespace gemv_test {

// count values uniform in [-1, 1).
template <class Scalar>
Tensor<Scalar> random_values(long count, Rng& rng) {
    return deepcnn_test::random_tensor<Scalar>(Shape(static_cast<int>(count), 1, 1, 1), rng);
}

// Y = X A^T (transposed: Y = X A) for A (M, K), with the fast kernel on `pool` (or none).
template <class Scalar>
void run_gemv(bool transposed, ThreadPool* pool, int N, int M, int K, const Scalar* a, const Scalar* x, Scalar* y) {
    if (transposed) {
        kernels::gemv_transposed(pool, N, M, K, a, x, y);
    } else {
        kernels::gemv(pool, N, M, K, a, x, y);
    }
}

template <class Scalar>
void check_gemv(int N, int M, int K, bool transposed) {
    Rng rng(static_cast<std::uint64_t>(N * 7919 + M * 104729 + K * 31 + transposed));
    const int in = transposed ? M : K, out = transposed ? K : M;
    const auto a = random_values<Scalar>(static_cast<long>(M) * K, rng);
    const auto x = random_values<Scalar>(static_cast<long>(N) * in, rng);
    const std::size_t count = static_cast<std::size_t>(N) * out;
    const Scalar sentinel = Scalar(1234.5);
    std::vector<Scalar> fast(count + 40, sentinel), ref(count, std::numeric_limits<Scalar>::quiet_NaN());
    run_gemv<Scalar>(transposed, nullptr, N, M, K, a.data(), x.data(), fast.data());
    if (transposed) {
        gemv_transposed_ref(N, M, K, a.data(), x.data(), ref.data());
    } else {
        gemv_ref(N, M, K, a.data(), x.data(), ref.data());
    }
    const int depth = transposed ? M : K;
    const double tolerance = 8 * std::numeric_limits<Scalar>::epsilon() * (depth + 1);
    INFO("N " << N << " M " << M << " K " << K << (transposed ? " transposed" : ""));
    for (std::size_t i = 0; i < count; ++i)
        if (!(std::abs(double(fast[i]) - double(ref[i])) <= tolerance))
            FAIL("y[" << i << "] = " << fast[i] << ", reference " << ref[i]);
    for (std::size_t i = count; i < fast.size(); ++i) REQUIRE(fast[i] == sentinel);
}

}  // namespace gemv_test

TEST_CASE("gemv and gemv_transposed match their _ref on odd shapes", "[kernels][gemv]") {
    RUN_ON_EACH_ISA();
    const int shapes[][2] = {{1, 1},  {1, 7},   {3, 5},   {7, 16},  {8, 17},   {9, 33},
                             {13, 40}, {16, 64}, {33, 100}, {64, 31}, {17, 300}, {100, 129}};
    for (const auto& s : shapes)
        for (int N : {1, 2, 3, 4, 5, 9})
            for (bool transposed : {false, true}) {
                gemv_test::check_gemv<float>(N, s[0], s[1], transposed);
                gemv_test::check_gemv<float>(N, s[1], s[0], transposed);
                gemv_test::check_gemv<double>(N, s[0], s[1], transposed);
            }
}

TEST_CASE("gemv with an empty sum assigns zeros", "[kernels][gemv]") {
    RUN_ON_EACH_ISA();
    std::vector<float> y(6, 2.0f);
    const float none = 0.0f;
    kernels::gemv(nullptr, 2, 3, 0, &none, &none, y.data());
    CHECK(y == std::vector<float>(6, 0.0f));
    y.assign(6, 2.0f);
    kernels::gemv_transposed(nullptr, 2, 0, 3, &none, &none, y.data());
    CHECK(y == std::vector<float>(6, 0.0f));
}

TEST_CASE("gemv gives the same bits on 1, 2 and 3 threads and in any batch", "[kernels][gemv][threads]") {
    RUN_ON_EACH_ISA();
    Rng rng(11);
    // Large enough to be split between threads (gemv_min_parallel_products), with row and column tails.
    const int M = 203, K = 1301;
    const auto a = gemv_test::random_values<float>(static_cast<long>(M) * K, rng);
    const auto x = gemv_test::random_values<float>(5L * std::max(M, K), rng);
    for (bool transposed : {false, true}) {
        const int out = transposed ? K : M;
        for (int N : {1, 2, 5}) {
            std::vector<float> one(static_cast<std::size_t>(N) * out);
            gemv_test::run_gemv<float>(transposed, nullptr, N, M, K, a.data(), x.data(), one.data());
            for (int threads : {1, 2, 3}) {
                ThreadPool pool(threads);
                std::vector<float> many(one.size(), 7.0f);
                gemv_test::run_gemv<float>(transposed, &pool, N, M, K, a.data(), x.data(), many.data());
                INFO((transposed ? "transposed" : "gemv") << " N " << N << " threads " << threads);
                REQUIRE(many == one);
            }
            // Row 0 of a batch of N is the batch of one's row.
            std::vector<float> single(static_cast<std::size_t>(out));
            gemv_test::run_gemv<float>(transposed, nullptr, 1, M, K, a.data(), x.data(), single.data());
            INFO((transposed ? "transposed" : "gemv") << " N " << N);
            REQUIRE(std::vector<float>(one.begin(), one.begin() + out) == single);
        }
    }
}
