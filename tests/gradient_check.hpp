// tests/gradient_check.hpp: the one numerical gradient check used by every layer, loss and model test, plus
// small helpers that fill tensors with seeded random values.
//
// check_gradients() compares analytic gradients with central differences (f(v + h) - f(v - h)) / 2h in double
// precision for EVERY element of every probed tensor. check_layer_gradients() wraps it for a Layer<double>:
// loss = sum(forward(x) * dy) with a random upstream gradient dy, so dL/dy = dy; dx is pre-sized to x's shape and
// every gradient (dx and each parameter's) is pre-filled with NaN before backward, so an entry backward never
// writes fails the comparison.
#pragma once

#include <catch2/catch.hpp>

#include <deepcnn/layers/layer.hpp>
#include <deepcnn/layers/merge.hpp>
#include <deepcnn/random.hpp>
#include <deepcnn/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace deepcnn_test {

using deepcnn::Layer;
using deepcnn::Rng;
using deepcnn::Shape;
using deepcnn::Tensor;

// A tensor of `shape` with values uniform in [lo, hi).
template <class Scalar = double>
Tensor<Scalar> random_tensor(const Shape& shape, Rng& rng, double lo = -1.0, double hi = 1.0) {
    Tensor<Scalar> t(shape);
    for (auto& v : t) v = static_cast<Scalar>(rng.uniform(lo, hi));
    return t;
}

// A tensor of `shape` whose values are distinct, at least `gap` apart and in random order: no ties anywhere, so
// max-pooling windows have a unique maximum that a step of size << gap cannot change.
inline Tensor<double> distinct_tensor(const Shape& shape, Rng& rng, double gap = 0.05) {
    Tensor<double> t(shape);
    std::vector<double> values(t.size());
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = (double(i) - 0.5 * double(values.size())) * gap;
    rng.shuffle(values.begin(), values.end());
    std::copy(values.begin(), values.end(), t.begin());
    return t;
}

// A tensor of `shape` with |value| in [margin, 1], random signs: keeps ReLU inputs away from its kink at 0.
inline Tensor<double> away_from_zero_tensor(const Shape& shape, Rng& rng, double margin = 0.1) {
    Tensor<double> t(shape);
    for (auto& v : t) v = (rng.bernoulli(0.5) ? 1.0 : -1.0) * rng.uniform(margin, 1.0);
    return t;
}

// Overwrites every parameter of `layer` with values uniform in [lo, hi) (biases and BatchNorm's gamma/beta start at
// constants, which would hide some wrong gradients).
inline void randomize_params(Layer<double>& layer, Rng& rng, double lo = -1.0, double hi = 1.0) {
    for (auto& p : layer.params())
        for (auto& v : *p.value) v = rng.uniform(lo, hi);
}

// One tensor whose analytic gradient is checked: the values the loss reads (perturbed in place and restored)
// and the gradient backward produced for them.
struct GradientProbe {
    std::string name;
    Tensor<double>* value;
    Tensor<double> analytic;
};

struct GradientCheckOptions {
    double step = 1e-5;       // h of the central difference
    double tolerance = 1e-6;  // on |analytic - numeric| / max(|analytic|, |numeric|, floor)
    double floor = 1e-2;      // keeps the relative error meaningful where both gradients are (near) zero
};

// Compares every element of every probe's analytic gradient with the central difference of `loss`.
// Reports the number of bad elements and the worst one per probe; a NaN or infinite gradient always fails.
inline void check_gradients(const std::function<double()>& loss, std::vector<GradientProbe>& probes,
                            const GradientCheckOptions& options = {}) {
    for (auto& probe : probes) {
        INFO("gradient of " << probe.name << ", shape " << probe.value->shape().str());
        REQUIRE(probe.analytic.shape() == probe.value->shape());
        std::size_t bad = 0;
        double worst_error = 0.0;
        std::size_t worst_index = 0;
        double worst_analytic = 0.0, worst_numeric = 0.0;
        for (std::size_t i = 0; i < probe.value->size(); ++i) {
            double& v = (*probe.value)[i];
            const double saved = v;
            v = saved + options.step;
            const double plus = loss();
            v = saved - options.step;
            const double minus = loss();
            v = saved;
            const double numeric = (plus - minus) / (2.0 * options.step);
            const double analytic = probe.analytic[i];
            const double denom = std::max({std::abs(analytic), std::abs(numeric), options.floor});
            double error = std::abs(analytic - numeric) / denom;
            if (!std::isfinite(analytic) || !std::isfinite(numeric)) error = std::numeric_limits<double>::infinity();
            if (!(error <= options.tolerance)) ++bad;
            if (!(error <= worst_error)) {
                worst_error = error;
                worst_index = i;
                worst_analytic = analytic;
                worst_numeric = numeric;
            }
        }
        INFO("worst element " << worst_index << ": analytic " << worst_analytic << ", numeric " << worst_numeric
                              << ", relative error " << worst_error);
        CHECK(bad == 0);
    }
}

