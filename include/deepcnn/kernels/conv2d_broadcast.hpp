// deepcnn/kernels/conv2d_broadcast.hpp: direct convolution by broadcasting input pixels (float, AVX2), for
// stride-1 layers whose filters come in blocks of 16, where an implicit GEMM spends a tenth of its time packing
// the im2col matrix. A tile of PIX neighbouring output pixels of one row times 16 filters lives in registers;
// for every tap (c, kh, kw) it broadcasts the PIX input values the tap reads straight from the zero-padded image
// (or from the image itself where a row is one tile and no tap that reads padding is computed) and multiplies them
// by the tap's 16 weights, which are packed once per call as (K/16, C*KH*KW, 16). Nothing per image is packed.
// Each output sums its taps in (c, kh, kw) order, so the split between threads never changes a result.
// Backward-data uses the same kernel on the flipped weights (see conv2d_fast.hpp); backward-weights broadcasts the
// input the same way against one pixel's dy for 16 filters. The 3x3 stride-2 layers take the same tile: forward with
// its pixels reading every other column, backward-data as four stride-1 phases over dy
// (broadcast_stride2_backward_data).
// Twins: conv2d_forward_ref and conv2d_backward_weights_ref (conv2d_ref.hpp).

#ifndef DEEPCNN_ISA_NS
#error "kernels/conv2d_broadcast.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

#if DEEPCNN_ISA_AVX2
// Output pixels per tile: with AVX-512, 12 pixels x 16 filters take 12 zmm registers; with AVX2, 6 x 16 take 12 of
// the 16 ymm registers.
#if DEEPCNN_ISA_AVX512
constexpr int broadcast_tile_pixels = 12;
#else
constexpr int broadcast_tile_pixels = 6;
#endif
constexpr int broadcast_filter_block = 16;
// Filter blocks per forward tile: with AVX-512, two (24 zmm accumulators), so that each broadcast input value
// feeds two FMAs (the one-block tile, a broadcast load per FMA, ran at 85-88% of Zen 5's FMA peak; two blocks
// measured 4-15% faster).
#if DEEPCNN_ISA_AVX512
constexpr int broadcast_tile_blocks = 2;
#else
constexpr int broadcast_tile_blocks = 1;
#endif

// 16 filters' values in registers: one zmm with AVX-512, two ymm without. An input value times 16 weights is one
// broadcast and one FMA on zmm (which GCC folds into one instruction), where two ymm FMAs take the same
// arithmetic and twice the instructions.
#if DEEPCNN_ISA_AVX512
struct Lanes16 {
    __m512 v;
    static Lanes16 zero() { return {_mm512_setzero_ps()}; }
    static Lanes16 load(const float* p) { return {_mm512_loadu_ps(p)}; }
    void store(float* p) const { _mm512_storeu_ps(p, v); }
    static Lanes16 broadcast(const float* x) { return {_mm512_set1_ps(*x)}; }
    // this += x (broadcast) * w
    void fma(const float* x, const Lanes16& w) { v = _mm512_fmadd_ps(_mm512_set1_ps(*x), w.v, v); }
    // this += x * w, x a broadcast value
    void fma(const Lanes16& x, const Lanes16& w) { v = _mm512_fmadd_ps(x.v, w.v, v); }
    // Keeps the value in a register: GCC would fold it into each of its uses as a memory operand.
    void pin() { __asm__("" : "+v"(v)); }
};
#else
struct Lanes16 {
    __m256 lo, hi;
    static Lanes16 zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
    static Lanes16 load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
    void store(float* p) const {
        _mm256_storeu_ps(p, lo);
        _mm256_storeu_ps(p + 8, hi);
    }
    // this += x (broadcast) * w. The broadcast is kept in a register of its own: GCC otherwise made it the
    // destination of one of the two FMAs and then shuffled and spilled accumulators.
    void fma(const float* x, const Lanes16& w) {
        __m256 b = _mm256_broadcast_ss(x);
        __asm__("" : "+x"(b));
        lo = _mm256_fmadd_ps(b, w.lo, lo);
        hi = _mm256_fmadd_ps(b, w.hi, hi);
    }
    // Keeps the values in registers: GCC would fold each use into its FMA as a memory operand (on the 3x3 forward
    // tile: 12 loads per tap instead of 2).
    void pin() { __asm__("" : "+x"(lo), "+x"(hi)); }
};
#endif

// Whether the broadcast kernels can compute this convolution: stride 1, square 3x3 or 5x5 windows, filters in
// blocks of 16 and at least 16 input channels (below that the taps are too few to hide the tile's stores).
// conv2d_fast.hpp decides where they pay (on 3x3 windows, only where Winograd does not).
inline bool broadcast_conv_applies(const ConvGeometry& g) {
    return g.stride_h == 1 && g.stride_w == 1 && g.KH == g.KW && (g.KW == 3 || g.KW == 5) &&
           g.K % broadcast_filter_block == 0 && g.C >= 16;
}

// The same kernel at stride 2 on 3x3 windows (the down-sampling layers of residual nets): a tile's PIX pixels read
// every other input column. It always reads the padded copy (no tap is left out at compile time).
inline bool broadcast_stride2_applies(const ConvGeometry& g) {
    return g.stride_h == 2 && g.stride_w == 2 && g.KH == 3 && g.KW == 3 && g.K % broadcast_filter_block == 0 &&
           g.C >= 16;
}

