// tests/layers/test_global_avg_pool2d.cpp: GlobalAvgPool2D: plane means by hand, the layer's kernels against the
// _ref (planes longer than the eight summing lanes), bit-identical results on 1, 2 and 3 threads, shapes, exact
// errors, and the numerical gradient check.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/avg_pool.hpp>
#include <deepcnn/layers/global_avg_pool2d.hpp>

#include "gradient_check.hpp"

#include <numeric>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::random_tensor;

TEST_CASE("GlobalAvgPool2D averages each plane and spreads the gradient evenly", "[layers][global_avg_pool2d]") {
    GlobalAvgPool2D<double> pool;
    Rng rng(0);
    pool.build(Shape(1, 2, 2, 3), rng);
    Tensor<double> x(Shape(2, 2, 2, 3));
    std::iota(x.begin(), x.end(), 1.0);
    const Tensor<double> y = pool.forward(x);
    REQUIRE(y.shape() == Shape(2, 2, 1, 1));
    CHECK(y[0] == 3.5);
    CHECK(y[1] == 9.5);
    CHECK(y[3] == 21.5);
    const Tensor<double> dx = pool.backward(Tensor<double>(Shape(2, 2, 1, 1), {6, 12, 0, -3}));
    REQUIRE(dx.shape() == x.shape());
    for (int i = 0; i < 6; ++i) {
        CHECK(dx[i] == 1);
        CHECK(dx[6 + i] == 2);
        CHECK(dx[12 + i] == 0);
        CHECK(dx[18 + i] == -0.5);
    }
}

TEST_CASE("GlobalAvgPool2D matches the _ref kernels", "[layers][global_avg_pool2d]") {
    for (const Shape& input : {Shape(3, 5, 7, 3), Shape(2, 4, 1, 1), Shape(2, 3, 6, 6)}) {
        DYNAMIC_SECTION("input " << input.str()) {
            GlobalAvgPool2D<float> pool;
            Rng rng(4);
            pool.build(input, rng);
            const Tensor<float> x = random_tensor<float>(input, rng);
            const Tensor<float> y = pool.forward(x);
            Tensor<float> y_ref(Shape(input.n, input.c, 1, 1)), dx_ref(input);
            const long planes = long(input.n) * input.c, size = long(input.h) * input.w;
            global_avg_pool_forward_ref(planes, size, x.data(), y_ref.data());
            for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == Approx(y_ref[i]).margin(1e-6));
            const Tensor<float> dy = random_tensor<float>(y.shape(), rng);
            const Tensor<float> dx = pool.backward(dy);
            global_avg_pool_backward_ref(planes, size, dy.data(), dx_ref.data());
            for (std::size_t i = 0; i < dx.size(); ++i) REQUIRE(dx[i] == dx_ref[i]);
        }
    }
}

TEST_CASE("GlobalAvgPool2D gives bit-identical results on 1, 2 and 3 threads", "[layers][global_avg_pool2d][threads]") {
    std::vector<std::vector<float>> results;
    for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        GlobalAvgPool2D<float> gap;
        gap.set_thread_pool(&pool);
        Rng rng(2);
        gap.build(Shape(1, 64, 12, 12), rng);
        const Tensor<float> x = random_tensor<float>(Shape(16, 64, 12, 12), rng);
        const Tensor<float> y = gap.forward(x);
        const Tensor<float> dx = gap.backward(random_tensor<float>(y.shape(), rng));
        std::vector<float> all(y.begin(), y.end());
        all.insert(all.end(), dx.begin(), dx.end());
        results.push_back(all);
    }
    CHECK(results[1] == results[0]);
    CHECK(results[2] == results[0]);
}

TEST_CASE("GlobalAvgPool2D gradients match central differences", "[layers][global_avg_pool2d][gradient]") {
    GlobalAvgPool2D<double> pool;
    Rng rng(8);
    check_layer_gradients(pool, random_tensor(Shape(2, 3, 5, 4), rng), 6);
}

TEST_CASE("GlobalAvgPool2D shapes, configuration and errors", "[layers][global_avg_pool2d]") {
    GlobalAvgPool2D<float> pool;
    CHECK(pool.type() == "GlobalAvgPool2D");
    CHECK(pool.params().empty());
    CHECK(pool.config().empty());
    CHECK(pool.output_shape(Shape(8, 64, 6, 6)) == Shape(8, 64, 1, 1));
    CHECK(pool.forward_flops(Shape(1, 64, 6, 6)) == 64.0 * 36);
    Rng rng(0);
    pool.build(Shape(1, 4, 6, 6), rng);
    CHECK_THROWS_MATCHES(pool.forward(Tensor<float>(Shape(2, 4, 6, 5))), shape_error,
                         Catch::Message("GlobalAvgPool2D: expected input (4, 6, 6), got (4, 6, 5)"));
    CHECK_THROWS_MATCHES(pool.backward(Tensor<float>(Shape(2, 4, 1, 1))), error,
                         Catch::Message("GlobalAvgPool2D: backward called without a forward pass"));
    pool.forward(Tensor<float>(Shape(2, 4, 6, 6)));
    CHECK_THROWS_MATCHES(pool.backward(Tensor<float>(Shape(2, 4, 6, 6))), shape_error,
                         Catch::Message("GlobalAvgPool2D: expected output gradient (2, 4, 1, 1), got (2, 4, 6, 6)"));
}
