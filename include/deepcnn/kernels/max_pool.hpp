// deepcnn/kernels/max_pool.hpp: 2-D max pooling over NCHW batches (forward with argmax, backward routing).
// Padding cells never win; ties go to the first maximum in row-major window order. max_pool_forward/backward
// split the (n, c) planes over a ThreadPool and take a branch-free path for 2x2 windows with stride 2 and no
// padding (AVX2 for float when DEEPCNN_ISA_AVX2; an inference's maxima without the argmax with AVX-512); the _ref
// twins are the plain window scans they are tested against. The result does not depend on the thread count.

#ifndef DEEPCNN_ISA_NS
#error "kernels/max_pool.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {

namespace detail {

// 2x2 windows, stride 2, no padding: the case the FER nets use.
inline bool is_pool_2x2_s2(const ConvGeometry& g) {
    return g.KH == 2 && g.KW == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_top == 0 && g.pad_left == 0 &&
           g.OH == g.H / 2 && g.OW == g.W / 2;
}

#if DEEPCNN_ISA_AVX2
// All-ones in lanes [0, count), zero elsewhere (count may be <= 0 or >= 8).
inline __m256i avx2_lanes_below(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// The first `count` floats (int32s) at p; lanes past count read as 0 and are not touched in memory.
inline __m256 avx2_load(const float* p, int count) {
    return count >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, avx2_lanes_below(count));
}
inline __m256i avx2_load(const std::int32_t* p, int count) {
    return count >= 8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                      : _mm256_maskload_epi32(reinterpret_cast<const int*>(p), avx2_lanes_below(count));
}
// Stores lanes [0, count) of v at p.
inline void avx2_store(float* p, int count, __m256 v) {
    if (count >= 8) {
        _mm256_storeu_ps(p, v);
    } else {
        _mm256_maskstore_ps(p, avx2_lanes_below(count), v);
    }
}
inline void avx2_store(std::int32_t* p, int count, __m256i v) {
    if (count >= 8) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
    } else {
        _mm256_maskstore_epi32(reinterpret_cast<int*>(p), avx2_lanes_below(count), v);
    }
}
// Lanes 0, 2, ..., 14 (even) or 1, 3, ..., 15 (odd) of the 16 floats lo:hi, in order.
inline __m256 avx2_even_lanes(__m256 lo, __m256 hi) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
}
inline __m256 avx2_odd_lanes(__m256 lo, __m256 hi) {
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8));
}
// 0, 2, ..., 14: the offsets of the even lanes' pixels from the first one.
inline __m256i avx2_even_offsets() { return _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14); }
// The four cells of the 2x2 windows ow .. ow + outputs - 1 (outputs <= 8) of the row pair r0, r1, in row-major
// window order (top left, top right, bottom left, bottom right), a window per lane; masked loads, so nothing past
// the row pair is read.
struct Avx2Windows {
    __m256 cell[4];
};
inline Avx2Windows avx2_windows(const float* r0, const float* r1, int ow, int outputs) {
    const int lo = std::min(8, 2 * outputs), hi = 2 * outputs - 8;
    const __m256 t0 = avx2_load(r0 + 2 * ow, lo), t1 = avx2_load(r0 + 2 * ow + 8, hi);
    const __m256 b0 = avx2_load(r1 + 2 * ow, lo), b1 = avx2_load(r1 + 2 * ow + 8, hi);
    return {{avx2_even_lanes(t0, t1), avx2_odd_lanes(t0, t1), avx2_even_lanes(b0, b1), avx2_odd_lanes(b0, b1)}};
}
// Where candidate > best (false for NaN): best = candidate, offset = candidate_offset.
inline void avx2_keep_greater(__m256& best, __m256i& offset, __m256 candidate, int candidate_offset) {
    const __m256 greater = _mm256_cmp_ps(candidate, best, _CMP_GT_OQ);
    best = _mm256_blendv_ps(best, candidate, greater);
    const __m256 candidate_offsets = _mm256_castsi256_ps(_mm256_set1_epi32(candidate_offset));
    offset = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(offset), candidate_offsets, greater));
}
#endif

