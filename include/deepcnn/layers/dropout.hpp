// deepcnn/layers/dropout.hpp: inverted Dropout: in training each element is zeroed with probability `rate` and
// the rest scaled by 1 / (1 - rate); identity in evaluation. Owns its seeded Rng and the mask it drew. Each
// training forward takes one number from the Rng as the key of a counter-based stream (draw_dropout_mask), so the
// mask is drawn and applied in one pass split over the model's threads, the same mask for any thread count. The
// stream's counter is the element's index in the global batch (first_sample(): a shard's offset in data-parallel
// training), so a shard draws the masks its samples get in the whole batch.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "../kernels/elementwise_ref.hpp"
#include "../kernels/kernels.hpp"
#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class Dropout : public Layer<Scalar> {
public:
    explicit Dropout(double rate) : rate_(rate) {
        if (!(rate >= 0.0 && rate < 1.0)) {
            throw config_error("Dropout: rate must be in [0, 1), got " + std::to_string(rate));
        }
    }

    std::string type() const override { return "Dropout"; }
    Shape output_shape(const Shape& input) const override { return input; }
    LayerConfig config() const override { return {{"rate", rate_}}; }
    double rate() const { return rate_; }

    // The generator that draws masks; build() seeds it from the model's Rng. Exposed for checkpoints.
    Rng& rng() { return rng_; }
    Rng* random_generator() override { return &rng_; }
    bool draws_by_sample_index() const override { return true; }
    // While frozen, training forwards reuse the last mask (for gradient checks); the batch shape must not change.
    void freeze_mask(bool frozen) { mask_frozen_ = frozen; }
    const Tensor<Scalar>& mask() const { return mask_; }

protected:
    void build_impl(const Shape& /*input*/, Rng& rng) override { rng_.reseed(rng.next_u64()); }

    // Training: draws mask m (0 or 1 / (1 - rate)) unless frozen; y = x * m. Evaluation: y = x.
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(x.shape());
        applied_mask_ = this->training();
        const Scalar* in = x.data();
        Scalar* out = y.data();
        if (!applied_mask_) {
            parallel_for(this->thread_pool(), static_cast<long>(x.size()), grain, 1,
                         [&](long begin, long end) { std::copy(in + begin, in + end, out + begin); });
            return;
        }
        const long count = static_cast<long>(x.size());
        if (!mask_frozen_ || mask_.shape() != x.shape()) {
            mask_.resize(x.shape());
            const Scalar keep_scale = static_cast<Scalar>(1.0 / (1.0 - rate_));
            // An element is dropped when its 53-bit draw k satisfies k * 2^-53 < rate, i.e. k < ceil(rate * 2^53).
            const auto drop_below = static_cast<std::uint64_t>(std::ceil(rate_ * 0x1.0p53));
            const std::uint64_t key = rng_.next_u64();
            const long first = this->first_sample() * static_cast<long>(x.shape().per_sample());
            Scalar* mask = mask_.data();
            parallel_for(this->thread_pool(), count, grain, 1, [&](long begin, long end) {
                draw_dropout_mask(key, drop_below, keep_scale, first + begin, end - begin, in + begin, mask + begin,
                                  out + begin);
            });
            return;
        }
        const Scalar* mask = mask_.data();
        parallel_for(this->thread_pool(), count, grain, 1, [&](long begin, long end) {
            multiply_by_mask(end - begin, in + begin, mask + begin, out + begin);
        });
    }

    // dx = dy * m in training, dy in evaluation.
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(dy.shape());
        const Scalar* in = dy.data();
        Scalar* out = dx.data();
        if (!applied_mask_) {
            parallel_for(this->thread_pool(), static_cast<long>(dy.size()), grain, 1,
                         [&](long begin, long end) { std::copy(in + begin, in + end, out + begin); });
            return;
        }
        const Scalar* mask = mask_.data();
        parallel_for(this->thread_pool(), static_cast<long>(dy.size()), grain, 1, [&](long begin, long end) {
            multiply_by_mask(end - begin, in + begin, mask + begin, out + begin);
        });
    }

private:
    static constexpr long grain = 32768;  // elements per thread below which waking workers does not pay
    double rate_;
    Rng rng_;
    bool mask_frozen_ = false;
    bool applied_mask_ = false;
    Tensor<Scalar> mask_;  // (N, C, H, W)
};

}  // namespace deepcnn