// Filter blocks [b0, b1) of the packed weights (K/16, C*KH*KW, 16), block b at packed + (b - b0) * C*KH*KW * 16,
// for backward-data (see pack_broadcast_blocks). Per input
// channel c, a block's 16 filters are 16 x KK contiguous originals (filter, tap), stored as KK x 16 with the taps
// reversed, written from the last tap backwards (a negative row stride). With AVX-512, 16 filters x 16 taps at a
// time are transposed in registers (the rows KK apart, so that the last group reads up to 15 floats past the
// chunk: not on the weights' last chunk); otherwise, and on that chunk, 8 filters x 8 taps at a time, the
// remaining taps one by one. Channels outermost, so that the originals are read in order.
inline void pack_flipped_broadcast_blocks(const ConvGeometry& g, const float* weight, float* packed, int b0, int b1) {
    constexpr int F = broadcast_filter_block;
    const int R = g.patch_size(), KK = g.KH * g.KW;
    int rows[8];
    for (int i = 0; i < 8; ++i) rows[i] = i * KK;
    for (int c = 0; c < g.C; ++c)
        for (int b = b0; b < b1; ++b) {
            const float* src = weight + (static_cast<std::size_t>(c) * g.K + b * F) * KK;
            float* dst = packed + static_cast<std::size_t>(b - b0) * R * F + static_cast<std::size_t>(c) * KK * F;
#if DEEPCNN_ISA_AVX512
            if (c + 1 < g.C || (b + 1) * F < g.K) {
                if (KK == 9) {  // 3x3 windows, with the sizes known to the compiler
                    transpose_16x16(src, 9, dst + 8 * F, -F, 9);
                } else {
                    for (int tap = 0; tap < KK; tap += 16)
                        transpose_16x16(src + tap, KK, dst + (KK - 1 - tap) * F, -F, std::min(16, KK - tap));
                }
                continue;
            }
#endif
            for (int half = 0; half < F; half += 8, src += 8 * KK) {
                int tap = 0;
                for (; tap + 8 <= KK; tap += 8)
                    transpose_8x8(src + tap, rows, dst + (KK - 1 - tap) * F + half, -F);
                for (; tap < KK; ++tap)
                    for (int i = 0; i < 8; ++i) dst[(KK - 1 - tap) * F + half + i] = src[rows[i] + tap];
            }
        }
}

// Filter blocks [b0, b1) of the packed weights (K/16, C*KH*KW, 16), block b at packed + (b - b0) * C*KH*KW * 16,
// from weight (K, C, KH, KW); with `flipped`, from the
// weight of the convolution this one is the backward-data of: original (C, K, KH, KW) read as w'(k, c, kh, kw) =
// original(c, k, KH-1-kh, KW-1-kw).
inline void pack_broadcast_blocks(const ConvGeometry& g, const float* weight, bool flipped, float* packed, int b0,
                                  int b1) {
    if (flipped) {
        pack_flipped_broadcast_blocks(g, weight, packed, b0, b1);
        return;
    }
    // 16 filters x 8 taps at a time, as two 8x8 register transposes that fill whole rows of the block
    constexpr int F = broadcast_filter_block;
    const int R = g.patch_size();
    for (int b = b0; b < b1; ++b) {
        float* block = packed + static_cast<std::size_t>(b - b0) * R * F;
        int rows[F];
        for (int f = 0; f < F; ++f) rows[f] = (b * F + f) * R;
        int r = 0;
        for (; r + 8 <= R; r += 8) {
            transpose_8x8(weight + r, rows, block + r * F, F);
            transpose_8x8(weight + r, rows + 8, block + r * F + 8, F);
        }
        for (; r < R; ++r)
            for (int f = 0; f < F; ++f) block[r * F + f] = weight[rows[f] + r];
    }
}

