// tests/fuzz/fuzz_onnx.cpp: libFuzzer target for the ONNX importer (decode_onnx<float>: the protobuf wire reader,
// the message decoders and the graph reader). An accepted model that is small enough (every activation at most 2^16
// values, at most 2 MFLOPs) runs one forward pass in evaluation mode on a zero image, and is exported again with
// encode_onnx, which must either refuse it with a deepcnn::error or write a file that decode_onnx accepts. The only
// allowed outcomes are a model or a deepcnn::error; anything else escaping (std::bad_alloc, std::length_error, ...)
// or a sanitizer report is a finding.
#include <deepcnn/onnx.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

bool small_enough(deepcnn::Graph<float>& model) {
    bool small = model.forward_flops() <= 2e6 && model.input_shape().per_sample() <= (1U << 16);
    for (std::size_t i = 0; small && i < model.size(); ++i) small = model.node_shape(i).per_sample() <= (1U << 16);
    return small;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    try {
        deepcnn::OnnxImport<float> imported = deepcnn::decode_onnx<float>(bytes, "fuzz.onnx");
        deepcnn::Graph<float>& model = imported.model;
        (void)model.summary();
        model.eval();
        if (!small_enough(model)) return 0;
        const deepcnn::Tensor<float> x(model.input_shape(), 0.0F);
        (void)model.forward(x);
        std::string again;
        try {
            again = deepcnn::encode_onnx(model);
        } catch (const deepcnn::error&) {
            return 0;
        }
        try {
            (void)deepcnn::decode_onnx<float>(again, "again.onnx");
        } catch (const deepcnn::error&) {
            std::abort();  // deepcnn refuses a file it wrote itself
        }
    } catch (const deepcnn::error&) {
    }
    return 0;
}
