// tests/layers/test_softmax.cpp: the Softmax layer: hand values, rows summing to 1, stability for logits of 1e4
// (float and double), softmax over channels for every pixel, and the gradient check.
#include <catch2/catch.hpp>

#include <deepcnn/layers/softmax.hpp>

#include "gradient_check.hpp"

#include <cmath>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::random_tensor;

TEST_CASE("Softmax matches hand values and rows sum to 1", "[layers][softmax]") {
    Softmax<double> softmax;
    Rng rng(0);
    softmax.build(Shape(1, 3, 1, 1), rng);
    const Tensor<double> x(Shape(2, 3, 1, 1), {0.0, std::log(2.0), std::log(3.0), 5.0, 5.0, 5.0});
    const Tensor<double> y = softmax.forward(x);
    CHECK(y[0] == Approx(1.0 / 6.0).epsilon(1e-14));
    CHECK(y[1] == Approx(2.0 / 6.0).epsilon(1e-14));
    CHECK(y[2] == Approx(3.0 / 6.0).epsilon(1e-14));
    for (int k = 3; k < 6; ++k) CHECK(y[k] == Approx(1.0 / 3.0).epsilon(1e-14));

    const Tensor<double> z = random_tensor(Shape(5, 3, 1, 1), rng, -10.0, 10.0);
    const Tensor<double> p = softmax.forward(z);
    for (int n = 0; n < 5; ++n) {
        double sum = 0.0;
        for (int k = 0; k < 3; ++k) {
            CHECK(p(n, k, 0, 0) > 0.0);
            sum += p(n, k, 0, 0);
        }
        CHECK(sum == Approx(1.0).epsilon(1e-14));
    }
}

TEMPLATE_TEST_CASE("Softmax survives logits of 1e4", "[layers][softmax]", float, double) {
    Softmax<TestType> softmax;
    Rng rng(0);
    softmax.build(Shape(1, 3, 1, 1), rng);
    const Tensor<TestType> x(Shape(3, 3, 1, 1), {1e4, 0, -1e4, 1e4, 1e4, 1e4, -1e4, -1e4, -1e4 + 1});
    const Tensor<TestType> y = softmax.forward(x);
    for (TestType v : y) REQUIRE(std::isfinite(v));
    CHECK(y[0] == Approx(1.0));
    CHECK(y[1] == Approx(0.0).margin(1e-30));
    CHECK(y[2] == Approx(0.0).margin(1e-30));
    for (int k = 3; k < 6; ++k) CHECK(y[k] == Approx(1.0 / 3.0));
    CHECK(y[8] == Approx(std::exp(1.0) / (2.0 + std::exp(1.0))));
    const Tensor<TestType> dx = softmax.backward(Tensor<TestType>(Shape(3, 3, 1, 1), TestType(1)));
    for (TestType v : dx) CHECK(std::isfinite(v));
}

TEST_CASE("Softmax normalises over channels at every pixel", "[layers][softmax]") {
    Softmax<double> softmax;
    Rng rng(3);
    softmax.build(Shape(1, 4, 2, 3), rng);
    const Tensor<double> x = random_tensor(Shape(2, 4, 2, 3), rng, -3.0, 3.0);
    const Tensor<double> y = softmax.forward(x);
    for (int n = 0; n < 2; ++n)
        for (int h = 0; h < 2; ++h)
            for (int w = 0; w < 3; ++w) {
                double denom = 0.0;
                for (int c = 0; c < 4; ++c) denom += std::exp(x(n, c, h, w));
                for (int c = 0; c < 4; ++c) CHECK(y(n, c, h, w) == Approx(std::exp(x(n, c, h, w)) / denom));
            }
}

TEST_CASE("Softmax gradients match central differences", "[layers][softmax][gradient]") {
    Rng rng(15);
    SECTION("flat") {
        Softmax<double> softmax;
        check_layer_gradients(softmax, random_tensor(Shape(3, 4, 1, 1), rng, -2.0, 2.0), 16);
    }
    SECTION("per pixel") {
        Softmax<double> softmax;
        check_layer_gradients(softmax, random_tensor(Shape(2, 3, 2, 2), rng, -2.0, 2.0), 17);
    }
}
