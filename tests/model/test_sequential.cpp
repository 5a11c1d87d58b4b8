// tests/model/test_sequential.cpp: the Sequential model: shape inference, the summary table, the exact shape-error
// messages, train/eval modes, parameter and buffer names, predict/evaluate, a gradient check of the whole stack
// (with and without the fused loss), end-to-end learning of a synthetic 3-class image task, deterministic
// per seed, per-layer timing, and the weight average (model/weight_average.hpp) against a plain reference and
// through a checkpoint.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include "gradient_check.hpp"
#include "test_nets.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_gradients;
using deepcnn_test::GradientProbe;
using deepcnn_test::random_tensor;

namespace {

// Conv2D(4, 3) same -> BatchNorm -> ReLU -> MaxPool2D(2) -> Flatten -> Dropout(0.25) -> Dense(classes) ->
// Softmax on 1 x 8 x 8 images.
template <class Scalar>
Sequential<Scalar> small_net(std::uint64_t seed = 1, int classes = 3) {
    return deepcnn_test::small_chain<Scalar>(seed, classes);
}

template <class Scalar>
std::vector<Scalar> values(const Tensor<Scalar>& t) {
    return std::vector<Scalar>(t.begin(), t.end());
}

// Whether one whole line of `text` matches `pattern`.
bool has_line(const std::string& text, const std::string& pattern) {
    const std::regex re(pattern);
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (std::regex_match(line, re)) return true;
    return false;
}

}  // namespace

TEST_CASE("Sequential infers every layer's shape and counts parameters and FLOPs", "[model]") {
    Sequential<float> model = small_net<float>();
    REQUIRE(model.size() == 8);
    CHECK(model.input_shape() == Shape(1, 1, 8, 8));
    CHECK(model.output_shape() == Shape(1, 3, 1, 1));
    CHECK(model.layer(0).input_shape() == Shape(1, 1, 8, 8));
    CHECK(model.layer(3).input_shape() == Shape(1, 4, 8, 8));
    CHECK(model.layer(4).input_shape() == Shape(1, 4, 4, 4));
    CHECK(model.layer(6).input_shape() == Shape(1, 64, 1, 1));
    // Conv 4*1*3*3 + 4, BatchNorm 2*4, Dense 64*3 + 3
    CHECK(model.parameter_count() == 40 + 8 + 195);
    // Conv 2*MACs + bias adds, BatchNorm 2 per element, ReLU 1, MaxPool window reads, Dense 2*F*units + units,
    // Softmax 3 per element
    CHECK(model.forward_flops() == 2.0 * 4 * 64 * 9 + 4 * 64 + 2.0 * 256 + 256 + 4 * 16 * 4 + 2.0 * 64 * 3 + 3 + 9);

    const Tensor<float> x(Shape(5, 1, 8, 8), 0.5f);
    CHECK(model.forward(x).shape() == Shape(5, 3, 1, 1));
    CHECK(model.forward_logits(x).shape() == Shape(5, 3, 1, 1));
}

TEST_CASE("Sequential summary lists each layer, its shape, parameters and the totals", "[model]") {
    Sequential<float> model = small_net<float>();
    const std::string summary = model.summary();
    INFO(summary);
    using Catch::Matchers::Contains;
    CHECK_THAT(summary, Catch::Matchers::StartsWith("Model: Sequential<float>\n"));
    CHECK_THAT(summary, Contains("Layer (type)"));
    CHECK_THAT(summary, Contains("Output Shape"));
    CHECK_THAT(summary, Contains("Param #"));
    CHECK(has_line(summary, "input +\\(1, 8, 8\\) +0 +0\\.00"));
    CHECK(has_line(summary, "conv2d_1 \\(Conv2D\\) +\\(4, 8, 8\\) +40 +0\\.00"));
    CHECK(has_line(summary, "batchnorm_2 \\(BatchNorm\\) +\\(4, 8, 8\\) +8 +0\\.00"));
    CHECK(has_line(summary, "maxpool2d_4 \\(MaxPool2D\\) +\\(4, 4, 4\\) +0 +0\\.00"));
    CHECK(has_line(summary, "flatten_5 \\(Flatten\\) +\\(64\\) +0 +0\\.00"));
    CHECK(has_line(summary, "dense_7 \\(Dense\\) +\\(3\\) +195 +0\\.00"));
    CHECK(has_line(summary, "softmax_8 \\(Softmax\\) +\\(3\\) +0 +0\\.00"));
    CHECK_THAT(summary, Contains("\nTotal params: 243\n"));
    CHECK_THAT(summary, Contains("\nForward MFLOPs per image: 0.01\n"));

    Sequential<double> big(3, 48, 48);
    big.add(Conv2D<double>(64, 3));
    CHECK_THAT(big.summary(), Catch::Matchers::StartsWith("Model: Sequential<double>\n"));
    // 2 * 64 * 48 * 48 * 27 + 64 * 48 * 48 = 8,110,080 FLOPs
    CHECK(has_line(big.summary(), "conv2d_1 \\(Conv2D\\) +\\(64, 48, 48\\) +1792 +8\\.11"));
}

