// tests/layers/test_dense.cpp: Dense: a hand-computed forward and backward, Glorot initialisation, parameter
// names, shape errors, the gradient check of input, weight and bias, and the small batches' matrix-vector path
// against the GEMM path and double, on every instruction set, bit-identical on 1, 2 and 3 threads.
#include <catch2/catch.hpp>

#include <deepcnn/layers/dense.hpp>

#include "gradient_check.hpp"
#include "kernels/isa_passes.hpp"

#include <cmath>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::random_tensor;
using deepcnn_test::randomize_params;

template <class Scalar>
static std::vector<Scalar> values(const Tensor<Scalar>& t) {
    return std::vector<Scalar>(t.begin(), t.end());
}

TEMPLATE_TEST_CASE("Dense computes y = x W^T + b and its gradients by hand", "[layers][dense]", float, double) {
    Dense<TestType> dense(2);
    Rng rng(0);
    dense.build(Shape(1, 3, 1, 1), rng);
    dense.weight() = Tensor<TestType>(Shape(2, 3, 1, 1), {1, 2, 3, 4, 5, 6});
    dense.bias() = Tensor<TestType>(Shape(1, 2, 1, 1), {0.5, -1});
    const Tensor<TestType> x(Shape(2, 3, 1, 1), {1, 0, -1, 2, 1, 0});
    const Tensor<TestType> y = dense.forward(x);
    REQUIRE(y.shape() == Shape(2, 2, 1, 1));
    // row 0: [1 - 3 + 0.5, 4 - 6 - 1]; row 1: [2 + 2 + 0.5, 8 + 5 - 1]
    CHECK(values(y) == std::vector<TestType>{-1.5, -3, 4.5, 12});

    const Tensor<TestType> dy(Shape(2, 2, 1, 1), {1, -1, 2, 0.5});
    const Tensor<TestType> dx = dense.backward(dy);
    // dX = dY W: row 0 = [1 - 4, 2 - 5, 3 - 6]; row 1 = [2 + 2, 4 + 2.5, 6 + 3]
    CHECK(values(dx) == std::vector<TestType>{-3, -3, -3, 4, 6.5, 9});
    auto params = dense.params();
    REQUIRE(params.size() == 2);
    CHECK(params[0].name == "weight");
    CHECK(params[1].name == "bias");
    // dW = dY^T X: row 0 = 1 [1, 0, -1] + 2 [2, 1, 0]; row 1 = -1 [1, 0, -1] + 0.5 [2, 1, 0]
    CHECK(values(*params[0].grad) == std::vector<TestType>{5, 2, -1, 0, 0.5, 1});
    // db = column sums of dY
    CHECK(values(*params[1].grad) == std::vector<TestType>{3, -0.5});

    // Without dX (the model's first layer in training): the same parameter gradients.
    for (auto& p : params) p.grad->set_zero();
    Tensor<TestType> scratch;
    dense.backward_params(dy, scratch);
    CHECK(values(*params[0].grad) == std::vector<TestType>{5, 2, -1, 0, 0.5, 1});
    CHECK(values(*params[1].grad) == std::vector<TestType>{3, -0.5});
}

TEST_CASE("Dense in float (the layer's float path) agrees with double on random data", "[layers][dense]") {
    Dense<float> f(5);
    Dense<double> d(5);
    Rng rng(4);
    f.build(Shape(1, 13, 1, 1), rng);
    d.build(Shape(1, 13, 1, 1), rng);
    for (std::size_t i = 0; i < d.weight().size(); ++i) f.weight()[i] = static_cast<float>(d.weight()[i] = rng.uniform(-1, 1));
    for (std::size_t i = 0; i < d.bias().size(); ++i) f.bias()[i] = static_cast<float>(d.bias()[i] = rng.uniform(-1, 1));
    const Tensor<double> xd = random_tensor(Shape(7, 13, 1, 1), rng), dyd = random_tensor(Shape(7, 5, 1, 1), rng);
    const Tensor<float> xf = xd.cast<float>(), dyf = dyd.cast<float>();
    const Tensor<double> yd = d.forward(xd), dxd = d.backward(dyd);
    const Tensor<float> yf = f.forward(xf), dxf = f.backward(dyf);
    for (std::size_t i = 0; i < yd.size(); ++i) CHECK(yf[i] == Approx(yd[i]).epsilon(1e-5).margin(1e-5));
    for (std::size_t i = 0; i < dxd.size(); ++i) CHECK(dxf[i] == Approx(dxd[i]).epsilon(1e-5).margin(1e-5));
    for (std::size_t p = 0; p < 2; ++p)
        for (std::size_t i = 0; i < d.params()[p].grad->size(); ++i)
            CHECK((*f.params()[p].grad)[i] == Approx((*d.params()[p].grad)[i]).epsilon(1e-5).margin(1e-5));
}

TEST_CASE("Dense without bias and with a declared input size", "[layers][dense]") {
    Dense<double> dense(3);
    dense.with_bias(false).with_in_features(4);
    Rng rng(0);
    dense.build(Shape(1, 4, 1, 1), rng);
    REQUIRE(dense.params().size() == 1);
    CHECK(dense.params()[0].value->shape() == Shape(3, 4, 1, 1));
    dense.weight().fill(1.0);
    const Tensor<double> y = dense.forward(Tensor<double>(Shape(1, 4, 1, 1), {1, 2, 3, 4}));
    CHECK(values(y) == std::vector<double>{10, 10, 10});
    CHECK(dense.forward_flops(Shape(1, 4, 1, 1)) == 2.0 * 4 * 3);
}