// One plane of the 2x2 stride-2 forward: the four window cells in row-major order, the first maximum kept
// (strict >, so ties and NaN behave as in max_pool_forward_ref).
template <class Scalar>
void max_pool_2x2_plane(const ConvGeometry& g, const Scalar* in, Scalar* out, std::int32_t* arg) {
    const int W = g.W;
    for (int oh = 0; oh < g.OH; ++oh) {
        const Scalar* r0 = in + 2L * oh * W;
        const Scalar* r1 = r0 + W;
        Scalar* o = out + static_cast<long>(oh) * g.OW;
        std::int32_t* a = arg + static_cast<long>(oh) * g.OW;
        const std::int32_t row_base = 2 * oh * W;
        int ow = 0;
#if DEEPCNN_ISA_AVX2
        if constexpr (std::is_same<Scalar, float>::value) {
            // 8 outputs per step from 16 columns of both rows; the last step is masked (no read or write past the
            // row pair)
            for (; ow < g.OW; ow += 8) {
                const int outputs = std::min(8, g.OW - ow);
                const Avx2Windows w = avx2_windows(r0, r1, ow, outputs);
                __m256 best = w.cell[0];
                __m256i offset = _mm256_setzero_si256();
                avx2_keep_greater(best, offset, w.cell[1], 1);
                avx2_keep_greater(best, offset, w.cell[2], W);
                avx2_keep_greater(best, offset, w.cell[3], W + 1);
                avx2_store(o + ow, outputs, best);
                const __m256i base = _mm256_add_epi32(_mm256_set1_epi32(row_base + 2 * ow), avx2_even_offsets());
                avx2_store(a + ow, outputs, _mm256_add_epi32(base, offset));
            }
        }
#endif
        for (; ow < g.OW; ++ow) {
            const int c = 2 * ow;
            Scalar best = r0[c];
            std::int32_t index = row_base + c;
            if (r0[c + 1] > best) best = r0[c + 1], index = row_base + c + 1;
            if (r1[c] > best) best = r1[c], index = row_base + W + c;
            if (r1[c + 1] > best) best = r1[c + 1], index = row_base + W + c + 1;
            o[ow] = best;
            a[ow] = index;
        }
    }
}

// max_pool_2x2_plane without the argmax, for an inference: the same maxima, bit for bit (max(candidate, best) is
// candidate > best ? candidate : best, the strict > of the argmax path).
template <class Scalar>
void max_pool_2x2_plane_values(const ConvGeometry& g, const Scalar* in, Scalar* out) {
    const int W = g.W;
    for (int oh = 0; oh < g.OH; ++oh) {
        const Scalar* r0 = in + 2L * oh * W;
        const Scalar* r1 = r0 + W;
        Scalar* o = out + static_cast<long>(oh) * g.OW;
        int ow = 0;
#if DEEPCNN_ISA_AVX512
        if constexpr (std::is_same<Scalar, float>::value) {
            // 16 outputs per step from 32 columns of both rows, even and odd columns picked by one two-source
            // permute each; the last step is masked
            const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
            for (; ow < g.OW; ow += 16) {
                const int outputs = std::min(16, g.OW - ow);
                const __mmask16 lo = static_cast<__mmask16>((1u << std::min(16, 2 * outputs)) - 1);
                const __mmask16 hi = static_cast<__mmask16>(2 * outputs > 16 ? (1u << (2 * outputs - 16)) - 1 : 0);
                const __m512 t0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ow);
                const __m512 t1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ow + 16);
                const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ow);
                const __m512 b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ow + 16);
                __m512 best = _mm512_permutex2var_ps(t0, even, t1);
                best = _mm512_max_ps(_mm512_permutex2var_ps(t0, odd, t1), best);
                best = _mm512_max_ps(_mm512_permutex2var_ps(b0, even, b1), best);
                best = _mm512_max_ps(_mm512_permutex2var_ps(b0, odd, b1), best);
                _mm512_mask_storeu_ps(o + ow, static_cast<__mmask16>((1u << outputs) - 1), best);
            }
        }
#elif DEEPCNN_ISA_AVX2
        if constexpr (std::is_same<Scalar, float>::value) {
            for (; ow < g.OW; ow += 8) {
                const int outputs = std::min(8, g.OW - ow);
                const Avx2Windows w = avx2_windows(r0, r1, ow, outputs);
                __m256 best = w.cell[0];
                for (int k = 1; k < 4; ++k) best = _mm256_max_ps(w.cell[k], best);
                avx2_store(o + ow, outputs, best);
            }
        }
#endif
        for (; ow < g.OW; ++ow) {
            const int c = 2 * ow;
            Scalar best = r0[c];
            if (r0[c + 1] > best) best = r0[c + 1];
            if (r1[c] > best) best = r1[c];
            if (r1[c + 1] > best) best = r1[c + 1];
            o[ow] = best;
        }
    }
}

