// tests/layers/test_grouped_conv2d.cpp: Conv2D::with_groups (grouped and depthwise convolution): the _ref kernels
// against an ordinary convolution with block-diagonal weights, the layer's row-loop kernels against the _ref on
// depthwise 3x3 (stride 1 and 2, every padding), other windows and channel multipliers, a hand-computed depthwise
// example, bit-identical results on 1, 2 and 3 threads, shapes, FLOPs, configuration, exact errors, and the
// numerical gradient check of input, weight and bias.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/conv2d_ref.hpp>
#include <deepcnn/kernels/grouped_conv2d.hpp>
#include <deepcnn/layers/conv2d.hpp>

#include "gradient_check.hpp"

#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::random_tensor;
using deepcnn_test::randomize_params;

namespace grouped_conv2d_test {

struct GroupedCase {
    const char* label;
    Shape input;
    int filters, groups, kh, kw, stride;
    Padding padding;
    Shape expected_output;
};

std::vector<GroupedCase> grouped_cases() {
    return {
        {"depthwise 3x3 same stride 1", Shape(2, 4, 7, 9), 4, 4, 3, 3, 1, Padding::same(), Shape(2, 4, 7, 9)},
        {"depthwise 3x3 same stride 2, odd", Shape(2, 3, 7, 5), 3, 3, 3, 3, 2, Padding::same(), Shape(2, 3, 4, 3)},
        {"depthwise 3x3 same stride 2, even", Shape(1, 2, 8, 12), 2, 2, 3, 3, 2, Padding::same(), Shape(1, 2, 4, 6)},
        {"depthwise 3x3 valid stride 1", Shape(2, 3, 6, 5), 3, 3, 3, 3, 1, Padding::valid(), Shape(2, 3, 4, 3)},
        {"depthwise 3x3 explicit (1, 1) stride 2", Shape(2, 2, 9, 7), 2, 2, 3, 3, 2, Padding::explicit_pad(1, 1),
         Shape(2, 2, 5, 4)},
        {"depthwise 3x3 explicit (2, 3), wider than the input", Shape(1, 2, 3, 2), 2, 2, 3, 3, 1,
         Padding::explicit_pad(2, 3), Shape(1, 2, 5, 6)},
        {"depthwise 3x3 on one column", Shape(2, 2, 5, 1), 2, 2, 3, 3, 1, Padding::same(), Shape(2, 2, 5, 1)},
        {"depthwise, channel multiplier 2", Shape(2, 3, 6, 6), 6, 3, 3, 3, 1, Padding::same(), Shape(2, 6, 6, 6)},
        {"groups 2, 5x5 explicit (1, 2) stride 2", Shape(2, 4, 7, 8), 6, 2, 5, 5, 2, Padding::explicit_pad(1, 2),
         Shape(2, 6, 3, 4)},
        {"groups 3, 1x1", Shape(2, 6, 4, 5), 9, 3, 1, 1, 1, Padding::valid(), Shape(2, 9, 4, 5)},
        {"groups 2, 2x4 same stride 2", Shape(1, 4, 5, 9), 4, 2, 2, 4, 2, Padding::same(), Shape(1, 4, 3, 5)},
        {"depthwise 3x3, rows wider than eight lanes", Shape(2, 2, 5, 21), 2, 2, 3, 3, 1, Padding::same(),
         Shape(2, 2, 5, 21)},
    };
}

// The index in ordinary (K, C, KH, KW) weights of element (k, j, t) of grouped (K, C / groups, KH, KW) weights.
std::size_t full_index(const ConvGeometry& g, const ConvGroups& gr, int k, int j, int t) {
    return (static_cast<std::size_t>(k) * g.C + gr.first_input(k) + j) * g.KH * g.KW + t;
}

// The weights of an ordinary convolution (K, C, KH, KW) that computes the grouped one: each filter's weights on
// the input channels of its group, zeros elsewhere.
std::vector<double> block_diagonal(const ConvGeometry& g, int groups, const Tensor<double>& grouped) {
    const ConvGroups gr(g, groups);
    const int taps = g.KH * g.KW;
    std::vector<double> full(static_cast<std::size_t>(g.K) * g.C * taps, 0.0);
    std::size_t i = 0;
    for (int k = 0; k < g.K; ++k)
        for (int j = 0; j < gr.in_per_group; ++j)
            for (int t = 0; t < taps; ++t) full[full_index(g, gr, k, j, t)] = grouped[i++];
    return full;
}

// The inverse: the blocks of ordinary weights (K, C, KH, KW) as grouped weights (K, C / groups, KH, KW).
Tensor<double> blocks_of(const ConvGeometry& g, int groups, const std::vector<double>& full) {
    const ConvGroups gr(g, groups);
    Tensor<double> grouped(Shape(g.K, gr.in_per_group, g.KH, g.KW));
    std::size_t i = 0;
    for (int k = 0; k < g.K; ++k)
        for (int j = 0; j < gr.in_per_group; ++j)
            for (int t = 0; t < g.KH * g.KW; ++t) grouped[i++] = full[full_index(g, gr, k, j, t)];
    return grouped;
}

template <class T>
void require_close(const Tensor<T>& actual, const Tensor<T>& expected, double tol) {
    REQUIRE(actual.shape() == expected.shape());
    for (std::size_t i = 0; i < actual.size(); ++i)
        REQUIRE(actual[i] == Approx(expected[i]).epsilon(tol).margin(tol));
}

Conv2D<double> grouped_conv(const GroupedCase& c) {
    Conv2D<double> conv(c.filters, c.kh, c.kw);
    conv.with_groups(c.groups).with_stride(c.stride).with_padding(c.padding);
    return conv;
}

}  // namespace grouped_conv2d_test