TEST_CASE("Sequential shape errors carry the documented messages", "[model][errors]") {
    SECTION("a declared input size that the previous layer does not produce") {
        Sequential<float> model(1, 8, 8);
        model.add(Conv2D<float>(4, 3));
        model.add(BatchNorm<float>());
        model.add(ReLU<float>());
        model.add(MaxPool2D<float>(2));
        model.add(Flatten<float>());
        model.add(Dense<float>(16));
        model.add(ReLU<float>());
        model.add(Dense<float>(3));
        CHECK_THROWS_MATCHES(model.add(Dense<float>(3).with_in_features(5)), shape_error,
                             Catch::Message("layer 9 (Dense): expected input 5, got 3"));
        // the failed add leaves the model as it was, and it still takes a fitting layer
        CHECK(model.size() == 8);
        CHECK(model.output_shape() == Shape(1, 3, 1, 1));
        model.add(Dense<float>(2).with_in_features(3));
        CHECK(model.size() == 9);
        CHECK(model.layer(8).where() == "layer 9 (Dense)");
    }
    SECTION("Dense after a non-flat layer") {
        Sequential<float> model(1, 8, 8);
        model.add(Conv2D<float>(4, 3));
        CHECK_THROWS_MATCHES(
            model.add(Dense<float>(3)), shape_error,
            Catch::Message("layer 2 (Dense): expected flat input (F), got (4, 8, 8); add a Flatten layer first"));
    }
    SECTION("a conv window larger than its valid-padded input") {
        Sequential<float> model(1, 8, 8);
        model.add(Conv2D<float>(4, 3).with_padding(Padding::valid()));
        model.add(MaxPool2D<float>(2));
        CHECK_THROWS_MATCHES(model.add(Conv2D<float>(4, 5).with_padding(Padding::valid())), shape_error,
                             Catch::Message("layer 3 (Conv2D): window of 5 rows larger than the padded input (3 rows)"));
    }
    SECTION("declared input channels") {
        Sequential<float> model(1, 8, 8);
        CHECK_THROWS_MATCHES(model.add(Conv2D<float>(4, 3).with_in_channels(3)), shape_error,
                             Catch::Message("layer 1 (Conv2D): expected input channels 3, got 1"));
    }
    SECTION("a forward with the wrong input shape") {
        Sequential<float> model = small_net<float>();
        CHECK_THROWS_MATCHES(model.forward(Tensor<float>(Shape(2, 1, 8, 7))), shape_error,
                             Catch::Message("Sequential: expected input (1, 8, 8), got (1, 8, 7)"));
        CHECK_THROWS_MATCHES(model.predict(Tensor<float>(Shape(2, 3, 8, 8))), shape_error,
                             Catch::Message("Sequential: expected input (1, 8, 8), got (3, 8, 8)"));
    }
    SECTION("a backward without a forward") {
        Sequential<float> model = small_net<float>();
        CHECK_THROWS_MATCHES(model.backward(Tensor<float>(Shape(1, 3, 1, 1))), error,
                             Catch::Message("Sequential::backward called without a forward pass"));
        CHECK_THROWS_MATCHES(model.layer(6).backward(Tensor<float>(Shape(1, 3, 1, 1))), error,
                             Catch::Message("layer 7 (Dense): backward called without a forward pass"));
    }
    SECTION("a wrong output gradient") {
        Sequential<float> model = small_net<float>();
        model.forward(Tensor<float>(Shape(2, 1, 8, 8), 1.0f));
        CHECK_THROWS_MATCHES(model.backward(Tensor<float>(Shape(2, 4, 1, 1))), shape_error,
                             Catch::Message("layer 8 (Softmax): expected output gradient (2, 3, 1, 1), got (2, 4, 1, 1)"));
    }
    SECTION("bad model input, labels and batch sizes") {
        CHECK_THROWS_MATCHES(Sequential<float>(0, 8, 8), shape_error,
                             Catch::Message("Sequential: input shape must be positive, got (0, 8, 8)"));
        Sequential<float> model = small_net<float>();
        const Tensor<float> x(Shape(4, 1, 8, 8), 0.0f);
        CHECK_THROWS_MATCHES(model.evaluate(x, {0, 1, 2}), shape_error,
                             Catch::Message("Sequential::evaluate: 4 samples but 3 labels"));
        CHECK_THROWS_MATCHES(model.predict(x, 0), config_error, Catch::Message("batch size must be positive, got 0"));
        CHECK_THROWS_AS(model.add(LayerPtr<float>()), error);
    }
}

