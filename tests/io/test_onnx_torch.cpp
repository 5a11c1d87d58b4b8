// tests/io/test_onnx_torch.cpp: a net built and trained briefly in PyTorch, exported by torch.onnx.export (opset 13;
// tests/onnx/torch_net.py under /usr/bin/python3), imports into deepcnn, predicts what PyTorch predicts within 1e-5,
// fine-tunes with the Trainer (the loss goes down) and survives .onnx -> .dcnn -> .onnx. Skipped, with a warning that
// says so, where python3 cannot import torch.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "io/temp_files.hpp"

using namespace deepcnn;

namespace onnx_torch_test {

const char* const torch_python = "/usr/bin/python3";

bool torch_can_export() {
    static const bool available =
        std::system((std::string(torch_python) + " -c 'import torch.onnx' > /dev/null 2>&1").c_str()) == 0;
    return available;
}

template <class T>
std::vector<T> read_values(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    REQUIRE(in);
    const auto bytes = static_cast<std::size_t>(in.tellg());
    std::vector<T> values(bytes / sizeof(T));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(bytes));
    return values;
}

Tensor<float> read_images(const std::string& path, int c, int h, int w) {
    const std::vector<float> values = read_values<float>(path);
    Tensor<float> t(Shape(static_cast<int>(values.size() / (std::size_t(c) * h * w)), c, h, w));
    std::copy(values.begin(), values.end(), t.data());
    return t;
}

}  // namespace onnx_torch_test

using namespace onnx_torch_test;

TEST_CASE("ONNX: a PyTorch net imports, predicts as PyTorch does and fine-tunes with the Trainer", "[onnx][io][torch]") {
    if (!torch_can_export()) {
        WARN("SKIPPED: " << torch_python << " cannot import torch.onnx (install python3-torch to run the PyTorch import test)");
        return;
    }
    deepcnn_test::TempDir dir;
    const std::string out = dir.file("");
    const std::string command = std::string(torch_python) + " " + DEEPCNN_TEST_DIR + "/onnx/torch_net.py " + out +
                                " > " + dir.file("torch.log") + " 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);

    OnnxImport<float> imported = load_onnx<float>(dir.file("torch_net.onnx"));
    Graph<float>& model = imported.model;
    CHECK(imported.input_name == "image");
    CHECK(imported.output_name == "logits");
    CHECK(model.input_shape() == Shape(1, 1, 12, 12));
    CHECK(model.has("0_Conv"));  // "/0/Conv", PyTorch's name, made a deepcnn node name

    const Tensor<float> probe = read_images(dir.file("input.bin"), 1, 12, 12);
    const std::vector<float> expected = read_values<float>(dir.file("probabilities.bin"));
    const Tensor<float> probabilities = model.predict(probe);
    REQUIRE(probabilities.size() == expected.size());
    double worst = 0.0;
    for (std::size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, double(std::fabs(probabilities[i] - expected[i])));
    INFO("largest difference from PyTorch: " << worst);
    CHECK(worst <= 1e-5);

    // .onnx -> .dcnn -> .onnx keeps the predictions bit for bit
    save_model(dir.file("torch_net.dcnn"), model);
    Graph<float> reloaded = load_graph<float>(dir.file("torch_net.dcnn"));
    const Tensor<float> again = decode_onnx<float>(encode_onnx(reloaded), "again.onnx").model.predict(probe);
    for (std::size_t i = 0; i < again.size(); ++i) REQUIRE(again[i] == probabilities[i]);

    // fine-tuning: a few epochs of the Trainer on PyTorch's training task lower the loss
    const Tensor<float> images = read_images(dir.file("train_x.bin"), 1, 12, 12);
    const std::vector<std::int32_t> raw_labels = read_values<std::int32_t>(dir.file("train_y.bin"));
    const std::vector<int> labels(raw_labels.begin(), raw_labels.end());
    const double before = model.evaluate(images, labels).loss;
    Adam<float> adam(1e-3);
    TrainerOptions options;
    options.epochs = 3;
    options.batch = 8;
    options.verbosity = Verbosity::silent;
    options.restore_best_weights = false;
    Trainer<Graph<float>> trainer(model, adam, options);
    trainer.fit(images, labels);
    const double after = model.evaluate(images, labels).loss;
    INFO("loss before fine-tuning " << before << ", after " << after);
    CHECK(after < before);
}
