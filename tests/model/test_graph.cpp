// tests/model/test_graph.cpp: the Graph model: building residual and branching nets, shape inference and the
// errors that name the node, the summary's inputs, a chain that trains bit-identically to the same Sequential, a
// gradient check of the whole graph where one tensor feeds several nodes (gradients summed), BatchNorm + ReLU fused
// only where the BatchNorm has one consumer, and training bit-identical on 1, 2 and 3 threads.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include "gradient_check.hpp"

#include <limits>
#include <string>
#include <vector>

using namespace deepcnn;
using deepcnn_test::check_gradients;
using deepcnn_test::GradientProbe;
using deepcnn_test::random_tensor;

namespace {

// conv-bn-relu stem, then a residual block (conv-bn-relu-conv-bn + skip, add, relu), a branch joined by Concat,
// then pooling and a classifier, on 1 x 8 x 8 images.
template <class Scalar>
Graph<Scalar> residual_test_graph(std::uint64_t seed = 1, int threads = 1) {
    Graph<Scalar> g(Shape(1, 1, 8, 8), seed);
    g.set_threads(threads);
    g.add("stem", Conv2D<Scalar>(4, 3), {"input"});
    g.add("stem_bn", BatchNorm<Scalar>(), {"stem"});
    g.add("stem_relu", ReLU<Scalar>(), {"stem_bn"});
    g.add("res_conv1", Conv2D<Scalar>(4, 3), {"stem_relu"});
    g.add("res_bn1", BatchNorm<Scalar>(), {"res_conv1"});
    g.add("res_relu1", ReLU<Scalar>(), {"res_bn1"});
    g.add("res_conv2", Conv2D<Scalar>(4, 3), {"res_relu1"});
    g.add("res_bn2", BatchNorm<Scalar>(), {"res_conv2"});
    g.add("res_add", Add<Scalar>(), {"stem_relu", "res_bn2"});
    g.add("res_relu", ReLU<Scalar>(), {"res_add"});
    g.add("branch", Conv2D<Scalar>(2, 1), {"res_relu"});
    g.add("join", Concat<Scalar>(), {"res_relu", "branch"});
    g.add("pool", MaxPool2D<Scalar>(2), {"join"});
    g.add("flatten", Flatten<Scalar>(), {"pool"});
    g.add("logits", Dense<Scalar>(3), {"flatten"});
    g.add("softmax", Softmax<Scalar>(), {"logits"});
    return g;
}

template <class Scalar>
std::vector<Scalar> graph_param_values(const std::vector<ParamRef<Scalar>>& params) {
    std::vector<Scalar> values;
    for (auto& p : params) values.insert(values.end(), p.value->begin(), p.value->end());
    return values;
}

}  // namespace

TEST_CASE("Graph infers every node's shape and shows each node's inputs", "[model][graph]") {
    Graph<float> g = residual_test_graph<float>();
    CHECK(g.size() == 16);
    CHECK(g.node_shape(8) == Shape(1, 4, 8, 8));
    CHECK(g.node_shape(11) == Shape(1, 6, 8, 8));
    CHECK(g.output_shape() == Shape(1, 3, 1, 1));
    CHECK(g.node_inputs(8) == std::vector<std::string>{"stem_relu", "res_bn2"});
    CHECK(g.params().front().name == "stem.weight");
    CHECK(g.buffers().front().name == "stem_bn.running_mean");
    const std::string summary = g.summary();
    CHECK_THAT(summary, Catch::Matchers::StartsWith("Model: Graph<float>\n"));
    CHECK_THAT(summary, Catch::Matchers::Contains("Connected to"));
    CHECK_THAT(summary, Catch::Matchers::Contains("res_add (Add)"));
    CHECK_THAT(summary, Catch::Matchers::Contains("stem_relu, res_bn2"));
    CHECK_THAT(summary, Catch::Matchers::Contains("Total params: " + std::to_string(g.parameter_count()) + "\n"));
}

