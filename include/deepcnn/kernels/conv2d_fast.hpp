// deepcnn/kernels/conv2d_fast.hpp: fast convolution for a batch in NCHW layout, forward, backward-data and
// backward-weights: the dispatch between Winograd (winograd.hpp: 3x3 stride 1, enough channels and tiles), the
// broadcast kernels (conv2d_broadcast.hpp: 5x5 stride 1, filters in blocks of 16), the first layer's direct
// kernels (conv2d_direct.hpp: one input channel) and, everywhere else, implicit GEMMs on the packed GEMM of
// gemm.hpp. For the implicit GEMMs each image is copied once into a zero-padded buffer xp (C, Hp, Wp); the
// packers then read the im2col matrix straight from it, so no im2col matrix is ever stored:
//   im2col(x)(r, p) = xp[rbase(r) + poff(p)],  r = (c, kh, kw) -> rbase = (c * Hp + kh) * Wp + kw,
//                                              p = (oh, ow)    -> poff  = oh * stride_h * Wp + ow * stride_w.
// Work is split over a ThreadPool by images (or by pixels / filters when the batch is smaller than the pool),
// never inside a sum, so results are bit-identical for any thread count. Twins: conv2d_*_ref in conv2d_ref.hpp.
// The kernels allocate nothing; the caller passes conv2d_fast_workspace_size(g, threads) scalars.

#ifndef DEEPCNN_ISA_NS
#error "kernels/conv2d_fast.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {

namespace detail {

// Copies NR contiguous scalars (the packers' unit of work).
template <class Scalar>
inline void copy_nr(Scalar* dst, const Scalar* src) {
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
#pragma GCC unroll 4
        for (int j = 0; j < GemmBlocking::NR; j += 8) _mm256_storeu_ps(dst + j, _mm256_loadu_ps(src + j));
        return;
    }
#endif
    for (int j = 0; j < GemmBlocking::NR; ++j) dst[j] = src[j];
}

// Copies the NR even scalars of src[0, 2 NR) (a stride-2 run of pixels), as copy_nr does the contiguous ones.
template <class Scalar>
inline void copy_nr_even(Scalar* dst, const Scalar* src) {
#if DEEPCNN_ISA_AVX2
    if constexpr (std::is_same<Scalar, float>::value) {
        using V = Widest;
#pragma GCC unroll 4
        for (int j = 0; j < GemmBlocking::NR; j += V::lanes) V::store(dst + j, V::load_even(src + 2 * j));
        return;
    }
#endif
    for (int j = 0; j < GemmBlocking::NR; ++j) dst[j] = src[2 * j];
}

// B = im2col(x) (R = C*KH*KW rows, P = OH*OW columns), read from xp. For stride_w 1, each panel row is at most a
// few contiguous runs (one per output row the 16 pixels touch), each copied as a whole NR-wide vector: a copy
// spills past its run into space the next run (or the next row) overwrites, hence the NR scalars of slack; for
// stride_w 2 the same with every other scalar of twice the span (2 NR scalars of slack).
template <class Scalar>
struct Im2colPackB {
    const ConvGeometry* g;
    PaddedLayout l;
    const Scalar* xp;
    int p_offset;  // column j of B is pixel p_offset + j

    void operator()(int k0, int kc, int j0, int nc, Scalar* dst) const {
        constexpr int NR = GemmBlocking::NR;
        const int plane = l.Hp * l.Wp;
        for (int jp = 0; jp < nc; jp += NR, dst += static_cast<long>(kc) * NR) {
            const int n = std::min(NR, nc - jp);
            // Runs of the panel's pixels within one output row: (first column in the panel, poff of its pixel).
            int run_col[NR + 1], run_off[NR + 1], runs = 0;
            int poff[NR];
            {
                int p = p_offset + j0 + jp;
                int oh = p / g->OW, ow = p % g->OW;
                for (int j = 0; j < n; ++j) {
                    poff[j] = oh * g->stride_h * l.Wp + ow * g->stride_w;
                    if (j == 0 || ow == 0) {
                        run_col[runs] = j;
                        run_off[runs] = poff[j];
                        ++runs;
                    }
                    if (++ow == g->OW) {
                        ow = 0;
                        ++oh;
                    }
                }
            }
            int c = k0 / (g->KH * g->KW), kh = (k0 / g->KW) % g->KH, kw = k0 % g->KW;
            for (int k = 0; k < kc; ++k) {
                const Scalar* src = xp + c * plane + kh * l.Wp + kw;
                Scalar* d = dst + k * NR;
                if (g->stride_w == 1) {
                    for (int s = 0; s < runs; ++s) copy_nr(d + run_col[s], src + run_off[s]);
                    for (int j = n; j < NR; ++j) d[j] = Scalar(0);
                } else if (g->stride_w == 2) {
                    for (int s = 0; s < runs; ++s) copy_nr_even(d + run_col[s], src + run_off[s]);
                    for (int j = n; j < NR; ++j) d[j] = Scalar(0);
                } else {
                    for (int j = 0; j < n; ++j) d[j] = src[poff[j]];
                    for (int j = n; j < NR; ++j) d[j] = Scalar(0);
                }
                if (++kw == g->KW) {
                    kw = 0;
                    if (++kh == g->KH) {
                        kh = 0;
                        ++c;
                    }
                }
            }
        }
    }
};

