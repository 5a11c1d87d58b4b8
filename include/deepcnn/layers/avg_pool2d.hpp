// deepcnn/layers/avg_pool2d.hpp: AvgPool2D, average pooling with a window, stride and padding. Padding cells
// count in the divisor by default (every window divides by KH * KW, PyTorch's count_include_pad=True);
// with_count_include_pad(false) divides by the input cells the window covers instead (TensorFlow's 'same'
// pooling). No parameters and no cache; the loops live in kernels/avg_pool.hpp (planes split over the threads).
#pragma once

#include <string>

#include "../kernels/avg_pool.hpp"
#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class AvgPool2D : public Layer<Scalar> {
public:
    // A pool x pool window with stride `pool` and no padding by default.
    explicit AvgPool2D(int pool = 2) : AvgPool2D(pool, pool) {}
    AvgPool2D(int pool, int stride) { with_window(pool, pool, stride, stride); }
    AvgPool2D& with_window(int pool_h, int pool_w, int stride_h, int stride_w) {
        if (pool_h <= 0 || pool_w <= 0 || stride_h <= 0 || stride_w <= 0) {
            throw config_error("AvgPool2D: pool size and stride must be positive, got " + std::to_string(pool_h) +
                               "x" + std::to_string(pool_w) + " stride " + std::to_string(stride_h) + "x" +
                               std::to_string(stride_w));
        }
        pool_h_ = pool_h;
        pool_w_ = pool_w;
        stride_h_ = stride_h;
        stride_w_ = stride_w;
        return *this;
    }
    AvgPool2D& with_padding(Padding padding) {
        padding_ = padding;
        return *this;
    }
    // Whether padding cells count in the divisor (true by default, as in PyTorch).
    AvgPool2D& with_count_include_pad(bool include) {
        count_include_pad_ = include;
        return *this;
    }

    std::string type() const override { return "AvgPool2D"; }
    Shape output_shape(const Shape& input) const override {
        const ConvGeometry g = geometry(input);
        return Shape(input.n, input.c, g.OH, g.OW);
    }
    double forward_flops(const Shape& input) const override {
        const ConvGeometry g = geometry(input);
        return double(g.C) * g.OH * g.OW * g.KH * g.KW;
    }
    LayerConfig config() const override {
        return {{"pool_h", pool_h_},
                {"pool_w", pool_w_},
                {"stride_h", stride_h_},
                {"stride_w", stride_w_},
                {"padding", static_cast<int>(padding_.mode)},
                {"pad_h", padding_.pad_h},
                {"pad_w", padding_.pad_w},
                {"count_include_pad", count_include_pad_ ? 1 : 0}};
    }

protected:
    void build_impl(const Shape& input, Rng& /*rng*/) override { geometry_ = geometry(input); }

    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(output_shape(x.shape()));
        avg_pool_forward(geometry_, x.n(), x.data(), y.data(), count_include_pad_, this->thread_pool());
    }
    // dx = each dy divided by its window's divisor, added to every input cell of the window.
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(this->input_shape().with_batch(dy.n()));
        avg_pool_backward(geometry_, dy.n(), dy.data(), dx.data(), count_include_pad_, this->thread_pool());
    }

private:
    // Padding smaller than the window keeps every window over at least one input cell.
    ConvGeometry geometry(const Shape& input) const {
        ConvGeometry g = make_conv_geometry(input.c, input.h, input.w, input.c, pool_h_, pool_w_, stride_h_,
                                            stride_w_, padding_);
        if (g.pad_top >= pool_h_ || g.pad_left >= pool_w_) {
            throw shape_error("padding " + padding_.str() + " must be smaller than the pool window " +
                              std::to_string(pool_h_) + "x" + std::to_string(pool_w_));
        }
        return g;
    }

    int pool_h_ = 2, pool_w_ = 2, stride_h_ = 2, stride_w_ = 2;
    Padding padding_ = Padding::valid();
    bool count_include_pad_ = true;
    ConvGeometry geometry_;
};

}  // namespace deepcnn
