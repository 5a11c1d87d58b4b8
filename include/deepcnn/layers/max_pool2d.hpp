// deepcnn/layers/max_pool2d.hpp: MaxPool2D, max pooling with a window, stride and padding; backward routes each
// gradient to its window's first maximum. Owns the argmax cache; the loops live in kernels/max_pool.hpp (planes
// split over the model's threads, 2x2 stride 2 vectorised).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/kernels.hpp"
#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class MaxPool2D : public Layer<Scalar> {
public:
    // A pool x pool window with stride `pool` and no padding by default.
    explicit MaxPool2D(int pool = 2) : MaxPool2D(pool, pool) {}
    MaxPool2D(int pool, int stride) : pool_h_(pool), pool_w_(pool), stride_h_(stride), stride_w_(stride) {
        if (pool <= 0 || stride <= 0) throw config_error("MaxPool2D: pool size and stride must be positive");
    }
    MaxPool2D& with_padding(Padding padding) {
        padding_ = padding;
        return *this;
    }

    std::string type() const override { return "MaxPool2D"; }
    Shape output_shape(const Shape& input) const override {
        const ConvGeometry g = geometry(input);
        return Shape(input.n, input.c, g.OH, g.OW);
    }
    double forward_flops(const Shape& input) const override {
        const ConvGeometry g = geometry(input);
        return double(g.C) * g.OH * g.OW * g.KH * g.KW;
    }
    LayerConfig config() const override {
        return {{"pool_h", pool_h_},   {"pool_w", pool_w_},
                {"stride_h", stride_h_}, {"stride_w", stride_w_},
                {"padding", static_cast<int>(padding_.mode)}, {"pad_h", padding_.pad_h}, {"pad_w", padding_.pad_w}};
    }
    MaxPool2D& with_window(int pool_h, int pool_w, int stride_h, int stride_w) {
        if (pool_h <= 0 || pool_w <= 0 || stride_h <= 0 || stride_w <= 0) {
            throw config_error("MaxPool2D: pool size and stride must be positive");
        }
        pool_h_ = pool_h;
        pool_w_ = pool_w;
        stride_h_ = stride_h;
        stride_w_ = stride_w;
        return *this;
    }

protected:
    void build_impl(const Shape& input, Rng& /*rng*/) override { geometry_ = geometry(input); }

    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(output_shape(x.shape()));
        argmax_.resize(y.size());
        kernels::max_pool_forward(geometry_, x.n(), x.data(), y.data(), argmax_.data(), this->thread_pool());
    }
    // dx[argmax] += dy; zero elsewhere.
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(this->input_shape().with_batch(dy.n()));
        kernels::max_pool_backward(geometry_, dy.n(), dy.data(), argmax_.data(), dx.data(), this->thread_pool());
    }

private:
    ConvGeometry geometry(const Shape& input) const {
        ConvGeometry g = make_conv_geometry(input.c, input.h, input.w, input.c, pool_h_, pool_w_, stride_h_, stride_w_,
                                            padding_);
        if (g.pad_top >= pool_h_ || g.pad_left >= pool_w_) {
            throw shape_error("padding " + padding_.str() + " must be smaller than the pool window " +
                              std::to_string(pool_h_) + "x" + std::to_string(pool_w_));
        }
        return g;
    }

    int pool_h_, pool_w_, stride_h_, stride_w_;
    Padding padding_ = Padding::valid();
    ConvGeometry geometry_;
    std::vector<std::int32_t> argmax_;  // (N, C, OH, OW) index within the (n, c) plane
};

}  // namespace deepcnn
