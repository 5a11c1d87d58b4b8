// tests/io/test_model_file_graph.cpp: Graph models in .dcnn files (format version 2): the topology, every tensor,
// the layer RNG states, metadata and optimizer state round-trip bit for bit and training resumes exactly; a file of
// format version 1 written by the library before graphs (tests/io/files/sequential_v1.dcnn) still loads, as a
// Sequential and as a Graph; user layers save and load once registered, and save_model refuses them before that;
// every truncation and bit flip of a graph file ends in a serialization_error.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <string>
#include <vector>

#include "io/temp_files.hpp"

using namespace deepcnn;

namespace {

Graph<float> graph_file_net(std::uint64_t seed = 4) {
    Graph<float> g(Shape(1, 1, 8, 8), seed, "image");
    g.add("conv", Conv2D<float>(4, 3), {"image"});
    g.add("bn", BatchNorm<float>(), {"conv"});
    g.add("relu", ReLU<float>(), {"bn"});
    g.add("conv2", Conv2D<float>(4, 3).with_bias(false), {"relu"});
    g.add("add", Add<float>(), {"relu", "conv2"});
    g.add("side", Conv2D<float>(2, 1), {"image"});
    g.add("join", Concat<float>(), {"add", "side"});
    g.add("pool", MaxPool2D<float>(2), {"join"});
    g.add("flat", Flatten<float>(), {"pool"});
    g.add("drop", Dropout<float>(0.3), {"flat"});
    g.add("dense", Dense<float>(3), {"drop"});
    g.add("softmax", Softmax<float>(), {"dense"});
    return g;
}

Tensor<float> graph_file_batch(int n, std::uint64_t seed) {
    Rng rng(seed);
    Tensor<float> x(Shape(n, 1, 8, 8));
    for (auto& v : x) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    return x;
}

template <class Scalar>
std::vector<Scalar> tensor_values(const Tensor<Scalar>& t) {
    return std::vector<Scalar>(t.begin(), t.end());
}

// A user's layer: y = factor * x, with its factor in the configuration.
template <class Scalar>
class Scale : public Layer<Scalar> {
public:
    explicit Scale(double factor = 2.0) : factor_(factor) {}
    explicit Scale(const LayerConfig& config) : factor_(config.at(0).second) {}
    std::string type() const override { return "Scale"; }
    Shape output_shape(const Shape& input) const override { return input; }
    LayerConfig config() const override { return {{"factor", factor_}}; }

protected:
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(x.shape());
        for (std::size_t i = 0; i < x.size(); ++i) y[i] = Scalar(factor_) * x[i];
    }
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(dy.shape());
        for (std::size_t i = 0; i < dy.size(); ++i) dx[i] = Scalar(factor_) * dy[i];
    }

private:
    double factor_;
};

// A user's layer nobody registers.
template <class Scalar>
class Unregistered : public Scale<Scalar> {
public:
    std::string type() const override { return "Unregistered"; }
};

}  // namespace

TEST_CASE("a Graph file round-trips its topology, tensors, metadata and optimizer bit for bit", "[io][model_file][graph]") {
    Graph<float> g = graph_file_net();
    g.set_threads(1);
    Adam<float> adam(1e-2);
    SoftmaxCrossEntropy<float> loss;
    const Tensor<float> x = graph_file_batch(6, 1);
    const std::vector<int> labels{0, 1, 2, 0, 1, 2};
    for (int step = 0; step < 2; ++step) g.train_step(x, labels, loss, adam);
    ModelMetadata meta;
    meta.text["net"] = "residual";
    meta.numbers["norm.mean"] = 0.5;
    deepcnn_test::TempDir dir;
    save_model(dir.file("graph.dcnn"), g, meta, &adam);

    ModelMetadata loaded_meta;
    SavedOptimizer<float> saved;
    Graph<float> h = load_graph<float>(dir.file("graph.dcnn"), &loaded_meta, &saved);
    h.set_threads(1);
    CHECK(h.input_name() == "image");
    REQUIRE(h.size() == g.size());
    for (std::size_t i = 0; i < g.size(); ++i) {
        CHECK(h.layer_name(i) == g.layer_name(i));
        CHECK(h.layer(i).type() == g.layer(i).type());
        CHECK(h.node_inputs(i) == g.node_inputs(i));
        CHECK(h.layer(i).config() == g.layer(i).config());
    }
    CHECK(h.summary() == g.summary());
    CHECK(loaded_meta.text == meta.text);
    CHECK(loaded_meta.numbers == meta.numbers);
    REQUIRE(h.params().size() == g.params().size());
    for (std::size_t i = 0; i < g.params().size(); ++i)
        CHECK(tensor_values(*h.params()[i].value) == tensor_values(*g.params()[i].value));
    for (std::size_t i = 0; i < g.buffers().size(); ++i)
        CHECK(tensor_values(*h.buffers()[i].value) == tensor_values(*g.buffers()[i].value));

    // training resumed from the file continues exactly as the original
    Adam<float> resumed(1e-2);
    REQUIRE(saved.type == "Adam");
    resumed.set_state(saved.state);
    for (int step = 0; step < 2; ++step) {
        const StepResult a = g.train_step(x, labels, loss, adam);
        const StepResult b = h.train_step(x, labels, loss, resumed);
        CHECK(a.loss == b.loss);
    }
    CHECK(tensor_values(g.predict(x)) == tensor_values(h.predict(x)));
    CHECK_THROWS_WITH(decode_model<float>(encode_model(g), "g.dcnn"),
                      "g.dcnn: holds a Graph model (format version 2): load it with load_graph");
}

