// tests/layers/test_dropout.cpp: inverted Dropout: the zero fraction and the kept mean (statistically, fixed
// seed), independence of neighbours, the kept scale, identity in eval, mask drawing / freezing / seeding, the same
// mask on any thread count, a shard's mask keyed by its samples' global index, and the gradient check with a frozen
// mask.
#include <catch2/catch.hpp>

#include <deepcnn/layers/dropout.hpp>
#include <deepcnn/parallel/thread_pool.hpp>

#include "gradient_check.hpp"

#include <vector>

using namespace deepcnn;
using deepcnn_test::check_layer_gradients;
using deepcnn_test::random_tensor;

TEST_CASE("Dropout zeroes about `rate` of the elements and keeps the expected mean", "[layers][dropout]") {
    const double rate = 0.3;
    Dropout<double> drop(rate);
    Rng rng(2024);
    drop.build(Shape(1, 100, 10, 10), rng);
    const Tensor<double> x(Shape(10, 100, 10, 10), 2.0);  // 100,000 elements
    const Tensor<double> y = drop.forward(x);
    std::size_t zeros = 0;
    double sum = 0.0;
    for (double v : y) {
        if (v == 0.0) {
            ++zeros;
        } else {
            REQUIRE(v == Approx(2.0 / (1.0 - rate)).epsilon(1e-15));
        }
        sum += v;
    }
    // Binomial standard deviations: 0.0014 for the fraction, 0.003 for the mean; allow about 5 of them.
    CHECK(double(zeros) / y.size() == Approx(rate).margin(0.007));
    CHECK(sum / y.size() == Approx(2.0).margin(0.015));
    // Neighbours are drawn independently: both zero in about rate^2 of the pairs (sd 0.0013).
    std::size_t both = 0;
    for (std::size_t i = 0; i + 1 < y.size(); i += 2) both += y[i] == 0.0 && y[i + 1] == 0.0;
    CHECK(double(both) / double(y.size() / 2) == Approx(rate * rate).margin(0.007));
}

TEST_CASE("Dropout draws the same mask on any number of threads", "[layers][dropout]") {
    Rng data(4);
    const Tensor<float> x = random_tensor<float>(Shape(4, 64, 24, 24), data);  // 147,456 elements
    std::vector<float> first_y, first_mask;
    for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        Dropout<float> drop(0.25);
        Rng rng(9);
        drop.build(Shape(1, 64, 24, 24), rng);
        drop.set_thread_pool(&pool);
        drop.forward(x);
        const Tensor<float> y = drop.forward(x);  // the second mask
        std::vector<float> ys(y.begin(), y.end()), mask(drop.mask().begin(), drop.mask().end());
        for (std::size_t i = 0; i < ys.size(); ++i) REQUIRE(ys[i] == x[i] * mask[i]);
        if (threads == 1) {
            first_y = ys;
            first_mask = mask;
        } else {
            INFO(threads << " threads");
            CHECK(ys == first_y);
            CHECK(mask == first_mask);
        }
    }
}

TEST_CASE("Dropout backward multiplies by the same mask", "[layers][dropout]") {
    Dropout<float> drop(0.5);
    Rng rng(1);
    drop.build(Shape(1, 4, 4, 4), rng);
    Rng data(2);
    const Tensor<float> x = random_tensor<float>(Shape(3, 4, 4, 4), data, 0.5, 1.0);
    const Tensor<float> y = drop.forward(x);
    const Tensor<float> dy = random_tensor<float>(y.shape(), data);
    const Tensor<float> dx = drop.backward(dy);
    for (std::size_t i = 0; i < x.size(); ++i) {
        CHECK(drop.mask()[i] == (y[i] == 0.0f ? 0.0f : 2.0f));
        CHECK(dx[i] == dy[i] * drop.mask()[i]);
    }
}

