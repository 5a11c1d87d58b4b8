// examples/fer_nets.hpp: the FER networks fer_train can build: "seed", the tutorial's D-CNN; "fer", our default,
// chosen for accuracy per CPU-minute; and "large", the same shape twice as wide, for the long recipe
// (docs/results.md has the measurements).
#pragma once

#include <deepcnn/deepcnn.hpp>

#include <cstdint>
#include <string>

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

inline Model make_net(const std::string& name, int classes, std::uint64_t seed) {
    if (name == "seed") return make_seed_net(classes, seed);
    if (name == "fer") return make_fer_net(classes, seed);
    if (name == "large") return make_large_net(classes, seed);
    throw deepcnn::config_error("unknown net '" + name + "' (expected fer, large or seed)");
}

}  // namespace fer
