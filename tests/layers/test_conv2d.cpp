// tests/layers/test_conv2d.cpp: the Conv2D layer: a hand-computed example (TensorFlow's 'same' padding split),
// the plain-loop reference on odd sizes / stride 2 / valid, same and explicit padding / several channels, output
// shapes, parameter names, errors, and the numerical gradient check of input, weight and bias.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/conv2d_ref.hpp>
#include <deepcnn/layers/conv2d.hpp>

#include "gradient_check.hpp"

#include <cmath>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::random_tensor;
using deepcnn_test::randomize_params;

TEST_CASE("Conv2D computes a hand-checked 'same' convolution with stride 2", "[layers][conv2d]") {
    // 4x4 input 1..16, 3x3 window of ones, stride 2, 'same': OH = OW = 2, total padding 1 row / column, all of it
    // at the bottom / right (TensorFlow's split), so the windows start at rows/columns 0 and 2.
    Conv2D<double> conv(1, 3);
    conv.with_stride(2).with_padding(Padding::same());
    Rng rng(0);
    conv.build(Shape(1, 1, 4, 4), rng);
    conv.weight().fill(1.0);
    conv.bias().fill(0.5);
    Tensor<double> x(Shape(1, 1, 4, 4));
    std::iota(x.begin(), x.end(), 1.0);
    const Tensor<double> y = conv.forward(x);
    REQUIRE(y.shape() == Shape(1, 1, 2, 2));
    CHECK(y(0, 0, 0, 0) == 1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11 + 0.5);
    CHECK(y(0, 0, 0, 1) == 3 + 4 + 7 + 8 + 11 + 12 + 0.5);
    CHECK(y(0, 0, 1, 0) == 9 + 10 + 11 + 13 + 14 + 15 + 0.5);
    CHECK(y(0, 0, 1, 1) == 11 + 12 + 15 + 16 + 0.5);
}

TEST_CASE("Conv2D valid convolution of a 2-channel input by hand", "[layers][conv2d]") {
    Conv2D<double> conv(1, 2);
    conv.with_padding(Padding::valid()).with_bias(false);
    Rng rng(0);
    conv.build(Shape(1, 2, 2, 3), rng);
    // weight (1, 2, 2, 2): channel 0 [[1, 0], [0, -1]], channel 1 [[2, 2], [0, 0]]
    conv.weight() = Tensor<double>(Shape(1, 2, 2, 2), {1, 0, 0, -1, 2, 2, 0, 0});
    // x channel 0 [[1, 2, 3], [4, 5, 6]], channel 1 [[1, 1, 2], [3, 5, 8]]
    const Tensor<double> x(Shape(1, 2, 2, 3), {1, 2, 3, 4, 5, 6, 1, 1, 2, 3, 5, 8});
    const Tensor<double> y = conv.forward(x);
    REQUIRE(y.shape() == Shape(1, 1, 1, 2));
    CHECK(y(0, 0, 0, 0) == (1 - 5) + 2 * (1 + 1));
    CHECK(y(0, 0, 0, 1) == (2 - 6) + 2 * (1 + 2));
}

namespace {

struct ConvCase {
    const char* label;
    Shape input;
    int filters, kh, kw, stride;
    Padding padding;
    Shape expected_output;
};

std::vector<ConvCase> reference_cases() {
    return {
        {"3x3 same stride 1, odd 7x5", Shape(2, 3, 7, 5), 4, 3, 3, 1, Padding::same(), Shape(2, 4, 7, 5)},
        {"3x3 same stride 2, odd 7x5", Shape(2, 3, 7, 5), 4, 3, 3, 2, Padding::same(), Shape(2, 4, 4, 3)},
        {"3x3 valid stride 1", Shape(2, 3, 7, 5), 2, 3, 3, 1, Padding::valid(), Shape(2, 2, 5, 3)},
        {"3x3 valid stride 2", Shape(3, 2, 9, 7), 5, 3, 3, 2, Padding::valid(), Shape(3, 5, 4, 3)},
        {"2x4 same stride 2", Shape(1, 3, 5, 9), 3, 2, 4, 2, Padding::same(), Shape(1, 3, 3, 5)},
        {"5x5 explicit (1, 2) stride 2", Shape(2, 2, 7, 6), 3, 5, 5, 2, Padding::explicit_pad(1, 2), Shape(2, 3, 3, 3)},
        {"1x1 valid", Shape(2, 4, 3, 3), 2, 1, 1, 1, Padding::valid(), Shape(2, 2, 3, 3)},
    };
}

}  // namespace