// One plane of the 2x2 stride-2 backward: every cell of each window written once (dy at its argmax, 0 elsewhere);
// a last row or column no window covers (odd H or W) is zeroed.
template <class Scalar>
void max_pool_2x2_backward_plane(const ConvGeometry& g, const Scalar* grad, const std::int32_t* arg, Scalar* out) {
    const int W = g.W;
    for (int oh = 0; oh < g.OH; ++oh) {
        Scalar* r0 = out + 2L * oh * W;
        Scalar* r1 = r0 + W;
        const Scalar* d = grad + static_cast<long>(oh) * g.OW;
        const std::int32_t* a = arg + static_cast<long>(oh) * g.OW;
        int ow = 0;
#if DEEPCNN_ISA_AVX2
        if constexpr (std::is_same<Scalar, float>::value) {
            for (; ow < g.OW; ow += 8) {
                const int outputs = std::min(8, g.OW - ow), lo = std::min(8, 2 * outputs), hi = 2 * outputs - 8;
                const __m256 v = avx2_load(d + ow, outputs);
                const __m256i base = _mm256_add_epi32(_mm256_set1_epi32(2 * oh * W + 2 * ow), avx2_even_offsets());
                const __m256i at = _mm256_sub_epi32(avx2_load(a + ow, outputs), base);  // 0, 1, W or W + 1
                const auto routed = [&](int offset) {
                    return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_cmpeq_epi32(at, _mm256_set1_epi32(offset))));
                };
                // interleave left and right cells: [l0 r0 l1 r1 ... l7 r7] as two 8-float halves
                const auto store_row = [&](Scalar* row, __m256 left, __m256 right) {
                    const __m256 low = _mm256_unpacklo_ps(left, right), high = _mm256_unpackhi_ps(left, right);
                    avx2_store(row + 2 * ow, lo, _mm256_permute2f128_ps(low, high, 0x20));
                    avx2_store(row + 2 * ow + 8, hi, _mm256_permute2f128_ps(low, high, 0x31));
                };
                store_row(r0, routed(0), routed(1));
                store_row(r1, routed(W), routed(W + 1));
            }
        }
#endif
        for (; ow < g.OW; ++ow) {
            const int c = 2 * ow;
            const std::int32_t at = a[ow] - (2 * oh * W + c);  // 0, 1, W or W + 1
            const Scalar v = d[ow];
            r0[c] = at == 0 ? v : Scalar(0);
            r0[c + 1] = at == 1 ? v : Scalar(0);
            r1[c] = at == W ? v : Scalar(0);
            r1[c + 1] = at == W + 1 ? v : Scalar(0);
        }
        if (W % 2) r0[W - 1] = r1[W - 1] = Scalar(0);
    }
    if (g.H % 2)
        for (int w = 0; w < W; ++w) out[static_cast<long>(g.H - 1) * W + w] = Scalar(0);
}

}  // namespace detail

// max_pool_forward_ref, with the (n, c) planes split over `pool` (null: the calling thread) and the 2x2 stride-2
// case vectorised. Bit-identical to the _ref twin for any thread count. A null argmax is not written (an inference:
// the same y).
template <class Scalar>
void max_pool_forward(const ConvGeometry& g, int N, const Scalar* x, Scalar* y, std::int32_t* argmax,
                      ThreadPool* pool = nullptr) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const long grain = std::max(1L, 32768 / std::max(1L, in_plane));
    const bool fast = detail::is_pool_2x2_s2(g);
    parallel_for(pool, static_cast<long>(N) * g.C, grain, 1, [&](long begin, long end) {
        for (long plane = begin; plane < end; ++plane) {
            if (!argmax) {
                if (fast) {
                    detail::max_pool_2x2_plane_values(g, x + plane * in_plane, y + plane * out_plane);
                } else {
                    detail::max_pool_plane_ref(g, x + plane * in_plane, y + plane * out_plane,
                                               static_cast<std::int32_t*>(nullptr));
                }
            } else if (fast) {
                detail::max_pool_2x2_plane(g, x + plane * in_plane, y + plane * out_plane, argmax + plane * out_plane);
            } else {
                detail::max_pool_plane_ref(g, x + plane * in_plane, y + plane * out_plane, argmax + plane * out_plane);
            }
        }
    });
}

// max_pool_backward_ref, with the planes split over `pool` and the 2x2 stride-2 case written without a zero pass.
template <class Scalar>
void max_pool_backward(const ConvGeometry& g, int N, const Scalar* dy, const std::int32_t* argmax, Scalar* dx,
                       ThreadPool* pool = nullptr) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const long grain = std::max(1L, 32768 / std::max(1L, in_plane));
    const bool fast = detail::is_pool_2x2_s2(g);
    parallel_for(pool, static_cast<long>(N) * g.C, grain, 1, [&](long begin, long end) {
        for (long plane = begin; plane < end; ++plane) {
            if (fast) {
                detail::max_pool_2x2_backward_plane(g, dy + plane * out_plane, argmax + plane * out_plane,
                                                    dx + plane * in_plane);
            } else {
                detail::max_pool_backward_plane_ref(g, dy + plane * out_plane, argmax + plane * out_plane,
                                                    dx + plane * in_plane);
            }
        }
    });
}

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
