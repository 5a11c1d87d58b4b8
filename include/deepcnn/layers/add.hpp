// deepcnn/layers/add.hpp: Add, the elementwise sum of k inputs of one shape (the join of a residual connection).
// No parameters, nothing cached: every input's gradient is the output's gradient.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "merge.hpp"

namespace deepcnn {

template <class Scalar>
class Add : public MergeLayer<Scalar> {
public:
    std::string type() const override { return "Add"; }
    // Every input must have the first one's sample shape: "inputs (64, 24, 24) and (32, 24, 24) differ".
    Shape merged_shape(const std::vector<Shape>& inputs) const override {
        if (inputs.empty()) throw shape_error("needs at least one input");
        for (const Shape& s : inputs) {
            if (s.with_batch(1) != inputs.front().with_batch(1)) {
                throw shape_error("inputs " + inputs.front().sample_str() + " and " + s.sample_str() + " differ");
            }
        }
        return inputs.front();
    }
    double forward_flops(const Shape& input) const override {
        const std::size_t inputs = std::max<std::size_t>(1, this->input_shapes().size());
        return static_cast<double>(input.per_sample()) * double(inputs - 1);
    }

protected:
    // y = x_1 + x_2 + ... + x_k, summed left to right.
    void merge_forward(const std::vector<const Tensor<Scalar>*>& xs, Tensor<Scalar>& y) override {
        y.resize(xs.front()->shape());
        const long count = static_cast<long>(y.size());
        Scalar* out = y.data();
        parallel_for(this->thread_pool(), count, grain, 16, [&](long begin, long end) {
            const Scalar* first = xs.front()->data();
            std::copy(first + begin, first + end, out + begin);
            for (std::size_t k = 1; k < xs.size(); ++k) {
                const Scalar* in = xs[k]->data();
                for (long i = begin; i < end; ++i) out[i] += in[i];
            }
        });
    }
    // dL/dx_i = dy for every i.
    void merge_backward(const Tensor<Scalar>& dy, const std::vector<Tensor<Scalar>*>& dxs) override {
        const long count = static_cast<long>(dy.size());
        const Scalar* grad = dy.data();
        parallel_for(this->thread_pool(), count, grain, 16, [&](long begin, long end) {
            for (Tensor<Scalar>* dx : dxs) std::copy(grad + begin, grad + end, dx->data() + begin);
        });
    }

private:
    static constexpr long grain = 65536;  // elements per thread below which waking workers does not pay
};

}  // namespace deepcnn