// B = im2col(x)^T (P rows, R columns), read from xp: row p holds xp[poff(p) + rbase(r)] for the panel's NR r.
// With AVX2, runs of 8 pixels within an output row are 8x8 register transposes of contiguous loads (stride_w 1)
// or of the even scalars of 16 (stride_w 2, which may read one scalar past the window: slack); other pixels are
// gathers.
template <class Scalar>
struct Im2colTransposedPackB {
    const ConvGeometry* g;
    PaddedLayout l;
    const Scalar* xp;
    int r_offset;  // column j of B is patch row r_offset + j

    void operator()(int k0, int kc, int j0, int nc, Scalar* dst) const {
        constexpr int NR = GemmBlocking::NR;
        alignas(64) int rbase[NR];
        for (int jp = 0; jp < nc; jp += NR, dst += static_cast<long>(kc) * NR) {
            const int n = std::min(NR, nc - jp);
            for (int j = 0; j < NR; ++j) {
                const int r = r_offset + j0 + jp + std::min(j, n - 1);
                const int c = r / (g->KH * g->KW), kh = (r / g->KW) % g->KH, kw = r % g->KW;
                rbase[j] = (c * l.Hp + kh) * l.Wp + kw;
            }
            int oh = k0 / g->OW, ow = k0 % g->OW;
#if DEEPCNN_ISA_AVX2
            if constexpr (std::is_same<Scalar, float>::value) {
                constexpr int NV = NR / 8;
                __m256i base[NV];
                for (int v = 0; v < NV; ++v)
                    base[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(rbase + 8 * v));
                for (int k = 0; k < kc;) {
                    const int poff = oh * g->stride_h * l.Wp + ow * g->stride_w;
                    if (g->stride_w == 1 && ow + 8 <= g->OW && k + 8 <= kc) {
                        // 8 pixels of one output row: each patch row's 8 values are contiguous in xp; load them
                        // as 8 rows and transpose in registers instead of gathering.
                        for (int v = 0; v < NV; ++v) transpose_8x8(xp + poff, rbase + 8 * v, dst + k * NR + 8 * v, NR);
                        k += 8;
                        ow += 8;
                    } else if (g->stride_w == 2 && ow + 8 <= g->OW && k + 8 <= kc) {
                        for (int v = 0; v < NV; ++v)
                            transpose_8x8_even(xp + poff, rbase + 8 * v, dst + k * NR + 8 * v, NR);
                        k += 8;
                        ow += 8;
                    } else if (g->stride_w == 1 && ow + 4 <= g->OW && k + 4 <= kc) {
                        // a row's last 4 to 7 pixels (12x12 images) the same way, 4 at a time
                        for (int v = 0; v < NV; ++v) transpose_8x4(xp + poff, rbase + 8 * v, dst + k * NR + 8 * v, NR);
                        k += 4;
                        ow += 4;
                    } else {
                        const __m256i off = _mm256_set1_epi32(poff);
#pragma GCC unroll 4
                        for (int v = 0; v < NV; ++v)
                            _mm256_storeu_ps(dst + k * NR + 8 * v,
                                             _mm256_i32gather_ps(xp, _mm256_add_epi32(base[v], off), 4));
                        ++k;
                        ++ow;
                    }
                    if (ow == g->OW) {
                        ow = 0;
                        ++oh;
                    }
                }
                continue;
            }
#endif
            for (int k = 0; k < kc; ++k) {
                const Scalar* src = xp + oh * g->stride_h * l.Wp + ow * g->stride_w;
                Scalar* d = dst + k * NR;
                for (int j = 0; j < NR; ++j) d[j] = src[rbase[j]];
                if (++ow == g->OW) {
                    ow = 0;
                    ++oh;
                }
            }
        }
    }
};

