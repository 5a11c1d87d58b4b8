// tests/model/test_inference_plan.cpp: inference folding (model/inference_plan.hpp). predict and evaluate with the
// BatchNorms folded into the convolutions and the ReLUs fused give the layer-by-layer results within float rounding
// on the FER nets (fer, seed, large, resnet) and within 1e-12 in double, bit-identically on 1, 2 and 3 threads; the
// plan follows every change of the parameters; training and activations() are not touched by it; the forward
// variants' weights prepared once give the bits of weights prepared per call; Dropout is skipped.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include "../../examples/fer_nets.hpp"
#include "../kernels/isa_passes.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

using namespace deepcnn;

namespace {

template <class Scalar>
Tensor<Scalar> folding_inputs(const Shape& shape, int n, std::uint64_t seed) {
    Tensor<Scalar> x(shape.with_batch(n));
    Rng rng(seed);
    for (auto& v : x) v = static_cast<Scalar>(rng.normal());
    return x;
}

// BatchNorm statistics and scales as after training (the fresh ones are nearly the identity, which folds to almost
// nothing): gamma in [0.5, 1.5], beta and the running mean N(0, 0.5), the running variance in [0.2, 2].
template <class Model>
void randomize_batch_norms(Model& model, std::uint64_t seed) {
    Rng rng(seed);
    for (auto& p : model.params()) {
        const std::string& name = p.name;
        const auto ends_with = [&](const std::string& end) {
            return name.size() > end.size() && name.compare(name.size() - end.size(), end.size(), end) == 0;
        };
        for (auto& v : *p.value) {
            if (ends_with(".gamma")) v = static_cast<typename Model::scalar_type>(0.5 + rng.uniform());
            if (ends_with(".beta")) v = static_cast<typename Model::scalar_type>(0.5 * rng.normal());
        }
    }
    for (auto& b : model.buffers()) {
        const bool mean = b.name.find("running_mean") != std::string::npos;
        for (auto& v : *b.value)
            v = static_cast<typename Model::scalar_type>(mean ? 0.5 * rng.normal() : 0.2 + 1.8 * rng.uniform());
    }
}

// Logits with folding on (through the plan the model holds, if any) and off.
template <class Model, class Scalar = typename Model::scalar_type>
std::pair<Tensor<Scalar>, Tensor<Scalar>> folded_and_plain(Model& model, const Tensor<Scalar>& x) {
    Tensor<Scalar> folded = model.infer_logits(x);
    model.set_folding(false);
    Tensor<Scalar> plain = model.infer_logits(x);
    model.set_folding(true);
    return {folded, plain};
}

template <class Scalar>
double max_abs_difference(const Tensor<Scalar>& a, const Tensor<Scalar>& b) {
    REQUIRE(a.shape() == b.shape());
    double worst = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
    return worst;
}

template <class Scalar>
double max_abs(const Tensor<Scalar>& a) {
    double worst = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(double(a[i])));
    return worst;
}

// Whether the folded logits of `model` on x equal the plain ones to 1e-12 of their largest (double), on logits that
// are not all near zero.
template <class Model>
bool folds_exactly(Model& model, const Tensor<double>& x) {
    const auto [folded, plain] = folded_and_plain(model, x);
    CHECK(max_abs(plain) > 0.1);
    return max_abs_difference(folded, plain) <= 1e-12 * std::max(1.0, max_abs(plain));
}

template <class Scalar>
bool same_bits(const Tensor<Scalar>& a, const Tensor<Scalar>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Scalar)) == 0;
}

// conv(bias) -> BatchNorm -> ReLU, conv(no bias) -> BatchNorm, conv -> ReLU, a BatchNorm after a ReLU (not folded),
// then Dropout (skipped), Dense -> BatchNorm -> ReLU (not folded: a Dense) and Dense.
template <class Scalar>
Sequential<Scalar> small_chain(std::uint64_t seed) {
    Sequential<Scalar> model(Shape(1, 3, 10, 10), seed);
    model.add(Conv2D<Scalar>(6, 3));
    model.add(BatchNorm<Scalar>(0.9, 1e-5));
    model.add(ReLU<Scalar>());
    model.add(Conv2D<Scalar>(8, 3).with_bias(false).with_stride(2));
    model.add(BatchNorm<Scalar>(0.9, 1e-3));
    model.add(Conv2D<Scalar>(8, 1));
    model.add(ReLU<Scalar>());
    model.add(BatchNorm<Scalar>());
    model.add(Conv2D<Scalar>(8, 3).with_groups(4));
    model.add(BatchNorm<Scalar>());
    model.add(ReLU<Scalar>());
    model.add(Flatten<Scalar>());
    model.add(Dropout<Scalar>(0.5));
    model.add(Dense<Scalar>(12));
    model.add(BatchNorm<Scalar>());
    model.add(ReLU<Scalar>());
    model.add(Dense<Scalar>(4));
    model.add(Softmax<Scalar>());
    return model;
}

