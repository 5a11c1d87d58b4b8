// tests/model/test_fer_resnet.cpp: the residual FER net of examples/fer_nets.hpp ("resnet"): its shapes and
// parameter count worked out by hand from the design, one training step that learns, and a model file that
// loads back to the same predictions.
#include <catch2/catch.hpp>

#include <deepcnn/deepcnn.hpp>

#include "../../examples/fer_nets.hpp"
#include "io/temp_files.hpp"

#include <cmath>
#include <map>
#include <string>
#include <vector>

using namespace deepcnn;

namespace {

Tensor<float> resnet_face_batch(int n, std::uint64_t seed) {
    Tensor<float> x(Shape(n, 1, 48, 48));
    Rng rng(seed);
    for (auto& v : x) v = static_cast<float>(rng.normal());
    return x;
}

// Parameters of a bias-free k x k convolution from `in` to `out` channels and its BatchNorm (scale and shift).
std::size_t resnet_conv_bn_params(std::size_t in, std::size_t out, std::size_t k) { return in * out * k * k + 2 * out; }

}  // namespace

TEST_CASE("the resnet FER net has the designed stages, shapes and parameter count", "[model][graph][fer_resnet]") {
    Graph<float> net = fer::make_resnet(3, 1);
    CHECK(net.output_shape().sample_str() == "(3)");
    CHECK(fer::make_resnet(7, 1).output_shape().sample_str() == "(7)");

    std::map<std::string, int> types;
    for (std::size_t i = 0; i < net.size(); ++i) ++types[net.layer(i).type()];
    CHECK(types["Add"] == 4);              // blocks: one at 24x24, two at 12x12, one at 6x6
    CHECK(types["MaxPool2D"] == 3);        // 48 -> 24 -> 12 -> 6
    CHECK(types["GlobalAvgPool2D"] == 1);
    CHECK(types["Dense"] == 1);            // the only Dense: 256 -> classes
    CHECK(types["Conv2D"] == 12);          // stem, 8 in the blocks, 3 projections

    // stem 1 -> 32; per stage a block that widens (two 3x3 convs and a 1x1 projection) and 64 -> 128 a second one.
    const std::size_t expected = resnet_conv_bn_params(1, 32, 3) +
                                 resnet_conv_bn_params(32, 64, 3) + resnet_conv_bn_params(64, 64, 3) + resnet_conv_bn_params(32, 64, 1) +
                                 resnet_conv_bn_params(64, 128, 3) + resnet_conv_bn_params(128, 128, 3) + resnet_conv_bn_params(64, 128, 1) +
                                 2 * resnet_conv_bn_params(128, 128, 3) +
                                 resnet_conv_bn_params(128, 256, 3) + resnet_conv_bn_params(256, 256, 3) + resnet_conv_bn_params(128, 256, 1) +
                                 256 * 3 + 3;
    CHECK(net.parameter_count() == expected);

    // The skip of a block that keeps the width is its input itself; a widening block's goes through the projection.
    CHECK(net.node_inputs(net.size() - 1).front() == "logits");
    const auto inputs_of = [&](const std::string& name) {
        for (std::size_t i = 0; i < net.size(); ++i)
            if (net.layer_name(i) == name) return net.node_inputs(i);
        FAIL("no node " << name);
        return std::vector<std::string>();
    };
    CHECK(inputs_of("s3b2_add") == std::vector<std::string>{"s3b1_relu", "s3b2_conv2_bn"});
    CHECK(inputs_of("s3b1_add") == std::vector<std::string>{"s3b1_proj_bn", "s3b1_conv2_bn"});

    CHECK_THROWS_AS(fer::make_residual_net(3, 1, {32, 64}, {1, 1}, 1, 0.0), config_error);
    CHECK_THROWS_AS(fer::make_residual_net(3, 1, {32, 64}, {1}, 0, 0.0), config_error);
}

TEST_CASE("the resnet FER net trains a step, and saves and loads to the same predictions", "[model][graph][fer_resnet]") {
    Graph<float> net = fer::make_resnet(3, 7);
    net.set_threads(2);
    const Tensor<float> x = resnet_face_batch(8, 3);
    const std::vector<int> labels{0, 1, 2, 0, 1, 2, 0, 1};
    Adam<float> adam(1e-3);
    SoftmaxCrossEntropy<float> loss;
    const StepResult first = net.train_step(x, labels, loss, adam);
    REQUIRE(std::isfinite(first.loss));
    CHECK(first.count == 8);
    for (int step = 0; step < 4; ++step) net.train_step(x, labels, loss, adam);
    const StepResult later = net.train_step(x, labels, loss, adam);
    CHECK(later.loss < first.loss);  // five Adam steps on one batch lower its training loss

    deepcnn_test::TempDir dir;
    save_model(dir.file("resnet.dcnn"), net);
    Graph<float> loaded = load_graph<float>(dir.file("resnet.dcnn"));
    loaded.set_threads(2);
    CHECK(loaded.summary() == net.summary());
    const Tensor<float> expected = net.predict(x), got = loaded.predict(x);
    REQUIRE(got.shape() == expected.shape());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == expected[i]);
}
