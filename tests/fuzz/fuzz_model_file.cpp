// tests/fuzz/fuzz_model_file.cpp: libFuzzer target for the .dcnn model-file decoders (decode_model<float> for
// Sequential files, decode_graph<float> for both versions). Each input is decoded twice: as given, and with the
// header's payload size and the trailing CRC-32 rewritten to match, so that mutations reach the payload parser instead of stopping at the checksum. A decoded model that
// is small enough (every activation at most 2^16 values, at most 2 MFLOPs) runs one forward pass in evaluation
// mode on a zero image, so odd but accepted layer configurations are exercised too. The only allowed
// outcomes are a model or a deepcnn::error; anything else escaping (std::bad_alloc, std::length_error, ...) or a
// sanitizer report is a finding. The input as given is also written to a file and loaded with load_model, which
// checks the header before reading the body: it must fail exactly when decode_model fails. Third, the header's
// payload size is set near the limits (the true size plus or minus a few bytes, 2^63, 2^64 - 1 and just below,
// chosen by the input's last byte), which must be refused with a serialization_error.
#include <deepcnn/io/model_file.hpp>

#include "scratch_file.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

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

// A decoded model's summary, and a forward pass in evaluation mode where it is small enough.
template <class Model>
void run(Model&& model) {
    (void)model.summary();
    model.eval();
    if (small_enough(model)) {
        const deepcnn::Tensor<float> x(model.input_shape(), 0.0F);
        (void)model.forward(x);
    }
}

const std::string& scratch_path() { return deepcnn_fuzz::scratch_path("model", "dcnn"); }

// Whether load_model accepts the file `bytes` (written to the scratch file).
bool loads(const std::string& bytes) {
    std::FILE* file = std::fopen(scratch_path().c_str(), "wb");
    if (file == nullptr) std::abort();
    const bool written = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
    if (std::fclose(file) != 0 || !written) std::abort();
    try {
        (void)deepcnn::load_model<float>(scratch_path());
        return true;
    } catch (const deepcnn::error&) {
        return false;
    }
}

// Whether decode_model accepts `bytes` (each accepted model run); decode_graph, which reads both versions, runs
// on them too.
bool decode(const std::string& bytes) {
    deepcnn::ModelMetadata metadata;
    deepcnn::SavedOptimizer<float> optimizer;
    try {
        run(deepcnn::decode_graph<float>(bytes, "fuzz.dcnn", &metadata, &optimizer));
    } catch (const deepcnn::error&) {
    }
    try {
        run(deepcnn::decode_model<float>(bytes, "fuzz.dcnn", &metadata, &optimizer));
        return true;
    } catch (const deepcnn::error&) {
        return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    if (decode(bytes) != loads(bytes)) std::abort();
    constexpr std::size_t header = deepcnn::model_file_header_bytes;
    if (bytes.size() >= header + 4) {
        const std::uint64_t actual = bytes.size() - header - 4;
        const std::uint8_t pick = data[size - 1];
        const std::uint64_t near_limit[4] = {std::uint64_t(1) << 63, ~std::uint64_t(0), ~std::uint64_t(0) - (pick >> 2),
                                             actual + (pick >> 2) - 32};
        const std::uint64_t declared = near_limit[pick & 3U];
        if (declared != actual) {
            std::string wrong = bytes;
            std::memcpy(&wrong[header - 8], &declared, 8);
            if (decode(wrong) || loads(wrong)) std::abort();
        }
        const std::uint64_t payload = bytes.size() - header - 4;
        std::memcpy(&bytes[header - 8], &payload, 8);
        const std::uint32_t crc = deepcnn::detail::crc32_of(bytes.data() + header, payload);
        std::memcpy(&bytes[header + payload], &crc, 4);
        decode(bytes);
    }
    return 0;
}
