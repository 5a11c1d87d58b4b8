// tests/layers/test_max_pool2d.cpp: MaxPool2D: hand-computed maxima, ties to the first element in row-major window
// order, padding cells that never win, shapes and errors, the gradient check on inputs without ties, and infer (the
// forward's bits, no backward after it).
#include <catch2/catch.hpp>

#include <deepcnn/layers/max_pool2d.hpp>

#include "gradient_check.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::distinct_tensor;

TEST_CASE("MaxPool2D takes window maxima and routes the gradient to them", "[layers][max_pool2d]") {
    MaxPool2D<double> pool(2);
    Rng rng(0);
    pool.build(Shape(1, 1, 4, 5), rng);
    // 4x5 input; the last column is not covered by a valid 2x2 / stride 2 window.
    const Tensor<double> x(Shape(1, 1, 4, 5), {1, 9, 2, 3, 100,   //
                                               4, 5, 8, 1, 100,   //
                                               0, -1, 7, 7, 100,  //
                                               6, 2, 3, 1, 100});
    const Tensor<double> y = pool.forward(x);
    REQUIRE(y.shape() == Shape(1, 1, 2, 2));
    CHECK(std::vector<double>(y.begin(), y.end()) == std::vector<double>{9, 8, 6, 7});

    const Tensor<double> dy(Shape(1, 1, 2, 2), {10, 20, 30, 40});
    const Tensor<double> dx = pool.backward(dy);
    REQUIRE(dx.shape() == x.shape());
    // the tie 7, 7 in the last window goes to the first one, (2, 2)
    const std::vector<double> expected = {0, 10, 0, 0, 0,  //
                                          0, 0, 20, 0, 0,  //
                                          0, 0, 40, 0, 0,  //
                                          30, 0, 0, 0, 0};
    CHECK(std::vector<double>(dx.begin(), dx.end()) == expected);
}

TEST_CASE("MaxPool2D ties go to the first element of the window", "[layers][max_pool2d]") {
    MaxPool2D<float> pool(3, 3);
    Rng rng(0);
    pool.build(Shape(1, 2, 3, 3), rng);
    Tensor<float> x(Shape(1, 2, 3, 3), 1.0f);  // channel 0: all equal
    for (int i = 0; i < 9; ++i) x(0, 1, i / 3, i % 3) = (i == 4 || i == 7 || i == 8) ? 5.0f : -1.0f;
    const Tensor<float> y = pool.forward(x);
    CHECK(y[0] == 1.0f);
    CHECK(y[1] == 5.0f);
    const Tensor<float> dx = pool.backward(Tensor<float>(Shape(1, 2, 1, 1), {1.0f, 2.0f}));
    for (int i = 0; i < 9; ++i) {
        CHECK(dx(0, 0, i / 3, i % 3) == (i == 0 ? 1.0f : 0.0f));
        CHECK(dx(0, 1, i / 3, i % 3) == (i == 4 ? 2.0f : 0.0f));
    }
}

TEST_CASE("MaxPool2D overlapping windows sum their gradients", "[layers][max_pool2d]") {
    MaxPool2D<double> pool(3, 1);  // 3x3 windows, stride 1
    Rng rng(0);
    pool.build(Shape(1, 1, 4, 4), rng);
    Tensor<double> x(Shape(1, 1, 4, 4), 0.0);
    x(0, 0, 1, 1) = 1.0;  // inside all four windows
    const Tensor<double> y = pool.forward(x);
    REQUIRE(y.shape() == Shape(1, 1, 2, 2));
    for (double v : y) CHECK(v == 1.0);
    const Tensor<double> dx = pool.backward(Tensor<double>(Shape(1, 1, 2, 2), {1, 2, 3, 4}));
    CHECK(dx(0, 0, 1, 1) == 10.0);
    double total = 0.0;
    for (double v : dx) total += v;
    CHECK(total == 10.0);
}