TEST_CASE("Dropout is the identity in eval mode", "[layers][dropout]") {
    Dropout<double> drop(0.7);
    Rng rng(3);
    drop.build(Shape(1, 3, 5, 5), rng);
    drop.set_mode(Mode::eval);
    const Tensor<double> x = random_tensor(Shape(2, 3, 5, 5), rng);
    const Tensor<double> y = drop.forward(x);
    const Tensor<double> dy = random_tensor(x.shape(), rng);
    const Tensor<double> dx = drop.backward(dy);
    for (std::size_t i = 0; i < x.size(); ++i) {
        REQUIRE(y[i] == x[i]);
        REQUIRE(dx[i] == dy[i]);
    }
}

TEST_CASE("Dropout draws a new mask per forward unless frozen, seeded from the build Rng", "[layers][dropout]") {
    Dropout<double> a(0.5), b(0.5);
    Rng ra(77), rb(77);
    a.build(Shape(1, 64, 1, 1), ra);
    b.build(Shape(1, 64, 1, 1), rb);
    const Tensor<double> x(Shape(4, 64, 1, 1), 1.0);
    const Tensor<double> a1 = a.forward(x), b1 = b.forward(x);
    CHECK(std::vector<double>(a1.begin(), a1.end()) == std::vector<double>(b1.begin(), b1.end()));
    const Tensor<double> a2 = a.forward(x);
    CHECK(std::vector<double>(a1.begin(), a1.end()) != std::vector<double>(a2.begin(), a2.end()));

    a.freeze_mask(true);
    const Tensor<double> a3 = a.forward(x);
    const Tensor<double> a4 = a.forward(x);
    CHECK(std::vector<double>(a2.begin(), a2.end()) == std::vector<double>(a3.begin(), a3.end()));
    CHECK(std::vector<double>(a3.begin(), a3.end()) == std::vector<double>(a4.begin(), a4.end()));
}

TEST_CASE("Dropout rate 0 passes everything through, rates of 1 or below 0 are rejected", "[layers][dropout]") {
    Dropout<double> drop(0.0);
    Rng rng(0);
    drop.build(Shape(1, 10, 1, 1), rng);
    const Tensor<double> x = random_tensor(Shape(3, 10, 1, 1), rng);
    const Tensor<double> y = drop.forward(x);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(y[i] == x[i]);
    CHECK_THROWS_MATCHES(Dropout<double>(1.0), config_error,
                         Catch::Message("Dropout: rate must be in [0, 1), got 1.000000"));
    CHECK_THROWS_AS(Dropout<double>(-0.1), config_error);
    CHECK(drop.params().empty());
}

TEST_CASE("Dropout gradients match central differences with a frozen mask", "[layers][dropout][gradient]") {
    Dropout<double> drop(0.4);
    drop.freeze_mask(true);
    Rng rng(8);
    drop.build(Shape(1, 3, 3, 3), rng);
    check_layer_gradients(drop, random_tensor(Shape(2, 3, 3, 3), rng), 9);
    std::size_t zeros = 0;
    for (double m : drop.mask()) zeros += m == 0.0;
    CHECK(zeros > 0);
    CHECK(zeros < drop.mask().size());
}

TEST_CASE("Dropout on a shard of a batch draws the whole batch's mask for those samples (set_first_sample)",
          "[layers][dropout]") {
    Rng data(6);
    const Tensor<float> x = random_tensor<float>(Shape(10, 3, 4, 4), data);
    Dropout<float> whole(0.4), shard(0.4);
    Rng a(12), b(12);
    whole.build(Shape(1, 3, 4, 4), a);
    shard.build(Shape(1, 3, 4, 4), b);
    const Tensor<float> y = whole.forward(x);
    shard.set_first_sample(6);  // samples 6..9 of the batch
    const Tensor<float> y_shard = shard.forward(x.slice(6, 4));
    REQUIRE(y_shard.size() == 4 * 48);
    for (std::size_t i = 0; i < y_shard.size(); ++i) REQUIRE(y_shard[i] == y[6 * 48 + i]);
    REQUIRE(shard.rng().state() == whole.rng().state());  // one draw per forward, whatever the batch
    shard.set_first_sample(0);
    const Tensor<float> y_first = shard.forward(x.slice(0, 4));  // the next forward: another mask
    bool differs = false;
    for (std::size_t i = 0; i < y_first.size(); ++i) differs = differs || y_first[i] != y[i];
    REQUIRE(differs);
}