TEST_CASE("Sequential names parameters and buffers LAYER_INDEX.NAME", "[model]") {
    Sequential<float> model = small_net<float>();
    std::vector<std::string> names;
    for (const auto& p : model.params()) names.push_back(p.name);
    CHECK(names == std::vector<std::string>{"conv2d_1.weight", "conv2d_1.bias", "batchnorm_2.gamma", "batchnorm_2.beta",
                                            "dense_7.weight", "dense_7.bias"});
    std::vector<std::string> buffers;
    for (const auto& b : model.buffers()) buffers.push_back(b.name);
    CHECK(buffers == std::vector<std::string>{"batchnorm_2.running_mean", "batchnorm_2.running_var"});
    CHECK(model.layer_name(3) == "maxpool2d_4");
    CHECK(model.layer(3).where() == "layer 4 (MaxPool2D)");
    auto params = model.params();
    CHECK(params[4].value->shape() == Shape(3, 64, 1, 1));
    CHECK(params[4].value == &static_cast<Dense<float>&>(model.layer(6)).weight());

    model.forward(Tensor<float>(Shape(2, 1, 8, 8), 1.0f));
    model.backward(Tensor<float>(Shape(2, 3, 1, 1), 1.0f));
    model.zero_grad();
    for (const auto& p : model.params())
        for (float g : *p.grad) REQUIRE(g == 0.0f);
}

TEST_CASE("Sequential sets every layer's mode: eval is deterministic, train draws dropout", "[model]") {
    Sequential<double> model = small_net<double>(3);
    Rng rng(4);
    const Tensor<double> x = random_tensor(Shape(6, 1, 8, 8), rng);
    CHECK(model.mode() == Mode::train);

    model.eval();
    for (std::size_t i = 0; i < model.size(); ++i) CHECK(model.layer(i).mode() == Mode::eval);
    const std::vector<double> eval1 = values(model.forward(x));
    const std::vector<double> eval2 = values(model.forward(x));
    CHECK(eval1 == eval2);
    // eval leaves BatchNorm's running statistics alone
    const std::vector<double> running = values(*model.buffers()[0].value);
    model.forward(x);
    CHECK(values(*model.buffers()[0].value) == running);

    model.train();
    for (std::size_t i = 0; i < model.size(); ++i) CHECK(model.layer(i).mode() == Mode::train);
    const std::vector<double> train1 = values(model.forward(x));
    const std::vector<double> train2 = values(model.forward(x));
    CHECK(train1 != train2);  // a fresh dropout mask per forward
    CHECK(values(*model.buffers()[0].value) != running);

    // predict switches to eval and matches softmax of the eval logits; batching does not change it
    const Tensor<double> p = model.predict(x);
    CHECK(model.mode() == Mode::eval);
    const std::vector<double> eval3 = values(model.forward(x));
    CHECK(eval3 != eval1);  // the training forwards moved the running statistics
    for (std::size_t i = 0; i < p.size(); ++i) CHECK(p[i] == Approx(eval3[i]).epsilon(1e-12));
    const Tensor<double> p_small = model.predict(x, 4);
    for (std::size_t i = 0; i < p.size(); ++i) CHECK(p_small[i] == Approx(p[i]).epsilon(1e-12));
    for (int n = 0; n < 6; ++n) CHECK(p(n, 0, 0, 0) + p(n, 1, 0, 0) + p(n, 2, 0, 0) == Approx(1.0).epsilon(1e-12));

    // a layer added to a model in eval mode starts in eval mode
    Sequential<double> eval_model(1, 4, 4);
    eval_model.eval();
    eval_model.add(Dropout<double>(0.5));
    CHECK(eval_model.layer(0).mode() == Mode::eval);
}

