// tests/layers/test_relu.cpp: ReLU: values, the gradient mask (0 at and below 0), and the gradient check on inputs
// away from the kink.
#include <catch2/catch.hpp>

#include <deepcnn/layers/relu.hpp>

#include "gradient_check.hpp"

#include <vector>

using namespace deepcnn;
using deepcnn_test::away_from_zero_tensor;
using deepcnn_test::check_layer_gradients;

TEST_CASE("ReLU clamps negatives and masks the gradient", "[layers][relu]") {
    ReLU<double> relu;
    Rng rng(0);
    relu.build(Shape(1, 1, 2, 3), rng);
    const Tensor<double> x(Shape(1, 1, 2, 3), {-2.0, -0.0, 0.0, 1e-30, 3.5, -1e-30});
    const Tensor<double> y = relu.forward(x);
    CHECK(std::vector<double>(y.begin(), y.end()) == std::vector<double>{0.0, 0.0, 0.0, 1e-30, 3.5, 0.0});
    const Tensor<double> dx = relu.backward(Tensor<double>(Shape(1, 1, 2, 3), {1, 2, 3, 4, 5, 6}));
    // the subgradient at exactly 0 is 0
    CHECK(std::vector<double>(dx.begin(), dx.end()) == std::vector<double>{0, 0, 0, 4, 5, 0});
    CHECK(relu.type() == "ReLU");
    CHECK(relu.params().empty());
    CHECK(relu.output_shape(Shape(3, 4, 5, 6)) == Shape(3, 4, 5, 6));
}

TEST_CASE("ReLU in float over a batch", "[layers][relu]") {
    ReLU<float> relu;
    Rng rng(1);
    relu.build(Shape(1, 8, 1, 1), rng);
    const Tensor<float> x = deepcnn_test::random_tensor<float>(Shape(4, 8, 1, 1), rng);
    const Tensor<float> y = relu.forward(x);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(y[i] == (x[i] > 0.0f ? x[i] : 0.0f));
}

TEST_CASE("ReLU gradients match central differences away from 0", "[layers][relu][gradient]") {
    ReLU<double> relu;
    Rng rng(10);
    check_layer_gradients(relu, away_from_zero_tensor(Shape(2, 3, 3, 3), rng), 11);
}
