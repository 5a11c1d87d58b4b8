// deepcnn/kernels/elementwise.hpp: elementwise kernels of the activation layers: ReLU forward (writing a one-bit
// gradient mask instead of a copy of its output) and backward, each beside its plain _ref twin, and Dropout's
// mask: drawing it and multiplying by it. AVX2 for float when DEEPCNN_ISA_AVX2; plain loops otherwise (the
// portable path).
// Stateless, no allocation, one thread: layers split the range over their pool (parallel_for).

#ifndef DEEPCNN_ISA_NS
#error "kernels/elementwise.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {

#if DEEPCNN_ISA_AVX2
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
#if DEEPCNN_ISA_AVX2
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
#if DEEPCNN_ISA_AVX2
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

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