// Backward-data runs as a forward convolution from this many micro-tile rows of input channels (C >= 4 MR: 24 on
// AVX2, 32 on AVX-512); below, the flipped GEMM's A panels are mostly padding. The value is the original
// design's; no A/B of it is in the log (docs/performance.md, "Backward-data").
constexpr int flipped_min_channel_panels = 4;

// The geometry of backward-data as a forward convolution (stride 1 only): dx = conv(dy, flipped weights) with
// K input channels, C filters and the complementary padding. False when it does not apply, or when C is too
// small to fill the micro-tile's MR rows (the first layer), where weight^T x dy + col2im is faster.
inline bool backward_data_as_forward(const ConvGeometry& g, ConvGeometry& t) {
    if (g.stride_h != 1 || g.stride_w != 1 || g.pad_top > g.KH - 1 || g.pad_left > g.KW - 1) return false;
    if (g.C < flipped_min_channel_panels * GemmBlocking::MR) return false;
    t = g;
    t.C = g.K;
    t.H = g.OH;
    t.W = g.OW;
    t.K = g.C;
    t.pad_top = g.KH - 1 - g.pad_top;
    t.pad_left = g.KW - 1 - g.pad_left;
    t.OH = g.H;
    t.OW = g.W;
    return true;
}

// Per-thread workspace: one padded image (or the col matrix of backward-data's gemm_col2im, if larger) and a GEMM
// block, or the Winograd kernels' chunk, whichever is larger.
inline std::size_t conv2d_fast_thread_scalars(const ConvGeometry& g, std::size_t gemm_scalars) {
    std::size_t image = padded_layout(g).size;
    std::size_t winograd = winograd_applies(g) ? winograd_thread_scalars(g) : 0;
    ConvGeometry t;
    if (backward_data_as_forward(g, t)) {
        image = std::max(image, padded_layout(t).size);
        if (winograd_applies(t)) winograd = std::max(winograd, winograd_thread_scalars(t));
    }
    // the col matrix of backward-data's gemm_col2im, which applies to every shape
    image = std::max(image, static_cast<std::size_t>(g.patch_size()) * g.out_pixels());
    // the padded dy of the stride-2 3x3 backward-data by broadcast
    if (g.stride_h == 2 && g.stride_w == 2 && g.KH == 3 && g.KW == 3)
        image = std::max(image, padded_layout(stride2_gradient_geometry(g)).size);
    return std::max((image + 15) / 16 * 16 + gemm_scalars, winograd);
}

// Shared workspace ahead of the threads' parts: the flipped weights of backward-data (or the weights packed once for
// a GEMM, (K, R) or (R, K), in panels of MR rows: 24 is a multiple of every instruction set's MR), then the
// Winograd-transformed weights where either direction uses them (backward-weights: one set of their gradient per
// part of the batch).
inline std::size_t conv2d_fast_flipped_scalars(const ConvGeometry& g) {
    const auto rows = [](std::size_t n) { return (n + 23) / 24 * 24; };
    const std::size_t R = g.patch_size(), K = g.K;
    const std::size_t weights = std::max({K * R, rows(K) * R, rows(R) * K});
    return (weights + 15) / 16 * 16;
}
inline std::size_t conv2d_fast_shared_scalars(const ConvGeometry& g) {
    ConvGeometry t;
    const bool winograd = winograd_applies(g) || (backward_data_as_forward(g, t) && winograd_applies(t));
    const std::size_t transformed = winograd_weight_scalars(g) * (winograd_applies(g) ? winograd_weight_parts : 1);
    return conv2d_fast_flipped_scalars(g) + (winograd ? transformed : 0);
}

