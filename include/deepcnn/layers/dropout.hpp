// deepcnn/layers/dropout.hpp: inverted Dropout: in training each element is zeroed with probability `rate` and
// the rest scaled by 1 / (1 - rate); identity in evaluation. Owns its seeded Rng and the mask it drew.
#pragma once

#include <algorithm>
#include <string>

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
    // While frozen, training forwards reuse the last mask (for gradient checks); the batch shape must not change.
    void freeze_mask(bool frozen) { mask_frozen_ = frozen; }
    const Tensor<Scalar>& mask() const { return mask_; }

protected:
    void build_impl(const Shape& /*input*/, Rng& rng) override { rng_.reseed(rng.next_u64()); }

    // Training: draws mask m (0 or 1 / (1 - rate)) unless frozen; y = x * m. Evaluation: y = x.
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        y.resize(x.shape());
        applied_mask_ = this->training();
        if (!applied_mask_) {
            std::copy(x.begin(), x.end(), y.begin());
            return;
        }
        if (!mask_frozen_ || mask_.shape() != x.shape()) {
            mask_.resize(x.shape());
            const Scalar keep_scale = static_cast<Scalar>(1.0 / (1.0 - rate_));
            for (auto& m : mask_) m = rng_.uniform() < rate_ ? Scalar(0) : keep_scale;
        }
        for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * mask_[i];
    }

    // dx = dy * m in training, dy in evaluation.
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        dx.resize(dy.shape());
        if (!applied_mask_) {
            std::copy(dy.begin(), dy.end(), dx.begin());
            return;
        }
        for (std::size_t i = 0; i < dy.size(); ++i) dx[i] = dy[i] * mask_[i];
    }

private:
    double rate_;
    Rng rng_;
    bool mask_frozen_ = false;
    bool applied_mask_ = false;
    Tensor<Scalar> mask_;  // (N, C, H, W)
};

}  // namespace deepcnn
