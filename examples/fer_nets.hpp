// examples/fer_nets.hpp: the FER networks fer_train can build, and its recipes' optimizers and schedules: "seed",
// the tutorial's D-CNN; "fer", our default, chosen for accuracy per CPU-minute; "large", the same shape twice as
// wide, for the long recipe; "resnet", a residual Graph with global average pooling, and "resnet-wide", the same
// 1.5x as wide (docs/results.md has the measurements). make_net builds any of them by name, as either kind of
// model (AnyNet): a new net is one more line in nets().
#pragma once

#include <deepcnn/deepcnn.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fer {

using deepcnn::Shape;
using Model = deepcnn::Sequential<float>;

// The tutorial's "D-CNN": three stages of two 'same' convolutions with ReLU then BatchNorm (activation before
// normalisation, as the original), max-pooling and dropout 0.4; Dense 128 + ReLU + BatchNorm, dropout 0.6,
// Dense to the classes and Softmax. He-normal initialisation. About 0.99 GFLOP forward per image.
inline Model make_seed_net(int classes, std::uint64_t seed) {
    using namespace deepcnn;
    Model model(Shape(1, 1, 48, 48), seed);
    const int widths[3] = {64, 128, 256};
    const int kernels[3] = {5, 3, 3};
    for (int stage = 0; stage < 3; ++stage) {
        for (int i = 0; i < 2; ++i) {
            model.add(Conv2D<float>(widths[stage], kernels[stage]).with_init(Init::he_normal));
            model.add(ReLU<float>());
            model.add(BatchNorm<float>());
        }
        model.add(MaxPool2D<float>(2));
        model.add(Dropout<float>(0.4));
    }
    model.add(Flatten<float>());
    model.add(Dense<float>(128).with_init(Init::he_normal));
    model.add(ReLU<float>());
    model.add(BatchNorm<float>());
    model.add(Dropout<float>(0.6));
    model.add(Dense<float>(classes).with_init(Init::he_normal));
    model.add(Softmax<float>());
    return model;
}

// The "fer" family: three stages of two 3x3 convolutions (`width`, 2x, 4x filters) each followed by BatchNorm
// and ReLU, max-pooling after each stage (dropout 0.1, 0.2 after the last two), then Dense `dense` with
// BatchNorm, ReLU and dropout 0.5, and Dense to the classes.
inline Model make_staged_net(int classes, std::uint64_t seed, int width, int dense) {
    using namespace deepcnn;
    Model model(Shape(1, 1, 48, 48), seed);
    for (int stage = 0; stage < 3; ++stage) {
        for (int i = 0; i < 2; ++i) {
            model.add(Conv2D<float>(width << stage, 3).with_bias(false));
            model.add(BatchNorm<float>(0.9, 1e-5));
            model.add(ReLU<float>());
        }
        model.add(MaxPool2D<float>(2));
        if (stage > 0) model.add(Dropout<float>(0.1 * stage));
    }
    model.add(Flatten<float>());
    model.add(Dense<float>(dense).with_init(Init::he_normal).with_bias(false));
    model.add(BatchNorm<float>(0.9, 1e-5));
    model.add(ReLU<float>());
    model.add(Dropout<float>(0.5));
    model.add(Dense<float>(classes));
    model.add(Softmax<float>());
    return model;
}

// Our default: filters 32, 64, 128 and Dense 256. About 174 MFLOP forward per image, a sixth of the tutorial's net.
inline Model make_fer_net(int classes, std::uint64_t seed) { return make_staged_net(classes, seed, 32, 256); }

// The long recipe's net: twice as wide, filters 64, 128, 256 and Dense 512. About 692 MFLOP forward per image.
inline Model make_large_net(int classes, std::uint64_t seed) { return make_staged_net(classes, seed, 64, 512); }

// The residual family (a Graph): a stem of `stem_convs` 3x3 convolutions of `widths[0]` filters at 48x48, then
// one stage per further entry of `widths`, each opened by a 2x2 max-pool and holding `blocks[s]` residual blocks
// (conv 3x3, BatchNorm, ReLU, conv 3x3, BatchNorm, added to the block's input, ReLU; the first block of a stage
// that changes the width adds a 1x1 convolution + BatchNorm projection of its input instead). Every heavy layer is
// a stride-1 3x3 convolution (the fast Winograd / broadcast kernels); downsampling is max-pooling. The head is
// global average pooling, dropout `dropout` and Dense to the classes: no large Dense layer.
inline deepcnn::Graph<float> make_residual_net(int classes, std::uint64_t seed, const std::vector<int>& widths,
                                               const std::vector<int>& blocks, int stem_convs, double dropout) {
    using namespace deepcnn;
    if (widths.size() < 2 || blocks.size() + 1 != widths.size() || stem_convs < 1) {
        throw config_error("make_residual_net: expected a stem width and one block count per stage");
    }
    Graph<float> model(Shape(1, 1, 48, 48), seed);
    std::string last = "input";
    const auto conv_bn = [&](const std::string& name, const std::string& from, int filters, int kernel) {
        model.add(name, Conv2D<float>(filters, kernel).with_bias(false), {from});
        model.add(name + "_bn", BatchNorm<float>(0.9, 1e-5), {name});
        return name + "_bn";
    };
    const auto relu = [&](const std::string& name, const std::string& from) {
        model.add(name, ReLU<float>(), {from});
        return name;
    };
    for (int i = 0; i < stem_convs; ++i) {
        const std::string name = "stem" + std::to_string(i + 1);
        last = relu(name + "_relu", conv_bn(name, last, widths[0], 3));
    }
    int width = widths[0];
    for (std::size_t stage = 0; stage < blocks.size(); ++stage) {
        const std::string prefix = "s" + std::to_string(stage + 2);
        model.add(prefix + "_pool", MaxPool2D<float>(2), {last});
        last = prefix + "_pool";
        for (int b = 0; b < blocks[stage]; ++b) {
            const std::string block = prefix + "b" + std::to_string(b + 1);
            const int filters = widths[stage + 1];
            const std::string inner = relu(block + "_relu1", conv_bn(block + "_conv1", last, filters, 3));
            const std::string residual = conv_bn(block + "_conv2", inner, filters, 3);
            const std::string shortcut = filters == width ? last : conv_bn(block + "_proj", last, filters, 1);
            model.add(block + "_add", Add<float>(), {shortcut, residual});
            last = relu(block + "_relu", block + "_add");
            width = filters;
        }
    }
    model.add("gap", GlobalAvgPool2D<float>(), {last});
    last = "gap";
    if (dropout > 0.0) {
        model.add("dropout", Dropout<float>(dropout), {last});
        last = "dropout";
    }
    model.add("logits", Dense<float>(classes), {last});
    model.add("softmax", Softmax<float>(), {"logits"});
    return model;
}