// Float goes through the layer's float path (the fast kernels where the CPU runs AVX2 or AVX-512), double through im2col + Eigen.
TEMPLATE_TEST_CASE("Conv2D forward and backward match the plain-loop reference", "[layers][conv2d]", float, double) {
    using T = TestType;
    const double tol = std::is_same<T, float>::value ? 1e-4 : 1e-12;
    for (const ConvCase& c : reference_cases()) {
        SECTION(c.label) {
            Conv2D<T> conv(c.filters, c.kh, c.kw);
            conv.with_stride(c.stride).with_padding(c.padding);
            Rng rng(5);
            conv.build(c.input, rng);
            for (auto& p : conv.params())
                for (auto& v : *p.value) v = static_cast<T>(rng.uniform(-1.0, 1.0));
            const Tensor<T> x = random_tensor<T>(c.input, rng);
            const Tensor<T> y = conv.forward(x);
            REQUIRE(y.shape() == c.expected_output);
            REQUIRE(conv.output_shape(c.input) == c.expected_output);

            const ConvGeometry& g = conv.geometry();
            Tensor<T> y_ref(c.expected_output);
            conv2d_forward_ref(g, c.input.n, x.data(), conv.weight().data(), conv.bias().data(), y_ref.data());
            for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == Approx(y_ref[i]).epsilon(tol).margin(tol));

            const Tensor<T> dy = random_tensor<T>(y.shape(), rng);
            const Tensor<T> dx = conv.backward(dy);
            Tensor<T> dx_ref(c.input), dw_ref(conv.weight().shape()), db_ref(conv.bias().shape());
            conv2d_backward_data_ref(g, c.input.n, dy.data(), conv.weight().data(), dx_ref.data());
            conv2d_backward_weights_ref(g, c.input.n, x.data(), dy.data(), dw_ref.data(), db_ref.data());
            REQUIRE(dx.shape() == c.input);
            for (std::size_t i = 0; i < dx.size(); ++i) REQUIRE(dx[i] == Approx(dx_ref[i]).epsilon(tol).margin(tol));
            auto params = conv.params();
            for (std::size_t i = 0; i < dw_ref.size(); ++i)
                REQUIRE((*params[0].grad)[i] == Approx(dw_ref[i]).epsilon(tol).margin(tol));
            for (std::size_t i = 0; i < db_ref.size(); ++i)
                REQUIRE((*params[1].grad)[i] == Approx(db_ref[i]).epsilon(tol).margin(tol));

            // Without dx (the model's first layer in training): the same parameter gradients, bit for bit.
            const std::vector<T> dw(params[0].grad->begin(), params[0].grad->end()),
                db(params[1].grad->begin(), params[1].grad->end());
            for (auto& p : params) p.grad->set_zero();
            Tensor<T> scratch;
            conv.backward_params(dy, scratch);
            CHECK(std::vector<T>(params[0].grad->begin(), params[0].grad->end()) == dw);
            CHECK(std::vector<T>(params[1].grad->begin(), params[1].grad->end()) == db);
        }
    }
}

TEST_CASE("Conv2D gradients match central differences", "[layers][conv2d][gradient]") {
    struct Case {
        const char* label;
        Shape input;
        int filters, kh, kw, stride;
        Padding padding;
        bool bias;
    };
    const std::vector<Case> cases = {
        {"3x3 same stride 1", Shape(2, 2, 5, 4), 3, 3, 3, 1, Padding::same(), true},
        {"3x3 same stride 2, odd", Shape(2, 2, 5, 5), 2, 3, 3, 2, Padding::same(), true},
        {"2x3 valid stride 2", Shape(2, 3, 6, 7), 2, 2, 3, 2, Padding::valid(), true},
        {"3x3 explicit (2, 1), no bias", Shape(1, 2, 4, 4), 2, 3, 3, 1, Padding::explicit_pad(2, 1), false},
    };
    for (const Case& c : cases) {
        SECTION(c.label) {
            Conv2D<double> conv(c.filters, c.kh, c.kw);
            conv.with_stride(c.stride).with_padding(c.padding).with_bias(c.bias);
            Rng rng(9);
            conv.build(c.input, rng);
            randomize_params(conv, rng);
            check_layer_gradients(conv, random_tensor(c.input, rng), 17);
        }
    }
}