using namespace grouped_conv2d_test;

TEST_CASE("grouped convolution _ref kernels equal a convolution with block-diagonal weights", "[layers][conv2d][groups]") {
    for (const GroupedCase& c : grouped_cases()) {
        SECTION(c.label) {
            const ConvGeometry g = make_conv_geometry(c.input.c, c.input.h, c.input.w, c.filters, c.kh, c.kw,
                                                      c.stride, c.stride, c.padding);
            const int N = c.input.n;
            Rng rng(3);
            const Tensor<double> x = random_tensor(c.input, rng);
            const Tensor<double> w = random_tensor(Shape(c.filters, c.input.c / c.groups, c.kh, c.kw), rng);
            const Tensor<double> b = random_tensor(Shape(1, c.filters, 1, 1), rng);
            const Tensor<double> dy = random_tensor(c.expected_output, rng);
            const std::vector<double> full = block_diagonal(g, c.groups, w);

            Tensor<double> y(c.expected_output), y_full(c.expected_output);
            grouped_conv2d_forward_ref(g, c.groups, N, x.data(), w.data(), b.data(), y.data());
            conv2d_forward_ref(g, N, x.data(), full.data(), b.data(), y_full.data());
            require_close(y, y_full, 1e-12);

            Tensor<double> dx(c.input), dx_full(c.input);
            grouped_conv2d_backward_data_ref(g, c.groups, N, dy.data(), w.data(), dx.data());
            conv2d_backward_data_ref(g, N, dy.data(), full.data(), dx_full.data());
            require_close(dx, dx_full, 1e-12);

            Tensor<double> dw(w.shape()), db(b.shape()), db_full(b.shape());
            std::vector<double> dw_full(full.size());
            grouped_conv2d_backward_weights_ref(g, c.groups, N, x.data(), dy.data(), dw.data(), db.data());
            conv2d_backward_weights_ref(g, N, x.data(), dy.data(), dw_full.data(), db_full.data());
            require_close(dw, blocks_of(g, c.groups, dw_full), 1e-12);  // outside the blocks: no weights to train
            require_close(db, db_full, 1e-12);
        }
    }
}

TEST_CASE("depthwise 3x3 convolution by hand", "[layers][conv2d][groups]") {
    // Two channels of 3x3, 'same': channel 0's filter sums its window, channel 1's takes the centre twice.
    Conv2D<double> conv(2, 3);
    conv.with_groups(2);
    Rng rng(0);
    conv.build(Shape(1, 2, 3, 3), rng);
    REQUIRE(conv.weight().shape() == Shape(2, 1, 3, 3));
    conv.weight() = Tensor<double>(Shape(2, 1, 3, 3), {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0});
    conv.bias() = Tensor<double>(Shape(1, 2, 1, 1), {0.5, -1});
    Tensor<double> x(Shape(1, 2, 3, 3));
    std::iota(x.begin(), x.end(), 1.0);  // channel 0: 1..9, channel 1: 10..18
    const Tensor<double> y = conv.forward(x);
    REQUIRE(y.shape() == Shape(1, 2, 3, 3));
    CHECK(y(0, 0, 0, 0) == 1 + 2 + 4 + 5 + 0.5);
    CHECK(y(0, 0, 1, 1) == 45 + 0.5);
    CHECK(y(0, 0, 2, 1) == 4 + 5 + 6 + 7 + 8 + 9 + 0.5);
    for (int h = 0; h < 3; ++h)
        for (int w = 0; w < 3; ++w) CHECK(y(0, 1, h, w) == 2 * x(0, 1, h, w) - 1);
}

