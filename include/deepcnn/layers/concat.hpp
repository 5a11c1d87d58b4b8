// deepcnn/layers/concat.hpp: Concat, k inputs joined along the channel axis: (N, C1, H, W), (N, C2, H, W), ... ->
// (N, C1 + C2 + ..., H, W). Flat inputs (N, F, 1, 1) join their features. No parameters, nothing cached.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "merge.hpp"

namespace deepcnn {

template <class Scalar>
class Concat : public MergeLayer<Scalar> {
public:
    std::string type() const override { return "Concat"; }
    // Inputs must agree in H and W: "inputs (64, 24, 24) and (32, 12, 12) differ in height or width".
    Shape merged_shape(const std::vector<Shape>& inputs) const override {
        if (inputs.empty()) throw shape_error("needs at least one input");
        Shape out = inputs.front();
        out.c = 0;
        for (const Shape& s : inputs) {
            if (s.h != out.h || s.w != out.w) {
                throw shape_error("inputs " + inputs.front().sample_str() + " and " + s.sample_str() +
                                  " differ in height or width");
            }
            out.c += s.c;
        }
        return out;
    }

protected:
    // Each sample of y is the samples of x_1, ..., x_k one after the other (channels are the slowest axis).
    void merge_forward(const std::vector<const Tensor<Scalar>*>& xs, Tensor<Scalar>& y) override {
        const int N = xs.front()->n();
        y.resize(merged_shape_of(xs, N));
        parallel_for(this->thread_pool(), N, 1, 1, [&](long begin, long end) {
            for (long n = begin; n < end; ++n) {
                Scalar* out = y.sample(static_cast<int>(n));
                for (const Tensor<Scalar>* x : xs) {
                    const std::size_t per = x->shape().per_sample();
                    const Scalar* in = x->sample(static_cast<int>(n));
                    out = std::copy(in, in + per, out);
                }
            }
        });
    }
    // dx_i is the slice of dy that x_i filled.
    void merge_backward(const Tensor<Scalar>& dy, const std::vector<Tensor<Scalar>*>& dxs) override {
        parallel_for(this->thread_pool(), dy.n(), 1, 1, [&](long begin, long end) {
            for (long n = begin; n < end; ++n) {
                const Scalar* grad = dy.sample(static_cast<int>(n));
                for (Tensor<Scalar>* dx : dxs) {
                    const std::size_t per = dx->shape().per_sample();
                    std::copy(grad, grad + per, dx->sample(static_cast<int>(n)));
                    grad += per;
                }
            }
        });
    }

private:
    static Shape merged_shape_of(const std::vector<const Tensor<Scalar>*>& xs, int N) {
        Shape out = xs.front()->shape();
        out.c = 0;
        for (const Tensor<Scalar>* x : xs) out.c += x->c();
        return out.with_batch(N);
    }
};

}  // namespace deepcnn