TEST_CASE("Graph errors name the node", "[model][graph][errors]") {
    Graph<float> g(Shape(1, 3, 24, 24));
    g.add("a", Conv2D<float>(64, 3), {"input"});
    g.add("b", Conv2D<float>(32, 3), {"input"});
    CHECK_THROWS_WITH(g.add("res2_add", Add<float>(), {"a", "b"}),
                      "node \"res2_add\" (Add): inputs (64, 24, 24) and (32, 24, 24) differ");
    CHECK_THROWS_WITH(g.add("c", Conv2D<float>(8, 3), {"a", "b"}), "node \"c\" (Conv2D): takes one input, got 2");
    CHECK_THROWS_WITH(g.add("c", ReLU<float>(), {"nowhere"}), "node \"c\" (ReLU): unknown input \"nowhere\"");
    CHECK_THROWS_WITH(g.add("a", ReLU<float>(), {"b"}), "node \"a\" (ReLU): the name is taken");
    CHECK_THROWS_WITH(g.add("input", ReLU<float>(), {"b"}), "node \"input\" (ReLU): the name is taken");
    CHECK_THROWS_WITH(g.add("x.y", ReLU<float>(), {"b"}),
                      "node \"x.y\" (ReLU): the name \"x.y\" must be non-empty, without '.' or '/'");
    CHECK_THROWS_WITH(g.add("d", Dense<float>(4), {}), "node \"d\" (Dense): needs an input");
    CHECK_THROWS_AS(g.add("e", Conv2D<float>(8, 30).with_padding(Padding::valid()), {"a"}), shape_error);
    // a failed add leaves the graph as it was
    CHECK(g.size() == 2);
    const Tensor<float> x(Shape(2, 3, 24, 24));
    CHECK_THROWS_WITH(g.forward(x), "Graph: node \"a\" (Conv2D) feeds no other node and is not the output (the last "
                                    "node added)");
    g.add("sum", Add<float>(), {"a", "a"});
    g.add("out", Concat<float>(), {"sum", "b"});
    CHECK_NOTHROW(g.forward(x));
    CHECK_THROWS_WITH(g.forward(Tensor<float>(Shape(2, 3, 24, 23))), "Graph: expected input (3, 24, 24), got (3, 24, 23)");
    CHECK_THROWS_WITH(Graph<float>(Shape(1, 1, 4, 4)).backward(x), "Graph::backward called without a forward pass");
}

TEST_CASE("A Graph chain trains bit-identically to the same Sequential", "[model][graph]") {
    Sequential<float> seq(Shape(1, 1, 8, 8), 7);
    Graph<float> g(Shape(1, 1, 8, 8), 7);
    seq.set_threads(1);
    g.set_threads(1);
    std::string previous = "input";
    const auto both = [&](auto&& layer) {
        seq.add(layer);
        const std::string name = "n" + std::to_string(g.size());
        g.add(name, layer, {previous});
        previous = name;
    };
    both(Conv2D<float>(4, 3));
    both(BatchNorm<float>());
    both(ReLU<float>());
    both(MaxPool2D<float>(2));
    both(Flatten<float>());
    both(Dropout<float>(0.25));
    both(Dense<float>(3));
    both(Softmax<float>());
    CHECK(g.fused(2));
    Rng rng(3);
    const Tensor<float> x = random_tensor<float>(Shape(6, 1, 8, 8), rng);
    const std::vector<int> labels{0, 1, 2, 2, 1, 0};
    SoftmaxCrossEntropy<float> loss;
    Adam<float> seq_adam(1e-2), graph_adam(1e-2);
    for (int step = 0; step < 3; ++step) {
        const StepResult a = seq.train_step(x, labels, loss, seq_adam);
        const StepResult b = g.train_step(x, labels, loss, graph_adam);
        CHECK(a.loss == b.loss);
        CHECK(a.correct == b.correct);
    }
    CHECK(graph_param_values(seq.params()) == graph_param_values(g.params()));
    const Tensor<float> p = seq.predict(x), q = g.predict(x);
    CHECK(std::vector<float>(p.begin(), p.end()) == std::vector<float>(q.begin(), q.end()));
    const Evaluation e = seq.evaluate(x, labels), f = g.evaluate(x, labels);
    CHECK(e.loss == f.loss);
    CHECK(e.accuracy == f.accuracy);
}

