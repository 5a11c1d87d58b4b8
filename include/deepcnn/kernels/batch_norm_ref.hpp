// deepcnn/kernels/batch_norm_ref.hpp: the plain twins of batch_norm.hpp's passes over one run of a channel's
// values (8 interleaved partial sums), which the vectorised ones are tested against.
#pragma once

#include <cstdint>

#include "elementwise_ref.hpp"

namespace deepcnn {

// s[i % 8] += x[i] - shift;  q[i % 8] += (x[i] - shift)^2.
template <class Scalar>
void batch_norm_shifted_sums_ref(const Scalar* x, long count, Scalar shift, Scalar* s, Scalar* q) {
    for (long i = 0; i < count; ++i) {
        const Scalar d = x[i] - shift;
        s[i % 8] += d;
        q[i % 8] += d * d;
    }
}

// y[i] = x[i] * scale + offset; with a mask, then the ReLU in place (relu_forward_ref: y = y > 0 ? y : 0, the
// mask's relu_mask_bytes(count) bytes assigned).
template <class Scalar>
void batch_norm_normalize_ref(const Scalar* x, long count, Scalar scale, Scalar offset, Scalar* y,
                              std::uint8_t* mask) {
    for (long i = 0; i < count; ++i) y[i] = x[i] * scale + offset;
    if (mask) relu_forward_ref(count, y, y, mask);
}

// The gradient's value at element i: dy[i], or with a ReLU mask, 0 where its bit is clear (relu_backward_ref).
template <class Scalar>
Scalar batch_norm_masked(const Scalar* dy, const std::uint8_t* mask, long i) {
    return !mask || relu_mask_bit(mask, i) ? dy[i] : Scalar(0);
}

// s[i % 8] += g[i];  q[i % 8] += g[i] * (x[i] - mean), g the (masked) gradient.
template <class Scalar>
void batch_norm_gradient_sums_ref(const Scalar* dy, const std::uint8_t* mask, const Scalar* x, long count,
                                  Scalar mean, Scalar* s, Scalar* q) {
    for (long i = 0; i < count; ++i) {
        const Scalar g = batch_norm_masked(dy, mask, i);
        s[i % 8] += g;
        q[i % 8] += g * (x[i] - mean);
    }
}

// dx[i] = a g[i] + (b (x[i] - mean) + k), g the (masked) gradient.
template <class Scalar>
void batch_norm_input_gradient_ref(const Scalar* dy, const std::uint8_t* mask, const Scalar* x, long count, Scalar a,
                                   Scalar b, Scalar mean, Scalar k, Scalar* dx) {
    for (long i = 0; i < count; ++i) dx[i] = a * batch_norm_masked(dy, mask, i) + (b * (x[i] - mean) + k);
}

}  // namespace deepcnn
