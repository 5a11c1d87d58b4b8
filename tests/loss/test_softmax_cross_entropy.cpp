// tests/loss/test_softmax_cross_entropy.cpp: the fused softmax cross-entropy: hand values, class weights, label
// smoothing, stability for logits of 1e4, its errors, and the numerical gradient check of dlogits (PyTorch's
// CrossEntropyLoss as the oracle: tests/layers/test_torch_oracle.cpp).
#include <catch2/catch.hpp>

#include <deepcnn/loss/softmax_cross_entropy.hpp>

#include "gradient_check.hpp"

#include <cmath>
#include <limits>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_gradients;
using deepcnn_test::GradientProbe;
using deepcnn_test::random_tensor;

TEST_CASE("Softmax cross-entropy matches hand values", "[loss]") {
    SoftmaxCrossEntropy<double> loss;
    // sample 0: equal logits, loss ln 3; sample 1: logits [0, ln 2, ln 3] -> p = [1/6, 2/6, 3/6], label 2: -ln(1/2)
    const Tensor<double> logits(Shape(2, 3, 1, 1), {7.0, 7.0, 7.0, 0.0, std::log(2.0), std::log(3.0)});
    const double value = loss.forward(logits, {1, 2});
    CHECK(value == Approx((std::log(3.0) + std::log(2.0)) / 2.0).epsilon(1e-14));
    CHECK(loss.probabilities()(1, 1, 0, 0) == Approx(2.0 / 6.0).epsilon(1e-14));

    Tensor<double> dlogits;
    loss.backward(dlogits);
    REQUIRE(dlogits.shape() == logits.shape());
    // (p - onehot) / N
    const std::vector<double> expected = {1.0 / 6, (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 12, 2.0 / 12, (0.5 - 1) / 2};
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(dlogits[i] == Approx(expected[i]).epsilon(1e-14));
}

TEST_CASE("Softmax cross-entropy class weights give a weighted mean", "[loss]") {
    SoftmaxCrossEntropy<double> loss({1.0, 3.0});
    // both samples have equal logits: per-sample loss ln 2; weights 1 (label 0) and 3 (label 1)
    const Tensor<double> logits(Shape(3, 2, 1, 1), {0.0, 0.0, 1.0, 1.0, 0.0, std::log(3.0)});
    const double value = loss.forward(logits, {0, 1, 1});
    // sample 2: p = [1/4, 3/4], label 1: -ln(3/4)
    CHECK(value == Approx((1.0 * std::log(2.0) + 3.0 * std::log(2.0) + 3.0 * -std::log(0.75)) / 7.0).epsilon(1e-14));
    Tensor<double> dlogits;
    loss.backward(dlogits);
    CHECK(dlogits[0] == Approx(1.0 * (0.5 - 1.0) / 7.0).epsilon(1e-14));
    CHECK(dlogits[3] == Approx(3.0 * (0.5 - 1.0) / 7.0).epsilon(1e-14));
    CHECK(dlogits[4] == Approx(3.0 * 0.25 / 7.0).epsilon(1e-14));

    SoftmaxCrossEntropy<double> uniform({2.0, 2.0}), plain;
    CHECK(uniform.forward(logits, {0, 1, 1}) == Approx(plain.forward(logits, {0, 1, 1})).epsilon(1e-14));
}

TEST_CASE("Softmax cross-entropy with label smoothing matches hand values", "[loss]") {
    SoftmaxCrossEntropy<double> loss;
    CHECK(loss.label_smoothing() == 0.0);
    loss.set_label_smoothing(0.3);
    // logits [0, ln 2, ln 3]: p = [1/6, 1/3, 1/2], -log p = [ln 6, ln 3, ln 2]; label 2, target [0.1, 0.1, 0.8]
    const Tensor<double> logits(Shape(1, 3, 1, 1), {0.0, std::log(2.0), std::log(3.0)});
    const double value = loss.forward(logits, {2});
    CHECK(value == Approx(0.7 * std::log(2.0) + 0.1 * (std::log(6.0) + std::log(3.0) + std::log(2.0))).epsilon(1e-14));
    Tensor<double> dlogits;
    loss.backward(dlogits);
    // p - target
    CHECK(dlogits[0] == Approx(1.0 / 6 - 0.1).epsilon(1e-14));
    CHECK(dlogits[1] == Approx(1.0 / 3 - 0.1).epsilon(1e-14));
    CHECK(dlogits[2] == Approx(0.5 - 0.8).epsilon(1e-14));

    // Equal logits: every class's -log p is ln K, smoothed or not.
    const Tensor<double> flat(Shape(2, 4, 1, 1), 5.0);
    CHECK(loss.forward(flat, {0, 3}) == Approx(std::log(4.0)).epsilon(1e-14));

    // Smoothing 0 gives the plain loss's bits.
    SoftmaxCrossEntropy<float> plain, zero;
    zero.set_label_smoothing(0.0);
    Rng rng(5);
    const Tensor<float> z = random_tensor<float>(Shape(6, 5, 1, 1), rng, -4.0, 4.0);
    const std::vector<int> labels = {0, 1, 2, 3, 4, 0};
    CHECK(plain.forward(z, labels) == zero.forward(z, labels));
    Tensor<float> a, b;
    plain.backward(a);
    zero.backward(b);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == b[i]);
}

