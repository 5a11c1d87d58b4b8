// deepcnn/layers/flatten.hpp: Flatten, (N, C, H, W) -> (N, C*H*W, 1, 1) with the same row-major order.
#pragma once

#include <algorithm>
#include <string>

#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class Flatten : public Layer<Scalar> {
public:
    std::string type() const override { return "Flatten"; }
    Shape output_shape(const Shape& input) const override {
        return Shape(input.n, static_cast<int>(input.per_sample()), 1, 1);
    }

protected:
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(output_shape(x.shape()));
        std::copy(x.begin(), x.end(), y.begin());
    }
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(this->input_shape().with_batch(dy.n()));
        std::copy(dy.begin(), dy.end(), dx.begin());
    }
};

}  // namespace deepcnn
