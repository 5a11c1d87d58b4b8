// deepcnn/layers/batch_norm.hpp: BatchNorm over channels: per channel C for (N, C, H, W) input (statistics over
// N, H, W) and per feature for flat (N, F, 1, 1) input. Learnable gamma and beta; running mean and variance are
// buffers, not parameters. (n, c) planes are split over the model's thread pool (each plane's sums kept, then added
// per channel in a fixed order); sums are vectorised; the backward
// pass recomputes x_hat from the kept input instead of caching it. It can take over the ReLU that follows it
// (fuse_following_relu: Sequential asks), saving that layer's passes over the activations. With a BatchNormSync
// (set_sync: data-parallel training asks for it), training statistics are those of every process's batch together.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/kernels.hpp"
#include "batch_norm_sync.hpp"
#include "input_cache.hpp"
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
    // Takes over a following ReLU (see Layer::fuse_following_relu) when each channel's plane is a whole number of
    // 8-element mask bytes, i.e. for images with H*W % 8 == 0; flat features are not fused.
    bool fuse_following_relu() override {
        const Shape& in = this->input_shape();
        if (static_cast<long>(in.h) * in.w % 8 != 0) return false;
        relu_fused_ = true;
        return true;
    }
    void unfuse_following_relu() override { relu_fused_ = false; }
    bool relu_fused() const { return relu_fused_; }
    Tensor<Scalar>& gamma() { return gamma_; }
    Tensor<Scalar>& beta() { return beta_; }
    Tensor<Scalar>& running_mean() { return running_mean_; }
    Tensor<Scalar>& running_var() { return running_var_; }
    // Synchronised BatchNorm: in training, the per-channel sums of forward (the sample count, sum of x, then sum
    // of the shifted x and its squares) and of backward (sum of dy and of dy (x - mean)) are summed over every
    // process by `sync` (not owned; null, the default: this process's batch alone). Each process's dy must be the
    // gradient of the mean loss over its own samples (as data-parallel training computes it, scaling the
    // parameter gradients by its share of the global batch afterwards): backward weighs each process's sums by its
    // share and scales the terms it adds to dx by the inverse. dgamma and dbeta stay this process's own sums.
    // Every process must then run every training forward and backward of this layer together.
    void set_sync(BatchNormSync* sync) { sync_ = sync; }
    BatchNormSync* sync() const { return sync_; }

    // Evaluation as one affine map per channel, y = scale[c] x + offset[c] in double (what the eval forward rounds
    // to Scalar): scale = gamma / sqrt(running_var + eps), offset = beta - running_mean * scale. For folding into
    // the convolution before it (model/inference_plan.hpp).
    void eval_affine(std::vector<double>& scale, std::vector<double>& offset) const {
        const std::size_t C = gamma_.size();
        scale.resize(C);
        offset.resize(C);
        for (std::size_t c = 0; c < C; ++c) {
            const double inv_std = 1.0 / std::sqrt(double(running_var_[c]) + eps_);
            scale[c] = double(gamma_[c]) * inv_std;
            offset[c] = double(beta_[c]) - double(running_mean_[c]) * scale[c];
        }
    }