TEMPLATE_TEST_CASE("Softmax cross-entropy survives logits of 1e4", "[loss]", float, double) {
    SoftmaxCrossEntropy<TestType> loss;
    const Tensor<TestType> logits(Shape(2, 3, 1, 1), {1e4, 0, -1e4, -1e4, 1e4, 1e4});
    const TestType value = loss.forward(logits, {1, 0});
    // sample 0: 1e4 - 0; sample 1: 1e4 + ln 2 - (-1e4)
    REQUIRE(std::isfinite(value));
    CHECK(double(value) == Approx((1e4 + 2e4 + std::log(2.0)) / 2.0).epsilon(1e-6));
    Tensor<TestType> dlogits;
    loss.backward(dlogits);
    for (TestType v : dlogits) REQUIRE(std::isfinite(v));
    CHECK(double(dlogits[0]) == Approx(0.5).epsilon(1e-6));
    CHECK(double(dlogits[1]) == Approx(-0.5).epsilon(1e-6));
    CHECK(double(dlogits[3]) == Approx(-0.5).epsilon(1e-6));
    CHECK(double(dlogits[4]) == Approx(0.25).epsilon(1e-6));
}

TEST_CASE("Softmax cross-entropy gradient matches central differences", "[loss][gradient]") {
    Rng rng(31);
    Tensor<double> logits = random_tensor(Shape(4, 5, 1, 1), rng, -3.0, 3.0);
    const std::vector<int> labels = {0, 4, 2, 2};
    const std::vector<double> weights = {0.5, 1.0, 2.0, 1.0, 4.0};
    struct Case {
        const char* name;
        bool weighted;
        double smoothing;
    };
    for (const Case& c : {Case{"unweighted", false, 0.0}, Case{"class weights", true, 0.0},
                          Case{"label smoothing", false, 0.2}, Case{"class weights and label smoothing", true, 0.35}}) {
        INFO(c.name);
        SoftmaxCrossEntropy<double> loss(c.weighted ? weights : std::vector<double>{});
        loss.set_label_smoothing(c.smoothing);
        loss.forward(logits, labels);
        Tensor<double> dlogits(logits.shape(), std::numeric_limits<double>::quiet_NaN());
        loss.backward(dlogits);
        std::vector<GradientProbe> probes{{"logits", &logits, dlogits}};
        check_gradients([&] { return double(loss.forward(logits, labels)); }, probes);
    }
}

TEST_CASE("Softmax cross-entropy errors", "[loss]") {
    SoftmaxCrossEntropy<float> loss;
    Tensor<float> dlogits;
    CHECK_THROWS_MATCHES(loss.backward(dlogits), error,
                         Catch::Message("SoftmaxCrossEntropy: backward called without a forward pass"));
    const Tensor<float> logits(Shape(2, 3, 1, 1), 0.0f);
    CHECK_THROWS_MATCHES(loss.forward(logits, {0, 3}), data_error,
                         Catch::Message("SoftmaxCrossEntropy: label 3 of sample 1 outside [0, 3)"));
    CHECK_THROWS_MATCHES(loss.forward(logits, {0}), shape_error,
                         Catch::Message("SoftmaxCrossEntropy: 2 logit rows but 1 labels"));
    CHECK_THROWS_MATCHES(loss.forward(Tensor<float>(Shape(2, 3, 2, 2)), {0, 1}), shape_error,
                         Catch::Message("SoftmaxCrossEntropy: expected logits (N, K), got (2, 3, 2, 2)"));
    SoftmaxCrossEntropy<float> weighted({1.0, 2.0});
    CHECK_THROWS_MATCHES(weighted.forward(logits, {0, 1}), shape_error,
                         Catch::Message("SoftmaxCrossEntropy: 2 class weights for 3 classes"));
    SoftmaxCrossEntropy<float> zero({0.0, 1.0, 1.0});
    CHECK_THROWS_AS(zero.forward(logits, {0, 0}), data_error);
    CHECK_THROWS_AS(SoftmaxCrossEntropy<float>({1.0, -1.0}), config_error);
    CHECK_THROWS_MATCHES(loss.set_label_smoothing(1.0), config_error,
                         Catch::Message("SoftmaxCrossEntropy: label smoothing must be in [0, 1), got 1.000000"));
    CHECK_THROWS_AS(loss.set_label_smoothing(-0.1), config_error);
    CHECK_THROWS_AS(loss.set_label_smoothing(std::numeric_limits<double>::quiet_NaN()), config_error);
    CHECK(loss.label_smoothing() == 0.0);
}
