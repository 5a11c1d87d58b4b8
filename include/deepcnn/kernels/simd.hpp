// deepcnn/kernels/simd.hpp: the float vectors the hand-written kernels are templated on: Ymm (8 lanes, AVX2 + FMA)
// and, with AVX-512F, Zmm (16 lanes), with the same static interface (load, broadcast, fma, masked first-lanes
// loads and stores, a fold to 8 lanes, the even elements of two vectors' worth, and n floats
// spread to the even lanes with zeros between), first_lanes, the AVX2 mask of a vector's first n lanes, and
// store_first_lanes, which stores them without a mask. Widest is the widest the target has: on Zen 5 a zmm FMA
// does twice a ymm one's arithmetic in the same time.

#if DEEPCNN_ISA_AVX2

#ifndef DEEPCNN_ISA_NS
#error "kernels/simd.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

// A mask of the first n <= 8 lanes, for _mm256_maskload_ps / _mm256_maskstore_ps.
inline __m256i first_lanes(int n) {
    alignas(32) static const int lanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes + 8 - n));
}

// Stores the first n <= 8 lanes of v at p as whole 4-, 2- and 1-lane stores: on AMD's Zen, a masked store
// (_mm256_maskstore_ps) is microcoded and takes several times as long as the two or three plain ones.
inline void store_first_lanes(float* p, __m256 v, int n) {
    if (n == 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    __m128 part = _mm256_castps256_ps128(v);
    if (n >= 4) {
        _mm_storeu_ps(p, part);
        part = _mm256_extractf128_ps(v, 1);
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        _mm_storel_pi(reinterpret_cast<__m64*>(p), part);
        part = _mm_movehl_ps(part, part);
        p += 2;
        n -= 2;
    }
    if (n == 1) _mm_store_ss(p, part);
}

struct Ymm {
    using V = __m256;
    using Mask = __m256i;
    static constexpr int lanes = 8;
    static V zero() { return _mm256_setzero_ps(); }
    static V load(const float* p) { return _mm256_loadu_ps(p); }
    static V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    // max(v, 0), 0 for a NaN lane (max_ps gives its second operand then), as the ReLU layer.
    static V relu(V v) { return _mm256_max_ps(v, _mm256_setzero_ps()); }
    static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
    // Lane i = p[2 i] (stride-2 windows): the even elements of 16 loaded.
    static V load_even(const float* p) { return even_of(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)); }
    // Lane i = element 2 i of the 16 in lo, hi.
    static V even_of(V lo, V hi) {
        const __m256 pairs = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
        return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), _MM_SHUFFLE(3, 1, 2, 0)));
    }
    // Lane 2 i = p[i] for i < n <= 4, every other lane zero (stride-2 scatters); reads p[0, n) only.
    static V expand_even(const float* p, int n) {
        const __m128 v = _mm256_castps256_ps128(_mm256_maskload_ps(p, first_lanes(n)));
        const __m128 zero = _mm_setzero_ps();
        return _mm256_set_m128(_mm_unpackhi_ps(v, zero), _mm_unpacklo_ps(v, zero));
    }
    // The first n <= 8 lanes.
    static Mask first(int n) { return first_lanes(n); }
    // lanes [lo, hi)
    static Mask between(int lo, int hi) {
        const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        return _mm256_and_si256(_mm256_cmpgt_epi32(iota, _mm256_set1_epi32(lo - 1)),
                                _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), iota));
    }
    static V load_first(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
    static void store_first(float* p, Mask m, V v) { _mm256_maskstore_ps(p, m, v); }
    // The 8 lanes, summed pairwise where the vector has more.
    static __m256 fold8(V v) { return v; }
};

#if DEEPCNN_ISA_AVX512
struct Zmm {
    using V = __m512;
    using Mask = __mmask16;
    static constexpr int lanes = 16;
    static V zero() { return _mm512_setzero_ps(); }
    static V load(const float* p) { return _mm512_loadu_ps(p); }
    static V broadcast(const float* p) { return _mm512_set1_ps(*p); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V relu(V v) { return _mm512_max_ps(v, _mm512_setzero_ps()); }
    static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
    static V load_even(const float* p) { return even_of(_mm512_loadu_ps(p), _mm512_loadu_ps(p + 16)); }
    static V even_of(V lo, V hi) {
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        return _mm512_permutex2var_ps(lo, even, hi);
    }
    static V expand_even(const float* p, int n) {
        return _mm512_maskz_expandloadu_ps(static_cast<__mmask16>(0x5555u & ((1u << (2 * n)) - 1u)), p);
    }
    static Mask first(int n) { return static_cast<Mask>((1u << n) - 1u); }
    // lanes [lo, hi)
    static Mask between(int lo, int hi) {
        lo = std::max(lo, 0), hi = std::min(hi, 16);
        return hi <= lo ? 0 : static_cast<Mask>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    }
    static V load_first(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
    static void store_first(float* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
    // lanes i + lanes (i + 8), i < 8
    static __m256 fold8(V v) {
        const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
        return _mm256_add_ps(_mm512_castps512_ps256(v), high);
    }
};
using Widest = Zmm;
#else
using Widest = Ymm;
#endif

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
#endif
