// deepcnn/optim/adam.hpp: Adam (Kingma & Ba, with bias correction) and AdamW (decoupled weight decay,
// Loshchilov & Hutter). State: per parameter "NAME/m" and "NAME/v", and the shared step count "step".
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "../kernels/kernels.hpp"
#include "optimizer.hpp"

namespace deepcnn {

struct AdamOptions {
    double learning_rate = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-7;  // Keras' default
    double weight_decay = 0.0;
    bool decoupled_weight_decay = false;  // true: AdamW
};

template <class Scalar>
class Adam : public Optimizer<Scalar> {
public:
    explicit Adam(double learning_rate = 1e-3) : Adam(options_with_rate(learning_rate)) {}
    explicit Adam(const AdamOptions& options) : Optimizer<Scalar>(options.learning_rate), options_(options) {
        if (!(options.beta1 >= 0 && options.beta1 < 1) || !(options.beta2 >= 0 && options.beta2 < 1)) {
            throw config_error("Adam: beta1 and beta2 must be in [0, 1)");
        }
        if (!(options.eps > 0) || !(options.weight_decay >= 0)) {
            throw config_error("Adam: eps must be > 0 and weight decay >= 0");
        }
    }

    std::string type() const override { return options_.decoupled_weight_decay ? "AdamW" : "Adam"; }
    const AdamOptions& options() const { return options_; }

    // t += 1; g = grad (+ wd * p for coupled decay); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    // p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps); AdamW first applies p -= lr wd p.
    void step_impl(const std::vector<ParamRef<Scalar>>& params, ThreadPool* pool) override {
        double& t = this->scalar("step");
        t += 1.0;
        const double lr = this->learning_rate();
        // The bias corrections use the betas the update uses (rounded to Scalar), so that they cancel the moments'
        // bias exactly: with 0.999 in double but 0.999f in the moments, the first float step was 1.0000067x lr.
        const Scalar beta1 = Scalar(options_.beta1), beta2 = Scalar(options_.beta2);
        const double correction1 = 1.0 - std::pow(double(beta1), t);
        const double correction2 = 1.0 - std::pow(double(beta2), t);
        AdamStep<Scalar> step;
        step.beta1 = beta1;
        step.beta2 = beta2;
        step.step_size = Scalar(lr / correction1);
        step.inv_sqrt_correction2 = Scalar(1.0 / std::sqrt(correction2));
        step.eps = Scalar(options_.eps);
        step.decay = Scalar(1.0 - lr * options_.weight_decay);
        step.weight_decay = Scalar(options_.weight_decay);
        step.decoupled = options_.decoupled_weight_decay;
        step.coupled = !step.decoupled && options_.weight_decay > 0;
        for (const auto& p : params) {
            Scalar* m = this->slot(p.name, "/m", *p.value).data();
            Scalar* v = this->slot(p.name, "/v", *p.value).data();
            Scalar* value = p.value->data();
            const Scalar* grad = p.grad->data();
            this->for_elements(pool, p.value->size(), [&](std::size_t begin, std::size_t end) {
                kernels::adam_update(static_cast<long>(end - begin), step, grad + begin, value + begin, m + begin, v + begin);
            });
        }
    }

private:
    static AdamOptions options_with_rate(double rate) {
        AdamOptions options;
        options.learning_rate = rate;
        return options;
    }
    AdamOptions options_;
};

}  // namespace deepcnn