// A graph where folding must respect other readers: a BatchNorm read by a ReLU and an Add (folded into its
// convolution, the ReLU runs on its own), a convolution read by a BatchNorm and a MaxPool (not folded), a Dropout
// (skipped) read by the classifier.
template <class Scalar>
Graph<Scalar> small_graph(std::uint64_t seed) {
    Graph<Scalar> g(Shape(1, 2, 8, 8), seed);
    g.add("c1", Conv2D<Scalar>(4, 3), {"input"});
    g.add("b1", BatchNorm<Scalar>(0.9, 1e-5), {"c1"});
    g.add("r1", ReLU<Scalar>(), {"b1"});
    g.add("sum", Add<Scalar>(), {"r1", "b1"});
    g.add("c2", Conv2D<Scalar>(4, 3).with_bias(false), {"sum"});
    g.add("b2", BatchNorm<Scalar>(0.9, 1e-5), {"c2"});
    g.add("pool", MaxPool2D<Scalar>(1), {"c2"});
    g.add("cat", Concat<Scalar>(), {"b2", "pool"});
    g.add("c3", Conv2D<Scalar>(4, 3).with_bias(false), {"cat"});
    g.add("b3", BatchNorm<Scalar>(0.9, 1e-5), {"c3"});
    g.add("r3", ReLU<Scalar>(), {"b3"});
    g.add("gap", GlobalAvgPool2D<Scalar>(), {"r3"});
    g.add("drop", Dropout<Scalar>(0.3), {"gap"});
    g.add("logits", Dense<Scalar>(3), {"drop"});
    return g;
}

}  // namespace

TEST_CASE("Folded inference on the FER nets matches the layers within float rounding, on any thread count",
          "[model][inference_plan]") {
    for (const std::string name : {"fer", "seed", "large", "resnet"}) {
        INFO("net " << name);
        fer::AnyNet net = fer::make_net(name, 7, 3);
        std::visit(
            [&](auto& model) {
                randomize_batch_norms(model, 11);
                const Tensor<float> x = folding_inputs<float>(model.input_shape(), 2, 5);
                model.set_threads(2);
                const auto [folded, plain] = folded_and_plain(model, x);
                const double scale = std::max(1.0, max_abs(plain));
                const double difference = max_abs_difference(folded, plain);
                INFO("largest logit " << max_abs(plain) << ", largest difference " << difference);
                CHECK(difference <= 2e-5 * scale);
                if (name == "seed") {
                    CHECK(difference == 0.0);  // ReLU then BatchNorm: only the ReLUs are fused, which is exact
                } else {
                    CHECK(difference > 0.0);  // the folded path ran (the weights are rounded once more)
                }

                for (int threads : {1, 3}) {
                    model.set_threads(threads);
                    CHECK(same_bits(model.infer_logits(x), folded));
                }
            },
            net);
    }
}

TEST_CASE("Folded inference equals the layers to 1e-12 in double", "[model][inference_plan]") {
    SECTION("Sequential") {
        Sequential<double> model = small_chain<double>(4);
        randomize_batch_norms(model, 8);
        CHECK(folds_exactly(model, folding_inputs<double>(model.input_shape(), 5, 9)));
    }
    SECTION("Graph, with values read twice") {
        Graph<double> model = small_graph<double>(6);
        randomize_batch_norms(model, 10);
        CHECK(folds_exactly(model, folding_inputs<double>(model.input_shape(), 4, 12)));
    }
}

TEST_CASE("An inference skips Dropout and runs MaxPool2D without its argmax", "[model][inference_plan]") {
    Sequential<float> model(Shape(1, 2, 8, 8), 3);
    model.add(Conv2D<float>(4, 3));
    model.add(MaxPool2D<float>(2));
    model.add(Dropout<float>(0.5));
    model.add(Flatten<float>());
    model.add(Dense<float>(3));
    const Tensor<float> x = folding_inputs<float>(model.input_shape(), 3, 4);
    model.set_timing(true);
    const auto [folded, plain] = folded_and_plain(model, x);
    CHECK(same_bits(folded, plain));
    // folding off ran the Dropout once (a copy in eval mode); the plan did not
    CHECK(model.timings().layers[2].forward_calls == 1);
    CHECK(model.timings().layers[1].forward_calls == 2);
    // nothing is left to back-propagate after either inference: a training step still works
    SoftmaxCrossEntropy<float> loss;
    Adam<float> optimizer(1e-3);
    CHECK(std::isfinite(model.train_step(x, {0, 1, 2}, loss, optimizer).loss));
}

