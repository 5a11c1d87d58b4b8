// tests/io/test_model_file_errors.cpp: decode_model on crafted and damaged .dcnn bytes, the inputs the model-file
// fuzz target (tests/fuzz/fuzz_model_file.cpp) found or aims at: empty tensors, layer sizes the file cannot hold,
// shapes past int range, and truncation / bit flips at every byte of a real file. Each must end in a model or a
// serialization_error naming the source, never in another exception or a huge allocation.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace deepcnn;

namespace {

// A .dcnn file around `payload`: magic, version, scalar size, payload size, payload, CRC-32.
std::string model_file(const ByteWriter& payload, std::uint32_t scalar_bytes = 4) {
    ByteWriter file;
    file.put_array(model_file_magic, sizeof(model_file_magic));
    file.put<std::uint32_t>(model_file_version);
    file.put<std::uint32_t>(scalar_bytes);
    file.put<std::uint64_t>(payload.bytes().size());
    file.bytes() += payload.bytes();
    file.put<std::uint32_t>(detail::crc32_of(payload.bytes().data(), payload.bytes().size()));
    return file.bytes();
}

void put_input(ByteWriter& payload, int c, int h, int w) {
    payload.put<std::int32_t>(c);
    payload.put<std::int32_t>(h);
    payload.put<std::int32_t>(w);
}

void put_layer(ByteWriter& payload, const std::string& type, const LayerConfig& config) {
    payload.put_string(type);
    payload.put<std::uint32_t>(static_cast<std::uint32_t>(config.size()));
    for (const auto& entry : config) {
        payload.put_string(entry.first);
        payload.put<double>(entry.second);
    }
}

Sequential<float> small_model() {
    Sequential<float> model(1, 6, 6, 11);
    model.add(Conv2D<float>(2, 3));
    model.add(BatchNorm<float>());
    model.add(ReLU<float>());
    model.add(MaxPool2D<float>(2));
    model.add(Dropout<float>(0.5));
    model.add(Flatten<float>());
    model.add(Dense<float>(3));
    model.add(Softmax<float>());
    return model;
}

}  // namespace

TEST_CASE("an empty optimizer tensor round-trips (fuzz finding: memcpy from a null pointer)", "[io][model_file]") {
    Sequential<float> model = small_model();
    Adam<float> adam(1e-3);
    OptimizerState<float> state;
    state.tensors["empty"] = Tensor<float>(Shape(0, 3, 1, 1));
    state.scalars["step"] = 0.0;
    adam.set_state(state);
    SavedOptimizer<float> saved;
    decode_model<float>(encode_model(model, {}, &adam), "empty.dcnn", nullptr, &saved);
    REQUIRE(saved.state.tensors.count("empty") == 1);
    CHECK(saved.state.tensors["empty"].shape() == Shape(0, 3, 1, 1));
}

TEST_CASE("a layer bigger than the file is rejected before it allocates", "[io][model_file]") {
    // Flatten of 1x1024x1024, then Dense with 2^24 units: 2^44 weights (64 TiB of floats) from a tiny file.
    ByteWriter payload;
    put_input(payload, 1, 1024, 1024);
    payload.put<std::uint32_t>(2);
    put_layer(payload, "Flatten", {});
    put_layer(payload, "Dense", {{"units", 16777216.0}, {"bias", 1.0}, {"init", 0.0}, {"in_features", 0.0}});
    for (int i = 0; i < 4; ++i) payload.put<std::uint32_t>(0);  // no metadata, no tensors
    payload.put<std::uint8_t>(0);
    CHECK_THROWS_WITH(decode_model<float>(model_file(payload), "huge.dcnn"),
                      Catch::StartsWith("huge.dcnn: layer 2 (Dense): the parameters up to this layer need "
                                        "70368811286528 bytes, more than the 17 left in the file"));

    ByteWriter conv;
    put_input(conv, 64, 8, 8);
    conv.put<std::uint32_t>(1);
    put_layer(conv, "Conv2D", {{"filters", 16777216.0}, {"kernel_h", 16777216.0}, {"kernel_w", 16777216.0},
                               {"stride_h", 1.0}, {"stride_w", 1.0}, {"padding", 0.0}, {"pad_h", 0.0},
                               {"pad_w", 0.0}, {"bias", 1.0}, {"init", 0.0}});
    for (int i = 0; i < 4; ++i) conv.put<std::uint32_t>(0);
    conv.put<std::uint8_t>(0);
    CHECK_THROWS_AS(decode_model<float>(model_file(conv), "conv.dcnn"), serialization_error);
    CHECK_THROWS_WITH(decode_model<float>(model_file(conv), "conv.dcnn"),
                      Catch::StartsWith("conv.dcnn: layer 1 (Conv2D): the parameters up to this layer need "));
}

