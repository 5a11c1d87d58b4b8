// tests/optim/test_optimizers.cpp: Adam, AdamW and SGD (momentum, Nesterov, weight decay) on a small quadratic,
// step by step against the published update rules written out independently here; optimizer state save/restore;
// the same updates on any thread count; the learning-rate schedules (step, cosine with warm-up, reduce-on-plateau);
// configuration errors.
#include <catch2/catch.hpp>

#include <deepcnn/optim/adam.hpp>
#include <deepcnn/optim/schedule.hpp>
#include <deepcnn/optim/sgd.hpp>
#include <deepcnn/parallel/thread_pool.hpp>
#include <deepcnn/random.hpp>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

using namespace deepcnn;

namespace {

// f(p) = 1/2 sum_i a_i (p_i - c_i)^2, so df/dp_i = a_i (p_i - c_i).
const std::vector<double> quad_a = {1.0, 4.0, 0.25, 2.0};
const std::vector<double> quad_c = {0.5, 1.0, -1.0, 0.0};
const std::vector<double> start = {1.0, -2.0, 0.5, 3.0};

std::vector<double> quad_grad(const std::vector<double>& p) {
    std::vector<double> g(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) g[i] = quad_a[i] * (p[i] - quad_c[i]);
    return g;
}

// Runs `steps` library steps from `start` on the quadratic, recording the parameters after each.
template <class Scalar>
std::vector<std::vector<double>> run_library(Optimizer<Scalar>& opt, int steps) {
    Tensor<Scalar> value(Shape(1, 4, 1, 1)), grad(Shape(1, 4, 1, 1));
    for (int i = 0; i < 4; ++i) value[i] = Scalar(start[i]);
    std::vector<std::vector<double>> trace;
    for (int s = 0; s < steps; ++s) {
        std::vector<double> p(value.begin(), value.end());
        const std::vector<double> g = quad_grad(p);
        for (int i = 0; i < 4; ++i) grad[i] = Scalar(g[i]);
        opt.step({{"w", &value, &grad}});
        trace.emplace_back(value.begin(), value.end());
    }
    return trace;
}

// Adam (Kingma & Ba, Algorithm 1) with optional L2 (coupled) or decoupled (AdamW, Loshchilov & Hutter) decay.
std::vector<std::vector<double>> adam_by_hand(double lr, double b1, double b2, double eps, double wd, bool decoupled,
                                              int steps) {
    std::vector<double> p = start, m(4, 0.0), v(4, 0.0);
    std::vector<std::vector<double>> trace;
    for (int t = 1; t <= steps; ++t) {
        std::vector<double> g = quad_grad(p);
        for (int i = 0; i < 4; ++i) {
            if (!decoupled) g[i] += wd * p[i];
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            const double m_hat = m[i] / (1 - std::pow(b1, t));
            const double v_hat = v[i] / (1 - std::pow(b2, t));
            if (decoupled) p[i] -= lr * wd * p[i];
            p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
        }
        trace.push_back(p);
    }
    return trace;
}

// SGD as PyTorch defines it: g += wd p; b = g (first step) or mu b + g; g = g + mu b (Nesterov) or b; p -= lr g.
std::vector<std::vector<double>> sgd_by_hand(double lr, double mu, bool nesterov, double wd, int steps) {
    std::vector<double> p = start, b(4, 0.0);
    std::vector<std::vector<double>> trace;
    for (int t = 1; t <= steps; ++t) {
        std::vector<double> g = quad_grad(p);
        for (int i = 0; i < 4; ++i) {
            g[i] += wd * p[i];
            if (mu > 0) {
                b[i] = t == 1 ? g[i] : mu * b[i] + g[i];
                g[i] = nesterov ? g[i] + mu * b[i] : b[i];
            }
            p[i] -= lr * g[i];
        }
        trace.push_back(p);
    }
    return trace;
}

void check_traces(const std::vector<std::vector<double>>& got, const std::vector<std::vector<double>>& expected,
                  double tolerance) {
    REQUIRE(got.size() == expected.size());
    for (std::size_t s = 0; s < got.size(); ++s)
        for (std::size_t i = 0; i < got[s].size(); ++i) {
            INFO("step " << s + 1 << ", element " << i);
            CHECK(got[s][i] == Approx(expected[s][i]).epsilon(tolerance).margin(tolerance));
        }
}

}  // namespace

TEST_CASE("Adam's first step moves every parameter by about lr against its gradient's sign", "[optim][adam]") {
    Adam<double> adam(0.1);
    const auto trace = run_library(adam, 1);
    const std::vector<double> g = quad_grad(start);
    for (int i = 0; i < 4; ++i) CHECK(trace[0][i] == Approx(start[i] - 0.1 * g[i] / (std::abs(g[i]) + 1e-7)));
}

