// deepcnn/layers/global_avg_pool2d.hpp: GlobalAvgPool2D, the mean of each channel's plane: (N, C, H, W) ->
// (N, C, 1, 1), the pooling residual and mobile nets end with instead of a large Dense layer. No parameters and
// no cache (backward needs only H * W); the loops live in kernels/avg_pool.hpp (planes split over the threads).
#pragma once

#include <string>

#include "../kernels/avg_pool.hpp"
#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class GlobalAvgPool2D : public Layer<Scalar> {
public:
    std::string type() const override { return "GlobalAvgPool2D"; }
    Shape output_shape(const Shape& input) const override { return Shape(input.n, input.c, 1, 1); }
    double forward_flops(const Shape& input) const override { return double(input.c) * input.h * input.w; }

protected:
    // y[n, c] = sum over the (n, c) plane of x / (H * W).
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(output_shape(x.shape()));
        global_avg_pool_forward(long(x.n()) * x.c(), long(x.h()) * x.w(), x.data(), y.data(), this->thread_pool());
    }
    // dx[n, c, h, w] = dy[n, c] / (H * W).
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        const Shape& in = this->input_shape();
        dx.resize(in.with_batch(dy.n()));
        global_avg_pool_backward(long(dy.n()) * in.c, long(in.h) * in.w, dy.data(), dx.data(), this->thread_pool());
    }
};

}  // namespace deepcnn
