// deepcnn/layers/pool2d.hpp: Pool2D<Derived, Scalar>, what the windowed poolings (MaxPool2D, AvgPool2D) share: the
// window, stride and padding with their checks, the geometry, output shape, forward FLOPs and configuration entries.
// Each pooling adds its own passes and caches.
#pragma once

#include <string>

#include "../error.hpp"
#include "../kernels/conv_geometry.hpp"
#include "layer.hpp"

namespace deepcnn {

template <class Derived, class Scalar>
class Pool2D : public Layer<Scalar> {
public:
    // A pool_h x pool_w window moved by stride_h, stride_w; config_error unless all are positive.
    Derived& with_window(int pool_h, int pool_w, int stride_h, int stride_w) {
        set_window(pool_h, pool_w, stride_h, stride_w);
        return static_cast<Derived&>(*this);
    }
    Derived& with_padding(Padding padding) {
        padding_ = padding;
        return static_cast<Derived&>(*this);
    }

    std::string type() const override { return type_; }
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

protected:
    // `type`: the layer's type name, which errors start with; a pool x pool window with stride `stride`.
    // (Not with_window: the object is not yet a Derived, which UBSan's downcast check would report.)
    Pool2D(const char* type, int pool, int stride) : type_(type) { set_window(pool, pool, stride, stride); }

    void set_window(int pool_h, int pool_w, int stride_h, int stride_w) {
        if (pool_h <= 0 || pool_w <= 0 || stride_h <= 0 || stride_w <= 0) {
            throw config_error(std::string(type_) + ": pool size and stride must be positive, got " +
                               std::to_string(pool_h) + "x" + std::to_string(pool_w) + " stride " +
                               std::to_string(stride_h) + "x" + std::to_string(stride_w));
        }
        pool_h_ = pool_h;
        pool_w_ = pool_w;
        stride_h_ = stride_h;
        stride_w_ = stride_w;
    }

    void build_impl(const Shape& input, Rng& /*rng*/) override { geometry_ = geometry(input); }

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

    const char* type_;
    int pool_h_ = 2, pool_w_ = 2, stride_h_ = 2, stride_w_ = 2;
    Padding padding_ = Padding::valid();
    ConvGeometry geometry_;  // for the built input
};

}  // namespace deepcnn
