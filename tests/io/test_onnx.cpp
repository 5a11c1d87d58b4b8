// tests/io/test_onnx.cpp: ONNX export and import. The protobuf wire format round-trips and its reader names the
// field and byte of bad input; Sequential and Graph nets (every layer type, 'same' and explicit padding, groups,
// strides) go .dcnn -> .onnx -> deepcnn with bit-identical predictions, preprocessing and metadata included; the
// importer refuses what it cannot represent, naming the node and op; every truncation of an exported file ends in
// a serialization_error. Real consumers (the ONNX checker, ONNX Runtime, OpenCV) are checked by tests/onnx/.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <string>
#include <vector>

#include "io/temp_files.hpp"

using namespace deepcnn;

namespace onnx_test {

// Gives every BatchNorm running statistics other than the initial (0, 1), so that eval mode is not the identity.
template <class Model>
void randomise_buffers(Model& model, std::uint64_t seed) {
    Rng rng(seed);
    for (auto& b : model.buffers()) {
        const bool variance = b.name.find("running_var") != std::string::npos;
        for (auto& v : *b.value) v = static_cast<float>(variance ? rng.uniform(0.5, 2.0) : rng.uniform(-0.5, 0.5));
    }
}

Tensor<float> random_pixels(int n, int c, int h, int w, std::uint64_t seed) {
    Rng rng(seed);
    Tensor<float> x(Shape(n, c, h, w));
    for (auto& v : x) v = static_cast<float>(std::floor(rng.uniform(0.0, 256.0)));
    return x;
}

// Every layer type Sequential can hold, with 'same' (odd padding at the bottom / right), explicit and 'valid'
// padding, strides and groups.
Sequential<float> chain_net() {
    Sequential<float> model(Shape(1, 1, 20, 20), 7);
    model.add(Conv2D<float>(8, 3));
    model.add(BatchNorm<float>(0.9, 1e-5));
    model.add(ReLU<float>());
    model.add(Conv2D<float>(8, 3).with_stride(2).with_groups(4));
    model.add(MaxPool2D<float>(3).with_window(3, 3, 1, 1).with_padding(Padding::same()));
    model.add(Dropout<float>(0.3));
    model.add(Conv2D<float>(6, 2, 3).with_padding(Padding::explicit_pad(1, 0)).with_bias(false));
    model.add(AvgPool2D<float>(2).with_padding(Padding::explicit_pad(1, 1)).with_count_include_pad(false));
    model.add(Flatten<float>());
    model.add(Dense<float>(16));
    model.add(BatchNorm<float>());
    model.add(ReLU<float>());
    model.add(Dense<float>(3));
    model.add(Softmax<float>());
    randomise_buffers(model, 11);
    return model;
}

Graph<float> residual_net() {
    Graph<float> g(Shape(1, 1, 16, 16), 5, "image");
    g.add("stem", Conv2D<float>(8, 3), {"image"});
    g.add("stem_bn", BatchNorm<float>(0.9, 1e-5), {"stem"});
    g.add("stem_relu", ReLU<float>(), {"stem_bn"});
    g.add("res_conv", Conv2D<float>(8, 3).with_bias(false), {"stem_relu"});
    g.add("res_bn", BatchNorm<float>(0.9, 1e-5), {"res_conv"});
    g.add("res_add", Add<float>(), {"stem_relu", "res_bn"});
    g.add("res_relu", ReLU<float>(), {"res_add"});
    g.add("side", Conv2D<float>(4, 1).with_stride(2), {"image"});
    g.add("pool", AvgPool2D<float>(3, 2).with_padding(Padding::same()), {"res_relu"});  // a Pad node in ONNX
    g.add("join", Concat<float>(), {"pool", "side"});
    g.add("gap", GlobalAvgPool2D<float>(), {"join"});
    g.add("head", Dense<float>(5), {"gap"});
    g.add("softmax", Softmax<float>(), {"head"});
    randomise_buffers(g, 12);
    return g;
}

void require_identical(const Tensor<float>& a, const Tensor<float>& b) {
    REQUIRE(a.shape() == b.shape());
    for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == b[i]);
}

std::string error_of(const std::string& bytes) {
    try {
        decode_onnx<float>(bytes, "m.onnx");
    } catch (const serialization_error& e) {
        return e.what();
    }
    return "no error";
}

// A model of one node, `op`, on a (1, 2, 4, 4) input, with the attributes given.
std::string one_node_model(const std::string& op, std::vector<onnx::AttributeProto> attributes = {},
                           std::vector<std::string> extra_inputs = {}) {
    onnx::ModelProto m;
    m.ir_version = 7;
    m.opsets = {{"", 13}};
    onnx::ValueInfoProto in;
    in.name = "x";
    in.elem_type = onnx::float32;
    in.has_shape = true;
    in.dims = {1, 2, 4, 4};
    m.graph.inputs = {in};
    onnx::NodeProto n;
    n.name = "the_node";
    n.op_type = op;
    n.inputs = {"x"};
    for (auto& e : extra_inputs) n.inputs.push_back(e);
    n.outputs = {"y"};
    n.attributes = std::move(attributes);
    m.graph.nodes = {n};
    onnx::ValueInfoProto out;
    out.name = "y";
    out.elem_type = onnx::float32;
    m.graph.outputs = {out};
    return onnx::encode_onnx_model(m);
}

}  // namespace onnx_test

