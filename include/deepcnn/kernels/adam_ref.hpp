// deepcnn/kernels/adam_ref.hpp: AdamStep, the per-step constants of Adam's update, and adam_update_ref, the
// plain loop over one contiguous run of a parameter that adam.hpp's vectorised update is tested against.
#pragma once

#include <cmath>

namespace deepcnn {

// The per-step constants of Adam::step: with correction_k = 1 - beta_k^t, step_size = lr / correction1 and
// inv_sqrt_correction2 = 1 / sqrt(correction2). `decay` (1 - lr wd) scales the parameter first for AdamW
// (`decoupled`); `weight_decay` is added to the gradient times the parameter for coupled decay (`coupled`).
template <class Scalar>
struct AdamStep {
    Scalar beta1, beta2, step_size, inv_sqrt_correction2, eps, decay, weight_decay;
    bool decoupled, coupled;
};

// For i in [0, count): g = grad[i] (+ wd * value[i] when coupled; value[i] *= decay first when decoupled);
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; value -= step_size m / (sqrt(v) inv_sqrt_correction2 + eps).
template <class Scalar>
void adam_update_ref(long count, const AdamStep<Scalar>& s, const Scalar* grad, Scalar* value, Scalar* m,
                     Scalar* v) {
    for (long i = 0; i < count; ++i) {
        Scalar g = grad[i];
        if (s.decoupled) {
            value[i] *= s.decay;
        } else if (s.coupled) {
            g += s.weight_decay * value[i];
        }
        m[i] = s.beta1 * m[i] + (Scalar(1) - s.beta1) * g;
        v[i] = s.beta2 * v[i] + (Scalar(1) - s.beta2) * g * g;
        value[i] -= s.step_size * m[i] / (std::sqrt(v[i]) * s.inv_sqrt_correction2 + s.eps);
    }
}

}  // namespace deepcnn
