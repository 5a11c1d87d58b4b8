// examples/fer_nets.hpp: the FER networks fer_train can build, and its recipes' optimizers and schedules: "seed",
// the tutorial's D-CNN; "fer", our default, chosen for accuracy per CPU-minute; and "large", the same shape twice as
// wide, for the long recipe (docs/results.md has the measurements). make_net builds any of them by name, as either kind of model (AnyNet):
// a new net is one more line in nets().
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
    };
    return table;
}

// "fer, large or seed": the names nets() knows, for messages.
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
