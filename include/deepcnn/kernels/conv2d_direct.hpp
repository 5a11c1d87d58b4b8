// deepcnn/kernels/conv2d_direct.hpp: direct (not GEMM) convolution kernels for the first layer of a net, where
// one input channel leaves a GEMM a reduction of only KH*KW: forward keeps a tile of a few filters x a row's
// output vectors in registers and feeds each loaded input vector to the tile's filters; backward-weights keeps
// one kernel row's sums of a block of filters in registers and feeds each loaded input vector to the block's
// filters. float with AVX2, on zmm vectors with AVX-512F (simd.hpp); stride 1, 3x3 or 5x5. Twins: conv2d_ref.hpp.

#ifndef DEEPCNN_ISA_NS
#error "kernels/conv2d_direct.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

#if DEEPCNN_ISA_AVX2
// Whether forward takes the direct path: one input channel, stride 1, 3x3 or 5x5.
inline bool forward_direct(const ConvGeometry& g) {
    return g.C == 1 && g.stride_h == 1 && g.stride_w == 1 && g.KH == g.KW && (g.KH == 3 || g.KH == 5);
}

// Filters and pixel vectors of one forward tile: FB * V accumulators, FB broadcast weights and the input vector
// must fit the registers. With AVX-512F: 4 filters x 3 zmm; with AVX2 alone 2 filters x 6 ymm of the 16
// registers. Either way a tile is 48 pixels, the nets' whole rows, and their 32 or 64 filters are whole blocks.
#if DEEPCNN_ISA_AVX512
constexpr int direct_forward_filters = 4;
constexpr int direct_forward_vectors = 3;
#else
constexpr int direct_forward_filters = 2;
constexpr int direct_forward_vectors = 6;
#endif

// out(f, 0..V lanes) for filters f < FB of a row chunk (filter f's row at out + f * plane), at `in` (the padded
// image at the chunk's first input pixel): bias + the KS*KS taps in tap order. wb holds the block's weights
// tap-major, (KS*KS, FB). Per tap, FB weights are broadcast and V input vectors loaded, and each input vector
// feeds FB FMAs. `width` < V lanes (V == 1 only) stores only the first `width` lanes. With `relu`, max(., 0).
template <class Vec, int KS, int FB, int V>
inline void forward_direct_tile(const float* in, int Wp, const float* wb, const float* b, float* out,
                                std::size_t plane, int width, bool relu) {
    constexpr int L = Vec::lanes;
    // An opaque copy of wb: GCC would otherwise hoist all KS*KS*FB weight broadcasts out of the row loop and spill
    // most of them (3x3 at FB 4 is 36 vectors), then read 64 bytes of stack per FMA instead of broadcasting 4.
    __asm__("" : "+r"(wb));
    typename Vec::V acc[FB][V];
#pragma GCC unroll 6
    for (int f = 0; f < FB; ++f) {
        const typename Vec::V bf = Vec::broadcast(b + f);
#pragma GCC unroll 6
        for (int v = 0; v < V; ++v) acc[f][v] = bf;
    }
    for (int i = 0; i < KS; ++i, in += Wp) {
#pragma GCC unroll 5
        for (int j = 0; j < KS; ++j, wb += FB) {
            typename Vec::V wf[FB];
#pragma GCC unroll 6
            for (int f = 0; f < FB; ++f) wf[f] = Vec::broadcast(wb + f);
#pragma GCC unroll 6
            for (int v = 0; v < V; ++v) {
                typename Vec::V x = Vec::load(in + L * v + j);
                // Keeps x in a register: folded into each FMA, the load would be repeated FB times, and the
                // loads (most of them across two cache lines) would bound the loop.
                __asm__("" : "+v"(x));
#pragma GCC unroll 6
                for (int f = 0; f < FB; ++f) acc[f][v] = Vec::fma(wf[f], x, acc[f][v]);
            }
        }
    }
    if (relu)
#pragma GCC unroll 6
        for (int f = 0; f < FB; ++f)
#pragma GCC unroll 6
            for (int v = 0; v < V; ++v) acc[f][v] = Vec::relu(acc[f][v]);
#pragma GCC unroll 6
    for (int f = 0; f < FB; ++f, out += plane) {
        if (width >= L * V) {
#pragma GCC unroll 6
            for (int v = 0; v < V; ++v) Vec::store(out + L * v, acc[f][v]);
        } else {
            Vec::store_first(out, Vec::first(width), acc[f][0]);
        }
    }
}