using namespace onnx_test;

TEST_CASE("protobuf wire format: fields round-trip and bad bytes name the field and byte", "[onnx][io]") {
    protobuf::WireWriter inner;
    inner.int_field(1, -3);
    inner.float_field(2, 1.5f);
    protobuf::WireWriter outer;
    outer.varint_field(1, 300);
    outer.message(2, inner);
    outer.bytes_field(3, "abc");
    const std::string bytes = outer.bytes();
    CHECK(bytes.substr(0, 3) == std::string("\x08\xac\x02", 3));  // field 1, varint 300

    protobuf::WireReader in("t.bin", bytes.data(), bytes.size(), "Outer");
    protobuf::Field f;
    REQUIRE(in.next(f));
    CHECK(in.varint(f, "a") == 300);
    REQUIRE(in.next(f));
    protobuf::WireReader nested = in.nested(f, "b", "Inner");
    protobuf::Field g;
    REQUIRE(nested.next(g));
    CHECK(nested.int64(g, "i") == -3);
    REQUIRE(nested.next(g));
    CHECK(nested.float32(g, "f") == 1.5f);
    CHECK_FALSE(nested.next(g));
    REQUIRE(in.next(f));
    CHECK(in.string(f, "c") == "abc");
    CHECK_FALSE(in.next(f));

    const std::string cut = bytes.substr(0, bytes.size() - 1);
    protobuf::WireReader short_in("t.bin", cut.data(), cut.size(), "Outer");
    short_in.next(f);
    short_in.varint(f, "a");
    short_in.next(f);
    short_in.nested(f, "b", "Inner");
    short_in.next(f);
    CHECK_THROWS_WITH(short_in.string(f, "c"), "t.bin: byte " + std::to_string(f.offset) +
                                                   ": Outer.c: length 3 runs past the end of its message (2 bytes left)");
    const std::string group("\x0b", 1);  // field 1, wire type 3 (a group)
    protobuf::WireReader group_in("g.bin", group.data(), group.size(), "Outer");
    CHECK_THROWS_WITH(group_in.next(f), "g.bin: byte 0: Outer.tag: unsupported wire type 3 in field 1");
    const std::string long_varint(11, '\xff');
    protobuf::WireReader varint_in("v.bin", long_varint.data(), long_varint.size(), "Outer");
    CHECK_THROWS_WITH(varint_in.next(f), "v.bin: byte 0: Outer.tag: varint longer than 10 bytes");
}

TEST_CASE("protobuf wire format: nesting deeper than the limit is refused", "[onnx][io]") {
    std::string bytes;
    for (int i = 0; i < 40; ++i) {
        protobuf::WireWriter w;
        w.bytes_field(1, bytes);
        bytes = w.bytes();
    }
    std::function<void(protobuf::WireReader&)> descend = [&](protobuf::WireReader& r) {
        protobuf::Field f;
        while (r.next(f)) {
            auto inner = r.nested(f, "child", "M");
            descend(inner);
        }
    };
    protobuf::WireReader top("deep.bin", bytes.data(), bytes.size(), "M");
    CHECK_THROWS_WITH(descend(top), Catch::Contains("messages nested deeper than 32"));
}

TEST_CASE("ONNX: a Sequential of every layer type round-trips with bit-identical predictions", "[onnx][io]") {
    Sequential<float> model = chain_net();
    const Tensor<float> x = random_pixels(5, 1, 20, 20, 3);
    const Tensor<float> expected = model.predict(x);

    OnnxExportOptions options;
    options.input_name = "image";
    options.output_name = "probabilities";
    options.class_names = {"a", "b", "c"};
    options.metadata.text["net"] = "chain";
    options.metadata.numbers["norm.mean"] = 0.1;
    options.metadata.integers["epoch"] = 3;
    const std::string bytes = encode_onnx(model, options);
    OnnxImport<float> imported = decode_onnx<float>(bytes, "chain.onnx");
    CHECK(imported.input_name == "image");
    CHECK(imported.output_name == "probabilities");
    CHECK(imported.class_names == std::vector<std::string>{"a", "b", "c"});
    CHECK(imported.metadata.text.at("net") == "chain");
    CHECK(imported.metadata.numbers.at("norm.mean") == 0.1);
    CHECK(imported.metadata.integers.at("epoch") == 3);
    CHECK_FALSE(imported.preprocessing);
    CHECK(imported.model.size() == model.size() - 1);  // the Dropout is left out
    imported.model.set_threads(1);
    require_identical(imported.model.predict(x), expected);

    Sequential<float> chain = chain_as_sequential(imported.model);
    require_identical(chain.predict(x), expected);
    // and once more through ONNX
    require_identical(decode_onnx<float>(encode_onnx(chain, options), "again.onnx").model.predict(x), expected);
}