TEST_CASE("Sequential evaluate reports the mean loss and accuracy of predict", "[model]") {
    Sequential<double> model = small_net<double>(5);
    Rng rng(6);
    const Tensor<double> x = random_tensor(Shape(7, 1, 8, 8), rng);
    const std::vector<int> labels = {0, 1, 2, 0, 1, 2, 0};
    const Tensor<double> p = model.predict(x);
    double loss = 0.0;
    int correct = 0;
    for (int n = 0; n < 7; ++n) {
        loss -= std::log(p(n, labels[n], 0, 0));
        int best = 0;
        for (int k = 1; k < 3; ++k)
            if (p(n, k, 0, 0) > p(n, best, 0, 0)) best = k;
        correct += best == labels[n];
    }
    const Evaluation e = model.evaluate(x, labels, 3);
    CHECK(e.count == 7);
    CHECK(e.loss == Approx(loss / 7).epsilon(1e-10));
    CHECK(e.accuracy == Approx(correct / 7.0));
}

TEST_CASE("Sequential backward matches central differences through the whole stack", "[model][gradient]") {
    Sequential<double> model(2, 6, 6, 7);
    model.add(Conv2D<double>(3, 3));
    model.add(BatchNorm<double>());
    model.add(ReLU<double>());
    model.add(MaxPool2D<double>(2));
    model.add(Conv2D<double>(2, 2).with_padding(Padding::valid()));
    model.add(Flatten<double>());
    model.add(Dropout<double>(0.3)).freeze_mask(true);
    model.add(Dense<double>(3));
    model.add(Softmax<double>());
    Rng rng(8);
    for (auto& p : model.params())
        for (auto& v : *p.value) v = rng.uniform(-1.0, 1.0);
    Tensor<double> x = random_tensor(Shape(3, 2, 6, 6), rng);
    const double nan = std::numeric_limits<double>::quiet_NaN();

    SECTION("sum(output * dy), through the trailing Softmax") {
        const Tensor<double> dy = random_tensor(Shape(3, 3, 1, 1), rng);
        model.forward(x);
        for (auto& p : model.params()) p.grad->fill(nan);
        const Tensor<double> dx = model.backward(dy);
        std::vector<GradientProbe> probes{{"input", &x, dx}};
        for (auto& p : model.params()) probes.push_back({p.name, p.value, *p.grad});
        check_gradients([&] { return deepcnn_test::dot(model.forward(x), dy); }, probes);
    }
    SECTION("the fused loss on the logits (the path train_step takes)") {
        const std::vector<int> labels = {2, 0, 1};
        SoftmaxCrossEntropy<double> loss;
        loss.forward(model.forward_logits(x), labels);
        Tensor<double> dlogits;
        loss.backward(dlogits);
        for (auto& p : model.params()) p.grad->fill(nan);
        const Tensor<double> dx = model.backward(dlogits);
        std::vector<GradientProbe> probes{{"input", &x, dx}};
        for (auto& p : model.params()) probes.push_back({p.name, p.value, *p.grad});
        check_gradients([&] { return double(loss.forward(model.forward_logits(x), labels)); }, probes);
    }
}

namespace {

// A bright Gaussian blob on the left, in the centre or on the right of a 12 x 12 image (class 0, 1, 2), at a
// jittered position, over Gaussian noise.
void make_blobs(int count, Rng& rng, Tensor<float>& x, std::vector<int>& labels) {
    const int S = 12;
    x.resize(Shape(count, 1, S, S));
    labels.resize(count);
    const double centre_cols[3] = {2.5, 5.5, 8.5};
    for (int n = 0; n < count; ++n) {
        const int label = static_cast<int>(rng.below(3));
        labels[n] = label;
        const double row = rng.uniform(3.0, 8.0);
        const double col = centre_cols[label] + rng.uniform(-0.75, 0.75);
        for (int h = 0; h < S; ++h)
            for (int w = 0; w < S; ++w) {
                const double d2 = (h - row) * (h - row) + (w - col) * (w - col);
                x(n, 0, h, w) = static_cast<float>(std::exp(-d2 / 3.0) + rng.normal(0.0, 0.3));
            }
    }
}

struct TrainedNet {
    Sequential<float> model;
    double test_accuracy;
};

TrainedNet train_blob_net(std::uint64_t seed) {
    Rng data(2025);
    Tensor<float> train_x, test_x;
    std::vector<int> train_y, test_y;
    make_blobs(300, data, train_x, train_y);
    make_blobs(150, data, test_x, test_y);

    Sequential<float> model = deepcnn_test::small_chain(seed, 3, true, 12, 0.2);

    Adam<float> adam(0.01);
    SoftmaxCrossEntropy<float> loss;
    Rng order(seed);
    std::vector<int> index(300);
    for (int i = 0; i < 300; ++i) index[i] = i;
    const int batch = 20;
    Tensor<float> bx(Shape(batch, 1, 12, 12));
    std::vector<int> by(batch);
    for (int epoch = 0; epoch < 8; ++epoch) {
        order.shuffle(index.begin(), index.end());
        for (int first = 0; first + batch <= 300; first += batch) {
            for (int i = 0; i < batch; ++i) {
                std::copy(train_x.sample(index[first + i]), train_x.sample(index[first + i]) + 144, bx.sample(i));
                by[i] = train_y[index[first + i]];
            }
            model.train_step(bx, by, loss, adam);
        }
    }
    const double accuracy = model.evaluate(test_x, test_y).accuracy;
    return {std::move(model), accuracy};
}

}  // namespace

