// tests/layers/test_avg_pool2d.cpp: AvgPool2D: hand-computed means with and without padding cells in the divisor,
// the layer's kernels against the _ref on odd sizes, strides and paddings, bit-identical results on 1, 2 and 3
// threads, shapes, configuration, exact errors, and the numerical gradient check.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/avg_pool.hpp>
#include <deepcnn/layers/avg_pool2d.hpp>

#include "gradient_check.hpp"

#include <numeric>
#include <type_traits>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::random_tensor;

TEST_CASE("AvgPool2D takes window means, with padding cells counted or not", "[layers][avg_pool2d]") {
    Rng rng(0);
    Tensor<double> x(Shape(1, 1, 4, 4));
    std::iota(x.begin(), x.end(), 1.0);  // rows 1..4, 5..8, 9..12, 13..16
    SECTION("2x2 stride 2") {
        AvgPool2D<double> pool(2);
        pool.build(x.shape(), rng);
        const Tensor<double> y = pool.forward(x);
        REQUIRE(y.shape() == Shape(1, 1, 2, 2));
        CHECK(y(0, 0, 0, 0) == (1 + 2 + 5 + 6) / 4.0);
        CHECK(y(0, 0, 1, 1) == (11 + 12 + 15 + 16) / 4.0);
        const Tensor<double> dx = pool.backward(Tensor<double>(Shape(1, 1, 2, 2), {4, 8, 12, 16}));
        CHECK(dx(0, 0, 0, 0) == 1);
        CHECK(dx(0, 0, 1, 1) == 1);
        CHECK(dx(0, 0, 0, 2) == 2);
        CHECK(dx(0, 0, 3, 3) == 4);
    }
    SECTION("3x3 stride 2, padding 1, PyTorch's default: padding counts") {
        AvgPool2D<double> pool(3, 2);
        pool.with_padding(Padding::explicit_pad(1, 1));
        pool.build(x.shape(), rng);
        const Tensor<double> y = pool.forward(x);
        REQUIRE(y.shape() == Shape(1, 1, 2, 2));
        CHECK(y(0, 0, 0, 0) == (1 + 2 + 5 + 6) / 9.0);
        CHECK(y(0, 0, 1, 1) == (6 + 7 + 8 + 10 + 11 + 12 + 14 + 15 + 16) / 9.0);
        const Tensor<double> dx = pool.backward(Tensor<double>(Shape(1, 1, 2, 2), {9, 0, 0, 0}));
        CHECK(dx(0, 0, 0, 0) == 1);
        CHECK(dx(0, 0, 2, 2) == 0);
    }
    SECTION("3x3 stride 2, padding 1, padding not counted") {
        AvgPool2D<double> pool(3, 2);
        pool.with_padding(Padding::explicit_pad(1, 1)).with_count_include_pad(false);
        pool.build(x.shape(), rng);
        const Tensor<double> y = pool.forward(x);
        CHECK(y(0, 0, 0, 0) == (1 + 2 + 5 + 6) / 4.0);
        CHECK(y(0, 0, 0, 1) == (2 + 3 + 4 + 6 + 7 + 8) / 6.0);
        const Tensor<double> dx = pool.backward(Tensor<double>(Shape(1, 1, 2, 2), {4, 6, 0, 0}));
        CHECK(dx(0, 0, 0, 0) == 1);
        CHECK(dx(0, 0, 0, 1) == 2);  // in both windows: 4 / 4 + 6 / 6
        CHECK(dx(0, 0, 0, 3) == 1);
    }
}

namespace avg_pool2d_test {

struct AvgPoolCase {
    const char* label;
    Shape input;
    int pool_h, pool_w, stride;
    Padding padding;
    bool count_include_pad;
    Shape expected_output;
};

std::vector<AvgPoolCase> pool_cases() {
    return {
        {"2x2 stride 2, odd 7x5", Shape(2, 3, 7, 5), 2, 2, 2, Padding::valid(), true, Shape(2, 3, 3, 2)},
        {"3x3 stride 1 same, padding counted", Shape(2, 2, 6, 7), 3, 3, 1, Padding::same(), true, Shape(2, 2, 6, 7)},
        {"3x3 stride 2 same, padding not counted", Shape(2, 2, 7, 6), 3, 3, 2, Padding::same(), false,
         Shape(2, 2, 4, 3)},
        {"3x2 stride 1 explicit (1, 1), not counted", Shape(1, 3, 5, 5), 3, 2, 1, Padding::explicit_pad(1, 1), false,
         Shape(1, 3, 5, 6)},
        {"3x3 stride 3 explicit (2, 1), counted", Shape(3, 2, 8, 7), 3, 3, 3, Padding::explicit_pad(2, 1), true,
         Shape(3, 2, 4, 3)},
    };
}

AvgPool2D<double> make_pool(const AvgPoolCase& c) {
    AvgPool2D<double> pool(1);
    pool.with_window(c.pool_h, c.pool_w, c.stride, c.stride)
        .with_padding(c.padding)
        .with_count_include_pad(c.count_include_pad);
    return pool;
}

}  // namespace avg_pool2d_test

using namespace avg_pool2d_test;

