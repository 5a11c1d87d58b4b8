// deepcnn/optim/sgd.hpp: stochastic gradient descent with momentum, Nesterov momentum and (coupled) weight
// decay, with PyTorch's update rule. State: per parameter "NAME/velocity".
#pragma once

#include <string>
#include <vector>

#include "optimizer.hpp"

namespace deepcnn {

struct SgdOptions {
    double learning_rate = 1e-2;
    double momentum = 0.0;
    bool nesterov = false;
    double weight_decay = 0.0;
};

template <class Scalar>
class Sgd : public Optimizer<Scalar> {
public:
    explicit Sgd(double learning_rate = 1e-2) : Sgd(options_with_rate(learning_rate)) {}
    explicit Sgd(const SgdOptions& options) : Optimizer<Scalar>(options.learning_rate), options_(options) {
        if (!(options.momentum >= 0 && options.momentum < 1)) throw config_error("SGD: momentum must be in [0, 1)");
        if (!(options.weight_decay >= 0)) throw config_error("SGD: weight decay must be >= 0");
        if (options.nesterov && options.momentum == 0) throw config_error("SGD: Nesterov needs momentum > 0");
    }

    std::string type() const override { return "SGD"; }

    // g = grad + wd p; with momentum: b = mu b + g (b = g on the first step), g = g + mu b (Nesterov) or b;
    // p -= lr g.
    void step_impl(const std::vector<ParamRef<Scalar>>& params, ThreadPool* pool) override {
        const Scalar lr = Scalar(this->learning_rate()), mu = Scalar(options_.momentum);
        const Scalar wd = Scalar(options_.weight_decay);
        double& steps = this->scalar("step");
        const bool first = steps == 0.0, nesterov = options_.nesterov;
        steps += 1.0;
        for (const auto& p : params) {
            Scalar* value = p.value->data();
            const Scalar* grad = p.grad->data();
            Scalar* velocity = options_.momentum > 0 ? this->slot(p.name, "/velocity", *p.value).data() : nullptr;
            this->for_elements(pool, p.value->size(), [&](std::size_t begin, std::size_t end) {
                for (std::size_t i = begin; i < end; ++i) {
                    Scalar g = grad[i] + wd * value[i];
                    if (velocity) {
                        Scalar& b = velocity[i];
                        b = first ? g : mu * b + g;
                        g = nesterov ? g + mu * b : b;
                    }
                    value[i] -= lr * g;
                }
            });
        }
    }

private:
    static SgdOptions options_with_rate(double rate) {
        SgdOptions options;
        options.learning_rate = rate;
        return options;
    }
    SgdOptions options_;
};

}  // namespace deepcnn