TEST_CASE("A small conv net learns left / centre / right blobs, deterministically per seed", "[model][training]") {
    const auto start = std::chrono::steady_clock::now();
    TrainedNet a = train_blob_net(11);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO("training took " << seconds << " s");
    CHECK(a.test_accuracy >= 0.95);

    TrainedNet b = train_blob_net(11);
    CHECK(b.test_accuracy == a.test_accuracy);
    auto pa = a.model.params(), pb = b.model.params();
    REQUIRE(pa.size() == pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].name);
        CHECK(values(*pa[i].value) == values(*pb[i].value));
    }
    auto ba = a.model.buffers(), bb = b.model.buffers();
    for (std::size_t i = 0; i < ba.size(); ++i) CHECK(values(*ba[i].value) == values(*bb[i].value));

    TrainedNet c = train_blob_net(12);
    CHECK(values(*c.model.params()[0].value) != values(*pa[0].value));
    CHECK(c.test_accuracy >= 0.95);
}

TEST_CASE("Sequential lets layers after the first keep a pointer to their input with the same gradients",
          "[model]") {
    auto build = [](bool retained_flags) {
        Sequential<float> model(Shape(1, 2, 6, 6), 17);
        model.set_threads(1);
        model.add(Conv2D<float>(3, 3));
        model.add(ReLU<float>());
        model.add(Conv2D<float>(4, 3));
        model.add(Flatten<float>());
        model.add(Dense<float>(3));
        if (!retained_flags)
            for (std::size_t i = 0; i < model.size(); ++i) model.layer(i).set_input_retained(false);
        return model;
    };
    Sequential<float> retained = build(true), copied = build(false);
    CHECK_FALSE(retained.layer(0).input_retained());
    for (std::size_t i = 1; i < retained.size(); ++i) CHECK(retained.layer(i).input_retained());
    Rng rng(4);
    const Tensor<float> x = deepcnn_test::random_tensor<float>(Shape(3, 2, 6, 6), rng);
    const Tensor<float> dy = deepcnn_test::random_tensor<float>(Shape(3, 3, 1, 1), rng);
    retained.forward(x);
    copied.forward(x);
    const Tensor<float> dx_retained = retained.backward(dy), dx_copied = copied.backward(dy);
    CHECK(std::vector<float>(dx_retained.begin(), dx_retained.end()) ==
          std::vector<float>(dx_copied.begin(), dx_copied.end()));
    auto pr = retained.params(), pc = copied.params();
    REQUIRE(pr.size() == pc.size());
    for (std::size_t i = 0; i < pr.size(); ++i)
        CHECK(std::vector<float>(pr[i].grad->begin(), pr[i].grad->end()) ==
              std::vector<float>(pc[i].grad->begin(), pc[i].grad->end()));

    // adding a layer may move the activations the pointers refer to: the last forward no longer counts
    retained.add(ReLU<float>());
    CHECK_THROWS_MATCHES(retained.backward(Tensor<float>(Shape(3, 3, 1, 1))), error,
                         Catch::Message("Sequential::backward called without a forward pass"));
}