protected:
    void build_impl(const Shape& input, Rng& /*rng*/) override {
        const Shape channels(1, input.c, 1, 1);
        gamma_ = Tensor<Scalar>(channels, Scalar(1));
        beta_ = Tensor<Scalar>(channels, Scalar(0));
        dgamma_.resize(channels);
        dbeta_.resize(channels);
        running_mean_ = Tensor<Scalar>(channels, Scalar(0));
        running_var_ = Tensor<Scalar>(channels, Scalar(1));
        mean_.resize(channels);
        inv_std_.resize(channels);
    }

    // Training: mean and variance of the batch per channel, in two passes over x: the first sums x to the channel's
    // mean, the second sums x - shift and (x - shift)^2 with the shift at that mean (rounded to Scalar), so that
    // the variance never comes from the difference of two large sums (a one-pass sum shifted by one sample lost
    // digits when the mean was far from that sample: 3.5e-4 relative error on 1000 + N(0, 1) in float). Updates the
    // running statistics. Evaluation: the running statistics. Then y = gamma (x - mean) / sqrt(var + eps) + beta,
    // computed as one multiply-add per element. Keeps the input (InputCache), the mean and 1 / std for backward.
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        const int N = x.n(), C = x.c();
        const long S = static_cast<long>(x.h()) * x.w(), planes = static_cast<long>(N) * C;
        const double count = double(N) * S;
        input_.keep(x, this->input_retained());
        y.resize(x.shape());
        if (relu_fused_) relu_mask_.resize(relu_mask_bytes(x.size()));
        batch_was_training_ = this->training();
        coefficients_.resize(3 * static_cast<std::size_t>(C));
        if (this->training()) {
            plane_sums_.resize(2 * static_cast<std::size_t>(planes));
            batch_statistics_.resize(2 * static_cast<std::size_t>(C));
            const auto sum_planes = [&](const Scalar* shifts) {
                for_planes(planes, S, [&](long plane) {
                    Scalar sums[8] = {}, squares[8] = {};
                    kernels::batch_norm_shifted_sums(x.data() + plane * S, S, shifts ? shifts[plane % C] : Scalar(0), sums,
                                            squares);
                    plane_sums_[2 * plane] = pairwise8(sums);
                    plane_sums_[2 * plane + 1] = pairwise8(squares);
                });
            };
            const auto channel_sum = [&](int c, int which) {
                double sum = 0.0;
                for (int n = 0; n < N; ++n) sum += plane_sums_[2 * (static_cast<std::size_t>(n) * C + c) + which];
                return sum;
            };
            channel_totals_.resize(2 * static_cast<std::size_t>(C) + 1);
            double* totals = channel_totals_.data();
            sum_planes(nullptr);
            for (int c = 0; c < C; ++c) totals[c] = channel_sum(c, 0);
            total_count_ = count;
            if (sync_) {  // every process's sums and sample count
                totals[C] = count;
                sync_->sum(totals, static_cast<std::size_t>(C) + 1);
                total_count_ = totals[C];
            }
            share_ = count / total_count_;
            const double total = total_count_;
            Scalar* shifts = coefficients_.data() + 2 * C;  // the third C of the scratch, free until below
            for (int c = 0; c < C; ++c) shifts[c] = static_cast<Scalar>(totals[c] / total);
            sum_planes(shifts);
            for (int c = 0; c < C; ++c) {
                totals[2 * c] = channel_sum(c, 0);
                totals[2 * c + 1] = channel_sum(c, 1);
            }
            if (sync_) sync_->sum(totals, 2 * static_cast<std::size_t>(C));
            for (int c = 0; c < C; ++c) {
                const double shifted_mean = totals[2 * c] / total;
                const double mean = double(shifts[c]) + shifted_mean;
                const double var = std::max(0.0, totals[2 * c + 1] / total - shifted_mean * shifted_mean);
                const double unbiased = total > 1 ? var * total / (total - 1) : var;
                running_mean_[c] = static_cast<Scalar>(momentum_ * running_mean_[c] + (1 - momentum_) * mean);
                running_var_[c] = static_cast<Scalar>(momentum_ * running_var_[c] + (1 - momentum_) * unbiased);
                batch_statistics_[2 * c] = mean;
                batch_statistics_[2 * c + 1] = var;
            }
        }
        for (int c = 0; c < C; ++c) {
            const double mean = this->training() ? batch_statistics_[2 * c] : double(running_mean_[c]);
            const double var = this->training() ? batch_statistics_[2 * c + 1] : double(running_var_[c]);
            const double inv_std = 1.0 / std::sqrt(var + eps_);
            mean_[c] = static_cast<Scalar>(mean);
            inv_std_[c] = static_cast<Scalar>(inv_std);
            coefficients_[2 * c] = static_cast<Scalar>(double(gamma_[c]) * inv_std);
            coefficients_[2 * c + 1] = static_cast<Scalar>(double(beta_[c]) - mean * double(gamma_[c]) * inv_std);
        }
        for_planes(planes, S, [&](long plane) {
            kernels::batch_norm_normalize(x.data() + plane * S, S, coefficients_[2 * (plane % C)],
                                 coefficients_[2 * (plane % C) + 1], y.data() + plane * S,
                                 relu_mask(plane * S));
        });
    }

    // With x_hat = (x - mean) / std: dbeta = sum dy;  dgamma = sum dy * x_hat.
    // Training (statistics depend on x): dx = gamma / std / M * (M dy - dbeta - x_hat dgamma), M = N*H*W,
    // computed as dx = a dy + b (x - mean) + k. Evaluation (statistics are constants): dx = gamma / std * dy.
    // Synchronised: M is every process's count and the two sums in b and k are every process's, each process's
    // weighted by its share s of the samples (its dy is 1 / s times the global mean loss's); b and k are divided
    // by s so that this dx is 1 / s times the global one, as the rest of its gradients are.
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        const Tensor<Scalar>& x = input_.get();
        const int N = dy.n(), C = dy.c();
        const long S = static_cast<long>(dy.h()) * dy.w(), planes = static_cast<long>(N) * C;
        dx.resize(dy.shape());
        plane_sums_.resize(2 * static_cast<std::size_t>(planes));
        for_planes(planes, S, [&](long plane) {
            const long base = plane * S;
            Scalar sums[8] = {}, centred[8] = {};
            kernels::batch_norm_gradient_sums(dy.data() + base, relu_mask(base), x.data() + base, S, mean_[plane % C], sums,
                                     centred);
            plane_sums_[2 * plane] = pairwise8(sums);
            plane_sums_[2 * plane + 1] = pairwise8(centred);
        });
        coefficients_.resize(3 * static_cast<std::size_t>(C));
        channel_totals_.resize(2 * static_cast<std::size_t>(C) + 1);
        double* totals = channel_totals_.data();  // per channel: sum dy, sum dy (x - mean)
        for (int c = 0; c < C; ++c) {
            double sum_dy = 0.0, sum_dy_centred = 0.0;
            for (int n = 0; n < N; ++n) {
                sum_dy += plane_sums_[2 * (static_cast<std::size_t>(n) * C + c)];
                sum_dy_centred += plane_sums_[2 * (static_cast<std::size_t>(n) * C + c) + 1];
            }
            totals[2 * c] = sum_dy;
            totals[2 * c + 1] = sum_dy_centred;
            dbeta_[c] = static_cast<Scalar>(sum_dy);
            dgamma_[c] = static_cast<Scalar>(sum_dy_centred * double(inv_std_[c]));
        }
        if (sync_ && batch_was_training_) {
            for (int c = 0; c < 2 * C; ++c) totals[c] *= share_;
            sync_->sum(totals, 2 * static_cast<std::size_t>(C));
        }
        const double count = total_count_;
        for (int c = 0; c < C; ++c) {
            const double inv_std = inv_std_[c];
            const double scale = double(gamma_[c]) * inv_std;
            coefficients_[3 * c] = static_cast<Scalar>(scale);
            coefficients_[3 * c + 1] = batch_was_training_
                                           ? static_cast<Scalar>(-scale / count * totals[2 * c + 1] * inv_std * inv_std / share_)
                                           : 0;
            coefficients_[3 * c + 2] =
                batch_was_training_ ? static_cast<Scalar>(-scale / count * totals[2 * c] / share_) : 0;
        }
        for_planes(planes, S, [&](long plane) {
            const int c = static_cast<int>(plane % C);
            const long base = plane * S;
            kernels::batch_norm_input_gradient(dy.data() + base, relu_mask(base), x.data() + base, S, coefficients_[3 * c],
                                      coefficients_[3 * c + 1], mean_[c], coefficients_[3 * c + 2], dx.data() + base);
        });
    }

