// tests/io/test_model_file.cpp: .dcnn save / load round trips: every parameter, buffer, layer RNG state,
// metadata entry and optimizer state comes back bit for bit, training resumed from a loaded file continues
// exactly as the original would, float files load as double, and file-level errors name the file.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/temp_files.hpp"

using namespace deepcnn;

namespace {

Sequential<float> every_layer_model() {
    Sequential<float> model(1, 8, 8, 21);
    model.add(Conv2D<float>(4, 3).with_stride(2).with_padding(Padding::explicit_pad(1, 1)));
    model.add(BatchNorm<float>());
    model.add(ReLU<float>());
    model.add(Conv2D<float>(6, 3).with_padding(Padding::same()).with_bias(false).with_init(Init::glorot_uniform));
    model.add(MaxPool2D<float>(2));
    model.add(Dropout<float>(0.3));
    model.add(Flatten<float>());
    model.add(Dense<float>(5).with_init(Init::he_uniform));
    model.add(BatchNorm<float>(0.9, 1e-5));
    model.add(Dense<float>(3).with_bias(false));
    model.add(Softmax<float>());
    return model;
}

Tensor<float> batch_of(int n, std::uint64_t seed) {
    Tensor<float> x(Shape(n, 1, 8, 8));
    Rng rng(seed);
    for (auto& v : x) v = static_cast<float>(rng.normal());
    return x;
}

bool same_bits(const Tensor<float>& a, const Tensor<float>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("save then load gives back every tensor, metadata entry and optimizer state bit for bit", "[io][model_file]") {
    deepcnn_test::TempDir dir;
    Sequential<float> model = every_layer_model();
    Adam<float> adam(AdamOptions{2e-3, 0.9, 0.999, 1e-7, 0.01, true});
    SoftmaxCrossEntropy<float> loss;
    const std::vector<int> labels{0, 1, 2, 1};
    for (int step = 0; step < 3; ++step) model.train_step(batch_of(4, step), labels, loss, adam);

    ModelMetadata meta;
    meta.text["classes"] = "a\nb\nc";
    meta.numbers["norm.mean"] = 0.123456789012345;
    meta.integers["epoch"] = 0xFFFFFFFFFFFFFFF0ULL;
    const std::string path = dir.file("model.dcnn");
    save_model(path, model, meta, &adam);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

    ModelMetadata loaded_meta;
    SavedOptimizer<float> saved;
    Sequential<float> loaded = load_model<float>(path, &loaded_meta, &saved);
    CHECK(loaded.summary() == model.summary());
    auto original_params = model.params();
    auto loaded_params = loaded.params();
    REQUIRE(original_params.size() == loaded_params.size());
    for (std::size_t i = 0; i < original_params.size(); ++i) {
        CHECK(loaded_params[i].name == original_params[i].name);
        CHECK(same_bits(*loaded_params[i].value, *original_params[i].value));
    }
    auto original_buffers = model.buffers();
    auto loaded_buffers = loaded.buffers();
    REQUIRE(original_buffers.size() == 4);
    for (std::size_t i = 0; i < original_buffers.size(); ++i) {
        CHECK(same_bits(*loaded_buffers[i].value, *original_buffers[i].value));
    }
    CHECK(loaded_meta.text == meta.text);
    CHECK(loaded_meta.numbers == meta.numbers);
    CHECK(loaded_meta.integers == meta.integers);  // the Dropout RNG entries are taken out again
    CHECK(saved.type == "AdamW");
    CHECK(saved.state.scalars == adam.state().scalars);
    REQUIRE(saved.state.tensors.size() == adam.state().tensors.size());
    for (const auto& entry : adam.state().tensors) CHECK(same_bits(saved.state.tensors.at(entry.first), entry.second));
    CHECK(encode_model(loaded, meta) == encode_model(model, meta));
}

TEST_CASE("training resumed from a loaded checkpoint continues exactly as the original", "[io][model_file]") {
    deepcnn_test::TempDir dir;
    Sequential<float> model = every_layer_model();
    Adam<float> adam(1e-3);
    SoftmaxCrossEntropy<float> loss;
    const std::vector<int> labels{2, 0, 1, 1, 0};
    model.train_step(batch_of(5, 1), labels, loss, adam);
    save_model(dir.file("checkpoint.dcnn"), model, {}, &adam);

    SavedOptimizer<float> saved;
    Sequential<float> resumed = load_model<float>(dir.file("checkpoint.dcnn"), nullptr, &saved);
    Adam<float> resumed_adam(1e-3);
    resumed_adam.set_state(saved.state);
    for (int step = 2; step < 5; ++step) {
        model.train_step(batch_of(5, step), labels, loss, adam);  // Dropout draws from its saved stream too
        resumed.train_step(batch_of(5, step), labels, loss, resumed_adam);
    }
    auto a = model.params();
    auto b = resumed.params();
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(same_bits(*a[i].value, *b[i].value));
}

TEST_CASE("a float model file loads into Sequential<double> with the same values", "[io][model_file]") {
    Sequential<float> model = every_layer_model();
    Sequential<double> as_double = decode_model<double>(encode_model(model), "memory");
    auto a = model.params();
    auto b = as_double.params();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        for (std::size_t k = 0; k < a[i].value->size(); ++k) CHECK((*b[i].value)[k] == double((*a[i].value)[k]));
    }
}

TEST_CASE("model file errors name the file", "[io][model_file][errors]") {
    deepcnn_test::TempDir dir;
    Sequential<float> model = every_layer_model();
    std::string bytes = encode_model(model);
    CHECK_THROWS_AS(load_model<float>(dir.file("missing.dcnn")), io_error);
    CHECK_THROWS_WITH(load_model<float>(dir.file("missing.dcnn")),
                      Catch::Matchers::Contains("missing.dcnn") && Catch::Matchers::Contains("cannot open"));
    std::string other_version = bytes;
    other_version[8] = 3;
    CHECK_THROWS_AS(decode_model<float>(other_version, "m.dcnn"), serialization_error);
    CHECK_THROWS_WITH(decode_model<float>(other_version, "m.dcnn"),
                      Catch::Matchers::Equals("m.dcnn: format version 3 is not supported (this build reads versions 1 "
                                              "and 2)"));
    CHECK_THROWS_AS(decode_model<float>("hello, world, this is not a model", "text.dcnn"), serialization_error);
    CHECK_THROWS_WITH(decode_model<float>("hello, world, this is not a model", "text.dcnn"),
                      Catch::Matchers::Equals("text.dcnn: not a deepcnn model file (bad magic number)"));
    std::string flipped = bytes;
    flipped[bytes.size() / 2] ^= 0x10;
    CHECK_THROWS_AS(decode_model<float>(flipped, "f.dcnn"), serialization_error);
    CHECK_THROWS_WITH(decode_model<float>(flipped, "f.dcnn"),
                      Catch::Matchers::Equals("f.dcnn: checksum mismatch (the file is corrupt)"));
    CHECK_THROWS_AS(decode_model<float>(bytes.substr(0, bytes.size() - 1), "t.dcnn"), serialization_error);
    CHECK_THROWS_WITH(decode_model<float>(bytes.substr(0, bytes.size() - 1), "t.dcnn"),
                      Catch::Matchers::Contains("t.dcnn: file is") && Catch::Matchers::Contains("(truncated)"));
}