// sum(y * dy): the scalar whose gradient with respect to y is dy.
inline double dot(const Tensor<double>& y, const Tensor<double>& dy) {
    REQUIRE(y.shape() == dy.shape());
    double sum = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += y[i] * dy[i];
    return sum;
}

// Gradient check of `layer` at input x in the layer's current mode: builds it for x (if not built), draws dy,
// runs forward and backward with NaN-filled gradients, then checks dx and every parameter gradient element by
// element. The caller fixes anything random in forward (Dropout::freeze_mask) and avoids kinks.
inline void check_layer_gradients(Layer<double>& layer, Tensor<double> x, std::uint64_t seed = 1,
                                  const GradientCheckOptions& options = {}) {
    Rng rng(seed);
    if (!layer.built()) layer.build(x.shape(), rng);
    const Tensor<double> y = layer.forward(x);
    REQUIRE(y.shape() == layer.output_shape(x.shape()));
    const Tensor<double> dy = random_tensor(y.shape(), rng);

    Tensor<double> dx(x.shape(), std::numeric_limits<double>::quiet_NaN());
    for (auto& p : layer.params()) p.grad->fill(std::numeric_limits<double>::quiet_NaN());
    layer.backward(dy, dx);
    REQUIRE(dx.shape() == x.shape());

    std::vector<GradientProbe> probes;
    probes.push_back({"input", &x, dx});
    for (auto& p : layer.params()) probes.push_back({p.name, p.value, *p.grad});
    Tensor<double> out;
    check_gradients(
        [&] {
            layer.forward(x, out);
            return dot(out, dy);
        },
        probes, options);
}

// As check_layer_gradients for a merge layer (Add, Concat) over several inputs: every input's gradient, each
// pre-filled with NaN, and every parameter's.
inline void check_merge_gradients(deepcnn::MergeLayer<double>& layer, std::vector<Tensor<double>> xs,
                                  std::uint64_t seed = 1, const GradientCheckOptions& options = {}) {
    Rng rng(seed);
    std::vector<Shape> shapes;
    std::vector<const Tensor<double>*> inputs;
    for (auto& x : xs) {
        shapes.push_back(x.shape());
        inputs.push_back(&x);
    }
    if (!layer.built()) layer.build(shapes, rng);
    Tensor<double> y;
    layer.forward(inputs, y);
    REQUIRE(y.shape() == layer.merged_shape(shapes));
    const Tensor<double> dy = random_tensor(y.shape(), rng);

    std::vector<Tensor<double>> dxs;
    for (auto& x : xs) dxs.emplace_back(x.shape(), std::numeric_limits<double>::quiet_NaN());
    std::vector<Tensor<double>*> grads;
    for (auto& dx : dxs) grads.push_back(&dx);
    for (auto& p : layer.params()) p.grad->fill(std::numeric_limits<double>::quiet_NaN());
    layer.backward(dy, grads);

    std::vector<GradientProbe> probes;
    for (std::size_t i = 0; i < xs.size(); ++i) probes.push_back({"input " + std::to_string(i + 1), &xs[i], dxs[i]});
    for (auto& p : layer.params()) probes.push_back({p.name, p.value, *p.grad});
    Tensor<double> out;
    check_gradients(
        [&] {
            layer.forward(inputs, out);
            return dot(out, dy);
        },
        probes, options);
}

}  // namespace deepcnn_test
