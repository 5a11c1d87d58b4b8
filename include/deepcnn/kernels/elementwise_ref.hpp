// deepcnn/kernels/elementwise_ref.hpp: the plain elementwise kernels: ReLU's forward (with its one-bit gradient
// mask) and backward, the _ref twins of elementwise.hpp's vectorised ones, and Dropout's mask, drawn and applied
// (plain loops only: they are not hot). Stateless, no allocation, one thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../random.hpp"

namespace deepcnn {

// Bytes of a ReLU bit mask for `count` elements: bit j of byte i is element 8 i + j.
inline std::size_t relu_mask_bytes(std::size_t count) { return (count + 7) / 8; }

// y (count) = x > 0 ? x : 0;  mask bit i = (x[i] > 0), the gradient mask (0 at and below 0, and for NaN).
// Assigns y and the relu_mask_bytes(count) bytes of mask. The plain twin of relu_forward.
template <class Scalar>
void relu_forward_ref(long count, const Scalar* x, Scalar* y, std::uint8_t* mask) {
    for (long i = 0; i < count; i += 8) {
        unsigned bits = 0;
        for (long j = i; j < i + 8 && j < count; ++j) {
            const bool positive = x[j] > Scalar(0);
            y[j] = positive ? x[j] : Scalar(0);
            bits |= unsigned(positive) << (j - i);
        }
        mask[i / 8] = static_cast<std::uint8_t>(bits);
    }
}

// Bit i of a ReLU mask: whether the ReLU passed element i.
inline bool relu_mask_bit(const std::uint8_t* mask, long i) { return (mask[i / 8] >> (i % 8)) & 1u; }

// dx (count) = mask bit set ? dy : 0. Assigns dx. The plain twin of relu_backward.
template <class Scalar>
void relu_backward_ref(long count, const Scalar* dy, const std::uint8_t* mask, Scalar* dx) {
    for (long i = 0; i < count; ++i) dx[i] = relu_mask_bit(mask, i) ? dy[i] : Scalar(0);
}

// out (count) = in * mask, elementwise (Dropout's forward and backward). Assigns out.
template <class Scalar>
void multiply_by_mask(long count, const Scalar* in, const Scalar* mask, Scalar* out) {
    for (long i = 0; i < count; ++i) out[i] = in[i] * mask[i];
}

// Elements [first, first + count) of a Dropout mask and of out = in * mask: element i is dropped (mask 0) when
// the top 53 bits of splitmix64_at(key, i) fall below `drop_below` (so with probability drop_below / 2^53), and
// kept with mask `keep_scale` otherwise. Depends only on (key, i): any split of a tensor gives the same mask.
// Assigns mask and out.
template <class Scalar>
void draw_dropout_mask(std::uint64_t key, std::uint64_t drop_below, Scalar keep_scale, long first, long count,
                       const Scalar* in, Scalar* mask, Scalar* out) {
    for (long i = 0; i < count; ++i) {
        const std::uint64_t bits = splitmix64_at(key, static_cast<std::uint64_t>(first + i)) >> 11;
        mask[i] = bits < drop_below ? Scalar(0) : keep_scale;
        out[i] = in[i] * mask[i];
    }
}

}  // namespace deepcnn
