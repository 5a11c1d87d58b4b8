// tests/layers/test_torch_oracle.cpp: PyTorch as the oracle for the layers added for residual and mobile nets
// (grouped and depthwise Conv2D, AvgPool2D, GlobalAvgPool2D) and for the loss (SoftmaxCrossEntropy with class weights
// and label smoothing): each case's input, parameters and upstream gradient go to a temporary folder,
// tests/torch_oracle.py runs the same layer in float64 under /usr/bin/python3 with torch, and the output, the input
// gradient and every parameter gradient must match the layer's in double. Skipped, with a warning that says so, where
// python3 cannot import torch.
#include <catch2/catch.hpp>

#include <deepcnn/layers/avg_pool2d.hpp>
#include <deepcnn/layers/conv2d.hpp>
#include <deepcnn/layers/global_avg_pool2d.hpp>
#include <deepcnn/loss/softmax_cross_entropy.hpp>

#include "gradient_check.hpp"
#include "io/temp_files.hpp"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

using namespace deepcnn;
using deepcnn_test::random_tensor;
using deepcnn_test::randomize_params;

namespace torch_oracle_test {

const char* const python = "/usr/bin/python3";

bool torch_available() {
    static const bool available =
        std::system((std::string(python) + " -c 'import torch' > /dev/null 2>&1").c_str()) == 0;
    return available;
}

std::string oracle_script() {
    return (std::filesystem::path(__FILE__).parent_path().parent_path() / "torch_oracle.py").string();
}

// A .bin tensor as torch_oracle.py reads and writes it: int32 N, C, H, W, then float64 values.
void write_tensor(const std::string& path, const Tensor<double>& t) {
    std::ofstream out(path, std::ios::binary);
    const std::int32_t dims[4] = {t.n(), t.c(), t.h(), t.w()};
    out.write(reinterpret_cast<const char*>(dims), sizeof(dims));
    out.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.size() * sizeof(double)));
    REQUIRE(out.good());
}

Tensor<double> read_tensor(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    INFO("reading " << path);
    REQUIRE(in.good());
    std::int32_t dims[4];
    in.read(reinterpret_cast<char*>(dims), sizeof(dims));
    Tensor<double> t(Shape(dims[0], dims[1], dims[2], dims[3]));
    in.read(reinterpret_cast<char*>(t.data()), static_cast<std::streamsize>(t.size() * sizeof(double)));
    REQUIRE(in.good());
    return t;
}

// One layer, its input and the settings torch_oracle.py needs to run the same layer (case.txt lines).
struct OracleCase {
    std::string name;
    std::shared_ptr<Layer<double>> layer;
    Shape input;
    std::vector<std::string> settings;
};

// The rows (or columns) of padding after the input: what the window's last position needs beyond pad_lead.
int trailing_pad(int in, int out, int window, int stride, int pad_lead) {
    return std::max(0, (out - 1) * stride + window - in - pad_lead);
}

std::vector<std::string> window_settings(const ConvGeometry& g) {
    return {"stride_h=" + std::to_string(g.stride_h),
            "stride_w=" + std::to_string(g.stride_w),
            "pad_top=" + std::to_string(g.pad_top),
            "pad_left=" + std::to_string(g.pad_left),
            "pad_bottom=" + std::to_string(trailing_pad(g.H, g.OH, g.KH, g.stride_h, g.pad_top)),
            "pad_right=" + std::to_string(trailing_pad(g.W, g.OW, g.KW, g.stride_w, g.pad_left))};
}

OracleCase conv_case(const std::string& name, Shape input, int filters, int kernel, int groups, int stride,
                     Padding padding, bool bias) {
    auto conv = std::make_shared<Conv2D<double>>(filters, kernel);
    conv->with_groups(groups).with_stride(stride).with_padding(padding).with_bias(bias);
    Rng rng(21);
    conv->build(input, rng);
    randomize_params(*conv, rng);
    std::vector<std::string> settings = window_settings(conv->geometry());
    settings.insert(settings.begin(), {"layer=Conv2D", "groups=" + std::to_string(groups),
                                       std::string("bias=") + (bias ? "1" : "0")});
    return {name, conv, input, settings};
}