TEST_CASE("Sequential's train_step skips the images' gradient with the same parameter gradients as backward",
          "[model][training]") {
    auto build = [] {
        Sequential<float> model(Shape(1, 1, 8, 8), 21);
        model.set_threads(1);
        model.add(Conv2D<float>(16, 3));
        model.add(ReLU<float>());
        model.add(Flatten<float>());
        model.add(Dense<float>(3));
        return model;
    };
    Sequential<float> stepped = build(), manual = build();
    Rng rng(6);
    const Tensor<float> x = deepcnn_test::random_tensor<float>(Shape(4, 1, 8, 8), rng);
    const std::vector<int> labels = {0, 2, 1, 2};
    SoftmaxCrossEntropy<float> loss;
    Adam<float> adam(1e-3);  // the step moves the weights; the gradients it read stay
    stepped.train_step(x, labels, loss, adam);

    manual.train();
    loss.forward(manual.forward_logits(x), labels);
    Tensor<float> loss_grad;
    loss.backward(loss_grad);
    const Tensor<float>& dx = manual.backward(loss_grad);
    CHECK(dx.shape() == x.shape());  // the public backward still returns dL/dx
    auto ps = stepped.params(), pm = manual.params();
    REQUIRE(ps.size() == pm.size());
    for (std::size_t i = 0; i < ps.size(); ++i) {
        INFO(ps[i].name);
        CHECK(std::vector<float>(ps[i].grad->begin(), ps[i].grad->end()) ==
              std::vector<float>(pm[i].grad->begin(), pm[i].grad->end()));
    }
}

TEST_CASE("Sequential lets BatchNorm apply the ReLU after it, with the same outputs and gradients as the two layers",
          "[model]") {
    Sequential<float> model(Shape(1, 3, 4, 6), 23);
    model.set_threads(2);
    auto& bn = model.add(BatchNorm<float>());
    model.add(ReLU<float>());
    model.add(Conv2D<float>(2, 3));
    auto& flat_bn = model.add(BatchNorm<float>());  // 2 x 4 x 6: fused too
    model.add(ReLU<float>());
    model.add(Flatten<float>());
    model.add(BatchNorm<float>());  // flat features: not fused
    model.add(ReLU<float>());
    CHECK(bn.relu_fused());
    CHECK(flat_bn.relu_fused());
    CHECK_FALSE(dynamic_cast<BatchNorm<float>&>(model.layer(6)).relu_fused());

    // the same layers, run one by one without fusion, with the model's parameters
    Rng rng(9);
    for (auto& p : model.params())
        for (auto& v : *p.value) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    std::vector<LayerPtr<float>> plain;
    for (std::size_t i = 0; i < model.size(); ++i) plain.push_back(make_layer<float>(model.layer(i).type(), model.layer(i).config()));
    Shape shape = model.input_shape();
    Rng build_rng(1);
    for (std::size_t i = 0; i < plain.size(); ++i) {
        plain[i]->build(shape, build_rng);
        auto from = model.layer(i).params();
        auto to = plain[i]->params();
        for (std::size_t j = 0; j < to.size(); ++j) *to[j].value = *from[j].value;
        shape = plain[i]->output_shape(shape);
    }
    const Tensor<float> x = deepcnn_test::random_tensor<float>(Shape(5, 3, 4, 6), rng);
    const Tensor<float> y = model.forward(x);
    Tensor<float> a = x;
    for (auto& layer : plain) a = layer->forward(a);
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>(a.begin(), a.end()));

    const Tensor<float> dy = deepcnn_test::random_tensor<float>(y.shape(), rng);
    const Tensor<float> dx = model.backward(dy);
    Tensor<float> g = dy;
    for (std::size_t i = plain.size(); i-- > 0;) g = plain[i]->backward(g);
    CHECK(std::vector<float>(dx.begin(), dx.end()) == std::vector<float>(g.begin(), g.end()));
    for (std::size_t i = 0; i < plain.size(); ++i) {
        auto fused = model.layer(i).params();
        auto reference = plain[i]->params();
        for (std::size_t j = 0; j < reference.size(); ++j)
            CHECK(std::vector<float>(fused[j].grad->begin(), fused[j].grad->end()) ==
                  std::vector<float>(reference[j].grad->begin(), reference[j].grad->end()));
    }
}

