// deepcnn/layers/avg_pool2d.hpp: AvgPool2D, average pooling with a window, stride and padding. Padding cells
// count in the divisor by default (every window divides by KH * KW, PyTorch's count_include_pad=True);
// with_count_include_pad(false) divides by the input cells the window covers instead (TensorFlow's 'same'
// pooling). No parameters and no cache; the loops live in kernels/avg_pool.hpp (planes split over the threads).
#pragma once

#include <string>

#include "../kernels/avg_pool.hpp"
#include "layer.hpp"
#include "pool2d.hpp"

namespace deepcnn {

template <class Scalar>
class AvgPool2D : public Pool2D<AvgPool2D<Scalar>, Scalar> {
    using Base = Pool2D<AvgPool2D<Scalar>, Scalar>;

public:
    // A pool x pool window with stride `pool` and no padding by default; with_window and with_padding (Pool2D) set
    // the rest.
    explicit AvgPool2D(int pool = 2) : AvgPool2D(pool, pool) {}
    AvgPool2D(int pool, int stride) : Base("AvgPool2D", pool, stride) {}
    // Whether padding cells count in the divisor (true by default, as in PyTorch).
    AvgPool2D& with_count_include_pad(bool include) {
        count_include_pad_ = include;
        return *this;
    }

    LayerConfig config() const override {
        LayerConfig config = Base::config();
        config.emplace_back("count_include_pad", count_include_pad_ ? 1 : 0);
        return config;
    }

protected:
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(this->output_shape(x.shape()));
        avg_pool_forward(this->geometry_, x.n(), x.data(), y.data(), count_include_pad_, this->thread_pool());
    }
    // dx = each dy divided by its window's divisor, added to every input cell of the window.
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(this->input_shape().with_batch(dy.n()));
        avg_pool_backward(this->geometry_, dy.n(), dy.data(), dx.data(), count_include_pad_, this->thread_pool());
    }

private:
    bool count_include_pad_ = true;
};

}  // namespace deepcnn
