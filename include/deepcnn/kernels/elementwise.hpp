// deepcnn/kernels/elementwise.hpp: elementwise kernels of the activation layers: ReLU forward (writing a one-bit
// gradient mask instead of a copy of its output) and backward, each beside its plain _ref twin, and Dropout's
// mask: drawing it and multiplying by it. AVX2 for float when DEEPCNN_HAVE_AVX2; plain loops otherwise (the
// portable path).
// Stateless, no allocation, one thread: layers split the range over their pool (parallel_for).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "../random.hpp"

#if DEEPCNN_HAVE_AVX2
#include <immintrin.h>
#endif

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

#if DEEPCNN_HAVE_AVX2
namespace detail {
// The ReLU of 8 floats (v > 0 ? v : 0, 0 for NaN), their mask bits into *mask_byte.
inline __m256 relu_lanes(__m256 v, std::uint8_t* mask_byte) {
    const __m256 positive = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ);  // false for NaN, like x > 0
    *mask_byte = static_cast<std::uint8_t>(_mm256_movemask_ps(positive));
    return _mm256_and_ps(v, positive);
}
// The 8 lanes of a ReLU mask byte as all-ones / all-zero floats (an operand for _mm256_and_ps).
inline __m256 relu_mask_lanes(std::uint8_t byte) {
    const __m256i lanes = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(byte), lanes), lanes));
}
}  // namespace detail
#endif

// relu_forward_ref, vectorised (8 floats and one mask byte per step). y may be x (in place); otherwise they may
// not overlap.
template <class Scalar>
void relu_forward(long count, const Scalar* x, Scalar* y, std::uint8_t* mask) {
    long i = 0;
#if DEEPCNN_HAVE_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        for (; i + 8 <= count; i += 8)
            _mm256_storeu_ps(y + i, detail::relu_lanes(_mm256_loadu_ps(x + i), mask + i / 8));
    }
#endif
    for (; i + 8 <= count; i += 8) {
        unsigned bits = 0;
        for (int j = 0; j < 8; ++j) {
            const bool positive = x[i + j] > Scalar(0);
            y[i + j] = positive ? x[i + j] : Scalar(0);
            bits |= unsigned(positive) << j;
        }
        mask[i / 8] = static_cast<std::uint8_t>(bits);
    }
    if (i < count) relu_forward_ref(count - i, x + i, y + i, mask + i / 8);
}

// relu_backward_ref, vectorised.
template <class Scalar>
void relu_backward(long count, const Scalar* dy, const std::uint8_t* mask, Scalar* dx) {
    long i = 0;
#if DEEPCNN_HAVE_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        for (; i + 8 <= count; i += 8)
            _mm256_storeu_ps(dx + i, _mm256_and_ps(_mm256_loadu_ps(dy + i), detail::relu_mask_lanes(mask[i / 8])));
    }
#endif
    for (; i + 8 <= count; i += 8) {
        const unsigned bits = mask[i / 8];
        for (int j = 0; j < 8; ++j) dx[i + j] = (bits >> j) & 1u ? dy[i + j] : Scalar(0);
    }
    if (i < count) relu_backward_ref(count - i, dy + i, mask + i / 8, dx + i);
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
