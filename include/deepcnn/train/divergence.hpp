// deepcnn/train/divergence.hpp: the divergence guard's checks: a non-finite value in a batch of inputs, in a
// model's parameters or gradients, and the error that stops training when one is found.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <utility>

#include "../error.hpp"
#include "../tensor.hpp"

namespace deepcnn {

// Training stopped because the loss or a parameter became NaN or infinite. The message says where
// ("training diverged at epoch 3, step 17: loss nan, first non-finite value in conv2d_1.weight (gradient)").
class divergence_error : public error {
public:
    divergence_error(const std::string& what, int epoch, std::string detail)
        : error(what), epoch_(epoch), detail_(std::move(detail)) {}
    // The 1-based epoch, and what went wrong after "training diverged at epoch N" (", step 17: loss nan, ...").
    int epoch() const { return epoch_; }
    const std::string& detail() const { return detail_; }

private:
    int epoch_;
    std::string detail_;
};

// The index of the first NaN or infinite element of `t`, or t.size() if there is none.
template <class Scalar>
std::size_t first_non_finite_index(const Tensor<Scalar>& t) {
    for (std::size_t i = 0; i < t.size(); ++i)
        if (!std::isfinite(t[i])) return i;
    return t.size();
}

// The first parameter gradient or value that is not finite, as "conv2d_1.weight (gradient)"; empty if none.
template <class Model>
std::string first_non_finite_parameter(Model& model) {
    for (const auto& p : model.params()) {
        if (first_non_finite_index(*p.grad) < p.grad->size()) return p.name + " (gradient)";
        if (first_non_finite_index(*p.value) < p.value->size()) return p.name + " (value)";
    }
    return "";
}

}  // namespace deepcnn