OracleCase avg_pool_case(const std::string& name, Shape input, int kernel, int stride, Padding padding,
                         bool count_include_pad) {
    auto pool = std::make_shared<AvgPool2D<double>>(kernel, stride);
    pool->with_padding(padding).with_count_include_pad(count_include_pad);
    Rng rng(22);
    pool->build(input, rng);
    const ConvGeometry g = make_conv_geometry(input.c, input.h, input.w, input.c, kernel, kernel, stride, stride,
                                              padding);
    std::vector<std::string> settings = window_settings(g);
    settings.insert(settings.begin(), {"layer=AvgPool2D", "kernel_h=" + std::to_string(kernel),
                                       "kernel_w=" + std::to_string(kernel),
                                       std::string("count_include_pad=") + (count_include_pad ? "1" : "0")});
    return {name, pool, input, settings};
}

std::vector<OracleCase> oracle_cases() {
    auto global = std::make_shared<GlobalAvgPool2D<double>>();
    Rng rng(23);
    global->build(Shape(1, 5, 6, 7), rng);
    return {
        conv_case("depthwise3x3_same_s1", Shape(2, 4, 7, 9), 4, 3, 4, 1, Padding::same(), true),
        conv_case("depthwise3x3_same_s2", Shape(2, 3, 8, 7), 3, 3, 3, 2, Padding::same(), true),
        conv_case("depthwise3x3_pad1_s2", Shape(2, 3, 9, 9), 3, 3, 3, 2, Padding::explicit_pad(1, 1), false),
        conv_case("depthwise_multiplier2", Shape(2, 2, 6, 5), 4, 3, 2, 1, Padding::same(), true),
        conv_case("groups2_5x5_valid_s2", Shape(2, 4, 9, 8), 6, 5, 2, 2, Padding::valid(), true),
        conv_case("groups4_1x1", Shape(3, 8, 4, 4), 8, 1, 4, 1, Padding::valid(), true),
        avg_pool_case("avg2x2_s2", Shape(2, 3, 7, 6), 2, 2, Padding::valid(), true),
        avg_pool_case("avg3x3_s2_pad1_counted", Shape(2, 2, 7, 7), 3, 2, Padding::explicit_pad(1, 1), true),
        avg_pool_case("avg3x3_s2_pad1_not_counted", Shape(2, 2, 7, 9), 3, 2, Padding::explicit_pad(1, 1), false),
        avg_pool_case("avg3x3_s1_same_counted", Shape(1, 2, 6, 6), 3, 1, Padding::same(), true),
        avg_pool_case("avg2x2_s2_same_not_counted", Shape(2, 2, 5, 7), 2, 2, Padding::same(), false),
        {"global_avg", global, Shape(3, 5, 6, 7), {"layer=GlobalAvgPool2D"}},
    };
}

void require_match(const std::string& what, const Tensor<double>& ours, const Tensor<double>& torch) {
    INFO(what);
    REQUIRE(ours.size() == torch.size());
    for (std::size_t i = 0; i < ours.size(); ++i) {
        INFO("element " << i);
        REQUIRE(ours[i] == Approx(torch[i]).epsilon(1e-12).margin(1e-12));
    }
}

}  // namespace torch_oracle_test

using namespace torch_oracle_test;