namespace {

// Sets every parameter and buffer element i of `model` to base + 0.01 i.
void fill_model(Sequential<double>& model, double base) {
    auto set = [&](Tensor<double>& t) {
        for (std::size_t i = 0; i < t.size(); ++i) t[i] = base + 0.01 * double(i);
    };
    for (const auto& p : model.params()) set(*p.value);
    for (const auto& b : model.buffers()) set(*b.value);
}

// Every parameter and buffer of `model`, in order, as one list.
std::vector<double> model_values(Sequential<double>& model) {
    std::vector<double> values;
    for (const auto& p : model.params()) values.insert(values.end(), p.value->begin(), p.value->end());
    for (const auto& b : model.buffers()) values.insert(values.end(), b.value->begin(), b.value->end());
    return values;
}

}  // namespace

TEST_CASE("Sequential times each layer's passes and the optimizer only while asked, without changing results",
          "[model]") {
    Sequential<float> timed = small_net<float>(3), plain = small_net<float>(3);
    Rng rng(4);
    const Tensor<float> x = random_tensor<float>(Shape(6, 1, 8, 8), rng);
    const std::vector<int> labels = {0, 1, 2, 0, 1, 2};
    SoftmaxCrossEntropy<float> loss;
    Adam<float> adam_timed(1e-2), adam_plain(1e-2);

    timed.train_step(x, labels, loss, adam_timed);
    plain.train_step(x, labels, loss, adam_plain);
    REQUIRE(timed.timings().layers.size() == timed.size());
    for (const auto& layer : timed.timings().layers) CHECK(layer.forward_calls + layer.backward_calls == 0);

    timed.set_timing(true);
    for (int step = 0; step < 3; ++step) {
        timed.train_step(x, labels, loss, adam_timed);
        plain.train_step(x, labels, loss, adam_plain);
    }
    const ModelTimings& timings = timed.timings();
    double total = 0.0;
    for (std::size_t i = 0; i < timed.size(); ++i) {
        const LayerTiming& layer = timings.layers[i];
        INFO(layer.name);
        CHECK(layer.name == timed.layer_name(i));
        const std::string type = timed.layer(i).type();
        // the ReLU after BatchNorm is fused into it; train_step stops before the Softmax (the loss replaces it)
        const long expected = (type == "ReLU" || type == "Softmax") ? 0 : 3;
        CHECK(layer.forward_calls == expected);
        CHECK(layer.backward_calls == expected);
        CHECK(layer.forward_seconds >= 0.0);
        CHECK(layer.backward_seconds >= 0.0);
        if (expected == 0) CHECK(layer.forward_seconds + layer.backward_seconds == 0.0);
        total += layer.forward_seconds + layer.backward_seconds;
    }
    CHECK(total > 0.0);
    CHECK(timings.optimizer_steps == 3);
    for (std::size_t i = 0; i < timed.params().size(); ++i) {
        const Tensor<float>& a = *timed.params()[i].value;
        const Tensor<float>& b = *plain.params()[i].value;
        CHECK(std::equal(a.begin(), a.end(), b.begin()));
    }

    timed.forward(x);  // forward() runs the Softmax too
    CHECK(timings.layers.back().forward_calls == 1);
    timed.reset_timings();
    CHECK(timings.layers[0].name == "conv2d_1");
    CHECK(timings.layers[0].forward_calls == 0);
    CHECK(timings.layers[0].forward_seconds == 0.0);
    CHECK(timings.optimizer_steps == 0);
    timed.set_timing(false);
    timed.train_step(x, labels, loss, adam_timed);
    CHECK(timings.layers[0].forward_calls == 0);
}

TEST_CASE("WeightAverage averages parameters and BatchNorm statistics with the documented decay", "[model][average]") {
    Sequential<double> model = small_net<double>();
    WeightAverage<double> average(0.3);
    CHECK_THROWS_WITH(average.swap_with(model), Catch::Contains("swap_with before the first update"));
    CHECK_THROWS_WITH(WeightAverage<double>(1.0), Catch::Contains("decay must be in [0, 1)"));

    // A plain reference: the first update copies, update n (counted from 0) keeps min(decay, (1 + n) / (10 + n)).
    fill_model(model, 1.0);
    std::vector<double> expected = model_values(model);
    average.update(model);
    const double bases[] = {2.0, -3.0, 0.5, 4.0};
    for (int n = 1; n <= 4; ++n) {
        const double keep = std::min(0.3, (1.0 + n) / (10.0 + n));
        CHECK(average.next_decay() == Approx(keep));
        fill_model(model, bases[n - 1]);
        const std::vector<double> current = model_values(model);
        for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = keep * expected[i] + (1.0 - keep) * current[i];
        average.update(model);
    }
    CHECK(average.updates() == 5);
    CHECK(average.next_decay() == 0.3);

    const std::vector<double> trained = model_values(model);
    average.swap_with(model);
    const std::vector<double> swapped = model_values(model);
    REQUIRE(swapped.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) REQUIRE(swapped[i] == Approx(expected[i]).epsilon(1e-12));
    average.swap_with(model);
    CHECK(model_values(model) == trained);
}

