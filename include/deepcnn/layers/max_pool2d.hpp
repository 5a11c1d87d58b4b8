// deepcnn/layers/max_pool2d.hpp: MaxPool2D, max pooling with a window, stride and padding (their checks and the
// geometry: layers/pool2d.hpp); backward routes each gradient to its window's first maximum. Owns the argmax cache,
// which an inference (infer) does not write; the loops live in kernels/max_pool.hpp (planes split over the model's
// threads, 2x2 stride 2 vectorised).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/kernels.hpp"
#include "layer.hpp"
#include "pool2d.hpp"

namespace deepcnn {

template <class Scalar>
class MaxPool2D : public Pool2D<MaxPool2D<Scalar>, Scalar> {
    using Base = Pool2D<MaxPool2D<Scalar>, Scalar>;

public:
    // A pool x pool window with stride `pool` and no padding by default; with_window and with_padding (Pool2D) set
    // the rest.
    explicit MaxPool2D(int pool = 2) : MaxPool2D(pool, pool) {}
    MaxPool2D(int pool, int stride) : Base("MaxPool2D", pool, stride) {}

protected:
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(this->output_shape(x.shape()));
        argmax_.resize(y.size());
        kernels::max_pool_forward(this->geometry_, x.n(), x.data(), y.data(), argmax_.data(), this->thread_pool());
    }
    void inference_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(this->output_shape(x.shape()));
        kernels::max_pool_forward(this->geometry_, x.n(), x.data(), y.data(), nullptr, this->thread_pool());
    }
    // dx[argmax] += dy; zero elsewhere.
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(this->input_shape().with_batch(dy.n()));
        kernels::max_pool_backward(this->geometry_, dy.n(), dy.data(), argmax_.data(), dx.data(), this->thread_pool());
    }

private:
    std::vector<std::int32_t> argmax_;  // (N, C, OH, OW) index within the (n, c) plane
};

}  // namespace deepcnn