// y (K, OH, OW) for filters [k, k + FB) of one padded single-channel image xp: each row in chunks of V vectors,
// then single vectors, a last partial vector by a masked store. Reads up to lanes - 1 + KS - 1 values past a
// row's end (the next row, or the slack).
template <int KS, int FB>
void forward_direct_filters(const ConvGeometry& g, const PaddedLayout& l, const float* xp, const float* weight,
                            const float* bias, int k, float* y, bool relu) {
    using Vec = Widest;
    constexpr int L = Vec::lanes, V = direct_forward_vectors;
    float wb[KS * KS * FB], b[FB];
    for (int f = 0; f < FB; ++f) {
        for (int t = 0; t < KS * KS; ++t) wb[t * FB + f] = weight[static_cast<std::size_t>(k + f) * KS * KS + t];
        b[f] = bias ? bias[k + f] : 0.0f;
    }
    const std::size_t plane = static_cast<std::size_t>(g.OH) * g.OW;
    for (int oh = 0; oh < g.OH; ++oh) {
        const float* in = xp + static_cast<std::size_t>(oh) * l.Wp;
        float* out = y + static_cast<std::size_t>(k) * plane + static_cast<std::size_t>(oh) * g.OW;
        int ow = 0;
        for (; ow + L * V <= g.OW; ow += L * V)
            forward_direct_tile<Vec, KS, FB, V>(in + ow, l.Wp, wb, b, out + ow, plane, L * V, relu);
        for (; ow < g.OW; ow += L)
            forward_direct_tile<Vec, KS, FB, 1>(in + ow, l.Wp, wb, b, out + ow, plane, g.OW - ow, relu);
    }
}

// y (K, OH, OW) for filters [k0, k1) of one padded single-channel image xp: y = bias + sum of the KS*KS taps, in
// tap order (forward_direct_filters), with `relu` then max(y, 0).
template <int KS>
void forward_direct_image(const ConvGeometry& g, const PaddedLayout& l, const float* xp, const float* weight,
                          const float* bias, int k0, int k1, float* y, bool relu) {
    constexpr int FB = direct_forward_filters;
    int k = k0;
    for (; k + FB <= k1; k += FB) forward_direct_filters<KS, FB>(g, l, xp, weight, bias, k, y, relu);
    for (; k < k1; ++k) forward_direct_filters<KS, 1>(g, l, xp, weight, bias, k, y, relu);
}

// Forward for a batch by forward_direct_image: threads split the images, or the filters when N is smaller than
// the pool. `workspace` holds `thread_scalars` per thread, a padded image first.
inline void forward_direct_batch(const ConvGeometry& g, int N, const float* x, const float* weight, const float* bias,
                                 float* y, float* workspace, std::size_t thread_scalars, ThreadPool* pool,
                                 bool relu = false) {
    const PaddedLayout l = padded_layout(g);
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.OH * g.OW;
    for_each_padded_image(g, N, x, workspace, thread_scalars, pool, g.K, direct_forward_filters,
                          [&](const float* xp, int n, int k0, int k1) {
                              if (g.KH == 3) {
                                  forward_direct_image<3>(g, l, xp, weight, bias, k0, k1, y + n * out_size, relu);
                              } else {
                                  forward_direct_image<5>(g, l, xp, weight, bias, k0, k1, y + n * out_size, relu);
                              }
                          });
}

// Filters per block of the direct backward-weights: KB * KW accumulators (one kernel row's sums), KB dy vectors,
// KB bias sums and an input vector must fit the registers (32 zmm with AVX-512F, else 16 ymm).
template <int KW>
constexpr int direct_filter_block() {
#if DEEPCNN_ISA_AVX512
    return KW <= 3 ? 6 : 4;
#else
    return KW <= 3 ? 3 : 2;
#endif
}