// Float and double through the layer (grouped_conv2d_forward / _backward_*), against the _ref.
TEMPLATE_TEST_CASE("grouped Conv2D forward and backward match the _ref kernels", "[layers][conv2d][groups]", float,
                   double) {
    using T = TestType;
    const double tol = std::is_same<T, float>::value ? 1e-4 : 1e-12;
    for (const GroupedCase& c : grouped_cases()) {
        SECTION(c.label) {
            Conv2D<T> conv(c.filters, c.kh, c.kw);
            conv.with_groups(c.groups).with_stride(c.stride).with_padding(c.padding);
            Rng rng(5);
            conv.build(c.input, rng);
            for (auto& p : conv.params())
                for (auto& v : *p.value) v = static_cast<T>(rng.uniform(-1.0, 1.0));
            const Tensor<T> x = random_tensor<T>(c.input, rng);
            const Tensor<T> y = conv.forward(x);
            REQUIRE(conv.output_shape(c.input) == c.expected_output);

            const ConvGeometry& g = conv.geometry();
            Tensor<T> y_ref(c.expected_output);
            grouped_conv2d_forward_ref(g, c.groups, c.input.n, x.data(), conv.weight().data(), conv.bias().data(),
                                       y_ref.data());
            require_close(y, y_ref, tol);

            const Tensor<T> dy = random_tensor<T>(y.shape(), rng);
            const Tensor<T> dx = conv.backward(dy);
            Tensor<T> dx_ref(c.input), dw_ref(conv.weight().shape()), db_ref(conv.bias().shape());
            grouped_conv2d_backward_data_ref(g, c.groups, c.input.n, dy.data(), conv.weight().data(), dx_ref.data());
            grouped_conv2d_backward_weights_ref(g, c.groups, c.input.n, x.data(), dy.data(), dw_ref.data(),
                                                db_ref.data());
            require_close(dx, dx_ref, tol);
            auto params = conv.params();
            require_close(*params[0].grad, dw_ref, tol);
            require_close(*params[1].grad, db_ref, tol);

            // Without dx: the same parameter gradients, bit for bit.
            const std::vector<T> dw(params[0].grad->begin(), params[0].grad->end());
            const std::vector<T> db(params[1].grad->begin(), params[1].grad->end());
            for (auto& p : params) p.grad->set_zero();
            Tensor<T> scratch;
            conv.backward_params(dy, scratch);
            CHECK(std::vector<T>(params[0].grad->begin(), params[0].grad->end()) == dw);
            CHECK(std::vector<T>(params[1].grad->begin(), params[1].grad->end()) == db);
        }
    }
}

TEST_CASE("grouped Conv2D gives bit-identical results on 1, 2 and 3 threads", "[layers][conv2d][groups][threads]") {
    // Big enough that every direction splits its planes or filters over the threads.
    for (int stride : {1, 2}) {
        DYNAMIC_SECTION("depthwise 3x3 stride " << stride) {
            std::vector<std::vector<float>> results;
            for (int threads : {1, 2, 3}) {
                ThreadPool pool(threads);
                Conv2D<float> conv(32, 3);
                conv.with_groups(32).with_stride(stride);
                conv.set_thread_pool(&pool);
                Rng rng(11);
                conv.build(Shape(1, 32, 24, 24), rng);
                const Tensor<float> x = random_tensor<float>(Shape(8, 32, 24, 24), rng);
                const Tensor<float> y = conv.forward(x);
                const Tensor<float> dx = conv.backward(random_tensor<float>(y.shape(), rng));
                std::vector<float> all(y.begin(), y.end());
                all.insert(all.end(), dx.begin(), dx.end());
                for (auto& p : conv.params()) all.insert(all.end(), p.grad->begin(), p.grad->end());
                results.push_back(all);
            }
            CHECK(results[1] == results[0]);
            CHECK(results[2] == results[0]);
        }
    }
}