// tile (NB, PIX, 16) = bias16 [or 0] + sum over taps of image[at + (c, kh, kw + S i)] x packed[(c, kh, kw)][f], for
// NB filter blocks (block j's bias at bias16 + 16 j, its packed weights at packed + j * block_scalars), where
// `at` is the index of the tile's first input pixel in `image` (planes `plane` apart, rows Wp apart). Only kernel
// rows [kh0, kh1) are summed (the others read padding rows). On a row's first tile with a left padding of KW / 2
// (LEFT), and its last, whole tile with a right padding of KW / 2 (RIGHT), the taps that read padding columns are
// left out at compile time. Reads PIX + KW - 1 values of each window row, fewer on LEFT and RIGHT tiles: a tile
// that is both reads only the image's own pixels, so `image` may then be unpadded and `at` negative (indices are
// summed before they are added to the pointer, which only ever points into the image). With ROW > 0 the tile is two
// output rows of ROW = PIX / 2 pixels: pixels ROW.. read `row_skip` further (the second row's start less ROW).
template <int NB, int PIX, int KW, bool LEFT, bool RIGHT, int S = 1, int ROW = 0>
inline void broadcast_conv_tile(int C, int KH, int kh0, int kh1, int plane, int Wp, const float* image,
                                std::ptrdiff_t at, const float* packed, std::size_t block_scalars,
                                const float* bias16, float* tile, std::ptrdiff_t row_skip = 0) {
    static_assert(ROW == 0 || (2 * ROW == PIX && !LEFT && !RIGHT), "a two-row tile reads the padded copy");
    constexpr int half = KW / 2;
    Lanes16 acc[NB][PIX];
#pragma GCC unroll 2
    for (int j = 0; j < NB; ++j) {
        const Lanes16 bias = bias16 ? Lanes16::load(bias16 + 16 * j) : Lanes16::zero();
#pragma GCC unroll 12
        for (int i = 0; i < PIX; ++i) acc[j][i] = bias;
    }
    // The KW taps of kernel row `row` (its index in `image`), their weights at `taps`.
    const auto kernel_row = [&](std::ptrdiff_t row, const float* taps) {
#pragma GCC unroll 5
        for (int kw = 0; kw < KW; ++kw) {
            Lanes16 w[NB];
#pragma GCC unroll 2
            for (int j = 0; j < NB; ++j) w[j] = Lanes16::load(taps + j * block_scalars + kw * 16);
#if !DEEPCNN_ISA_AVX512
            w[0].pin();
#endif
            // Hidden from the compiler, so that it does not keep the broadcasts one tap shares with the next
            // in registers (it spilled accumulators for them).
            std::ptrdiff_t window = row + kw;
            __asm__("" : "+r"(window));
            std::ptrdiff_t second = window + row_skip;  // the second row's window (ROW > 0)
            if (ROW > 0) __asm__("" : "+r"(second));
#pragma GCC unroll 12
            for (int i = 0; i < PIX; ++i) {
                if ((LEFT && i + kw < half) || (RIGHT && i + kw >= PIX + half)) continue;
                const std::ptrdiff_t pixel = (ROW > 0 && i >= ROW) ? second + S * i : window + S * i;
                if constexpr (NB == 1) {
                    acc[0][i].fma(image + pixel, w[0]);
                } else {
                    // One broadcast for the NB blocks. Only the AVX-512 Lanes16 (NB > 1) has broadcast: the name
                    // depends on NB, so that the AVX2 build does not look it up.
                    using Broadcast = std::conditional_t<NB == 1, void, Lanes16>;
                    Broadcast x = Broadcast::broadcast(image + pixel);
                    x.pin();
#pragma GCC unroll 2
                    for (int j = 0; j < NB; ++j) acc[j][i].fma(x, w[j]);
                }
            }
        }
    };
    const std::size_t channel_taps = static_cast<std::size_t>(KH) * KW * 16;
    // Where a tile reads every kernel row, with plain AVX2 the rows are unrolled: a probe of the 3x3 tile alone
    // (data in L1, Zen 3) ran at 87-91 GFLOP/s against 75-80 with the loop over rows. The AVX-512 tile keeps the
    // loop it was measured with.
#if DEEPCNN_ISA_AVX512
    constexpr bool unroll_rows = false;
#else
    constexpr bool unroll_rows = true;
#endif
    if (unroll_rows && KH == KW && kh0 == 0 && kh1 == KW) {
        for (int c = 0; c < C; ++c, at += plane, packed += channel_taps)
#pragma GCC unroll 5
            for (int kh = 0; kh < KW; ++kh)
                kernel_row(at + static_cast<std::ptrdiff_t>(kh) * Wp, packed + static_cast<std::size_t>(kh) * KW * 16);
    } else {
        for (int c = 0; c < C; ++c, at += plane, packed += channel_taps)
            for (int kh = kh0; kh < kh1; ++kh)
                kernel_row(at + static_cast<std::ptrdiff_t>(kh) * Wp, packed + static_cast<std::size_t>(kh) * KW * 16);
    }
#pragma GCC unroll 2
    for (int j = 0; j < NB; ++j)
#pragma GCC unroll 12
        for (int i = 0; i < PIX; ++i) acc[j][i].store(tile + (j * PIX + i) * 16);
}

#if DEEPCNN_ISA_AVX512
// out[f * P + i] = tile[i * 16 + f] (with `relu`, max(., 0): 0 for NaN and -0, as the ReLU layer) for the tile's
// first n of its broadcast_tile_pixels pixels and its 16 filters: one block of a tile stored into the NCHW output,
// transposed in registers (the scalar copy it replaces took about a tenth of fer conv2's forward on the Xeon 6/207).
inline void store_broadcast_tile(const float* tile, int n, float* out, std::size_t P, bool relu) {
    constexpr int PIX = broadcast_tile_pixels;
    static_assert(PIX <= 16, "a tile's pixels fit one zmm");
    __m512 r[16];
    for (int i = 0; i < PIX; ++i) r[i] = _mm512_load_ps(tile + i * 16);
    for (int i = PIX; i < 16; ++i) r[i] = _mm512_setzero_ps();
    transpose_16x16_in_registers(r);
    const __mmask16 valid = static_cast<__mmask16>((1u << n) - 1);
    const __m512 zero = _mm512_setzero_ps();
    for (int f = 0; f < 16; ++f) {
        // max_ps returns its second operand where either is NaN, and where both are zeros
        const __m512 v = relu ? _mm512_max_ps(r[f], zero) : r[f];
        _mm512_mask_storeu_ps(out + f * P, valid, v);
    }
}
#endif

// One image as the broadcast kernels read it: padded row r, column q at data[origin + r * Wp + q], planes `plane`
// apart. Either the padded copy (origin 0) or, where no tile reads padding (broadcast_reads_only_image), the image
// itself, unpadded (origin -(pad_top * W + pad_left)).
struct BroadcastImage {
    const float* data = nullptr;
    std::ptrdiff_t origin = 0;
    int plane = 0, Wp = 0;
};

// Whether the rows of broadcast_conv_rows are whole tiles, with a padding of KW / 2 on either side: the taps that
// read padding columns, all on a row's first and last tile, are then left out (and padding rows always are), the
// tiles between read the image's own columns, and the kernel reads the image unpadded: no copy is made (on fer conv2
// at batch 1 on 2 threads, the copy each thread made was 4% of the net's inference).
inline bool broadcast_reads_only_image(const ConvGeometry& g) {
    const int half = g.KW / 2;
    return g.stride_w == 1 && g.OW % broadcast_tile_pixels == 0 && g.pad_left == half &&
           g.pad_left + g.W - g.OW == half;
}