TEST_CASE("The inference plan follows the parameters: train_step, params(), buffers(), layer()",
          "[model][inference_plan]") {
    Sequential<double> model = small_chain<double>(2);
    randomize_batch_norms(model, 3);
    const Tensor<double> x = folding_inputs<double>(model.input_shape(), 4, 1);
    const auto agrees = [&] { return folds_exactly(model, x); };
    const Tensor<double> before = model.predict(x);
    REQUIRE(agrees());

    model.infer_logits(x);  // a plan is built
    auto& bn = dynamic_cast<BatchNorm<double>&>(model.layer(1));  // and dropped
    bn.running_var()[0] = 7.0;
    bn.gamma()[1] = -2.0;
    CHECK(agrees());
    CHECK(max_abs_difference(model.predict(x), before) > 1e-3);

    model.infer_logits(x);
    (*model.buffers()[0].value)[2] = 3.0;
    CHECK(agrees());
    model.infer_logits(x);
    (*model.params()[0].value)[0] = -1.5;
    CHECK(agrees());

    // A write through a reference kept from add() is not seen until parameters_changed() (as documented): the
    // stale plan shows that the checks above can fail.
    Sequential<double> kept(Shape(1, 1, 6, 6), 1);
    auto& conv = kept.add(Conv2D<double>(2, 3));
    auto& norm = kept.add(BatchNorm<double>());
    kept.add(Flatten<double>());
    const Tensor<double> y = folding_inputs<double>(kept.input_shape(), 2, 4);
    kept.infer_logits(y);
    conv.weight()[0] += 1.0;
    norm.running_mean()[1] = 0.75;
    const Tensor<double> stale = kept.infer_logits(y);
    kept.parameters_changed();
    CHECK(folds_exactly(kept, y));
    CHECK(max_abs_difference(stale, kept.infer_logits(y)) > 1e-3);

    // train_step changes the weights and BatchNorm statistics
    SoftmaxCrossEntropy<double> loss;
    Sgd<double> sgd(0.1);
    model.infer_logits(x);
    model.train_step(x, {0, 1, 2, 3}, loss, sgd);
    CHECK(agrees());
}

TEST_CASE("Inference folding leaves training, backward and activations() alone", "[model][inference_plan]") {
    const Tensor<float> x = folding_inputs<float>(Shape(1, 1, 48, 48), 4, 2);
    const std::vector<int> labels{0, 1, 2, 1};
    SoftmaxCrossEntropy<float> loss;
    // the same steps with and without predictions (folded) between them: the same weights, bit for bit
    Sequential<float> a = std::get<Sequential<float>>(fer::make_net("fer", 3, 1));
    Sequential<float> b = std::get<Sequential<float>>(fer::make_net("fer", 3, 1));
    Adam<float> adam_a(1e-3), adam_b(1e-3);
    for (int step = 0; step < 2; ++step) {
        a.train_step(x, labels, loss, adam_a);
        a.predict(x);
        a.evaluate(x, labels);
        b.train_step(x, labels, loss, adam_b);
    }
    for (std::size_t k = 0; k < a.params().size(); ++k) CHECK(same_bits(*a.params()[k].value, *b.params()[k].value));
    for (std::size_t k = 0; k < a.buffers().size(); ++k)
        CHECK(same_bits(*a.buffers()[k].value, *b.buffers()[k].value));

    // after a folded pass there is nothing to back-propagate
    Sequential<double> chain = small_chain<double>(1);
    const Tensor<double> xd = folding_inputs<double>(chain.input_shape(), 2, 3);
    chain.infer_logits(xd);
    CHECK_THROWS_WITH(chain.backward(Tensor<double>(Shape(2, 4, 1, 1), 1.0)),
                      "Sequential::backward called without a forward pass");
    Graph<double> graph = small_graph<double>(1);
    graph.infer_logits(folding_inputs<double>(graph.input_shape(), 2, 3));
    CHECK_THROWS_WITH(graph.backward(Tensor<double>(Shape(2, 3, 1, 1), 1.0)),
                      "Graph::backward called without a forward pass");

    // activations() still shows each layer's own output: the BatchNorm's differs from its convolution's
    randomize_batch_norms(chain, 5);
    chain.predict(xd);
    const std::vector<Tensor<double>> outputs = chain.activations(xd);
    CHECK(max_abs_difference(outputs[0], outputs[1]) > 1e-3);
    Tensor<double> relu = outputs[1];
    for (auto& v : relu) v = v > 0.0 ? v : 0.0;
    CHECK(same_bits(outputs[2], relu));
}