// "resnet": a 32-filter stem at 48x48, then stages of 64, 128 and 256 filters at 24x24, 12x12 and 6x6 with one,
// two and one blocks, dropout 0.3 before the classifier. About 286 MFLOP forward per image, 1.50 M parameters.
inline deepcnn::Graph<float> make_resnet(int classes, std::uint64_t seed) {
    return make_residual_net(classes, seed, {32, 64, 128, 256}, {1, 2, 1}, 1, 0.3);
}

// "resnet-wide": the same shape 1.5x as wide (a 48-filter stem, stages of 96, 192 and 384 filters), for the long
// recipes. About 640 MFLOP forward per image, 3.4 M parameters.
inline deepcnn::Graph<float> make_wide_resnet(int classes, std::uint64_t seed) {
    return make_residual_net(classes, seed, {48, 96, 192, 384}, {1, 2, 1}, 1, 0.3);
}

// A net of either kind: the chains above are Sequential, a net with skip connections is a Graph.
using AnyNet = deepcnn::AnyModel<float>;

// The nets fer_train --net can name, each with the function that builds it for a number of classes and a seed.
struct NetEntry {
    const char* name;
    AnyNet (*make)(int classes, std::uint64_t seed);
};
inline const std::vector<NetEntry>& nets() {
    static const std::vector<NetEntry> table = {
        {"fer", [](int classes, std::uint64_t seed) { return AnyNet(make_fer_net(classes, seed)); }},
        {"large", [](int classes, std::uint64_t seed) { return AnyNet(make_large_net(classes, seed)); }},
        {"seed", [](int classes, std::uint64_t seed) { return AnyNet(make_seed_net(classes, seed)); }},
        {"resnet", [](int classes, std::uint64_t seed) { return AnyNet(make_resnet(classes, seed)); }},
        {"resnet-wide", [](int classes, std::uint64_t seed) { return AnyNet(make_wide_resnet(classes, seed)); }},
    };
    return table;
}

// "fer, large, seed or resnet": the names nets() knows, for messages.
inline std::string net_names() {
    std::string names;
    for (std::size_t i = 0; i < nets().size(); ++i)
        names += (i == 0 ? "" : i + 1 == nets().size() ? " or " : ", ") + std::string(nets()[i].name);
    return names;
}

inline bool is_net(const std::string& name) {
    for (const NetEntry& net : nets())
        if (name == net.name) return true;
    return false;
}

// The net called `name`, Sequential or Graph; config_error for a name nets() does not know.
inline AnyNet make_net(const std::string& name, int classes, std::uint64_t seed) {
    for (const NetEntry& net : nets())
        if (name == net.name) return net.make(classes, seed);
    throw deepcnn::config_error("unknown net '" + name + "' (expected " + net_names() + ")");
}

// The recipes' optimizers: "sgd" (Nesterov momentum 0.9, weight decay 5e-4), "adamw" (decoupled weight decay 0.05)
// or "adam"; and their schedules: "cosine" (a quarter of the epochs' warm-up, at most one, down to 1% of the rate),
// "plateau" (halved after 7 epochs without a better validation accuracy) or "none".
inline std::unique_ptr<deepcnn::Optimizer<float>> make_optimizer(const std::string& name, double lr) {
    using namespace deepcnn;
    if (name == "sgd") return std::make_unique<Sgd<float>>(SgdOptions{lr, 0.9, true, 5e-4});
    AdamOptions a;
    a.learning_rate = lr;
    a.decoupled_weight_decay = name == "adamw";
    a.weight_decay = name == "adamw" ? 0.05 : 0.0;
    return std::make_unique<Adam<float>>(a);
}

inline std::shared_ptr<deepcnn::LrSchedule> make_schedule(const std::string& name, double lr, int epochs) {
    using namespace deepcnn;
    if (name == "cosine") return std::make_shared<CosineLr>(lr, epochs, std::min(1.0, epochs / 4.0), lr * 0.01);
    if (name == "plateau") return std::make_shared<ReduceOnPlateau>(lr, 0.5, 7, true, 1e-6);
    return std::make_shared<ConstantLr>(lr);
}

}  // namespace fer