// Filter blocks [b0, b1) of output rows [oh0, oh1) of one image, their packed weights at `packed` (block b at packed +
// (b - b0) * C*KH*KW * 16): y (K, OH, OW) = conv + bias [bias may be null], with `relu` max(., 0), row by row (rows
// of half a tile two at a time). A row's last tile may be partial: it computes PIX pixels (reading past the row into
// the next one, or the slack) and stores the valid ones. Kernel rows and (stride 1, with a padding of KW / 2 on a
// side) columns that read only padding are skipped. S: the stride (1, or 2 on the padded copy).
template <int KW, int S = 1>
void broadcast_conv_rows(const ConvGeometry& g, const BroadcastImage& image, const float* packed,
                         const float* bias, float* y, int b0, int b1, bool relu, int oh0, int oh1) {
    constexpr int PIX = broadcast_tile_pixels, F = broadcast_filter_block, NB = broadcast_tile_blocks;
    const int R = g.patch_size(), P = g.out_pixels(), plane = image.plane;
    const std::size_t block_scalars = static_cast<std::size_t>(R) * F;
    const bool left_pad = S == 1 && g.pad_left == KW / 2;
    const bool right_pad = S == 1 && g.pad_left + g.W - g.OW == KW / 2;  // with stride 1: padding past the last window
    alignas(64) float tile[NB * PIX * F];
    // Rows of PIX / 2 pixels (on the padded copy, never read unpadded: PIX does not divide them) are computed two
    // at a time, one tile for both, where a tile per row would compute half its pixels for nothing.
    const bool pairs = S == 1 && 2 * g.OW == PIX;
    // The tile's n pixels (from output row oh, column ow, and on into the next row) into y.
    const auto store = [&](int b, int n_blocks, int oh, int ow, int n) {
        for (int j = 0; j < n_blocks; ++j) {
            float* out = y + static_cast<std::size_t>(b + j) * F * P + static_cast<std::size_t>(oh) * g.OW + ow;
            const float* t = tile + j * PIX * F;
#if DEEPCNN_ISA_AVX512
            store_broadcast_tile(t, n, out, P, relu);
#else
            if (relu) {
                for (int f = 0; f < F; ++f, out += P)
                    for (int i = 0; i < n; ++i) out[i] = t[i * F + f] > 0.0f ? t[i * F + f] : 0.0f;
            } else {
                for (int f = 0; f < F; ++f, out += P)
                    for (int i = 0; i < n; ++i) out[i] = t[i * F + f];
            }
#endif
        }
    };
    // Blocks [b, b + nb) of every row, nb = NB (or 1 for the last odd one).
    const auto blocks = [&](int b, auto nb) {
        constexpr int n_blocks = decltype(nb)::value;
        const float* block = packed + (b - b0) * block_scalars;
        const float* bias16 = bias ? bias + b * F : nullptr;
        const int C = g.C, KH = g.KH, Wp = image.Wp;
        const float* in = image.data;
        for (int oh = oh0; oh < oh1; ++oh) {
            if (pairs && oh + 1 < oh1) {  // rows oh and oh + 1: the kernel rows either reads
                const int kh0 = std::max(0, g.pad_top - oh - 1), kh1 = std::min(KH, g.pad_top + g.H - oh);
                const std::ptrdiff_t at = image.origin + static_cast<std::ptrdiff_t>(oh) * Wp;
                broadcast_conv_tile<n_blocks, PIX, KW, false, false, 1, PIX / 2>(
                    C, KH, kh0, kh1, plane, Wp, in, at, block, block_scalars, bias16, tile, Wp - g.OW);
                store(b, n_blocks, oh, 0, PIX);
                ++oh;
                continue;
            }
            const int kh0 = std::max(0, g.pad_top - S * oh), kh1 = std::min(g.KH, g.pad_top + g.H - S * oh);
            for (int ow = 0; ow < g.OW; ow += PIX) {
                const int n = std::min(PIX, g.OW - ow);
                const std::ptrdiff_t at = image.origin + static_cast<std::ptrdiff_t>(S * oh) * image.Wp + S * ow;
                const bool left = left_pad && ow == 0, right = right_pad && n == PIX && ow + PIX == g.OW;
                if (left && right) {
                    broadcast_conv_tile<n_blocks, PIX, KW, true, true, S>(C, KH, kh0, kh1, plane, Wp, in, at, block,
                                                                       block_scalars, bias16, tile);
                } else if (left) {
                    broadcast_conv_tile<n_blocks, PIX, KW, true, false, S>(C, KH, kh0, kh1, plane, Wp, in, at, block,
                                                                        block_scalars, bias16, tile);
                } else if (right) {
                    broadcast_conv_tile<n_blocks, PIX, KW, false, true, S>(C, KH, kh0, kh1, plane, Wp, in, at, block,
                                                                        block_scalars, bias16, tile);
                } else {
                    broadcast_conv_tile<n_blocks, PIX, KW, false, false, S>(C, KH, kh0, kh1, plane, Wp, in, at, block,
                                                                         block_scalars, bias16, tile);
                }
                store(b, n_blocks, oh, ow, n);
            }
        }
    };
    int b = b0;
    for (; b + NB <= b1; b += NB) blocks(b, std::integral_constant<int, NB>{});
    for (; b < b1; ++b) blocks(b, std::integral_constant<int, 1>{});
}

// Whether broadcast_conv splits the output rows of each image between the threads: a batch smaller than the pool,
// with too few filter blocks to give every thread a whole tile's worth (broadcast_tile_blocks), which the split by
// blocks would leave to the one-block tile (fer conv2 at batch 1 on 2 threads, 32 filters: forward 0.20 -> 0.15 ms
// on the Xeon 6/207). Every output is computed by the same tile either way.
inline bool broadcast_splits_rows(const ConvGeometry& g, int N, int threads) {
    return N < threads && g.K / broadcast_filter_block < broadcast_tile_blocks * threads && g.OH >= threads;
}

