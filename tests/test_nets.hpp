// tests/test_nets.hpp: the small nets several test files train, written once: a chain on 1 x 8 x 8 images with every
// stateful piece (a fused BatchNorm + ReLU, Dropout's generator), a chain with a hidden Dense for fine-tuning, and
// a residual Graph on the same images. Each test file keeps the data it trains on.
#pragma once

#include <deepcnn/deepcnn.hpp>

#include <cstddef>
#include <cstdint>

namespace deepcnn_test {

// Conv2D(4, 3) same -> BatchNorm -> ReLU -> MaxPool2D(2) -> Flatten: the body of the chains below.
template <class Scalar>
void add_small_body(deepcnn::Sequential<Scalar>& model) {
    using namespace deepcnn;
    model.add(Conv2D<Scalar>(4, 3));
    model.add(BatchNorm<Scalar>());
    model.add(ReLU<Scalar>());
    model.add(MaxPool2D<Scalar>(2));
    model.add(Flatten<Scalar>());
}

// The body (add_small_body) -> Dropout(dropout) -> Dense(classes), then a Softmax if `softmax`, on 1 x size x size
// images.
template <class Scalar = float>
deepcnn::Sequential<Scalar> small_chain(std::uint64_t seed, int classes = 3, bool softmax = true, int size = 8,
                                        double dropout = 0.25) {
    using namespace deepcnn;
    Sequential<Scalar> model(Shape(1, 1, size, size), seed);
    add_small_body(model);
    model.add(Dropout<Scalar>(dropout));
    model.add(Dense<Scalar>(classes));
    if (softmax) model.add(Softmax<Scalar>());
    return model;
}

// A body and a head for fine-tuning, on one thread: the body (add_small_body) -> Dense(hidden) -> ReLU ->
// Dense(classes) -> Softmax on 1 x 8 x 8 images (layer names conv2d_1 ... softmax_9).
inline deepcnn::Sequential<float> body_and_head(int classes, int hidden, std::uint64_t seed) {
    using namespace deepcnn;
    Sequential<float> model(Shape(1, 1, 8, 8), seed);
    add_small_body(model);
    model.add(Dense<float>(hidden));
    model.add(ReLU<float>());
    model.add(Dense<float>(classes));
    model.add(Softmax<float>());
    model.set_threads(1);
    return model;
}

// A residual Graph on 1 x 8 x 8 images: conv -> bn -> relu, a skip around conv2 -> bn2 (add, relu), pooling, Dense
// "logits" to `classes` and Softmax "softmax".
inline deepcnn::Graph<float> small_residual_graph(std::uint64_t seed, int classes = 3) {
    using namespace deepcnn;
    Graph<float> g(Shape(1, 1, 8, 8), seed);
    g.add("conv", Conv2D<float>(4, 3), {"input"});
    g.add("bn", BatchNorm<float>(), {"conv"});
    g.add("relu", ReLU<float>(), {"bn"});
    g.add("conv2", Conv2D<float>(4, 3), {"relu"});
    g.add("bn2", BatchNorm<float>(), {"conv2"});
    g.add("add", Add<float>(), {"relu", "bn2"});
    g.add("relu2", ReLU<float>(), {"add"});
    g.add("pool", MaxPool2D<float>(2), {"relu2"});
    g.add("flat", Flatten<float>(), {"pool"});
    g.add("logits", Dense<float>(classes), {"flat"});
    g.add("softmax", Softmax<float>(), {"logits"});
    g.set_threads(1);
    return g;
}

// n images of 1 x 8 x 8 standard normal pixels from `seed`.
inline deepcnn::Tensor<float> random_images(int n, std::uint64_t seed) {
    deepcnn::Rng rng(seed);
    deepcnn::Tensor<float> images(deepcnn::Shape(n, 1, 8, 8));
    for (float& v : images) v = static_cast<float>(rng.normal());
    return images;
}

// Same shape and the same bits.
inline bool same_tensor(const deepcnn::Tensor<float>& a, const deepcnn::Tensor<float>& b) {
    if (a.shape() != b.shape()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}

}  // namespace deepcnn_test