TEST_CASE("Dense Glorot-uniform initialisation stays within its limit", "[layers][dense]") {
    Dense<double> dense(30);
    Rng rng(5);
    dense.build(Shape(1, 50, 1, 1), rng);
    const double limit = std::sqrt(6.0 / (50 + 30));
    double sum_sq = 0.0;
    for (double w : dense.weight()) {
        REQUIRE(std::abs(w) <= limit);
        sum_sq += w * w;
    }
    CHECK(sum_sq / dense.weight().size() == Approx(limit * limit / 3.0).epsilon(0.1));
    for (double b : dense.bias()) CHECK(b == 0.0);
}

TEST_CASE("Dense shape errors", "[layers][dense]") {
    Rng rng(0);
    Dense<float> dense(3);
    CHECK_THROWS_MATCHES(dense.build(Shape(1, 4, 2, 2), rng), shape_error,
                         Catch::Message("Dense: expected flat input (F), got (4, 2, 2); add a Flatten layer first"));
    Dense<float> declared(3);
    declared.with_in_features(5);
    CHECK_THROWS_MATCHES(declared.build(Shape(1, 3, 1, 1), rng), shape_error,
                         Catch::Message("Dense: expected input 5, got 3"));
    Dense<float> built(3);
    built.build(Shape(1, 4, 1, 1), rng);
    CHECK_THROWS_MATCHES(built.forward(Tensor<float>(Shape(2, 5, 1, 1))), shape_error,
                         Catch::Message("Dense: expected input (4), got (5)"));
    CHECK_THROWS_MATCHES(built.backward(Tensor<float>(Shape(2, 3, 1, 1))), error,
                         Catch::Message("Dense: backward called without a forward pass"));
    CHECK_THROWS_MATCHES(Dense<float>(0), config_error, Catch::Message("Dense: units must be positive, got 0"));
}

TEST_CASE("Dense gradients match central differences", "[layers][dense][gradient]") {
    Rng rng(12);
    SECTION("with bias") {
        Dense<double> dense(4);
        dense.build(Shape(1, 5, 1, 1), rng);
        randomize_params(dense, rng);
        check_layer_gradients(dense, random_tensor(Shape(3, 5, 1, 1), rng), 13);
    }
    SECTION("without bias") {
        Dense<double> dense(2);
        dense.with_bias(false);
        dense.build(Shape(1, 6, 1, 1), rng);
        check_layer_gradients(dense, random_tensor(Shape(2, 6, 1, 1), rng), 14);
    }
}

TEST_CASE("Dense at small batches (matrix-vector products) agrees with its GEMM path and double, on any threads",
          "[layers][dense][threads]") {
    RUN_ON_EACH_ISA();
    CHECK(Dense<float>::uses_gemv(1) == kernels::simd_active<float>());
    CHECK(Dense<float>::uses_gemv(Dense<float>::gemv_max_batch) == kernels::simd_active<float>());
    CHECK_FALSE(Dense<float>::uses_gemv(Dense<float>::gemv_max_batch + 1));
    CHECK_FALSE(Dense<double>::uses_gemv(1));
    // 1301 x 203: large enough for the products to be split between threads, with partial vectors.
    const int F = 1301, U = 203, big = Dense<float>::gemv_max_batch + 3;
    Dense<float> f(U);
    Dense<double> d(U);
    Rng rng(21);
    f.build(Shape(1, F, 1, 1), rng);
    d.build(Shape(1, F, 1, 1), rng);
    randomize_params(d, rng);
    for (std::size_t i = 0; i < d.weight().size(); ++i) f.weight()[i] = static_cast<float>(d.weight()[i]);
    for (std::size_t i = 0; i < d.bias().size(); ++i) f.bias()[i] = static_cast<float>(d.bias()[i]);
    const Tensor<double> xd = random_tensor(Shape(big, F, 1, 1), rng), dyd = random_tensor(Shape(big, U, 1, 1), rng);
    const Tensor<float> xf = xd.cast<float>(), dyf = dyd.cast<float>();
    // The whole batch takes the GEMM; its first n rows alone the matrix-vector products.
    const Tensor<float> y_gemm = f.forward(xf), dx_gemm = f.backward(dyf);
    const Tensor<double> y_double = d.forward(xd), dx_double = d.backward(dyd);
    const auto first_rows = [](const Tensor<float>& t, int n) {
        Tensor<float> part(Shape(n, t.c(), 1, 1));
        std::copy(t.data(), t.data() + part.size(), part.data());
        return part;
    };
    for (int n = 1; n <= Dense<float>::gemv_max_batch; ++n) {
        INFO("batch " << n);
        const Tensor<float> y = f.forward(first_rows(xf, n)), dx = f.backward(first_rows(dyf, n));
        for (std::size_t i = 0; i < y.size(); ++i) {
            REQUIRE(y[i] == Approx(y_gemm[i]).epsilon(1e-5).margin(1e-4));
            REQUIRE(y[i] == Approx(y_double[i]).epsilon(1e-5).margin(1e-4));
        }
        for (std::size_t i = 0; i < dx.size(); ++i) {
            REQUIRE(dx[i] == Approx(dx_gemm[i]).epsilon(1e-5).margin(1e-4));
            REQUIRE(dx[i] == Approx(dx_double[i]).epsilon(1e-5).margin(1e-4));
        }
        for (int threads : {1, 2, 3}) {
            ThreadPool pool(threads);
            f.set_thread_pool(&pool);
            const Tensor<float> y_threads = f.forward(first_rows(xf, n)), dx_threads = f.backward(first_rows(dyf, n));
            f.set_thread_pool(nullptr);
            INFO("threads " << threads);
            REQUIRE(values(y_threads) == values(y));
            REQUIRE(values(dx_threads) == values(dx));
        }
    }
}