// Whether backward-weights takes the direct path: stride 1, a 3x3 or 5x5 window and a small patch (the first
// layer), where a GEMM would have a reduction of only C*KH*KW and narrow panels.
inline bool backward_weights_direct(const ConvGeometry& g) {
    const bool window = g.KH == g.KW && (g.KW == 3 || g.KW == 5);
    const std::size_t scratch = static_cast<std::size_t>(g.K) * (g.patch_size() + 1) * 8;
    return g.stride_h == 1 && g.stride_w == 1 && window && g.patch_size() <= 32 &&
           scratch + 64 <= gemm_workspace_size<float>();
}

// One pass of the direct backward-weights over output rows [oh0, oh1) of an image, for kernel row kh of one input
// channel: t(i, kw) = sum over (oh, ow) of dk[i](oh, ow) * x0(oh, ow + kw), x0 the channel's padded rows from
// row kh, a Widest vector of pixels at a time (a row's last partial vector with its dy lanes past OW masked to
// zero); each input vector is loaded once and feeds the block's KB filters, and dy is read where it is. out[i]
// (KS, 8 lanes) += t(i, .) folded to 8 lanes, for i < nk. With SumBias, bias_out[i] (8 lanes) += the 8-lane sums
// of dk[i]'s rows. With PrefetchNext, the dy prefetch_offset scalars past each one read is fetched into L2 on the
// way, so that the next pass that reads it does not wait on memory (a prefetch past the end is harmless). Tail
// says whether OW has a partial vector. The flags are template parameters so that GCC keeps each variant's
// accumulators in registers across the rows (with the masked step in the same loop, it spilled and reloaded all
// of them at every row's end).
template <int KS, int KB, bool SumBias, bool PrefetchNext, bool Tail>
void backward_weights_direct_pass(const ConvGeometry& g, int Wp, int oh0, int oh1, const float* x0,
                                  const float* const* dk, int nk, std::ptrdiff_t prefetch_offset,
                                  float* const* out, float* const* bias_out) {
    using Vec = Widest;
    using V = typename Vec::V;
    constexpr int L = Vec::lanes;
    const int whole = g.OW / L * L;
    const typename Vec::Mask tail = Vec::first(g.OW - whole);
    const float* d_at[KB];
#pragma GCC unroll 6
    for (int i = 0; i < KB; ++i) d_at[i] = dk[i] + static_cast<std::size_t>(oh0) * g.OW;
    x0 += static_cast<std::size_t>(oh0) * Wp;
    V t[KB][KS], dsum[KB];
#pragma GCC unroll 6
    for (int i = 0; i < KB; ++i) {
        dsum[i] = Vec::zero();
#pragma GCC unroll 5
        for (int j = 0; j < KS; ++j) t[i][j] = Vec::zero();
    }
    // One vector of pixels: dy at d_at[i] + o, the input at x_at.
    const auto step = [&](std::ptrdiff_t o, const float* x_at, bool masked) {
        V d[KB];
#pragma GCC unroll 6
        for (int i = 0; i < KB; ++i) {
            V v = masked ? Vec::load_first(d_at[i] + o, tail) : Vec::load(d_at[i] + o);
            __asm__("" : "+v"(v));  // one load for its KS FMAs, not one per FMA
            d[i] = v;
        }
        if (SumBias) {
#pragma GCC unroll 6
            for (int i = 0; i < KB; ++i) dsum[i] = Vec::add(dsum[i], d[i]);
        }
        if (PrefetchNext) {
#pragma GCC unroll 6
            for (int i = 0; i < KB; ++i)
                _mm_prefetch(reinterpret_cast<const char*>(d_at[i] + prefetch_offset + o), _MM_HINT_T1);
        }
#pragma GCC unroll 5
        for (int kw = 0; kw < KS; ++kw) {
            V xv = Vec::load(x_at + kw);
            __asm__("" : "+v"(xv));  // one load for the block's KB FMAs (see forward_direct_tile)
#pragma GCC unroll 6
            for (int i = 0; i < KB; ++i) t[i][kw] = Vec::fma(d[i], xv, t[i][kw]);
        }
    };
    for (int oh = oh0; oh < oh1; ++oh, x0 += Wp) {
        for (int ow = 0; ow < whole; ow += L) step(ow, x0 + ow, false);
        if (Tail) step(whole, x0 + whole, true);
#pragma GCC unroll 6
        for (int i = 0; i < KB; ++i) d_at[i] += g.OW;
    }
    for (int i = 0; i < nk; ++i) {
#pragma GCC unroll 5
        for (int j = 0; j < KS; ++j)
            _mm256_storeu_ps(out[i] + 8 * j, _mm256_add_ps(_mm256_loadu_ps(out[i] + 8 * j), Vec::fold8(t[i][j])));
        if (SumBias) _mm256_storeu_ps(bias_out[i], _mm256_add_ps(_mm256_loadu_ps(bias_out[i]), Vec::fold8(dsum[i])));
    }
}