TEST_CASE("Adam follows the published update rule", "[optim][adam]") {
    SECTION("defaults (beta1 0.9, beta2 0.999, eps 1e-7)") {
        Adam<double> adam(0.05);
        check_traces(run_library(adam, 6), adam_by_hand(0.05, 0.9, 0.999, 1e-7, 0.0, false, 6), 1e-12);
        CHECK(adam.type() == "Adam");
    }
    SECTION("custom betas and eps, coupled L2 weight decay") {
        AdamOptions options;
        options.learning_rate = 0.02;
        options.beta1 = 0.8;
        options.beta2 = 0.95;
        options.eps = 1e-3;
        options.weight_decay = 0.1;
        Adam<double> adam(options);
        check_traces(run_library(adam, 6), adam_by_hand(0.02, 0.8, 0.95, 1e-3, 0.1, false, 6), 1e-12);
    }
    SECTION("AdamW: decoupled weight decay") {
        AdamOptions options;
        options.learning_rate = 0.03;
        options.weight_decay = 0.5;
        options.decoupled_weight_decay = true;
        Adam<double> adamw(options);
        check_traces(run_library(adamw, 6), adam_by_hand(0.03, 0.9, 0.999, 1e-7, 0.5, true, 6), 1e-12);
        CHECK(adamw.type() == "AdamW");
    }
    SECTION("float") {
        Adam<float> adam(0.05);
        check_traces(run_library(adam, 6), adam_by_hand(0.05, 0.9, 0.999, 1e-7, 0.0, false, 6), 1e-5);
    }
}

TEST_CASE("SGD follows the published update rule", "[optim][sgd]") {
    SECTION("plain") {
        Sgd<double> sgd(0.1);
        check_traces(run_library(sgd, 5), sgd_by_hand(0.1, 0.0, false, 0.0, 5), 1e-12);
        // first step by hand: p - lr a (p - c)
        const auto trace = run_library(sgd, 1);
        CHECK(trace[0][1] == Approx(-2.0 - 0.1 * 4.0 * (-3.0)));
    }
    SECTION("momentum") {
        SgdOptions options;
        options.learning_rate = 0.05;
        options.momentum = 0.9;
        Sgd<double> sgd(options);
        check_traces(run_library(sgd, 5), sgd_by_hand(0.05, 0.9, false, 0.0, 5), 1e-12);
    }
    SECTION("Nesterov momentum with weight decay") {
        SgdOptions options;
        options.learning_rate = 0.05;
        options.momentum = 0.8;
        options.nesterov = true;
        options.weight_decay = 0.01;
        Sgd<double> sgd(options);
        check_traces(run_library(sgd, 5), sgd_by_hand(0.05, 0.8, true, 0.01, 5), 1e-12);
    }
    SECTION("weight decay without momentum") {
        SgdOptions options;
        options.learning_rate = 0.1;
        options.weight_decay = 0.3;
        Sgd<double> sgd(options);
        check_traces(run_library(sgd, 5), sgd_by_hand(0.1, 0.0, false, 0.3, 5), 1e-12);
    }
    SECTION("converges to the minimum") {
        SgdOptions options;
        options.learning_rate = 0.1;
        options.momentum = 0.5;
        Sgd<double> sgd(options);
        const auto trace = run_library(sgd, 300);
        for (int i = 0; i < 4; ++i) CHECK(trace.back()[i] == Approx(quad_c[i]).margin(1e-6));
    }
}

TEST_CASE("A changed learning rate applies from the next step", "[optim]") {
    Sgd<double> sgd(0.1);
    Tensor<double> value(Shape(1, 1, 1, 1), 1.0), grad(Shape(1, 1, 1, 1), 2.0);
    sgd.step({{"w", &value, &grad}});
    CHECK(value[0] == Approx(0.8));
    sgd.set_learning_rate(0.01);
    sgd.step({{"w", &value, &grad}});
    CHECK(value[0] == Approx(0.78));
    CHECK_THROWS_MATCHES(sgd.set_learning_rate(0.0), config_error,
                         Catch::Message("learning rate must be > 0, got 0.000000"));
}

