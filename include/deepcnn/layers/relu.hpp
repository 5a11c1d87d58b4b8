// deepcnn/layers/relu.hpp: ReLU, y = max(x, 0) elementwise. Caches one bit per element (x > 0), the gradient mask,
// instead of a copy of its output; the loops live in kernels/elementwise.hpp and run over the model's threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/elementwise_ref.hpp"
#include "../kernels/kernels.hpp"
#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class ReLU : public Layer<Scalar> {
public:
    std::string type() const override { return "ReLU"; }
    Shape output_shape(const Shape& input) const override { return input; }
    double forward_flops(const Shape& input) const override { return static_cast<double>(input.per_sample()); }

protected:
    // y = x > 0 ? x : 0; caches the bit mask x > 0.
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(x.shape());
        mask_.resize(relu_mask_bytes(x.size()));
        const Scalar* in = x.data();
        Scalar* out = y.data();
        std::uint8_t* mask = mask_.data();
        // ranges start at multiples of 8 elements: each thread writes whole mask bytes
        parallel_for(this->thread_pool(), static_cast<long>(x.size()), grain, 64, [&](long begin, long end) {
            kernels::relu_forward(end - begin, in + begin, out + begin, mask + begin / 8);
        });
    }
    // dx = dy where x > 0, else 0 (the subgradient at 0 is taken as 0).
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(dy.shape());
        const Scalar* grad = dy.data();
        const std::uint8_t* mask = mask_.data();
        Scalar* out = dx.data();
        parallel_for(this->thread_pool(), static_cast<long>(dy.size()), grain, 64, [&](long begin, long end) {
            kernels::relu_backward(end - begin, grad + begin, mask + begin / 8, out + begin);
        });
    }

private:
    static constexpr long grain = 32768;  // elements per thread below which waking workers does not pay
    std::vector<std::uint8_t> mask_;      // relu_mask_bytes(N*C*H*W): bit i = (x[i] > 0)
};

}  // namespace deepcnn