// y (N, K, OH, OW) = conv(x, weight) + bias [bias may be null] (with `relu`, then max(y, 0)) for a batch, the weights
// packed (flipped when `flipped`, see pack_broadcast_blocks) into `packed` (K * C*KH*KW scalars). Threads split the
// images when the batch fills the pool (the weights packed first, split by filter blocks where they are many);
// otherwise they split the output rows where the filter blocks are too few (broadcast_splits_rows; the weights packed
// first, as for the images), else the filter blocks, each packing its own and computing them on every image (one pass,
// no output line written by two threads). With a single image, each thread computes its blocks a tile's blocks at a
// time, packed just before into its own scratch, where they stay in its L2 (packing all of them first, into the shared
// `packed`, measured 1.19-1.25x slower for backward-data at batch 1 on 2 threads on the 12x12 layers; on one thread
// packing first is faster, 0.92-0.96x the other way). Each thread pads images into its own part of `workspace`
// (thread_scalars each: padded_layout(g).size, then the scratch of gemm_workspace_size()). With `prepacked` (K *
// C*KH*KW scalars, as pack_broadcast_blocks writes all the blocks) nothing is packed: every block is read from there.
inline void broadcast_conv(const ConvGeometry& g, int N, const float* x, const float* weight, bool flipped,
                           const float* bias, float* y, float* packed, float* workspace, std::size_t thread_scalars,
                           ThreadPool* pool, bool relu = false, const float* prepacked = nullptr) {
    constexpr int NB = broadcast_tile_blocks;
    const PaddedLayout l = padded_layout(g);
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.OH * g.OW;
    const std::size_t block_scalars = static_cast<std::size_t>(g.patch_size()) * broadcast_filter_block;
    const std::size_t xp_scalars = (l.size + 15) / 16 * 16;
    const int threads = pool ? pool->size() : 1, blocks = g.K / broadcast_filter_block;
    const bool by_rows = broadcast_splits_rows(g, N, threads);
    // else for_each_padded_image's split: the images, or each image's blocks
    const bool by_blocks = N < threads && !by_rows;
    const bool tile_by_tile =
        !prepacked && by_blocks && N == 1 && NB * block_scalars <= gemm_workspace_size<float>();
    if (!by_blocks && !prepacked) {
        const int pack_threads = std::min(threads, static_cast<long>(g.K) * g.patch_size() >= 262144 ? blocks : 1);
        pool_run(pool, pack_threads, [&](int t) {
            int b0 = 0, b1 = 0;
            split_range(blocks, pack_threads, t, 1, b0, b1);
            pack_broadcast_blocks(g, weight, flipped, packed + b0 * block_scalars, b0, b1);
        });
    }
    const auto conv_rows = [&](const BroadcastImage& image, const float* blocks_packed, int n, int b0, int b1,
                               int oh0, int oh1) {
        if (g.stride_w == 2) {
            broadcast_conv_rows<3, 2>(g, image, blocks_packed, bias, y + n * out_size, b0, b1, relu, oh0, oh1);
        } else if (g.KW == 3) {
            broadcast_conv_rows<3>(g, image, blocks_packed, bias, y + n * out_size, b0, b1, relu, oh0, oh1);
        } else {
            broadcast_conv_rows<5>(g, image, blocks_packed, bias, y + n * out_size, b0, b1, relu, oh0, oh1);
        }
    };
    const auto conv_blocks = [&](const BroadcastImage& image, const float* blocks_packed, int n, int b0, int b1) {
        conv_rows(image, blocks_packed, n, b0, b1, 0, g.OH);
    };
    const bool reads_only_image = broadcast_reads_only_image(g);
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const std::ptrdiff_t unpadded_origin = -(static_cast<std::ptrdiff_t>(g.pad_top) * g.W + g.pad_left);
    if (by_rows) {
        const float* all_packed = prepacked ? prepacked : packed;
        pool_run(pool, threads, [&](int t) {
            int oh0 = 0, oh1 = 0;
            split_range(g.OH, threads, t, 1, oh0, oh1);
            if (oh0 == oh1) return;
            float* xp = workspace + static_cast<std::size_t>(t) * thread_scalars;
            for (int n = 0; n < N; ++n) {
                if (reads_only_image) {
                    conv_rows({x + n * in_size, unpadded_origin, g.H * g.W, g.W}, all_packed, n, 0, blocks, oh0, oh1);
                } else {
                    pad_image(g, l, x + n * in_size, xp);
                    conv_rows({xp, 0, l.Hp * l.Wp, l.Wp}, all_packed, n, 0, blocks, oh0, oh1);
                }
            }
        });
        return;
    }
    const auto conv_image = [&](const BroadcastImage& image, float* scratch, int n, int b0, int b1) {
        if (tile_by_tile) {
            for (int b = b0; b < b1; b += NB) {
                const int e = std::min(b1, b + NB);
                pack_broadcast_blocks(g, weight, flipped, scratch, b, e);
                conv_blocks(image, scratch, n, b, e);
            }
            return;
        }
        if (prepacked) {
            conv_blocks(image, prepacked + b0 * block_scalars, n, b0, b1);
            return;
        }
        if (by_blocks && n == 0) pack_broadcast_blocks(g, weight, flipped, packed + b0 * block_scalars, b0, b1);
        conv_blocks(image, packed + b0 * block_scalars, n, b0, b1);
    };
    if (reads_only_image) {
        for_each_image_part(N, pool, blocks, 1, [&](int t, int n, int b0, int b1) {
            float* scratch = workspace + static_cast<std::size_t>(t) * thread_scalars + xp_scalars;
            conv_image({x + n * in_size, unpadded_origin, g.H * g.W, g.W}, scratch, n, b0, b1);
        });
        return;
    }
    for_each_padded_image(g, N, x, workspace, thread_scalars, pool, blocks, 1,
                          [&](float* xp, int n, int b0, int b1) {
                              conv_image({xp, 0, l.Hp * l.Wp, l.Wp}, xp + xp_scalars, n, b0, b1);
                          });
}