TEST_CASE("grouped Conv2D gradients match central differences", "[layers][conv2d][groups][gradient]") {
    const std::vector<GroupedCase> cases = {
        {"depthwise 3x3 same stride 1", Shape(2, 3, 5, 4), 3, 3, 3, 3, 1, Padding::same(), Shape(2, 3, 5, 4)},
        {"depthwise 3x3 same stride 2, odd", Shape(2, 2, 5, 5), 2, 2, 3, 3, 2, Padding::same(), Shape(2, 2, 3, 3)},
        {"depthwise 3x3 explicit (1, 1) stride 2", Shape(1, 2, 6, 6), 2, 2, 3, 3, 2, Padding::explicit_pad(1, 1),
         Shape(1, 2, 3, 3)},
        {"depthwise, channel multiplier 2", Shape(1, 2, 4, 4), 4, 2, 3, 3, 1, Padding::same(), Shape(1, 4, 4, 4)},
        {"groups 2, 2x3 valid stride 2", Shape(2, 4, 6, 7), 4, 2, 2, 3, 2, Padding::valid(), Shape(2, 4, 3, 3)},
    };
    for (const GroupedCase& c : cases) {
        SECTION(c.label) {
            Conv2D<double> conv = grouped_conv(c);
            Rng rng(9);
            conv.build(c.input, rng);
            randomize_params(conv, rng);
            check_layer_gradients(conv, random_tensor(c.input, rng), 17);
        }
    }
    SECTION("depthwise 3x3 without bias") {
        Conv2D<double> conv(3, 3);
        conv.with_groups(3).with_bias(false);
        Rng rng(4);
        conv.build(Shape(2, 3, 4, 5), rng);
        randomize_params(conv, rng);
        REQUIRE(conv.params().size() == 1);
        check_layer_gradients(conv, random_tensor(Shape(2, 3, 4, 5), rng), 5);
    }
}

TEST_CASE("grouped Conv2D parameters, FLOPs, configuration and errors", "[layers][conv2d][groups]") {
    Rng rng(1);
    Conv2D<float> conv(8, 3);
    conv.with_groups(4);
    conv.build(Shape(1, 4, 10, 10), rng);
    CHECK(conv.groups() == 4);
    CHECK(conv.weight().shape() == Shape(8, 1, 3, 3));
    CHECK(conv.output_shape(Shape(2, 4, 10, 10)) == Shape(2, 8, 10, 10));
    CHECK(conv.forward_flops(Shape(1, 4, 10, 10)) == 2.0 * 8 * 10 * 10 * 1 * 3 * 3 + 8 * 10 * 10);
    const LayerConfig config = conv.config();
    REQUIRE(config.back().first == "groups");
    CHECK(config.back().second == 4);
    CHECK(Conv2D<float>(8, 3).config().back().first == "init");  // no groups key for groups 1

    CHECK_THROWS_MATCHES(Conv2D<float>(6, 3).with_groups(4), config_error,
                         Catch::Message("Conv2D: groups must be positive and divide the 6 filters, got 4"));
    CHECK_THROWS_MATCHES(Conv2D<float>(6, 3).with_groups(0), config_error,
                         Catch::Message("Conv2D: groups must be positive and divide the 6 filters, got 0"));
    Conv2D<float> indivisible(6, 3);
    indivisible.with_groups(3);
    CHECK_THROWS_MATCHES(indivisible.build(Shape(1, 4, 8, 8), rng), shape_error,
                         Catch::Message("Conv2D: input channels 4 do not divide into 3 groups"));
    CHECK_FALSE(indivisible.built());
    CHECK_THROWS_MATCHES(indivisible.output_shape(Shape(1, 5, 8, 8)), shape_error,
                         Catch::Message("input channels 5 do not divide into 3 groups"));
    indivisible.build(Shape(1, 6, 8, 8), rng);
    CHECK_THROWS_MATCHES(indivisible.forward(Tensor<float>(Shape(1, 3, 8, 8))), shape_error,
                         Catch::Message("Conv2D: expected input (6, 8, 8), got (3, 8, 8)"));
}
