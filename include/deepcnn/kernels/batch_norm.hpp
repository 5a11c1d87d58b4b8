// deepcnn/kernels/batch_norm.hpp: the passes of BatchNorm over one contiguous run of a channel's values (one (n, c)
// plane): the statistics' sums, the normalisation (with the fused ReLU's mask), the gradient's sums and the input
// gradient (with the fused ReLU's backward applied on the fly, so that the masked gradient is never stored).
// Sums go into 8 interleaved partial sums (element i of a run onto sum i % 8), which the layer adds in a fixed
// order. AVX2 for float when DEEPCNN_ISA_AVX2, one ymm per 8 partial sums; plain loops otherwise (the portable
// path, and the _ref twins the tests compare with; the vectorised ones fuse each multiply-add, so they agree with
// the twins to rounding). Stateless, no allocation, one thread: the layer splits the planes over its pool.

#ifndef DEEPCNN_ISA_NS
#error "kernels/batch_norm.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {

// batch_norm_shifted_sums_ref, vectorised (here and below, the elements past the last whole 8 by the _ref).
template <class Scalar>
void batch_norm_shifted_sums(const Scalar* x, long count, Scalar shift, Scalar* s, Scalar* q) {
    long i = 0;
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        __m256 sum = _mm256_loadu_ps(s), squares = _mm256_loadu_ps(q);
        const __m256 origin = _mm256_set1_ps(shift);
        for (; i + 8 <= count; i += 8) {
            const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), origin);
            sum = _mm256_add_ps(sum, d);
            squares = _mm256_fmadd_ps(d, d, squares);
        }
        _mm256_storeu_ps(s, sum);
        _mm256_storeu_ps(q, squares);
    }
#endif
    batch_norm_shifted_sums_ref(x + i, count - i, shift, s, q);
}

// batch_norm_normalize_ref, vectorised.
template <class Scalar>
void batch_norm_normalize(const Scalar* x, long count, Scalar scale, Scalar offset, Scalar* y, std::uint8_t* mask) {
    long i = 0;
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        const __m256 a = _mm256_set1_ps(scale), b = _mm256_set1_ps(offset);
        for (; i + 8 <= count; i += 8) {
            const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), a, b);
            _mm256_storeu_ps(y + i, mask ? detail::relu_lanes(v, mask + i / 8) : v);
        }
    }
#endif
    batch_norm_normalize_ref(x + i, count - i, scale, offset, y + i, mask ? mask + i / 8 : nullptr);
}

// batch_norm_gradient_sums_ref, vectorised.
template <class Scalar>
void batch_norm_gradient_sums(const Scalar* dy, const std::uint8_t* mask, const Scalar* x, long count, Scalar mean,
                              Scalar* s, Scalar* q) {
    long i = 0;
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        __m256 sum = _mm256_loadu_ps(s), centred = _mm256_loadu_ps(q);
        const __m256 m = _mm256_set1_ps(mean);
        for (; i + 8 <= count; i += 8) {
            __m256 g = _mm256_loadu_ps(dy + i);
            if (mask) g = _mm256_and_ps(g, detail::relu_mask_lanes(mask[i / 8]));
            sum = _mm256_add_ps(sum, g);
            centred = _mm256_fmadd_ps(g, _mm256_sub_ps(_mm256_loadu_ps(x + i), m), centred);
        }
        _mm256_storeu_ps(s, sum);
        _mm256_storeu_ps(q, centred);
    }
#endif
    batch_norm_gradient_sums_ref(dy + i, mask ? mask + i / 8 : nullptr, x + i, count - i, mean, s, q);
}

// batch_norm_input_gradient_ref, vectorised. dx may be dy.
template <class Scalar>
void batch_norm_input_gradient(const Scalar* dy, const std::uint8_t* mask, const Scalar* x, long count, Scalar a,
                               Scalar b, Scalar mean, Scalar k, Scalar* dx) {
    long i = 0;
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b), vk = _mm256_set1_ps(k), m = _mm256_set1_ps(mean);
        for (; i + 8 <= count; i += 8) {
            __m256 g = _mm256_loadu_ps(dy + i);
            if (mask) g = _mm256_and_ps(g, detail::relu_mask_lanes(mask[i / 8]));
            const __m256 rest = _mm256_fmadd_ps(vb, _mm256_sub_ps(_mm256_loadu_ps(x + i), m), vk);
            _mm256_storeu_ps(dx + i, _mm256_fmadd_ps(va, g, rest));
        }
    }
#endif
    batch_norm_input_gradient_ref(dy + i, mask ? mask + i / 8 : nullptr, x + i, count - i, a, b, mean, k, dx + i);
}

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