TEST_CASE("WeightAverage travels in a checkpoint's optimizer state and resumes exactly", "[model][average][io]") {
    Sequential<double> model = small_net<double>();
    WeightAverage<double> average(0.9);
    for (int n = 0; n < 3; ++n) {
        fill_model(model, double(n));
        average.update(model);
    }
    Adam<double> adam(1e-3);
    OptimizerState<double> state = adam.state();
    average.store(state);
    adam.set_state(state);
    SavedOptimizer<double> saved;
    Sequential<double> loaded = decode_model<double>(encode_model(model, {}, &adam), "ckpt.dcnn", nullptr, &saved);
    REQUIRE(WeightAverage<double>::stored_in(saved.state));

    WeightAverage<double> resumed(0.9);
    resumed.restore(saved.state, loaded, "ckpt.dcnn");
    CHECK(resumed.updates() == 3);
    fill_model(model, 7.0);
    fill_model(loaded, 7.0);
    average.update(model);
    resumed.update(loaded);
    average.swap_with(model);
    resumed.swap_with(loaded);
    CHECK(model_values(loaded) == model_values(model));

    WeightAverage<double> fresh(0.9);
    CHECK_FALSE(WeightAverage<double>::stored_in(OptimizerState<double>{}));
    CHECK_THROWS_WITH(fresh.restore(OptimizerState<double>{}, model, "a.dcnn"),
                      Catch::Equals("a.dcnn: holds no weight average"));
    OptimizerState<double> missing = saved.state;
    missing.tensors.erase("average/dense_7.bias");
    CHECK_THROWS_WITH(fresh.restore(missing, model, "b.dcnn"), Catch::Equals("b.dcnn: weight average lacks dense_7.bias"));
    Sequential<double> other = small_net<double>(1, 5);
    CHECK_THROWS_WITH(fresh.restore(saved.state, other, "c.dcnn"),
                      Catch::StartsWith("c.dcnn: weight average of dense_7.weight has shape"));
}

TEST_CASE("Sequential refuses non-finite inputs, naming the sample and element", "[model][errors]") {
    // Issue 25: one NaN pixel trained silently (ReLU maps NaN to 0, so the loss stayed finite).
    Sequential<float> model = small_net<float>();
    Adam<float> adam(1e-3);
    SoftmaxCrossEntropy<float> loss;
    Rng rng(3);
    Tensor<float> x(Shape(4, 1, 8, 8));
    for (auto& v : x) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    const std::vector<float> before = values(*model.params()[0].value);
    x.sample(2)[17] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(model.train_step(x, {0, 1, 2, 0}, loss, adam),
                      "Sequential::train_step: input sample 2 holds a non-finite value (nan) at element 17");
    CHECK(values(*model.params()[0].value) == before);  // refused before anything moved
    x.sample(2)[17] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(model.predict(x), data_error);
    CHECK_THROWS_WITH(model.evaluate(x, {0, 1, 2, 0}), Catch::Contains("(inf) at element 17"));
}

TEST_CASE("Sequential's predict and evaluate stop with cancelled once the caller's flag is set", "[model]") {
    Sequential<float> model = small_net<float>();
    Tensor<float> x(Shape(3, 1, 8, 8), 0.5f);
    CancelFlag flag{0};
    model.set_cancel_flag(&flag);
    CHECK(model.predict(x, 2).n() == 3);
    flag = 15;
    CHECK_THROWS_WITH(model.predict(x, 2), "interrupted while predicting");
    CHECK_THROWS_AS(model.evaluate(x, {0, 1, 2}, 2), cancelled);
    model.eval();
    CHECK_THROWS_WITH(model.forward(x), "interrupted while evaluating the model");  // polled per layer in eval mode
    CHECK_THROWS_WITH(model.backward(x), Catch::Contains("without a forward pass"));  // nothing half-done to use
    model.train();
    CHECK(model.forward(x).n() == 3);  // a training pass is never cut
    model.set_cancel_flag(nullptr);
    CHECK(model.predict(x, 2).n() == 3);
}