TEST_CASE("Graph gradients, summed over every reader of a tensor, match central differences",
          "[model][graph][gradient]") {
    Graph<double> g = residual_test_graph<double>(5);
    Rng rng(11);
    for (auto& p : g.params())
        for (auto& v : *p.value) v = rng.uniform(-1.0, 1.0);
    Tensor<double> x = random_tensor(Shape(3, 1, 8, 8), rng);
    g.train();  // BatchNorm on batch statistics: a deterministic function of x and the parameters
    const Tensor<double> y0 = g.forward(x);
    const Tensor<double> dy = random_tensor(y0.shape(), rng);
    for (auto& p : g.params()) p.grad->fill(std::numeric_limits<double>::quiet_NaN());
    const Tensor<double> dx = g.backward(dy);
    std::vector<GradientProbe> probes;
    probes.push_back({"input", &x, dx});
    for (auto& p : g.params()) probes.push_back({p.name, p.value, *p.grad});
    check_gradients([&] { return deepcnn_test::dot(g.forward(x), dy); }, probes);
}

TEST_CASE("Graph fuses BatchNorm + ReLU only while the BatchNorm has no other reader", "[model][graph]") {
    Graph<double> g(Shape(1, 2, 4, 4), 3);
    g.add("bn", BatchNorm<double>(), {"input"});
    g.add("relu", ReLU<double>(), {"bn"});
    CHECK(g.fused(1));
    auto& bn = dynamic_cast<BatchNorm<double>&>(g.layer("bn"));
    CHECK(bn.relu_fused());
    g.add("skip", Add<double>(), {"relu", "bn"});  // now the BatchNorm's output is read as it is
    CHECK_FALSE(g.fused(1));
    CHECK_FALSE(bn.relu_fused());
    Rng rng(8);
    const Tensor<double> x = random_tensor(Shape(2, 2, 4, 4), rng);
    Graph<double> alone(Shape(1, 2, 4, 4), 3);
    alone.add("bn", BatchNorm<double>(), {"input"});
    const Tensor<double> normalised = alone.forward(x);
    const Tensor<double> y = g.forward(x);
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == std::max(normalised[i], 0.0) + normalised[i]);
}

TEST_CASE("Graph trains bit-identically on 1, 2 and 3 threads", "[model][graph][threads]") {
    Rng rng(9);
    const Tensor<float> x = random_tensor<float>(Shape(5, 1, 8, 8), rng);
    const std::vector<int> labels{0, 1, 2, 1, 0};
    std::vector<std::vector<float>> finals;
    for (int threads : {1, 2, 3}) {
        Graph<float> g = residual_test_graph<float>(42, threads);
        CHECK(g.threads() == threads);
        SoftmaxCrossEntropy<float> loss;
        Adam<float> optimizer(1e-3);
        for (int step = 0; step < 3; ++step) g.train_step(x, labels, loss, optimizer);
        finals.push_back(graph_param_values(g.params()));
    }
    CHECK(finals[1] == finals[0]);
    CHECK(finals[2] == finals[0]);
}

TEST_CASE("WeightAverage averages a Graph's parameters and swaps them in and out", "[model][graph]") {
    Graph<float> g = residual_test_graph<float>(6);
    Rng rng(4);
    const Tensor<float> x = random_tensor<float>(Shape(4, 1, 8, 8), rng);
    const std::vector<int> labels{0, 1, 2, 1};
    SoftmaxCrossEntropy<float> loss;
    Adam<float> adam(1e-2);
    WeightAverage<float> average(0.9);
    average.update(g);  // the first update copies the model
    const std::vector<float> first = graph_param_values(g.params());
    g.train_step(x, labels, loss, adam);
    const std::vector<float> trained = graph_param_values(g.params());
    REQUIRE(trained != first);
    average.swap_with(g);
    CHECK(graph_param_values(g.params()) == first);
    average.swap_with(g);
    CHECK(graph_param_values(g.params()) == trained);
}
