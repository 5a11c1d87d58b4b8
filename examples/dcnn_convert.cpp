// examples/dcnn_convert.cpp: converts a model between deepcnn's .dcnn files and ONNX, by the files' extensions:
// .dcnn -> .onnx with save_onnx (a FER model's preprocessing, class names and metadata go along, fer_onnx.hpp),
// .onnx -> .dcnn with load_onnx (a chain of layers becomes a Sequential, which fer_predict reads; anything else a
// Graph). See docs/onnx.md.
#include <deepcnn/deepcnn.hpp>

#include <iostream>
#include <string>

#include "fer_common.hpp"
#include "fer_onnx.hpp"

using namespace deepcnn;

namespace {

const char* const usage_text =
    "usage: dcnn_convert IN OUT\n"
    "Converts a model between deepcnn's format (.dcnn) and ONNX (.onnx), by the extensions: one of IN and OUT is\n"
    ".dcnn, the other .onnx. A FER model's ONNX file takes `image` (N, 1, 48, 48) with pixel values 0..255 and gives\n"
    "`probabilities` (N, K) as fer_predict --tta off does; see docs/onnx.md.\n"
    "Exit codes: 0 converted, 1 a file could not be read, written or converted, 2 bad command line.\n";

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() > suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void dcnn_to_onnx(const std::string& in, const std::string& out) {
    ModelMetadata meta;
    Graph<float> model = load_graph<float>(in, &meta);
    fer::save_fer_onnx(out, model, meta);
    std::cout << in << " -> " << out << ": " << model.size() << " layers, opset " << onnx_opset << "\n";
}

void onnx_to_dcnn(const std::string& in, const std::string& out) {
    OnnxImport<float> imported = load_onnx<float>(in);
    ModelMetadata meta = imported.metadata;
    if (imported.preprocessing && meta.numbers.count("norm.mean") == 0) {
        meta.numbers["norm.mean"] = imported.preprocessing->mean;
        meta.numbers["norm.std"] = imported.preprocessing->stddev;
    }
    if (!imported.class_names.empty() && meta.text.count("classes") == 0) {
        std::string classes;
        for (const auto& name : imported.class_names) classes += (classes.empty() ? "" : "\n") + name;
        meta.text["classes"] = classes;
    }
    bool chain = true;
    for (std::size_t i = 0; i < imported.model.size(); ++i) {
        const auto inputs = imported.model.node_inputs(i);
        const std::string previous = i == 0 ? imported.model.input_name() : imported.model.layer_name(i - 1);
        chain = chain && inputs.size() == 1 && inputs.front() == previous;
    }
    if (chain) {
        Sequential<float> model = chain_as_sequential(imported.model);
        save_model(out, model, meta);
    } else {
        save_model(out, imported.model, meta);
    }
    std::cout << in << " -> " << out << ": " << imported.model.size() << " layers ("
              << (chain ? "Sequential" : "Graph") << ")\n";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
        std::cout << usage_text;
        return fer::exit_ok;
    }
    if (argc != 3) {
        std::cerr << "dcnn_convert: expected IN and OUT\n" << usage_text;
        return fer::exit_usage;
    }
    const std::string in = argv[1], out = argv[2];
    const bool to_onnx = ends_with(in, ".dcnn") && ends_with(out, ".onnx");
    const bool to_dcnn = ends_with(in, ".onnx") && ends_with(out, ".dcnn");
    if (!to_onnx && !to_dcnn) {
        std::cerr << "dcnn_convert: one of IN and OUT must end in .dcnn and the other in .onnx, got '" << printable(in)
                  << "' and '" << printable(out) << "'\n" << usage_text;
        return fer::exit_usage;
    }
    try {
        if (to_onnx) {
            dcnn_to_onnx(in, out);
        } else {
            onnx_to_dcnn(in, out);
        }
    } catch (const std::exception& e) {
        std::cerr << "dcnn_convert: error: " << printable(e.what()) << "\n";
        return fer::exit_data_error;
    }
    return fer::exit_ok;
}