TEST_CASE("new layers match PyTorch: output, input gradient and parameter gradients", "[layers][torch_oracle]") {
    if (!torch_available()) {
        WARN("SKIPPED: " << python << " cannot import torch (install python3-torch to run the PyTorch oracle)");
        return;
    }
    deepcnn_test::TempDir dir;
    const std::vector<OracleCase> cases = oracle_cases();
    std::vector<Tensor<double>> outputs, input_grads;
    for (const OracleCase& c : cases) {
        const std::string folder = dir.file(c.name);
        std::filesystem::create_directories(folder);
        Rng rng(31);
        const Tensor<double> x = random_tensor(c.input, rng);
        outputs.push_back(c.layer->forward(x));
        const Tensor<double> dy = random_tensor(outputs.back().shape(), rng);
        input_grads.push_back(c.layer->backward(dy));
        write_tensor(folder + "/x.bin", x);
        write_tensor(folder + "/dy.bin", dy);
        for (auto& p : c.layer->params()) write_tensor(folder + "/" + p.name + ".bin", *p.value);
        std::ofstream spec(folder + "/case.txt");
        for (const std::string& line : c.settings) spec << line << '\n';
        REQUIRE(spec.good());
    }
    const std::string command = std::string(python) + " '" + oracle_script() + "' '" + dir.file("") + "'";
    INFO("running " << command);
    REQUIRE(std::system(command.c_str()) == 0);
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const OracleCase& c = cases[i];
        const std::string folder = dir.file(c.name);
        {
            INFO("case " << c.name);
            require_match("output", outputs[i], read_tensor(folder + "/y.bin"));
            require_match("input gradient", input_grads[i], read_tensor(folder + "/dx.bin"));
            for (auto& p : c.layer->params())
                require_match(p.name + " gradient", *p.grad, read_tensor(folder + "/d" + p.name + ".bin"));
        }
    }
}

TEST_CASE("softmax cross-entropy with class weights and label smoothing matches PyTorch's CrossEntropyLoss",
          "[loss][torch_oracle]") {
    if (!torch_available()) {
        WARN("SKIPPED: " << python << " cannot import torch (install python3-torch to run the PyTorch oracle)");
        return;
    }
    struct LossCase {
        std::string name;
        std::vector<double> weights;
        double smoothing;
    };
    const std::vector<LossCase> cases = {{"plain", {}, 0.0},
                                         {"smoothed", {}, 0.1},
                                         {"weighted", {0.5, 2.0, 1.0, 3.0}, 0.0},
                                         {"weighted_smoothed", {0.5, 2.0, 1.0, 3.0}, 0.25}};
    const std::vector<int> labels = {0, 3, 1, 1, 2};
    deepcnn_test::TempDir dir;
    Rng rng(41);
    const Tensor<double> logits = random_tensor(Shape(5, 4, 1, 1), rng, -3.0, 3.0);
    std::vector<double> values;
    std::vector<Tensor<double>> gradients;
    for (const LossCase& c : cases) {
        const std::string folder = dir.file(c.name);
        std::filesystem::create_directories(folder);
        SoftmaxCrossEntropy<double> loss(c.weights);
        loss.set_label_smoothing(c.smoothing);
        values.push_back(loss.forward(logits, labels));
        gradients.emplace_back();
        loss.backward(gradients.back());
        write_tensor(folder + "/x.bin", logits);
        write_tensor(folder + "/dy.bin", Tensor<double>(Shape(1, 1, 1, 1), 1.0));
        std::ofstream spec(folder + "/case.txt");
        std::string weights, label_list;
        for (double w : c.weights) weights += (weights.empty() ? "" : ",") + std::to_string(w);
        for (int l : labels) label_list += (label_list.empty() ? "" : ",") + std::to_string(l);
        spec << "layer=CrossEntropy\nlabels=" << label_list << "\nweights=" << weights
             << "\nlabel_smoothing=" << c.smoothing << "\n";
        REQUIRE(spec.good());
    }
    const std::string command = std::string(python) + " '" + oracle_script() + "' '" + dir.file("") + "'";
    INFO("running " << command);
    REQUIRE(std::system(command.c_str()) == 0);
    for (std::size_t i = 0; i < cases.size(); ++i) {
        INFO("case " << cases[i].name);
        const std::string folder = dir.file(cases[i].name);
        require_match("loss", Tensor<double>(Shape(1, 1, 1, 1), values[i]), read_tensor(folder + "/y.bin"));
        require_match("logit gradient", gradients[i], read_tensor(folder + "/dx.bin"));
    }
}