TEST_CASE("AvgPool2D forward and backward match the _ref kernels", "[layers][avg_pool2d]") {
    for (const AvgPoolCase& c : pool_cases()) {
        SECTION(c.label) {
            AvgPool2D<double> pool = make_pool(c);
            Rng rng(7);
            pool.build(c.input, rng);
            REQUIRE(pool.output_shape(c.input) == c.expected_output);
            const Tensor<double> x = random_tensor(c.input, rng);
            const Tensor<double> y = pool.forward(x);
            const ConvGeometry g = make_conv_geometry(c.input.c, c.input.h, c.input.w, c.input.c, c.pool_h, c.pool_w,
                                                      c.stride, c.stride, c.padding);
            Tensor<double> y_ref(c.expected_output);
            avg_pool_forward_ref(g, c.input.n, x.data(), y_ref.data(), c.count_include_pad);
            REQUIRE(y.shape() == c.expected_output);
            for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == Approx(y_ref[i]).margin(1e-14));

            const Tensor<double> dy = random_tensor(y.shape(), rng);
            const Tensor<double> dx = pool.backward(dy);
            Tensor<double> dx_ref(c.input);
            avg_pool_backward_ref(g, c.input.n, dy.data(), dx_ref.data(), c.count_include_pad);
            REQUIRE(dx.shape() == c.input);
            for (std::size_t i = 0; i < dx.size(); ++i) REQUIRE(dx[i] == Approx(dx_ref[i]).margin(1e-14));
        }
    }
}

TEST_CASE("AvgPool2D gives bit-identical results on 1, 2 and 3 threads", "[layers][avg_pool2d][threads]") {
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        AvgPool2D<float> avg(3, 2);
        avg.with_padding(Padding::same()).with_count_include_pad(false);
        avg.set_thread_pool(&pool);
        Rng rng(2);
        avg.build(Shape(1, 16, 24, 24), rng);
        const Tensor<float> x = random_tensor<float>(Shape(8, 16, 24, 24), rng);
        const Tensor<float> y = avg.forward(x);
        const Tensor<float> dx = avg.backward(random_tensor<float>(y.shape(), rng));
        std::vector<float> all(y.begin(), y.end());
        all.insert(all.end(), dx.begin(), dx.end());
        results.push_back(all);
    }
    CHECK(results[1] == results[0]);
    CHECK(results[2] == results[0]);
}

TEST_CASE("AvgPool2D gradients match central differences", "[layers][avg_pool2d][gradient]") {
    for (const AvgPoolCase& c : pool_cases()) {
        SECTION(c.label) {
            AvgPool2D<double> pool = make_pool(c);
            Rng rng(13);
            check_layer_gradients(pool, random_tensor(c.input, rng), 3);
        }
    }
}

TEST_CASE("AvgPool2D shapes, configuration and errors", "[layers][avg_pool2d]") {
    Rng rng(0);
    AvgPool2D<float> pool(2);
    CHECK(pool.type() == "AvgPool2D");
    CHECK(pool.params().empty());
    CHECK(pool.output_shape(Shape(8, 16, 48, 48)) == Shape(8, 16, 24, 24));
    CHECK(pool.forward_flops(Shape(1, 16, 48, 48)) == 16.0 * 24 * 24 * 4);
    AvgPool2D<float> configured(3, 2);
    configured.with_padding(Padding::explicit_pad(1, 0)).with_count_include_pad(false);
    CHECK(configured.config() == LayerConfig{{"pool_h", 3},  {"pool_w", 3},  {"stride_h", 2},
                                             {"stride_w", 2}, {"padding", 2}, {"pad_h", 1},
                                             {"pad_w", 0},    {"count_include_pad", 0}});

    AvgPool2D<float> big(3);
    CHECK_THROWS_MATCHES(big.build(Shape(1, 1, 2, 8), rng), shape_error,
                         Catch::Message("AvgPool2D: window of 3 rows larger than the padded input (2 rows)"));
    AvgPool2D<float> overpadded(2);
    overpadded.with_padding(Padding::explicit_pad(0, 2));
    CHECK_THROWS_MATCHES(overpadded.build(Shape(1, 1, 8, 8), rng), shape_error,
                         Catch::Message("AvgPool2D: padding explicit(0, 2) must be smaller than the pool window 2x2"));
    CHECK_THROWS_MATCHES(AvgPool2D<float>(0), config_error,
                         Catch::Message("AvgPool2D: pool size and stride must be positive, got 0x0 stride 0x0"));
    CHECK_THROWS_AS(AvgPool2D<float>(2, -1), config_error);

    AvgPool2D<float> built(2);
    built.build(Shape(1, 2, 4, 4), rng);
    CHECK_THROWS_MATCHES(built.forward(Tensor<float>(Shape(1, 2, 4, 5))), shape_error,
                         Catch::Message("AvgPool2D: expected input (2, 4, 4), got (2, 4, 5)"));
    CHECK_THROWS_MATCHES(built.backward(Tensor<float>(Shape(1, 2, 2, 2))), error,
                         Catch::Message("AvgPool2D: backward called without a forward pass"));
}