TEST_CASE("MaxPool2D padding cells never win", "[layers][max_pool2d]") {
    MaxPool2D<double> pool(2);
    pool.with_padding(Padding::same());
    Rng rng(0);
    pool.build(Shape(1, 1, 3, 3), rng);
    const Tensor<double> x(Shape(1, 1, 3, 3), -5.0);
    const Tensor<double> y = pool.forward(x);
    REQUIRE(y.shape() == Shape(1, 1, 2, 2));
    for (double v : y) CHECK(v == -5.0);

    MaxPool2D<double> padded(3, 2);
    padded.with_padding(Padding::explicit_pad(1, 1));
    padded.build(Shape(1, 1, 3, 3), rng);
    Tensor<double> z(Shape(1, 1, 3, 3));
    std::iota(z.begin(), z.end(), -20.0);  // all negative: a zero pad would win if it could
    const Tensor<double> out = padded.forward(z);
    REQUIRE(out.shape() == Shape(1, 1, 2, 2));
    CHECK(std::vector<double>(out.begin(), out.end()) == std::vector<double>{-16, -15, -13, -12});
}

TEST_CASE("MaxPool2D shapes, configuration and errors", "[layers][max_pool2d]") {
    Rng rng(0);
    MaxPool2D<float> pool(2);
    CHECK(pool.type() == "MaxPool2D");
    CHECK(pool.output_shape(Shape(8, 16, 48, 48)) == Shape(8, 16, 24, 24));
    CHECK(pool.output_shape(Shape(1, 3, 7, 5)) == Shape(1, 3, 3, 2));
    CHECK(pool.params().empty());
    MaxPool2D<float> same(2);
    same.with_padding(Padding::same());
    CHECK(same.output_shape(Shape(1, 3, 7, 5)) == Shape(1, 3, 4, 3));
    MaxPool2D<float> window(1);
    window.with_window(3, 2, 2, 1);
    CHECK(window.output_shape(Shape(1, 1, 7, 5)) == Shape(1, 1, 3, 4));

    MaxPool2D<float> big(3);
    CHECK_THROWS_MATCHES(big.build(Shape(1, 1, 2, 8), rng), shape_error,
                         Catch::Message("MaxPool2D: window of 3 rows larger than the padded input (2 rows)"));
    MaxPool2D<float> overpadded(2);
    overpadded.with_padding(Padding::explicit_pad(2, 0));
    CHECK_THROWS_MATCHES(overpadded.build(Shape(1, 1, 8, 8), rng), shape_error,
                         Catch::Message("MaxPool2D: padding explicit(2, 0) must be smaller than the pool window 2x2"));
    CHECK_THROWS_AS(MaxPool2D<float>(0), config_error);
    CHECK_THROWS_AS(MaxPool2D<float>(2, 0), config_error);

    MaxPool2D<float> fresh(2);
    fresh.build(Shape(1, 1, 4, 4), rng);
    CHECK_THROWS_MATCHES(fresh.backward(Tensor<float>(Shape(1, 1, 2, 2))), error,
                         Catch::Message("MaxPool2D: backward called without a forward pass"));
}

TEST_CASE("MaxPool2D gradients match central differences", "[layers][max_pool2d][gradient]") {
    Rng rng(13);
    SECTION("2x2 stride 2, odd input (uncovered column gets zero)") {
        MaxPool2D<double> pool(2);
        check_layer_gradients(pool, distinct_tensor(Shape(2, 2, 4, 5), rng), 1);
    }
    SECTION("3x3 stride 2, overlapping, same padding") {
        MaxPool2D<double> pool(3, 2);
        pool.with_padding(Padding::same());
        check_layer_gradients(pool, distinct_tensor(Shape(2, 2, 5, 6), rng), 2);
    }
}

TEST_CASE("MaxPool2D::infer gives the forward's bits and leaves nothing to back-propagate", "[layers][max_pool2d]") {
    Rng rng(17);
    for (const int window : {2, 3}) {
        INFO("window " << window);
        MaxPool2D<float> pool(window, 2);
        pool.with_padding(Padding::same());
        pool.build(Shape(1, 3, 9, 10), rng);
        const Tensor<double> values = distinct_tensor(Shape(2, 3, 9, 10), rng);
        Tensor<float> x(values.shape());
        std::transform(values.begin(), values.end(), x.begin(), [](double v) { return static_cast<float>(v); });
        const Tensor<float> y = pool.forward(x);
        Tensor<float> inferred;
        pool.infer(x, inferred);
        REQUIRE(inferred.shape() == y.shape());
        CHECK(std::equal(y.begin(), y.end(), inferred.begin()));
        CHECK_THROWS_MATCHES(pool.backward(Tensor<float>(y.shape())), error,
                             Catch::Message("MaxPool2D: backward called without a forward pass"));
        pool.forward(x);
        CHECK(pool.backward(Tensor<float>(y.shape())).shape() == x.shape());
    }
}