TEST_CASE("Conv2D parameters, shapes, FLOPs and configuration", "[layers][conv2d]") {
    Conv2D<float> conv(8, 3, 5);
    Rng rng(1);
    conv.build(Shape(1, 2, 10, 10), rng);
    auto params = conv.params();
    REQUIRE(params.size() == 2);
    CHECK(params[0].name == "weight");
    CHECK(params[0].value->shape() == Shape(8, 2, 3, 5));
    CHECK(params[0].grad->shape() == Shape(8, 2, 3, 5));
    CHECK(params[1].name == "bias");
    CHECK(params[1].value->shape() == Shape(1, 8, 1, 1));
    for (float b : *params[1].value) CHECK(b == 0.0f);
    CHECK(conv.type() == "Conv2D");
    CHECK(conv.output_shape(Shape(4, 2, 10, 10)) == Shape(4, 8, 10, 10));
    CHECK(conv.forward_flops(Shape(1, 2, 10, 10)) == 2.0 * 8 * 10 * 10 * 2 * 3 * 5 + 8 * 10 * 10);

    Conv2D<float> no_bias(4, 3);
    no_bias.with_bias(false);
    no_bias.build(Shape(1, 1, 5, 5), rng);
    REQUIRE(no_bias.params().size() == 1);
    CHECK(no_bias.params()[0].name == "weight");
}

TEST_CASE("Conv2D He-normal initialisation is seeded, truncated and scaled", "[layers][conv2d]") {
    Conv2D<double> a(16, 3), b(16, 3);
    Rng ra(3), rb(3);
    a.build(Shape(1, 8, 6, 6), ra);
    b.build(Shape(1, 8, 6, 6), rb);
    CHECK(std::vector<double>(a.weight().begin(), a.weight().end()) ==
          std::vector<double>(b.weight().begin(), b.weight().end()));
    const double fan_in = 8 * 9;
    const double stddev = std::sqrt(2.0 / fan_in);
    double sum_sq = 0.0;
    for (double w : a.weight()) {
        CHECK(std::abs(w) <= 2.0 * stddev / 0.87962566103423978 + 1e-12);
        sum_sq += w * w;
    }
    CHECK(std::sqrt(sum_sq / a.weight().size()) == Approx(stddev).epsilon(0.1));
}

TEST_CASE("Conv2D reports shape errors and misuse", "[layers][conv2d]") {
    Rng rng(0);
    SECTION("window larger than a valid-padded input") {
        Conv2D<float> conv(2, 5);
        conv.with_padding(Padding::valid());
        CHECK_THROWS_MATCHES(conv.build(Shape(1, 1, 3, 8), rng), shape_error,
                             Catch::Message("Conv2D: window of 5 rows larger than the padded input (3 rows)"));
        CHECK_THROWS_MATCHES(conv.build(Shape(1, 1, 8, 4), rng), shape_error,
                             Catch::Message("Conv2D: window of 5 columns larger than the padded input (4 columns)"));
        CHECK_FALSE(conv.built());
    }
    SECTION("declared input channels") {
        Conv2D<float> conv(2, 3);
        conv.with_in_channels(3);
        CHECK_THROWS_MATCHES(conv.build(Shape(1, 1, 8, 8), rng), shape_error,
                             Catch::Message("Conv2D: expected input channels 3, got 1"));
    }
    SECTION("forward with another sample shape") {
        Conv2D<float> conv(2, 3);
        conv.build(Shape(1, 1, 8, 8), rng);
        CHECK_THROWS_MATCHES(conv.forward(Tensor<float>(Shape(2, 1, 8, 7))), shape_error,
                             Catch::Message("Conv2D: expected input (1, 8, 8), got (1, 8, 7)"));
    }
    SECTION("forward before build, backward before forward, wrong dy") {
        Conv2D<float> conv(2, 3);
        CHECK_THROWS_MATCHES(conv.forward(Tensor<float>(Shape(1, 1, 8, 8))), error,
                             Catch::Message("Conv2D: forward called before build()"));
        conv.build(Shape(1, 1, 8, 8), rng);
        CHECK_THROWS_MATCHES(conv.backward(Tensor<float>(Shape(1, 2, 8, 8))), error,
                             Catch::Message("Conv2D: backward called without a forward pass"));
        conv.forward(Tensor<float>(Shape(3, 1, 8, 8), 1.0f));
        CHECK_THROWS_MATCHES(conv.backward(Tensor<float>(Shape(1, 2, 8, 8))), shape_error,
                             Catch::Message("Conv2D: expected output gradient (3, 2, 8, 8), got (1, 2, 8, 8)"));
    }
    SECTION("bad configuration") {
        CHECK_THROWS_AS(Conv2D<float>(0, 3), config_error);
        CHECK_THROWS_AS(Conv2D<float>(2, 3, 0), config_error);
        Conv2D<float> conv(2, 3);
        CHECK_THROWS_AS(conv.with_stride(0), config_error);
    }
}