// Backward-data of a stride-2 3x3 convolution by broadcast: its blocks of 16 are input channels and it sums over
// the K filters, so it takes C % 16 == 0 and K >= 16. dx pixel (h, w) reads only the taps whose dy pixel exists,
// ((h + pad_top - kh) / 2, (w + pad_left - kw) / 2) with both numerators even: kernel rows 2 and 0 (dy rows r - 1
// and r, r = (h + pad_top) / 2) where h + pad_top is even, row 1 (dy row (h + pad_top - 1) / 2) where it is odd;
// so the columns. The pixels of a row whose w + pad_left has one parity (a phase) read consecutive dy columns: each
// phase is a stride-1 convolution of dy with a 2x2, 2x1, 1x2 or 1x1 part of the window, which broadcast_conv_tile
// computes on the padded dy (stride2_gradient_geometry) against that part's weights, packed per phase as
// (C/16, K*KHp*KWp, 16). No multiplication by zero, where a dilated dy would waste three in four.
inline bool broadcast_stride2_data_applies(const ConvGeometry& g) {
    return g.stride_h == 2 && g.stride_w == 2 && g.KH == 3 && g.KW == 3 && g.C % broadcast_filter_block == 0 &&
           g.K >= 16;
}

// The part's kernel rows (or columns) for numerators of parity p: i = 0, 1 -> 2, 0 where p is even; 1 where odd.
inline int stride2_taps(int parity) { return parity == 0 ? 2 : 1; }
inline int stride2_tap(int parity, int i) { return parity == 0 ? 2 - 2 * i : 1; }

// Where phase (pr, pc)'s packed part starts: parts (0, 0), (0, 1), (1, 0), (1, 1) of 4, 2, 2 and 1 K*C scalars.
inline std::size_t stride2_part_offset(const ConvGeometry& g, int pr, int pc) {
    static constexpr int before[2][2] = {{0, 4}, {6, 8}};
    return static_cast<std::size_t>(before[pr][pc]) * g.K * g.C;
}

// Phase (pr, pc)'s part for channel blocks [b0, b1): block b at part + b * K*KHp*KWp*16, holding
// [k][i][j][f] = weight(k, 16 b + f, stride2_tap(pr, i), stride2_tap(pc, j)).
inline void pack_stride2_part(const ConvGeometry& g, const float* weight, int pr, int pc, float* part, int b0, int b1) {
    constexpr int F = broadcast_filter_block;
    const int KHp = stride2_taps(pr), KWp = stride2_taps(pc);
    const std::size_t block_scalars = static_cast<std::size_t>(g.K) * KHp * KWp * F;
    for (int b = b0; b < b1; ++b)
        for (int k = 0; k < g.K; ++k)
            for (int i = 0; i < KHp; ++i)
                for (int j = 0; j < KWp; ++j) {
                    float* out = part + b * block_scalars + ((static_cast<std::size_t>(k) * KHp + i) * KWp + j) * F;
                    const float* w = weight + (static_cast<std::size_t>(k) * g.C + b * F) * 9 +
                                     stride2_tap(pr, i) * 3 + stride2_tap(pc, j);
                    for (int f = 0; f < F; ++f) out[f] = w[static_cast<std::size_t>(f) * 9];
                }
}

// dx (N, C, H, W) of a stride-2 3x3 convolution (broadcast_stride2_data_applies) from dy and weight (K, C, 3, 3),
// the four parts packed into `packed` (9 K C scalars; threads split the channel blocks), then per image (or, below
// a batch per thread, per image and block range) dy padded into the thread's part of `workspace` and every dx row
// computed phase by phase, tile by tile, each dx pixel written once.
inline void broadcast_stride2_backward_data(const ConvGeometry& g, int N, const float* dy, const float* weight,
                                            float* dx, float* packed, float* workspace, std::size_t thread_scalars,
                                            ThreadPool* pool) {
    constexpr int PIX = broadcast_tile_pixels, F = broadcast_filter_block, NB = broadcast_tile_blocks;
    const int blocks = g.C / F, threads = pool ? pool->size() : 1;
    pool_run(pool, threads, [&](int t) {
        int b0 = 0, b1 = 0;
        split_range(blocks, threads, t, 1, b0, b1);
        for (int pr = 0; pr < 2; ++pr)
            for (int pc = 0; pc < 2; ++pc)
                pack_stride2_part(g, weight, pr, pc, packed + stride2_part_offset(g, pr, pc), b0, b1);
    });
    const ConvGeometry t = stride2_gradient_geometry(g);
    const PaddedLayout l = padded_layout(t);
    const int plane = l.Hp * l.Wp;
    const std::size_t in_plane = static_cast<std::size_t>(g.H) * g.W;
    for_each_padded_image(t, N, dy, workspace, thread_scalars, pool, blocks, 1, [&](float* dyp, int n, int b0, int b1) {
        alignas(64) float tile[NB * PIX * F];
        float* dxn = dx + n * g.C * in_plane;
        for (int h = 0; h < g.H; ++h) {
            const int a = h + g.pad_top, pr = a % 2, KHp = stride2_taps(pr);
            const int top = pr == 0 ? a / 2 - 1 : (a - 1) / 2;  // the dy row of the part's row 0
            for (int pc = 0; pc < 2; ++pc) {
                const int w0 = (pc + g.pad_left) % 2, count = (g.W - w0 + 1) / 2;  // the phase's first w, its pixels
                const float* part = packed + stride2_part_offset(g, pr, pc);
                const std::size_t block_scalars = static_cast<std::size_t>(g.K) * KHp * stride2_taps(pc) * F;
                for (int q0 = 0; q0 < count; q0 += PIX) {
                    const int pixels = std::min(PIX, count - q0), b = w0 + 2 * q0 + g.pad_left;
                    const int left = pc == 0 ? b / 2 - 1 : (b - 1) / 2;  // the dy column of the part's column 0
                    const std::ptrdiff_t at = static_cast<std::ptrdiff_t>(top + 1) * l.Wp + left + 1;
                    for (int blk = b0; blk < b1; blk += NB) {
                        const int nb = std::min(NB, b1 - blk);
                        const float* weights = part + blk * block_scalars;
                        const auto run = [&](auto blocks_c, auto kw_c) {
                            broadcast_conv_tile<decltype(blocks_c)::value, PIX, decltype(kw_c)::value, false, false>(
                                g.K, KHp, 0, KHp, plane, l.Wp, dyp, at, weights, block_scalars, nullptr, tile);
                        };
                        using One = std::integral_constant<int, 1>;
                        using Two = std::integral_constant<int, 2>;
                        using All = std::integral_constant<int, NB>;
                        if (nb == NB) {
                            if (pc == 0) run(All{}, Two{}); else run(All{}, One{});
                        } else {
                            if (pc == 0) run(One{}, Two{}); else run(One{}, One{});
                        }
                        for (int j = 0; j < nb; ++j)
                            for (int f = 0; f < F; ++f) {
                                float* row = dxn + (static_cast<std::size_t>(blk + j) * F + f) * in_plane +
                                             static_cast<std::size_t>(h) * g.W + w0 + 2 * q0;
                                const float* v = tile + (j * PIX) * F + f;
                                for (int i = 0; i < pixels; ++i) row[2 * i] = v[i * F];
                            }
                    }
                }
            }
        }
    });
}

