// deepcnn/layers/flatten.hpp: Flatten, (N, C, H, W) -> (N, C*H*W, 1, 1) with the same row-major order: a copy, split
// over the model's threads.
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
        copy(x, y);
    }
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(this->input_shape().with_batch(dy.n()));
        copy(dy, dx);
    }

private:
    void copy(const Tensor<Scalar>& from, Tensor<Scalar>& to) const {
        const Scalar* in = from.data();
        Scalar* out = to.data();
        parallel_for(this->thread_pool(), static_cast<long>(from.size()), grain, 1,
                     [&](long begin, long end) { std::copy(in + begin, in + end, out + begin); });
    }
    static constexpr long grain = 32768;  // elements per thread below which waking workers does not pay
};

}  // namespace deepcnn
