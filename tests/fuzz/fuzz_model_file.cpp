// tests/fuzz/fuzz_model_file.cpp: libFuzzer target for the .dcnn model-file decoders (decode_model<float> for
// Sequential files, decode_graph<float> for both versions). Each input is decoded twice: as given, and with the header's payload size and the trailing CRC-32 rewritten
// to match, so that mutations reach the payload parser instead of stopping at the checksum. A decoded model that
// is small enough (every activation at most 2^16 values, at most 2 MFLOPs) runs one forward pass in evaluation
// mode on a zero image, so odd but accepted layer configurations are exercised too. The only allowed
// outcomes are a model or a deepcnn::error; anything else escaping (std::bad_alloc, std::length_error, ...) or a
// sanitizer report is a finding.
#include <deepcnn/io/model_file.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

// Whether every activation holds at most 2^16 values and a forward pass at most 2 MFLOPs.
bool small_enough(deepcnn::Sequential<float>& model) {
    deepcnn::Shape shape = model.input_shape();
    bool small = model.forward_flops() <= 2e6;
    for (std::size_t i = 0; small && i < model.size(); ++i) {
        small = shape.per_sample() <= (1U << 16);
        shape = model.layer(i).output_shape(shape);
    }
    return small && shape.per_sample() <= (1U << 16);
}
bool small_enough(deepcnn::Graph<float>& model) {
    bool small = model.forward_flops() <= 2e6 && model.input_shape().per_sample() <= (1U << 16);
    for (std::size_t i = 0; small && i < model.size(); ++i) small = model.node_shape(i).per_sample() <= (1U << 16);
    return small;
}

template <class Model>
void run(Model&& model) {
    (void)model.summary();
    model.eval();
    if (small_enough(model)) {
        const deepcnn::Tensor<float> x(model.input_shape(), 0.0F);
        (void)model.forward(x);
    }
}

void decode(const std::string& bytes) {
    deepcnn::ModelMetadata metadata;
    deepcnn::SavedOptimizer<float> optimizer;
    try {
        run(deepcnn::decode_model<float>(bytes, "fuzz.dcnn", &metadata, &optimizer));
    } catch (const deepcnn::error&) {
    }
    try {
        run(deepcnn::decode_graph<float>(bytes, "fuzz.dcnn", &metadata, &optimizer));
    } catch (const deepcnn::error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    decode(bytes);
    constexpr std::size_t header = deepcnn::model_file_header_bytes;
    if (bytes.size() >= header + 4) {
        const std::uint64_t payload = bytes.size() - header - 4;
        std::memcpy(&bytes[header - 8], &payload, 8);
        const std::uint32_t crc = deepcnn::detail::crc32_of(bytes.data() + header, payload);
        std::memcpy(&bytes[header + payload], &crc, 4);
        decode(bytes);
    }
    return 0;
}