// Backward-weights by broadcast, for the 5x5 layers: dweight(k, c, kh, kw) = sum over images and pixels of
// dy(k, p) x xp(c, p + (kh, kw)). A tile holds one kernel row kh of ROWS channels: their KW taps (ROWS * KW values
// of the input, broadcast) times 16 filters (dy of one pixel, from dyb, the block's dy transposed to (P, 16)). It
// runs over the output pixels in order and adds onto the sums (KW, 16) of channel i's row at sums + i *
// row_stride, in dwp, the gradient in the packed layout (K/16, C*KH*KW, 16). row[i] points at the padded image
// where channel i's row kh reads for output pixel (0, 0).
// The terms that read padding are left out: output rows outside [oh0, oh1) (where row kh reads a padding row),
// and on columns outside [ow0, ow1) the taps kw whose input column ow + kw - pad_left is outside [0, W).
template <int ROWS, int KW>
inline void broadcast_weights_tile(int oh0, int oh1, int ow0, int ow1, const ConvGeometry& g, int Wp,
                                   const float* const* row, const float* dyb, float* sums, int row_stride) {
    Lanes16 acc[ROWS * KW];
#pragma GCC unroll 12
    for (int t = 0; t < ROWS * KW; ++t) acc[t] = Lanes16::load(sums + (t / KW) * row_stride + (t % KW) * 16);
    const auto edge_pixel = [&](const float* const* in, int ow, const Lanes16& d) {
#pragma GCC unroll 4
        for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 5
            for (int kw = 0; kw < KW; ++kw) {
                const int column = ow + kw - g.pad_left;
                if (column >= 0 && column < g.W) acc[i * KW + kw].fma(in[i] + ow + kw, d);
            }
    };
    for (int oh = oh0; oh < oh1; ++oh) {
        const float* in[ROWS];
#pragma GCC unroll 4
        for (int i = 0; i < ROWS; ++i) in[i] = row[i] + static_cast<std::size_t>(oh) * Wp;
        const float* d_row = dyb + static_cast<std::size_t>(oh) * g.OW * 16;
        for (int ow = 0; ow < ow0; ++ow) edge_pixel(in, ow, Lanes16::load(d_row + ow * 16));
        for (int ow = ow0; ow < ow1; ++ow) {
            const Lanes16 d = Lanes16::load(d_row + ow * 16);
#pragma GCC unroll 4
            for (int i = 0; i < ROWS; ++i)
#pragma GCC unroll 5
                for (int kw = 0; kw < KW; ++kw) acc[i * KW + kw].fma(in[i] + ow + kw, d);
        }
        for (int ow = ow1; ow < g.OW; ++ow) edge_pixel(in, ow, Lanes16::load(d_row + ow * 16));
    }
#pragma GCC unroll 12
    for (int t = 0; t < ROWS * KW; ++t) acc[t].store(sums + (t / KW) * row_stride + (t % KW) * 16);
}

// Channels per work item of broadcast_backward_weights, the tile's ROWS, for windows KW wide: with AVX-512 2 on 5x5
// and 4 on 3x3, so that the tile's 10 or 12 accumulators (ROWS * KW) keep both FMA pipes busy through their
// latency; with plain AVX2 (a Lanes16 in two ymm) 1 and 2, 10 and 12 of the 16 ymm registers.
template <int KW>
constexpr int broadcast_weights_rows() {
    return (DEEPCNN_ISA_AVX512 ? 2 : 1) * (KW == 3 ? 2 : 1);
}
constexpr int broadcast_weights_max_rows = broadcast_weights_rows<3>();
inline int broadcast_weights_channels(int KW) {
    return KW == 3 ? broadcast_weights_rows<3>() : broadcast_weights_rows<5>();
}