private:
    // f(plane) for every (n, c) plane of S elements, in contiguous ranges of planes split over the model's threads
    // (planes are independent: the same result on any number of threads). Contiguous ranges keep each thread on the
    // images that the convolutions around the layer give it; a split by channels, each thread taking a share of
    // every image, moved half of every activation from one core to the other.
    template <class F>
    void for_planes(long planes, long S, F&& f) {
        const long grain = std::max(1L, 16384 / std::max(1L, S));
        parallel_for(this->thread_pool(), planes, grain, 1, [&](long begin, long end) {
            for (long plane = begin; plane < end; ++plane) f(plane);
        });
    }

    // The fused ReLU's mask from element `base` of the batch (a whole mask byte), or null when it is not fused.
    std::uint8_t* relu_mask(long base) { return relu_fused_ ? relu_mask_.data() + base / 8 : nullptr; }

    static Scalar pairwise8(const Scalar* part) {
        return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    }

    double momentum_;
    double eps_;
    bool batch_was_training_ = true;
    Tensor<Scalar> gamma_, beta_, dgamma_, dbeta_;  // (1, C, 1, 1)
    Tensor<Scalar> running_mean_, running_var_;      // (1, C, 1, 1) buffers
    bool relu_fused_ = false;
    std::vector<std::uint8_t> relu_mask_;            // relu_mask_bytes(N*C*H*W) when the ReLU is fused
    InputCache<Scalar> input_;                       // the last forward's input
    Tensor<Scalar> mean_, inv_std_;                  // (1, C, 1, 1) statistics the last forward used
    std::vector<Scalar> plane_sums_;                 // two sums per (n, c) plane, added per channel in n order
    std::vector<Scalar> coefficients_;               // per channel: forward scale, offset; backward a, b, k
    std::vector<double> batch_statistics_;           // per channel: the training batch's mean and variance
    std::vector<double> channel_totals_;             // per channel: the sums a BatchNormSync adds up, and the count
    BatchNormSync* sync_ = nullptr;                  // not owned; null: this process's batch alone
    double total_count_ = 0.0;                       // values per channel in the last training forward (all processes)
    double share_ = 1.0;                             // this process's part of them
};

}  // namespace deepcnn