TEST_CASE("shapes past int range are rejected", "[io][model_file]") {
    ByteWriter input;
    put_input(input, 1048576, 1048576, 1);
    input.put<std::uint32_t>(0);
    CHECK_THROWS_WITH(decode_model<float>(model_file(input), "wide.dcnn"),
                      "wide.dcnn: input shape (1048576, 1048576, 1) has more than 2147483647 values (at byte 36)");

    // Valid padding of 2^16 on both sides of each axis: 32 filters of (2^17+1)^2 outputs.
    ByteWriter padded;
    put_input(padded, 1, 1, 1);
    padded.put<std::uint32_t>(1);
    put_layer(padded, "Conv2D", {{"filters", 32.0}, {"kernel_h", 1.0}, {"kernel_w", 1.0}, {"stride_h", 1.0},
                                 {"stride_w", 1.0}, {"padding", 2.0}, {"pad_h", 65536.0}, {"pad_w", 65536.0},
                                 {"bias", 0.0}, {"init", 0.0}});
    for (int i = 0; i < 4; ++i) padded.put<std::uint32_t>(0);
    padded.put<std::uint8_t>(0);
    padded.put_array(std::vector<float>(32).data(), 32);
    CHECK_THROWS_WITH(decode_model<float>(model_file(padded), "padded.dcnn"),
                      Catch::Contains("layer 1 (Conv2D): output shape (32, 131073, 131073) has more than 2147483647 values"));
}

TEST_CASE("every truncation and every bit flip of a real model file ends in a serialization_error", "[io][model_file]") {
    Sequential<float> model = small_model();
    Adam<float> adam(1e-3);
    const std::string bytes = encode_model(model, {}, &adam);
    REQUIRE_NOTHROW(decode_model<float>(bytes, "good.dcnn"));
    for (std::size_t size = 0; size < bytes.size(); ++size) {
        CHECK_THROWS_AS(decode_model<float>(bytes.substr(0, size), "cut.dcnn"), serialization_error);
    }
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        std::string flipped = bytes;
        flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
        CHECK_THROWS_AS(decode_model<float>(flipped, "flipped.dcnn"), serialization_error);
    }
}

TEST_CASE("a payload size near 2^64 is reported as declared, not wrapped around", "[io][model_file]") {
    ByteWriter payload;
    put_input(payload, 1, 4, 4);
    std::string bytes = model_file(payload);
    const std::uint64_t huge = ~std::uint64_t(0);
    std::memcpy(&bytes[16], &huge, 8);
    CHECK_THROWS_WITH(decode_model<float>(bytes, "m.dcnn"),
                      "m.dcnn: file is " + std::to_string(bytes.size()) +
                          " bytes, its header declares a 18446744073709551615-byte payload, more than the file holds "
                          "(truncated)");
    const std::uint64_t near_limit = huge - 27;  // + 28 header and CRC bytes used to wrap to 0
    std::memcpy(&bytes[16], &near_limit, 8);
    CHECK_THROWS_WITH(decode_model<float>(bytes, "m.dcnn"), Catch::Contains("18446744073709551588-byte payload"));
}

TEST_CASE("load_model checks the header before reading the body", "[io][model_file]") {
    // /dev/zero never ends: read whole, it exhausted memory (std::bad_alloc) before the magic number was checked.
    CHECK_THROWS_WITH(load_model<float>("/dev/zero"), "/dev/zero: not a deepcnn model file (bad magic number)");
    CHECK_THROWS_WITH(load_model<float>("/tmp"), "cannot open /tmp: Is a directory");
    CHECK_THROWS_AS(load_model<float>("/tmp"), io_error);
}

TEST_CASE("a model whose weights hold an infinity or a NaN is refused, naming the tensor", "[io][model_file]") {
    for (const float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
        Sequential<float> model = small_model();
        (*model.params()[0].value)[3] = bad;  // conv2d_1.weight; the checksum is computed over it, so it is valid
        const std::string bytes = encode_model(model);
        CHECK_THROWS_WITH(decode_model<float>(bytes, "inf.dcnn"),
                          Catch::StartsWith("inf.dcnn: tensor 'conv2d_1.weight' holds a non-finite value (" +
                                            std::string(std::isnan(bad) ? "nan" : "inf") + ") at element 3"));
    }
}