TEST_CASE("Optimizer state is named per parameter and restores exactly", "[optim]") {
    Adam<double> adam(0.05);
    run_library(adam, 1);
    CHECK(adam.state().tensors.count("w/m") == 1);
    CHECK(adam.state().tensors.count("w/v") == 1);
    CHECK(adam.state().scalars.at("step") == 1.0);

    SgdOptions options;
    options.momentum = 0.9;
    Sgd<double> sgd(options);
    run_library(sgd, 1);
    CHECK(sgd.state().tensors.count("w/velocity") == 1);

    // 3 steps, save, 3 more == 6 steps straight
    Adam<double> first(0.05), second(0.05);
    Tensor<double> value(Shape(1, 4, 1, 1)), grad(Shape(1, 4, 1, 1));
    for (int i = 0; i < 4; ++i) value[i] = start[i];
    auto step = [&](Optimizer<double>& opt) {
        const std::vector<double> g = quad_grad(std::vector<double>(value.begin(), value.end()));
        for (int i = 0; i < 4; ++i) grad[i] = g[i];
        opt.step({{"w", &value, &grad}});
    };
    for (int s = 0; s < 3; ++s) step(first);
    second.set_state(first.state());
    for (int s = 0; s < 3; ++s) step(second);
    const auto straight = adam_by_hand(0.05, 0.9, 0.999, 1e-7, 0.0, false, 6).back();
    for (int i = 0; i < 4; ++i) CHECK(value[i] == Approx(straight[i]).epsilon(1e-12));

    OptimizerState<double> bad;
    bad.tensors["w/m"] = Tensor<double>(Shape(1, 2, 1, 1), 0.0);
    Adam<double> mismatched(0.05);
    mismatched.set_state(bad);
    CHECK_THROWS_MATCHES(mismatched.step({{"w", &value, &grad}}), shape_error,
                         Catch::Message("Adam: state 'w/m' has shape (1, 2, 1, 1), parameter has (1, 4, 1, 1)"));
}

TEST_CASE("Optimizers split large parameters over a pool with the same result on any thread count", "[optim]") {
    // Two parameters: 100003 elements (split, with ragged ends) and 5 (kept on the caller).
    const auto run = [](Optimizer<float>& opt, ThreadPool* pool) {
        Rng rng(11);
        std::vector<Tensor<float>> values, grads;
        for (int size : {100003, 5}) {
            values.emplace_back(Shape(1, size, 1, 1));
            grads.emplace_back(Shape(1, size, 1, 1));
            for (auto& v : values.back()) v = float(rng.normal());
        }
        for (int s = 0; s < 3; ++s) {
            for (auto& g : grads)
                for (auto& v : g) v = float(rng.normal());
            opt.step({{"big", &values[0], &grads[0]}, {"small", &values[1], &grads[1]}}, pool);
        }
        std::vector<float> out;
        for (const auto& v : values) out.insert(out.end(), v.begin(), v.end());
        for (const auto& entry : opt.state().tensors) out.insert(out.end(), entry.second.begin(), entry.second.end());
        return out;
    };
    AdamOptions adamw;
    adamw.weight_decay = 0.01;
    adamw.decoupled_weight_decay = true;
    AdamOptions coupled;
    coupled.weight_decay = 0.01;
    SgdOptions nesterov;
    nesterov.momentum = 0.9;
    nesterov.nesterov = true;
    nesterov.weight_decay = 1e-3;
    const std::vector<std::function<std::unique_ptr<Optimizer<float>>()>> makers = {
        [] { return std::make_unique<Adam<float>>(1e-3); },
        [&] { return std::make_unique<Adam<float>>(adamw); },
        [&] { return std::make_unique<Adam<float>>(coupled); },
        [&] { return std::make_unique<Sgd<float>>(nesterov); },
        [] { return std::make_unique<Sgd<float>>(0.1); },
    };
    for (std::size_t k = 0; k < makers.size(); ++k) {
        INFO("optimizer " << k);
        const auto alone = run(*makers[k](), nullptr);
        for (int threads : {2, 3}) {
            ThreadPool pool(threads);
            CHECK(run(*makers[k](), &pool) == alone);
        }
    }
}

TEST_CASE("Optimizer configuration errors", "[optim]") {
    CHECK_THROWS_AS(Adam<float>(0.0), config_error);
    CHECK_THROWS_AS(Sgd<float>(-1.0), config_error);
    AdamOptions adam;
    adam.beta1 = 1.0;
    CHECK_THROWS_MATCHES(Adam<float>(adam), config_error, Catch::Message("Adam: beta1 and beta2 must be in [0, 1)"));
    SgdOptions sgd;
    sgd.nesterov = true;
    CHECK_THROWS_MATCHES(Sgd<float>(sgd), config_error, Catch::Message("SGD: Nesterov needs momentum > 0"));
    sgd.momentum = 1.0;
    CHECK_THROWS_AS(Sgd<float>(sgd), config_error);
}

TEST_CASE("StepLr multiplies by gamma every step_epochs", "[optim][schedule]") {
    StepLr lr(0.1, 10, 0.5);
    CHECK(lr.type() == "step");
    CHECK(lr.rate(0.0) == Approx(0.1));
    CHECK(lr.rate(9.99) == Approx(0.1));
    CHECK(lr.rate(10.0) == Approx(0.05));
    CHECK(lr.rate(25.0) == Approx(0.025));
    CHECK_THROWS_AS(StepLr(0.1, 0, 0.5), config_error);
    ConstantLr constant(0.3);
    CHECK(constant.rate(100.0) == 0.3);
}

