// deepcnn/layers/relu.hpp: ReLU, y = max(x, 0) elementwise. Caches the output, whose sign is the gradient mask.
#pragma once

#include <string>

#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class ReLU : public Layer<Scalar> {
public:
    std::string type() const override { return "ReLU"; }
    Shape output_shape(const Shape& input) const override { return input; }
    double forward_flops(const Shape& input) const override { return static_cast<double>(input.per_sample()); }

protected:
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(x.shape());
        output_cache_.resize(x.shape());
        for (std::size_t i = 0; i < x.size(); ++i) {
            const Scalar v = x[i] > Scalar(0) ? x[i] : Scalar(0);
            y[i] = v;
            output_cache_[i] = v;
        }
    }
    // dx = dy where y > 0, else 0 (the subgradient at 0 is taken as 0).
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(dy.shape());
        for (std::size_t i = 0; i < dy.size(); ++i) dx[i] = output_cache_[i] > Scalar(0) ? dy[i] : Scalar(0);
    }

private:
    Tensor<Scalar> output_cache_;
};

}  // namespace deepcnn