TEST_CASE("a model file of format version 1, written before graphs, still loads", "[io][model_file][graph]") {
    const std::string path = std::string(DEEPCNN_TEST_DIR) + "/io/files/sequential_v1.dcnn";
    Tensor<float> probe(Shape(1, 1, 8, 8));
    for (std::size_t i = 0; i < probe.size(); ++i) probe[i] = float(i % 7) / 7.0f - 0.4f;
    ModelMetadata meta;
    SavedOptimizer<float> saved;
    Sequential<float> seq = load_model<float>(path, &meta, &saved);
    CHECK(meta.text.at("note") == "written by deepcnn 7b254ab (format version 1)");
    CHECK(saved.type == "Adam");
    const Tensor<float> p = seq.predict(probe);
    for (int k = 0; k < 3; ++k) CHECK(p[k] == Approx(meta.numbers.at("expected." + std::to_string(k))).epsilon(1e-5));

    Graph<float> g = load_graph<float>(path);
    CHECK(g.layer_name(0) == "conv2d_1");
    CHECK(g.node_inputs(0) == std::vector<std::string>{"input"});
    CHECK(g.node_inputs(6) == std::vector<std::string>{"dropout_6"});
    CHECK(g.params().front().name == seq.params().front().name);
    CHECK(tensor_values(g.predict(probe)) == tensor_values(p));
    // a Sequential saved today is still version 1, byte for byte
    Adam<float> adam;
    adam.set_state(saved.state);
    CHECK(encode_model(seq, meta, &adam) == detail::read_model_file(path));
}

TEST_CASE("user layers save and load once registered, and save_model refuses them before", "[io][model_file][registry]") {
    Graph<float> g(Shape(1, 2, 4, 4), 3);
    g.add("scale", Scale<float>(0.5), {"input"});
    g.add("flat", Flatten<float>(), {"scale"});
    g.add("dense", Dense<float>(2), {"flat"});
    deepcnn_test::TempDir dir;
    CHECK_THROWS_AS(save_model(dir.file("user.dcnn"), g), serialization_error);
    CHECK_THROWS_WITH(encode_model(g), "save_model: node \"scale\" (Scale): layer type 'Scale' could not be loaded back; "
                                       "register it first: register_layer<Scale>(\"Scale\")");
    CHECK_FALSE(std::filesystem::exists(dir.file("user.dcnn")));

    register_layer<Scale<float>>("Scale");
    CHECK(layer_loadable<float>("Scale"));
    CHECK_FALSE(layer_loadable<double>("Scale"));
    save_model(dir.file("user.dcnn"), g);
    Graph<float> h = load_graph<float>(dir.file("user.dcnn"));
    CHECK(h.layer(0).type() == "Scale");
    CHECK(h.layer(0).config() == LayerConfig{{"factor", 0.5}});
    Tensor<float> x2(Shape(2, 2, 4, 4));
    for (std::size_t i = 0; i < x2.size(); ++i) x2[i] = float(i) / 32.0f;
    CHECK(tensor_values(h.forward(x2)) == tensor_values(g.forward(x2)));
    // a double model needs the double registration
    CHECK_THROWS_WITH(load_graph<double>(dir.file("user.dcnn")),
                      Catch::Matchers::Contains("node \"scale\" (Scale): unknown layer type 'Scale'"));

    Sequential<float> seq(Shape(1, 2, 4, 4));
    seq.add(Unregistered<float>());
    CHECK_THROWS_WITH(encode_model(seq), Catch::Matchers::StartsWith("save_model: layer 1 (Unregistered): layer type "
                                                                     "'Unregistered' could not be loaded back"));
    CHECK_THROWS_AS(register_layer<Scale<float>>("Conv2D"), config_error);
}

TEST_CASE("every truncation and every bit flip of a graph file ends in a serialization_error", "[io][model_file][graph]") {
    Graph<float> g(Shape(1, 1, 4, 4), 2);
    g.add("a", Conv2D<float>(2, 3), {"input"});
    g.add("b", ReLU<float>(), {"a"});
    g.add("c", Add<float>(), {"a", "b"});
    g.add("d", Concat<float>(), {"c", "input"});
    const std::string bytes = encode_model(g);
    REQUIRE_NOTHROW(decode_graph<float>(bytes, "good.dcnn"));
    for (std::size_t size = 0; size < bytes.size(); ++size) {
        CHECK_THROWS_AS(decode_graph<float>(bytes.substr(0, size), "cut.dcnn"), serialization_error);
    }
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        std::string flipped = bytes;
        flipped[i] ^= 0x04;
        CHECK_THROWS_AS(decode_graph<float>(flipped, "flipped.dcnn"), serialization_error);
    }
}
