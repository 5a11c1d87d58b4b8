// deepcnn/layers/batch_norm.hpp: BatchNorm over channels: per channel C for (N, C, H, W) input (statistics over
// N, H, W) and per feature for flat (N, F, 1, 1) input. Learnable gamma and beta; running mean and variance are
// buffers, not parameters. Channels are split over the model's thread pool; sums are vectorised.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class BatchNorm : public Layer<Scalar> {
public:
    // running = momentum * running + (1 - momentum) * batch statistic (Keras' convention; 0.99 by default).
    // The running variance uses the unbiased batch variance; normalisation uses the biased one.
    explicit BatchNorm(double momentum = 0.99, double eps = 1e-3) : momentum_(momentum), eps_(eps) {
        if (!(momentum >= 0.0 && momentum < 1.0)) throw config_error("BatchNorm: momentum must be in [0, 1)");
        if (!(eps > 0.0)) throw config_error("BatchNorm: eps must be positive");
    }

    std::string type() const override { return "BatchNorm"; }
    Shape output_shape(const Shape& input) const override { return input; }
    double forward_flops(const Shape& input) const override { return 2.0 * static_cast<double>(input.per_sample()); }
    LayerConfig config() const override { return {{"momentum", momentum_}, {"eps", eps_}}; }
    std::vector<ParamRef<Scalar>> params() override { return {{"gamma", &gamma_, &dgamma_}, {"beta", &beta_, &dbeta_}}; }
    std::vector<BufferRef<Scalar>> buffers() override {
        return {{"running_mean", &running_mean_}, {"running_var", &running_var_}};
    }
    Tensor<Scalar>& gamma() { return gamma_; }
    Tensor<Scalar>& beta() { return beta_; }
    Tensor<Scalar>& running_mean() { return running_mean_; }
    Tensor<Scalar>& running_var() { return running_var_; }

protected:
    void build_impl(const Shape& input, Rng& /*rng*/) override {
        const Shape channels(1, input.c, 1, 1);
        gamma_ = Tensor<Scalar>(channels, Scalar(1));
        beta_ = Tensor<Scalar>(channels, Scalar(0));
        dgamma_.resize(channels);
        dbeta_.resize(channels);
        running_mean_ = Tensor<Scalar>(channels, Scalar(0));
        running_var_ = Tensor<Scalar>(channels, Scalar(1));
        inv_std_.resize(channels);
    }

    // Training: x_hat = (x - mean_batch) / sqrt(var_batch + eps), updates the running statistics.
    // Evaluation: x_hat = (x - running_mean) / sqrt(running_var + eps). Then y = gamma x_hat + beta.
    // Caches x_hat and 1 / std per channel.
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        const int N = x.n(), C = x.c();
        const long S = static_cast<long>(x.h()) * x.w();
        const double count = double(N) * S;
        x_hat_.resize(x.shape());
        y.resize(x.shape());
        batch_was_training_ = this->training();
        for_channels(C, [&](int c) {
            double mean = 0.0, var = 0.0;
            if (this->training()) {
                for (int n = 0; n < N; ++n) {
                    const Scalar* p = x.data() + (static_cast<long>(n) * C + c) * S;
                    mean += sum8(S, [p](long i) { return double(p[i]); });
                }
                mean /= count;
                for (int n = 0; n < N; ++n) {
                    const Scalar* p = x.data() + (static_cast<long>(n) * C + c) * S;
                    var += sum8(S, [p, mean](long i) { return (p[i] - mean) * (p[i] - mean); });
                }
                var /= count;
                const double unbiased = count > 1 ? var * count / (count - 1) : var;
                running_mean_[c] = static_cast<Scalar>(momentum_ * running_mean_[c] + (1 - momentum_) * mean);
                running_var_[c] = static_cast<Scalar>(momentum_ * running_var_[c] + (1 - momentum_) * unbiased);
            } else {
                mean = running_mean_[c];
                var = running_var_[c];
            }
            const Scalar inv_std = static_cast<Scalar>(1.0 / std::sqrt(var + eps_));
            inv_std_[c] = inv_std;
            const Scalar m = static_cast<Scalar>(mean), g = gamma_[c], b = beta_[c];
            for (int n = 0; n < N; ++n) {
                const long base = (static_cast<long>(n) * C + c) * S;
                for (long i = 0; i < S; ++i) {
                    const Scalar xh = (x[base + i] - m) * inv_std;
                    x_hat_[base + i] = xh;
                    y[base + i] = g * xh + b;
                }
            }
        });
    }

    // dbeta = sum dy;  dgamma = sum dy * x_hat.
    // Training (statistics depend on x): dx = gamma / std / M * (M dy - dbeta - x_hat dgamma), M = N*H*W.
    // Evaluation (statistics are constants): dx = gamma / std * dy.
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        const int N = dy.n(), C = dy.c();
        const long S = static_cast<long>(dy.h()) * dy.w();
        const Scalar count = static_cast<Scalar>(double(N) * S);
        dx.resize(dy.shape());
        for_channels(C, [&](int c) {
            Scalar sum_dy(0), sum_dy_xhat(0);
            for (int n = 0; n < N; ++n) {
                const Scalar* g = dy.data() + (static_cast<long>(n) * C + c) * S;
                const Scalar* h = x_hat_.data() + (static_cast<long>(n) * C + c) * S;
                sum_dy += sum8(S, [g](long i) { return g[i]; });
                sum_dy_xhat += sum8(S, [g, h](long i) { return g[i] * h[i]; });
            }
            dbeta_[c] = sum_dy;
            dgamma_[c] = sum_dy_xhat;
            const Scalar scale = gamma_[c] * inv_std_[c];
            for (int n = 0; n < N; ++n) {
                const long base = (static_cast<long>(n) * C + c) * S;
                for (long i = 0; i < S; ++i) {
                    dx[base + i] = batch_was_training_
                                       ? scale / count * (count * dy[base + i] - sum_dy - x_hat_[base + i] * sum_dy_xhat)
                                       : scale * dy[base + i];
                }
            }
        });
    }

private:
    // f(c) for every channel, split over the model's threads (channels are independent: the same result on any
    // number of threads).
    template <class F>
    void for_channels(int C, F&& f) {
        ThreadPool* pool = this->thread_pool();
        const int threads = pool ? pool->size() : 1;
        if (threads <= 1 || C < 2) {
            for (int c = 0; c < C; ++c) f(c);
            return;
        }
        pool->run(threads, [&](int t) {
            int begin = 0, end = 0;
            split_range(C, threads, t, 1, begin, end);
            for (int c = begin; c < end; ++c) f(c);
        });
    }

    // Sum of term(i) for i in [0, count) as 8 interleaved partial sums added pairwise: vectorisable and in a
    // fixed order.
    template <class F>
    static auto sum8(long count, F term) -> decltype(term(0L)) {
        using T = decltype(term(0L));
        T part[8] = {};
        long i = 0;
        for (; i + 8 <= count; i += 8)
            for (int j = 0; j < 8; ++j) part[j] += term(i + j);
        for (int j = 0; i < count; ++i, ++j) part[j] += term(i);
        return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    }

    double momentum_;
    double eps_;
    bool batch_was_training_ = true;
    Tensor<Scalar> gamma_, beta_, dgamma_, dbeta_;  // (1, C, 1, 1)
    Tensor<Scalar> running_mean_, running_var_;      // (1, C, 1, 1) buffers
    Tensor<Scalar> x_hat_;                           // (N, C, H, W) cache
    Tensor<Scalar> inv_std_;                         // (1, C, 1, 1) cache
};

}  // namespace deepcnn