// One work item: the sums of `count` channels from row[0]'s on (all their kernel rows) for one filter block,
// at sums; a tile per kernel row, each over the output rows and columns where it reads the image.
template <int KW>
inline void broadcast_weights_item(int count, const ConvGeometry& g, const PaddedLayout& l, const float* const* row,
                                   const float* dyb, float* sums) {
    constexpr int ROWS = broadcast_weights_rows<KW>();
    // the pixels where every tap of a kernel row reads inside the image
    const int ow0 = std::min(g.OW, g.pad_left);
    const int ow1 = std::max(ow0, std::min(g.OW, g.W + g.pad_left - (KW - 1)));
    const int row_stride = g.KH * KW * broadcast_filter_block;
    for (int kh = 0; kh < g.KH; ++kh) {
        const int oh0 = std::min(g.OH, std::max(0, g.pad_top - kh));
        const int oh1 = std::max(oh0, std::min(g.OH, g.H + g.pad_top - kh));
        const float* rows[ROWS];
        for (int i = 0; i < count; ++i) rows[i] = row[i] + kh * l.Wp;
        float* row_sums = sums + kh * KW * broadcast_filter_block;
        if (count == ROWS) {
            broadcast_weights_tile<ROWS, KW>(oh0, oh1, ow0, ow1, g, l.Wp, rows, dyb, row_sums, row_stride);
        } else {
            for (int i = 0; i < count; ++i)
                broadcast_weights_tile<1, KW>(oh0, oh1, ow0, ow1, g, l.Wp, rows + i, dyb, row_sums + i * row_stride,
                                              row_stride);
        }
    }
}

// Scalars of the per-thread workspace of broadcast_backward_weights past the padded image: one block's dy
// transposed, (P, 16).
inline std::size_t broadcast_weights_dy_scalars(const ConvGeometry& g) {
    return static_cast<std::size_t>(g.out_pixels()) * broadcast_filter_block;
}

// dweight (K, C, KH, KW) = sum over the batch for a layer broadcast_conv_applies to; dwp: K*R scalars for the
// packed sums, shared. Work items are (filter block, broadcast_weights_channels channels), the last item of a
// block taking the channels left; threads split them in order, and each sums every image in order into its own
// items, so results do not depend on the thread count. Per image a thread pads the input and transposes the dy
// of each filter block it has items in. `workspace`: thread_scalars per thread, at least the padded image plus
// broadcast_weights_dy_scalars(g).
inline void broadcast_backward_weights(const ConvGeometry& g, int N, const float* x, const float* dy, float* dweight,
                                       float* dwp, float* workspace, std::size_t thread_scalars, ThreadPool* pool) {
    constexpr int F = broadcast_filter_block;
    const int threads = pool ? pool->size() : 1;
    const PaddedLayout l = padded_layout(g);
    const int channels = broadcast_weights_channels(g.KW);
    const int R = g.patch_size(), P = g.out_pixels(), KK = g.KH * g.KW;
    const int groups = (g.C + channels - 1) / channels;  // items per filter block
    const int blocks = g.K / F, items = blocks * groups;
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const std::size_t xp_scalars = (l.size + 15) / 16 * 16;
    pool_run(pool, threads, [&](int t) {
        int begin = 0, end = 0;
        split_range(items, threads, t, 1, begin, end);
        if (begin == end) return;
        float* xp = workspace + static_cast<std::size_t>(t) * thread_scalars;
        float* dyb = xp + xp_scalars;
        // An item's channels [c0, c1), their patch rows [r0, r1) and their sums in dwp.
        struct Taps {
            int b, c0, c1, r0, r1;
            float* sums;
        };
        const auto taps = [&](int item) {
            const int b = item / groups, c0 = channels * (item % groups), c1 = std::min(g.C, c0 + channels);
            return Taps{b, c0, c1, c0 * KK, c1 * KK, dwp + (static_cast<std::size_t>(b) * R + c0 * KK) * F};
        };
        for (int item = begin; item < end; ++item) {
            const Taps it = taps(item);
            std::fill(it.sums, it.sums + static_cast<std::size_t>(it.r1 - it.r0) * F, 0.0f);
        }
        for (int n = 0; n < N; ++n) {
            pad_image(g, l, x + n * in_size, xp);
            const float* dy_n = dy + static_cast<std::size_t>(n) * g.K * P;
            for (int b = begin / groups; b <= (end - 1) / groups; ++b) {
                int idx[8];
                for (int i = 0; i < 8; ++i) idx[i] = (b * F + i) * P;
                int p = 0;
                for (; p + 8 <= P; p += 8) {
                    transpose_8x8(dy_n + p, idx, dyb + p * F, F);
                    transpose_8x8(dy_n + 8 * P + p, idx, dyb + p * F + 8, F);
                }
                for (; p < P; ++p)
                    for (int f = 0; f < F; ++f) dyb[p * F + f] = dy_n[static_cast<std::size_t>(b * F + f) * P + p];
                const int first = std::max(begin, b * groups), last = std::min(end, (b + 1) * groups);
                for (int item = first; item < last; ++item) {
                    const Taps it = taps(item);
                    const float* row[broadcast_weights_max_rows];
                    for (int c = it.c0; c < it.c1; ++c) row[c - it.c0] = xp + static_cast<std::size_t>(c) * l.Hp * l.Wp;
                    if (g.KW == 3) {
                        broadcast_weights_item<3>(it.c1 - it.c0, g, l, row, dyb, it.sums);
                    } else {
                        broadcast_weights_item<5>(it.c1 - it.c0, g, l, row, dyb, it.sums);
                    }
                }
            }
        }
        // Unpack this thread's sums: dweight(k, r) = dwp[k / 16][r][k % 16], 8 taps x 8 filters at a time
        // transposed in registers, the remaining taps one by one.
        int tap_rows[8];
        for (int i = 0; i < 8; ++i) tap_rows[i] = i * F;
        for (int item = begin; item < end; ++item) {
            const Taps it = taps(item);
            float* dw = dweight + static_cast<std::size_t>(it.b) * F * R;
            int r = it.r0;
            for (; r + 8 <= it.r1; r += 8)
                for (int half = 0; half < F; half += 8)
                    transpose_8x8(it.sums + (r - it.r0) * F + half, tap_rows,
                                  dw + static_cast<std::size_t>(half) * R + r, R);
            for (; r < it.r1; ++r)
                for (int f = 0; f < F; ++f) dw[static_cast<std::size_t>(f) * R + r] = it.sums[(r - it.r0) * F + f];
        }
    });
}
#endif

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
