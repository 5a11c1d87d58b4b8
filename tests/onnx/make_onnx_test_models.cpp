// tests/onnx/make_onnx_test_models.cpp: make_onnx_test_models WORK_DIR IMAGE...: writes WORK_DIR/faces.bin (the
// images as fer_predict reads them: float32 (N, 1, 48, 48), pixel values 0..255), a small residual Graph with FER
// metadata as WORK_DIR/residual.dcnn (random weights and BatchNorm statistics, seeded) and WORK_DIR/residual.json, its
// probabilities on the images in fer_predict --json's form, for tests/onnx/check_consumers.py.
#include <deepcnn/deepcnn.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "../../examples/fer_common.hpp"

using namespace deepcnn;

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: make_onnx_test_models WORK_DIR IMAGE...\n";
        return 2;
    }
    const std::string work = argv[1];
    const int n = argc - 2;
    Tensor<float> images(Shape(n, 1, 48, 48));
    for (int i = 0; i < n; ++i) {
        const std::vector<float> face = load_face_image(argv[i + 2]);
        std::copy(face.begin(), face.end(), images.sample(i));
    }
    std::ofstream(work + "/faces.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(images.data()), static_cast<std::streamsize>(images.size() * sizeof(float)));

    Graph<float> g(Shape(1, 1, 48, 48), 21, "pixels");
    g.add("stem", Conv2D<float>(8, 3).with_stride(2), {"pixels"});
    g.add("stem_bn", BatchNorm<float>(0.9, 1e-5), {"stem"});
    g.add("stem_relu", ReLU<float>(), {"stem_bn"});
    g.add("res_conv", Conv2D<float>(8, 3).with_bias(false), {"stem_relu"});
    g.add("res_bn", BatchNorm<float>(0.9, 1e-5), {"res_conv"});
    g.add("res_add", Add<float>(), {"stem_relu", "res_bn"});
    g.add("res_relu", ReLU<float>(), {"res_add"});
    g.add("depthwise", Conv2D<float>(8, 3).with_groups(8).with_padding(Padding::explicit_pad(1, 1)), {"res_relu"});
    g.add("side", MaxPool2D<float>(2), {"res_relu"});
    g.add("pool", AvgPool2D<float>(3, 2).with_padding(Padding::same()), {"depthwise"});
    g.add("join", Concat<float>(), {"pool", "side"});
    g.add("gap", GlobalAvgPool2D<float>(), {"join"});
    g.add("head", Dense<float>(3), {"gap"});
    g.add("softmax", Softmax<float>(), {"head"});
    Rng rng(5);
    for (auto& b : g.buffers()) {
        const bool variance = b.name.find("running_var") != std::string::npos;
        for (auto& v : *b.value) v = static_cast<float>(variance ? rng.uniform(0.5, 2.0) : rng.uniform(-0.5, 0.5));
    }

    fer::ModelInfo info;
    info.classes = {"happiness", "sadness", "neutral"};
    info.emotions = {3, 4, 6};
    info.normalization = Normalization{128.0, 64.0};
    info.flip_averaging = false;
    info.net = "residual test net";
    ModelMetadata meta;
    fer::store_model_info(info, meta);
    save_model(work + "/residual.dcnn", g, meta);

    normalize(images, info.normalization);
    const Tensor<float> p = g.predict(images);
    std::string out = "[";
    for (int i = 0; i < n; ++i) {
        out += std::string(i ? ",\n " : "") + "{\"image\": " + json_quote(argv[i + 2]) + ", \"probabilities\": {";
        for (std::size_t k = 0; k < info.classes.size(); ++k) {
            out += (k ? ", " : "") + json_quote(info.classes[k]) + ": " + json_number(p.sample(i)[k]);
        }
        out += "}}";
    }
    std::ofstream(work + "/residual.json") << out << "]\n";
    std::cout << "wrote faces.bin, residual.dcnn and residual.json in " << work << "\n";
    return 0;
}