TEST_CASE("ONNX: a residual Graph with Add and Concat round-trips with bit-identical predictions", "[onnx][io]") {
    Graph<float> model = residual_net();
    const Tensor<float> x = random_pixels(3, 1, 16, 16, 4);
    const Tensor<float> expected = model.predict(x);
    OnnxImport<float> imported = decode_onnx<float>(encode_onnx(model), "residual.onnx");
    // one more node: the Flatten that ONNX's Gemm needs before "head"
    REQUIRE(imported.model.size() == model.size() + 1);
    CHECK(imported.model.layer_name(5) == "res_add");
    CHECK(imported.model.node_inputs(5) == std::vector<std::string>{"stem_relu", "res_bn"});
    require_identical(imported.model.predict(x), expected);
    CHECK_THROWS_WITH(chain_as_sequential(imported.model), Catch::Contains("node \"res_add\" (Add)"));
}

TEST_CASE("ONNX: preprocessing goes into the graph and comes back", "[onnx][io]") {
    Sequential<float> model = chain_net();
    Tensor<float> x = random_pixels(2, 1, 20, 20, 5);
    OnnxExportOptions options;
    options.preprocessing = Normalization{129.5, 65.25};
    OnnxImport<float> imported = decode_onnx<float>(encode_onnx(model, options), "pre.onnx");
    REQUIRE(imported.preprocessing);
    CHECK(imported.preprocessing->mean == Approx(129.5).epsilon(1e-7));
    CHECK(imported.preprocessing->stddev == Approx(65.25).epsilon(1e-7));
    normalize(x, *options.preprocessing);
    require_identical(imported.model.predict(x), model.predict(x));
}

TEST_CASE("ONNX: save_onnx writes the file atomically and load_onnx reads it", "[onnx][io]") {
    deepcnn_test::TempDir dir;
    Sequential<float> model = chain_net();
    save_onnx(dir.file("m.onnx"), model);
    OnnxImport<float> imported = load_onnx<float>(dir.file("m.onnx"));
    const Tensor<float> x = random_pixels(2, 1, 20, 20, 6);
    require_identical(imported.model.predict(x), model.predict(x));
    CHECK_THROWS_AS(load_onnx<float>(dir.file("missing.onnx")), io_error);
}

TEST_CASE("ONNX: the importer refuses what deepcnn cannot represent, naming the node and op", "[onnx][io]") {
    CHECK_THAT(error_of(one_node_model("LSTM")),
               Catch::Contains("m.onnx: node \"the_node\" (LSTM): operator not supported by deepcnn's importer"));
    onnx::AttributeProto kernel{"kernel_shape", onnx::attr_ints, 0, 0, "", {}, {}, {2, 2}};
    onnx::AttributeProto pads{"pads", onnx::attr_ints, 0, 0, "", {}, {}, {1, 0, 0, 0}};
    CHECK_THAT(error_of(one_node_model("MaxPool", {kernel, pads})),
               Catch::Contains("node \"the_node\" (MaxPool): pads [1, 0, 0, 0] are neither symmetric nor 'same'"));
    onnx::AttributeProto ceil{"ceil_mode", onnx::attr_int, 0, 1, "", {}, {}, {}};
    CHECK_THAT(error_of(one_node_model("MaxPool", {kernel, ceil})),
               Catch::Contains("node \"the_node\" (MaxPool): ceil_mode = 1"));
    CHECK_THAT(error_of(one_node_model("Conv", {}, {"w"})),
               Catch::Contains("node \"the_node\" (Conv): input 'W' must be a constant"));
    CHECK(error_of(one_node_model("Relu", {}, {})) == "no error");
    CHECK_THAT(error_of("not protobuf at all"), Catch::Contains("m.onnx: byte"));
    CHECK(error_of(std::string()) == "m.onnx: not an ONNX model (no graph)");
}

TEST_CASE("ONNX: every truncation of an exported file is a serialization_error", "[onnx][io]") {
    Graph<float> model = residual_net();
    const std::string bytes = encode_onnx(model);
    for (std::size_t size = 0; size < bytes.size(); size += 1 + size / 64) {
        CHECK_THROWS_AS(decode_onnx<float>(bytes.substr(0, size), "cut.onnx"), serialization_error);
    }
}

TEST_CASE("ONNX: layer types without a mapping are refused by the exporter", "[onnx][io]") {
    struct Twice : Layer<float> {
        std::string type() const override { return "Twice"; }
        Shape output_shape(const Shape& in) const override { return in; }
        void forward_impl(const Tensor<float>& x, Tensor<float>& y) override { y = x; }
        void backward_impl(const Tensor<float>& dy, Tensor<float>& dx) override { dx = dy; }
    };
    Sequential<float> model(Shape(1, 1, 4, 4));
    model.add(Twice());
    CHECK_THROWS_WITH(encode_onnx(model), "save_onnx: node \"twice_1\" (Twice): no ONNX mapping for layer type 'Twice'");
}
