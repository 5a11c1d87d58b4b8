// tests/layers/test_flatten.cpp: Flatten: (N, C, H, W) -> (N, C*H*W, 1, 1) keeping row-major order, the gradient
// reshaped back, and the gradient check.
#include <catch2/catch.hpp>

#include <deepcnn/layers/flatten.hpp>

#include "gradient_check.hpp"

#include <numeric>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::random_tensor;

TEST_CASE("Flatten keeps the row-major order and restores the shape in backward", "[layers][flatten]") {
    Flatten<float> flatten;
    Rng rng(0);
    flatten.build(Shape(1, 2, 3, 4), rng);
    CHECK(flatten.type() == "Flatten");
    CHECK(flatten.output_shape(Shape(5, 2, 3, 4)) == Shape(5, 24, 1, 1));
    Tensor<float> x(Shape(2, 2, 3, 4));
    std::iota(x.begin(), x.end(), 0.0f);
    const Tensor<float> y = flatten.forward(x);
    REQUIRE(y.shape() == Shape(2, 24, 1, 1));
    CHECK(y(1, 0, 0, 0) == x(1, 0, 0, 0));
    CHECK(y(0, 13, 0, 0) == x(0, 1, 0, 1));
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>(x.begin(), x.end()));

    Tensor<float> dy(Shape(2, 24, 1, 1));
    std::iota(dy.begin(), dy.end(), 100.0f);
    const Tensor<float> dx = flatten.backward(dy);
    REQUIRE(dx.shape() == x.shape());
    CHECK(dx(1, 1, 2, 3) == 147.0f);
    CHECK(std::vector<float>(dx.begin(), dx.end()) == std::vector<float>(dy.begin(), dy.end()));
    CHECK(flatten.params().empty());
}

TEST_CASE("Flatten rejects another sample shape", "[layers][flatten]") {
    Flatten<float> flatten;
    Rng rng(0);
    flatten.build(Shape(1, 2, 3, 4), rng);
    CHECK_THROWS_MATCHES(flatten.forward(Tensor<float>(Shape(1, 2, 4, 3))), shape_error,
                         Catch::Message("Flatten: expected input (2, 3, 4), got (2, 4, 3)"));
}

TEST_CASE("Flatten gradients match central differences", "[layers][flatten][gradient]") {
    Flatten<double> flatten;
    Rng rng(6);
    check_layer_gradients(flatten, random_tensor(Shape(2, 3, 2, 3), rng), 7);
}
