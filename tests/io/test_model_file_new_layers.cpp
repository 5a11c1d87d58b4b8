// tests/io/test_model_file_new_layers.cpp: model files with the layers of residual and mobile nets (grouped and
// depthwise Conv2D, AvgPool2D, GlobalAvgPool2D): a bit-exact save / load round trip, a file written before Conv2D
// had `groups` (tests/data/model_v1_before_groups.dcnn) still loading with groups 1 and predicting as it did, and
// a groups value the layer refuses ending in a serialization_error that names the layer.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "io/temp_files.hpp"

using namespace deepcnn;

namespace new_layers_file_test {

Sequential<float> mobile_model() {
    Sequential<float> model(1, 12, 12, 33);
    model.add(Conv2D<float>(8, 3));
    model.add(BatchNorm<float>());
    model.add(ReLU<float>());
    model.add(Conv2D<float>(8, 3).with_groups(8).with_stride(2).with_bias(false));
    model.add(Conv2D<float>(12, 1).with_groups(4));
    model.add(AvgPool2D<float>(3, 1).with_padding(Padding::explicit_pad(1, 1)).with_count_include_pad(false));
    model.add(GlobalAvgPool2D<float>());
    model.add(Flatten<float>());
    model.add(Dense<float>(3));
    model.add(Softmax<float>());
    return model;
}

Tensor<float> noise_images(int n, std::uint64_t seed) {
    Tensor<float> x(Shape(n, 1, 12, 12));
    Rng rng(seed);
    for (auto& v : x) v = static_cast<float>(rng.normal());
    return x;
}

bool identical_bits(const Tensor<float>& a, const Tensor<float>& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace new_layers_file_test

using namespace new_layers_file_test;

TEST_CASE("a model with grouped convolutions and average pooling saves and loads bit for bit", "[io][model_file]") {
    deepcnn_test::TempDir dir;
    Sequential<float> model = mobile_model();
    Adam<float> adam(1e-3);
    SoftmaxCrossEntropy<float> loss;
    for (int step = 0; step < 2; ++step) model.train_step(noise_images(4, step), {0, 1, 2, 1}, loss, adam);
    const std::string path = dir.file("mobile.dcnn");
    save_model(path, model);

    Sequential<float> loaded = load_model<float>(path);
    REQUIRE(loaded.size() == model.size());
    for (std::size_t i = 0; i < model.size(); ++i) {
        CHECK(loaded.layer(i).type() == model.layer(i).type());
        CHECK(loaded.layer(i).config() == model.layer(i).config());
    }
    auto ours = model.params(), theirs = loaded.params();
    REQUIRE(ours.size() == theirs.size());
    for (std::size_t i = 0; i < ours.size(); ++i) {
        CHECK(theirs[i].name == ours[i].name);
        CHECK(identical_bits(*theirs[i].value, *ours[i].value));
    }
    model.eval();
    loaded.eval();
    const Tensor<float> x = noise_images(3, 99);
    CHECK(identical_bits(loaded.predict(x), model.predict(x)));
}

TEST_CASE("a model file written before Conv2D had groups still loads and predicts as it did", "[io][model_file]") {
    // Written by deepcnn at 7b254ab (main before this change) with float weights: Conv2D (stride 2, explicit
    // padding), BatchNorm, ReLU, Conv2D without bias, MaxPool2D, Flatten, Dense, Softmax, after one Adam step; its
    // metadata holds the probabilities that code predicted for the input below (expected.0 .. expected.5).
    const std::string path =
        (std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "model_v1_before_groups.dcnn").string();
    ModelMetadata meta;
    Sequential<float> model = load_model<float>(path, &meta);
    CHECK(meta.text["written_by"] == "deepcnn main 7b254ab (before Conv2D groups)");
    REQUIRE(model.size() == 8);
    for (std::size_t i : {std::size_t(0), std::size_t(3)}) {
        REQUIRE(model.layer(i).type() == "Conv2D");
        CHECK(dynamic_cast<Conv2D<float>&>(model.layer(i)).groups() == 1);
    }
    Tensor<float> x(Shape(2, 2, 6, 6));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float((i * 37) % 23) / 11.0f - 1.0f;
    model.eval();
    const Tensor<float> p = model.predict(x);
    REQUIRE(p.size() == 6);
    for (std::size_t i = 0; i < p.size(); ++i) {
        INFO("probability " << i);
        const auto expected = meta.numbers.find("expected." + std::to_string(i));
        REQUIRE(expected != meta.numbers.end());
        CHECK(p[i] == Approx(expected->second).margin(1e-5));
    }
}

TEST_CASE("a Conv2D groups value the layer refuses is a serialization_error naming the layer", "[io][model_file]") {
    Sequential<float> model(4, 6, 6, 1);
    model.add(Conv2D<float>(4, 3).with_groups(2));
    std::string bytes = encode_model(model);
    // groups is the last configuration entry of the only layer: make it 3, which does not divide 4 filters, and
    // fix the checksum so that the configuration is what fails.
    const std::string key = "groups";
    const std::size_t at = bytes.find(key);
    REQUIRE(at != std::string::npos);
    const double three = 3.0;
    std::memcpy(&bytes[at + key.size()], &three, sizeof(three));
    const std::size_t payload_bytes = bytes.size() - model_file_header_bytes - 4;
    const std::uint32_t crc = detail::crc32_of(bytes.data() + model_file_header_bytes, payload_bytes);
    std::memcpy(&bytes[bytes.size() - 4], &crc, sizeof(crc));
    CHECK_THROWS_AS(decode_model<float>(bytes, "bad.dcnn"), serialization_error);
    CHECK_THROWS_WITH(decode_model<float>(bytes, "bad.dcnn"),
                      Catch::Matchers::StartsWith("bad.dcnn: layer 1 (Conv2D): Conv2D: groups must be positive and "
                                                  "divide the 4 filters, got 3"));
}