// The sum of 8 lane partial sums, added pairwise (a fixed order).
template <class Scalar>
Scalar sum_lanes8(const Scalar* lanes) {
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

// dbias (K) = sum of dy (N, K, P) over images and pixels: 8 interleaved partial sums (pixel p into sum p % 8,
// images in order), added pairwise at the end; vectorisable, and the same order on any thread count.
// Filters [k0, k1) only, when given.
template <class Scalar>
void sum_bias(const ConvGeometry& g, int N, const Scalar* dy, Scalar* dbias, int k0 = 0, int k1 = -1) {
    const int P = g.out_pixels();
    for (int k = k0; k < (k1 < 0 ? g.K : k1); ++k) {
        Scalar part[8] = {};
        for (int n = 0; n < N; ++n) {
            const Scalar* row = dy + (static_cast<std::size_t>(n) * g.K + k) * P;
            int p = 0;
            for (; p + 8 <= P; p += 8)
                for (int j = 0; j < 8; ++j) part[j] += row[p + j];
            for (int j = 0; p < P; ++p, ++j) part[j] += row[p];
        }
        dbias[k] = sum_lanes8(part);
    }
}

#if DEEPCNN_ISA_AVX2
// Whether the broadcast kernel beats Winograd on a 3x3 layer: with AVX-512, few input channels (Winograd's GEMMs
// then sum over only C) on rows of at least broadcast_over_winograd_min_row pixels. Measured with bench_conv2d
// --variants (Intel Xeon family 6 model 207; broadcast over Winograd, forward / backward-data): fer conv2 (32
// channels, 48x48) 1.16x / 1.20x at batch 64 and 1.26x / 1.39x at batch 1 on 1 thread, 1.26x / 1.40x and 1.03x /
// 1.08x on 2; fer conv3 (32 channels, 24x24) 0.78x forward at batch 64, so the 24-pixel rows stay with Winograd.
// Plain AVX2 keeps Winograd, as measured on the Zen 3.
constexpr int broadcast_over_winograd_max_channels = 32;
constexpr int broadcast_over_winograd_min_row = 48;
inline bool broadcast_beats_winograd(const ConvGeometry& g) {
    return DEEPCNN_ISA_AVX512 && g.C <= broadcast_over_winograd_max_channels &&
           g.OW >= broadcast_over_winograd_min_row;
}

// Whether a forward convolution of N images takes the broadcast kernel: 5x5 windows wherever it applies; 3x3 where
// Winograd does not pay (12x12 images at batch 1) or where the broadcast kernel beats it (broadcast_beats_winograd),
// the kernel skipping the taps that read padding.
inline bool broadcast_conv_pays(const ConvGeometry& g, int N) {
    return broadcast_conv_applies(g) && (g.KW == 5 || !winograd_pays(g, N) || broadcast_beats_winograd(g));
}

// Whether the broadcast kernel beats Winograd on the forward of a single image: with AVX-512, at most
// broadcast_single_image_max_filters filters. On one image, every thread of winograd_forward transforms the whole
// input for its share of the filters, where the broadcast kernel's threads split the output rows. Measured with
// bench_conv2d --variants (Intel Xeon family 6 model 207, medians of 8 interleaved; broadcast over Winograd, forward
// at batch 1): fer conv3 (32 -> 64 channels, 24x24) 1.34x on 2 threads and 0.97x on 1, fer conv4 (64 -> 64) 1.24x
// and 0.93x: the two threads' gain outweighs the one thread's loss, and a plan may not depend on the thread count
// (the results would then differ between thread counts). With 128 filters (the seed net's 24x24 layers) Winograd
// keeps both: broadcast 0.90x / 0.79x (seed conv3, 2 / 1 threads), 0.91x / 0.74x (seed conv4). The backward-data's
// flipped kernels measured mixed (0.92-1.14x), so this is the forward's rule only.
constexpr int broadcast_single_image_max_filters = 64;
inline bool broadcast_beats_winograd_on_one_image(const ConvGeometry& g, int N) {
    return DEEPCNN_ISA_AVX512 && N == 1 && g.K <= broadcast_single_image_max_filters;
}

// Whether the forward of N images takes the broadcast kernel: where broadcast_conv_pays, and on a single image with
// few filters (broadcast_beats_winograd_on_one_image).
inline bool broadcast_forward_pays(const ConvGeometry& g, int N) {
    return broadcast_conv_pays(g, N) || (broadcast_conv_applies(g) && broadcast_beats_winograd_on_one_image(g, N));
}

// Where backward-weights can take the broadcast kernel: where the forward's applies, when one block's dy fits the
// thread's GEMM block. It pays on 5x5 windows; on 3x3 where the forward's beats Winograd (broadcast_beats_winograd)
// on batches of more than one image. Measured with bench_conv2d --variants (Intel Xeon family 6 model 207; medians
// of 3), broadcast over Winograd: fer conv2 (32 channels, 48x48) at batch 64 1.27x on 1 thread, 1.06x on 2; at
// batch 1 (single runs) 1.03x and 0.67x; fer conv3 and conv4 (24x24) 0.58-0.80x at batch 64. (On the 12x12 layers
// at batch 1 it measured 0.92-1.02x the implicit GEMM: rows of 12 pixels are too short for its tile.)
inline bool broadcast_weights_applies(const ConvGeometry& g) {
    return broadcast_conv_applies(g) && broadcast_weights_dy_scalars(g) <= gemm_workspace_size<float>();
}
inline bool broadcast_weights_pays(const ConvGeometry& g, int N) {
    return broadcast_weights_applies(g) && (g.KW == 5 || (broadcast_beats_winograd(g) && N > 1));
}
#endif

// One image's forward over pixels [p0, p1): y (K, P) columns p0..p1 = weight (K, R) x im2col(xp), + bias, with
// `relu` then max(y, 0) (0 for NaN), while the block is in cache.
template <class Scalar>
void conv2d_forward_pixels(const ConvGeometry& g, const PaddedLayout& l, const Scalar* xp,
                           const SharedA<Scalar>& weight, const Scalar* bias, Scalar* y, int k0, int k1, int p0,
                           int p1, Scalar* gemm_ws, bool relu) {
    const int P = g.out_pixels(), R = g.patch_size();
    weight.rows(k0, [&](const auto& pack_a) {
        gemm_packed(k1 - k0, p1 - p0, R, pack_a, Im2colPackB<Scalar>{&g, l, xp, p0},
                    y + static_cast<std::size_t>(k0) * P + p0, P, false, gemm_ws);
    });
    if (!bias && !relu) return;
    for (int k = k0; k < k1; ++k) {
        Scalar* row = y + static_cast<std::size_t>(k) * P;
        if (bias)
            for (int p = p0; p < p1; ++p) row[p] += bias[k];
        if (relu)
            for (int p = p0; p < p1; ++p) row[p] = row[p] > Scalar(0) ? row[p] : Scalar(0);
    }
}

// Forward for a batch with `weight` (K, C*KH*KW): split over images, or over pixels (or filters, where that splits
// evener: rows_split_evener) when N < threads. With packed_weights (PrepackedA::padded(K) * C*KH*KW scalars), the
// weights are packed there once where that pays (SharedA), not for every image (on a layer of many channels and few
// pixels, down4 of bench_conv2d, packing them took about as long as an image's arithmetic).
template <class Scalar>
void conv2d_forward_batch(const ConvGeometry& g, int N, const Scalar* x, const Scalar* weight, const Scalar* bias,
                          Scalar* y, Scalar* workspace, std::size_t thread_scalars, ThreadPool* pool,
                          bool relu = false, Scalar* packed_weights = nullptr) {
    const PaddedLayout l = padded_layout(g);
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.OH * g.OW;
    const std::size_t xp_scalars = (l.size + 15) / 16 * 16;
    const int P = g.out_pixels(), threads = pool ? pool->size() : 1;
    const SharedA<Scalar> a(g.K, g.patch_size(), StridedMatrix<Scalar>{weight, g.patch_size(), 1}, packed_weights,
                            packed_weights ? N : 0, threads);
    const bool by_rows = N < threads && rows_split_evener(g.K, GemmBlocking::MR, P, GemmBlocking::NR, threads);
    for_each_padded_image(g, N, x, workspace, thread_scalars, pool, by_rows ? g.K : P,
                          by_rows ? GemmBlocking::MR : GemmBlocking::NR, [&](Scalar* xp, int n, int b0, int b1) {
                              conv2d_forward_pixels(g, l, xp, a, bias, y + n * out_size, by_rows ? b0 : 0,
                                                    by_rows ? b1 : g.K, by_rows ? 0 : b0, by_rows ? P : b1,
                                                    xp + xp_scalars,  // the thread's GEMM block
                                                    relu);
                          });
}

}  // namespace detail

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
