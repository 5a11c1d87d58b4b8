// deepcnn/kernels/adam.hpp: Adam's update of one contiguous run of a parameter, with its gradient and its two
// moment estimates. AVX2 for float when DEEPCNN_ISA_AVX2, 8 elements at a time (GCC 12 leaves the plain loop
// scalar: the four arrays may alias); the plain loop otherwise (the portable path, double, and the _ref twin the
// tests compare with; the vectorised one fuses the multiply-adds, so the two agree to rounding). Each element's
// result depends on its index alone (the vector body covers the run's first multiple of 8 elements, the rest
// runs the plain loop), so callers splitting a parameter at multiples of 8 get the same bits for any split.
// Stateless, no allocation, one thread.

#ifndef DEEPCNN_ISA_NS
#error "kernels/adam.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {

template <class Scalar>
void adam_update(long count, const AdamStep<Scalar>& s, const Scalar* grad, Scalar* value, Scalar* m, Scalar* v) {
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        const __m256 b1 = _mm256_set1_ps(s.beta1), one_minus_b1 = _mm256_set1_ps(1.0f - s.beta1);
        const __m256 b2 = _mm256_set1_ps(s.beta2), one_minus_b2 = _mm256_set1_ps(1.0f - s.beta2);
        const __m256 step_size = _mm256_set1_ps(s.step_size), inv_sqrt_c2 = _mm256_set1_ps(s.inv_sqrt_correction2);
        const __m256 eps = _mm256_set1_ps(s.eps), decay = _mm256_set1_ps(s.decay);
        const __m256 weight_decay = _mm256_set1_ps(s.weight_decay);
        const long vector_end = count / 8 * 8;
        for (long i = 0; i < vector_end; i += 8) {
            __m256 g = _mm256_loadu_ps(grad + i);
            __m256 p = _mm256_loadu_ps(value + i);
            if (s.decoupled) {
                p = _mm256_mul_ps(p, decay);
            } else if (s.coupled) {
                g = _mm256_fmadd_ps(weight_decay, p, g);
            }
            const __m256 mi = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(one_minus_b1, g));
            const __m256 vi =
                _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(_mm256_mul_ps(one_minus_b2, g), g));
            const __m256 denominator = _mm256_fmadd_ps(_mm256_sqrt_ps(vi), inv_sqrt_c2, eps);
            _mm256_storeu_ps(m + i, mi);
            _mm256_storeu_ps(v + i, vi);
            _mm256_storeu_ps(value + i, _mm256_sub_ps(p, _mm256_div_ps(_mm256_mul_ps(step_size, mi), denominator)));
        }
        adam_update_ref(count - vector_end, s, grad + vector_end, value + vector_end, m + vector_end,
                        v + vector_end);
        return;
    }
#endif
    adam_update_ref(count, s, grad, value, m, v);
}

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