TEST_CASE("CosineLr warms up linearly then follows half a cosine", "[optim][schedule]") {
    CosineLr lr(1.0, 10.0, 2.0, 0.1);
    CHECK(lr.type() == "cosine");
    CHECK(lr.rate(1.0) == Approx(0.5));
    CHECK(lr.rate(1.5) == Approx(0.75));
    CHECK(lr.rate(2.0) == Approx(1.0));
    CHECK(lr.rate(6.0) == Approx(0.1 + 0.5 * 0.9 * (1.0 + std::cos(3.141592653589793 * 0.5))));
    CHECK(lr.rate(8.0) == Approx(0.1 + 0.5 * 0.9 * (1.0 + std::cos(3.141592653589793 * 0.75))));
    CHECK(lr.rate(10.0) == Approx(0.1));
    CHECK(lr.rate(15.0) == Approx(0.1));
    CHECK(lr.rate(0.0) == Approx(0.1));  // never below min_rate, even during warm-up

    CosineLr plain(0.4, 4.0);
    CHECK(plain.rate(0.0) == Approx(0.4));
    CHECK(plain.rate(2.0) == Approx(0.2));
    CHECK(plain.rate(4.0) > 0.0);  // stays a valid (positive) rate
    CHECK(plain.rate(4.0) < 1e-9);
    CosineLr warm(1.0, 10.0, 2.0);
    CHECK(warm.rate(0.0) > 0.0);
    CHECK(warm.rate(0.0) < 1e-9);
    CHECK_THROWS_AS(CosineLr(1.0, 2.0, 2.0), config_error);
}

TEST_CASE("ReduceOnPlateau cuts the rate after `patience` epochs without improvement", "[optim][schedule]") {
    ReduceOnPlateau lr(1.0, 0.5, 2, true, 0.2);
    CHECK(lr.type() == "plateau");
    const std::vector<double> metrics = {0.5, 0.5, 0.4, 0.6, 0.6, 0.6, 0.1, 0.1, 0.1, 0.1};
    const std::vector<double> expected = {1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2};
    for (std::size_t e = 0; e < metrics.size(); ++e) {
        lr.end_epoch(metrics[e]);
        INFO("after epoch " << e);
        CHECK(lr.rate(double(e)) == Approx(expected[e]));
    }

    ReduceOnPlateau loss(0.1, 0.1, 1, false);
    loss.end_epoch(2.0);
    loss.end_epoch(1.5);
    CHECK(loss.rate(0) == Approx(0.1));
    loss.end_epoch(1.7);
    CHECK(loss.rate(0) == Approx(0.01));

    // state round trip: a restored schedule continues exactly
    ReduceOnPlateau a(1.0, 0.5, 3), b(1.0, 0.5, 3);
    a.end_epoch(0.9);
    a.end_epoch(0.8);
    a.end_epoch(0.8);
    b.set_state(a.state());
    a.end_epoch(0.7);
    b.end_epoch(0.7);
    CHECK(a.rate(0) == Approx(0.5));
    CHECK(b.rate(0) == Approx(0.5));
    CHECK(a.state() == b.state());
    CHECK_THROWS_AS(ReduceOnPlateau(1.0, 1.0), config_error);
}

TEST_CASE("Adam's first float step is lr to float rounding: the bias corrections use the rounded betas",
          "[optim][adam]") {
    // Issue 25: 1 - beta2 was taken in float in the update but in double in the bias correction, and the first step
    // came out 1.0000067 lr. With the corrections computed from the betas as rounded to float, m / c1 = g and
    // v / c2 = g^2 up to float rounding, so the step is lr (eps tiny here, so that it does not move the step).
    for (const long count : {5L, 37L}) {  // the vectorised body and the plain tail
        AdamOptions options;
        options.learning_rate = 1e-3;
        options.eps = 1e-20;
        Adam<float> adam(options);
        Tensor<float> value(Shape(1, static_cast<int>(count), 1, 1), 0.0f), grad(value.shape());
        for (long i = 0; i < count; ++i) grad[static_cast<std::size_t>(i)] = float(i % 2 ? 0.5 : -3.25);
        adam.step({{"w", &value, &grad}});
        for (long i = 0; i < count; ++i) {
            const double step = -double(value[static_cast<std::size_t>(i)]) / 1e-3 * (i % 2 ? 1.0 : -1.0);
            INFO("element " << i << " of " << count);
            CHECK(std::abs(step - 1.0) < 5e-7);
        }
    }
}