TEST_CASE("A convolution's forward with the ReLU folded in equals the forward then max(y, 0), in every variant",
          "[model][inference_plan][kernels]") {
    Sequential<float> model(Shape(1, 8, 12, 12), 3);
    auto& conv = model.add(Conv2D<float>(16, 3));
    model.add(ReLU<float>());
    const Tensor<float> x = folding_inputs<float>(model.input_shape(), 2, 6);
    Tensor<float> y = conv.forward(x);
    for (auto& v : y) v = std::max(v, 0.0f);
    Tensor<float> fused;
    conv.forward_folded(x, fused, conv.weight(), conv.bias(), true);
    CHECK(same_bits(fused, y));
    CHECK_THROWS_WITH(conv.forward_folded(x, fused, Tensor<float>(Shape(1, 1, 1, 1)), conv.bias(), true),
                      "layer 1 (Conv2D): folded weight (1, 1, 1, 1) and bias (1, 16, 1, 1), expected (16, 8, 3, 3) "
                      "and (1, 16, 1, 1)");
    CHECK_THROWS_WITH(conv.forward_folded(Tensor<float>(Shape(1, 3, 12, 12)), fused, conv.weight(), conv.bias(), true),
                      "layer 1 (Conv2D): expected input (8, 12, 12), got (1, 3, 12, 12)");
}

TEST_CASE("Weights prepared once give the bits of weights prepared on every call, as the variant changes",
          "[model][inference_plan]") {
    // Two copies of the fer net, one keeping its prepared weights, through batch sizes, thread counts and instruction
    // sets that change the forward variants (batch 1 and 4 run broadcast and Winograd on the 12x12 layers).
    Sequential<float> kept = std::get<Sequential<float>>(fer::make_net("fer", 3, 1));
    Sequential<float> per_call = std::get<Sequential<float>>(fer::make_net("fer", 3, 1));
    randomize_batch_norms(kept, 13);
    randomize_batch_norms(per_call, 13);
    per_call.set_prepared_weights(false);
    CHECK(kept.prepared_weights());
    CHECK_FALSE(per_call.prepared_weights());
    for_each_isa([&](Isa) {
        for (int n : {1, 4, 1})
            for (int threads : {1, 2}) {
                INFO(n << " images on " << threads << " threads");
                const Tensor<float> x = folding_inputs<float>(kept.input_shape(), n, 20 + n);
                kept.set_threads(threads);
                per_call.set_threads(threads);
                const Tensor<float> first = kept.infer_logits(x);
                CHECK(same_bits(first, per_call.infer_logits(x)));
                CHECK(same_bits(kept.infer_logits(x), first));
            }
    });
}

TEST_CASE("Weights prepared once are kept until the plan is dropped", "[model][inference_plan]") {
    // conv -> ReLU folds without a BatchNorm: the plan runs the layer's own weights, so a write through a reference
    // kept from add() shows which weights the forward read. 32 channels of 12x12 run broadcast (AVX-512) or the
    // transposed Winograd (AVX2) at batch 1, both of which prepare their weights.
    for_each_isa([&](Isa isa) {
        Sequential<float> model(Shape(1, 32, 12, 12), 2);
        auto& conv = model.add(Conv2D<float>(64, 3));
        model.add(ReLU<float>());
        model.add(Flatten<float>());
        const Tensor<float> x = folding_inputs<float>(model.input_shape(), 1, 3);
        const Tensor<float> before = model.infer_logits(x);
        for (auto& w : conv.weight()) w = -w;
        const Tensor<float> after_write = model.infer_logits(x);
        model.set_prepared_weights(false);
        const Tensor<float> read_per_call = model.infer_logits(x);
        if (isa != Isa::portable) {
            const std::string plan = conv.kernel_plan();
            CHECK((plan.find("forward broadcast") != std::string::npos ||
                   plan.find("forward winograd_transposed") != std::string::npos));
            CHECK(same_bits(after_write, before));  // the weights prepared before the write
            CHECK_FALSE(same_bits(read_per_call, before));
        }
        model.set_prepared_weights(true);
        model.parameters_changed();
        CHECK(same_bits(model.infer_logits(x), read_per_call));
    });
}