// Direct backward-weights for filters [k0, k1) of one image, stride 1, a KS x KS window:
//   dweight(k, c, kh, kw) = sum over (oh, ow) of dy(k, oh, ow) * xp(c, oh + kh, ow + kw)
// For each block of KB filters, band of output rows, input channel and kernel row, one
// backward_weights_direct_pass keeps the KB * KS sums in registers. A band's dy of the block fits half of L1, so
// that the C * KS passes over it read it from L1 (over whole images, the block's dy came from L2 on every pass).
// acc (k1-k0, C, KS, KS, 8 lanes) += the image's 8-lane partial sums, each summed over the bands in order; the
// first pass of a band also sums dy for the bias gradient: bias_acc (k1-k0, 8 lanes) += the 8-lane sums of dy.
// The last pass of a band prefetches the next band's dy (after the last band, the next block's first band).
template <int KS, int KB>
void backward_weights_direct_image(const ConvGeometry& g, const PaddedLayout& l, const float* xp, const float* dy,
                                   int k0, int k1, float* acc, float* bias_acc) {
    constexpr int T = KS * KS;
    const std::size_t P = static_cast<std::size_t>(g.out_pixels());
    const int band = std::max(1, 24 * 1024 / static_cast<int>(sizeof(float) * KB * g.OW));
    for (int kb = k0; kb < k1; kb += KB) {
        const int nk = std::min(KB, k1 - kb);
        const float* dk[KB];  // a partial block repeats its last filter in the unused slots
        float* out[KB];
        float* bias_out[KB];
        for (int i = 0; i < KB; ++i) {
            dk[i] = dy + static_cast<std::size_t>(kb + std::min(i, nk - 1)) * P;
            bias_out[i] = bias_acc + static_cast<std::size_t>(kb + i - k0) * 8;
        }
        for (int oh0 = 0; oh0 < g.OH; oh0 += band) {
            const int oh1 = std::min(g.OH, oh0 + band);
            const std::ptrdiff_t next = oh1 < g.OH ? static_cast<std::ptrdiff_t>(oh1 - oh0) * g.OW
                                                   : static_cast<std::ptrdiff_t>(KB * P) - oh0 * g.OW;
            for (int c = 0; c < g.C; ++c)
                for (int kh = 0; kh < KS; ++kh) {
                    const float* x0 = xp + static_cast<std::size_t>(c) * l.Hp * l.Wp + kh * l.Wp;
                    for (int i = 0; i < KB; ++i)
                        out[i] = acc + ((static_cast<std::size_t>(kb + i - k0) * g.C + c) * T + kh * KS) * 8;
                    const bool first = c == 0 && kh == 0, last = c == g.C - 1 && kh == KS - 1;
                    // has_tail: std::true_type or std::false_type, whether rows end in a partial vector
                    const auto pass = [&](auto has_tail) {
                        constexpr bool Tail = decltype(has_tail)::value;
                        if (first) {
                            backward_weights_direct_pass<KS, KB, true, false, Tail>(g, l.Wp, oh0, oh1, x0, dk, nk,
                                                                                    next, out, bias_out);
                        } else if (last) {
                            backward_weights_direct_pass<KS, KB, false, true, Tail>(g, l.Wp, oh0, oh1, x0, dk, nk,
                                                                                    next, out, bias_out);
                        } else {
                            backward_weights_direct_pass<KS, KB, false, false, Tail>(g, l.Wp, oh0, oh1, x0, dk, nk,
                                                                                     next, out, bias_out);
                        }
                    };
                    if (g.OW % Widest::lanes == 0) {
                        pass(std::false_type{});
                    } else {
                        pass(std::true_type{});
                    }
                }
        }
    }
}
#endif

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
