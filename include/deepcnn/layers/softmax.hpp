// deepcnn/layers/softmax.hpp: Softmax over the channel dimension (per sample and pixel), stable for large
// logits (the row maximum is subtracted first). Caches the output for backward.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "layer.hpp"

namespace deepcnn {

// Writes softmax(in[0..K) with stride) into out; safe for any finite logits.
template <class Scalar>
void softmax_row(const Scalar* in, Scalar* out, int K, long stride) {
    Scalar max_logit = in[0];
    for (int k = 1; k < K; ++k) max_logit = std::max(max_logit, in[k * stride]);
    Scalar sum(0);
    for (int k = 0; k < K; ++k) {
        out[k * stride] = std::exp(in[k * stride] - max_logit);
        sum += out[k * stride];
    }
    for (int k = 0; k < K; ++k) out[k * stride] /= sum;
}

template <class Scalar>
class Softmax : public Layer<Scalar> {
public:
    std::string type() const override { return "Softmax"; }
    Shape output_shape(const Shape& input) const override { return input; }
    double forward_flops(const Shape& input) const override { return 3.0 * static_cast<double>(input.per_sample()); }

protected:
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(x.shape());
        const long S = static_cast<long>(x.h()) * x.w();
        for (int n = 0; n < x.n(); ++n)
            for (long s = 0; s < S; ++s) softmax_row(x.sample(n) + s, y.sample(n) + s, x.c(), S);
        output_cache_ = y;
    }
    // dx_k = y_k (dy_k - sum_j dy_j y_j).
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(dy.shape());
        const long S = static_cast<long>(dy.h()) * dy.w();
        const int K = dy.c();
        for (int n = 0; n < dy.n(); ++n)
            for (long s = 0; s < S; ++s) {
                const Scalar* y = output_cache_.sample(n) + s;
                const Scalar* g = dy.sample(n) + s;
                Scalar dot(0);
                for (int k = 0; k < K; ++k) dot += g[k * S] * y[k * S];
                Scalar* out = dx.sample(n) + s;
                for (int k = 0; k < K; ++k) out[k * S] = y[k * S] * (g[k * S] - dot);
            }
    }

private:
    Tensor<Scalar> output_cache_;
};

}  // namespace deepcnn
