// deepcnn/kernels/winograd.hpp: 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin and
// Gray, "Fast Algorithms for Convolutional Neural Networks", 2015), float with AVX2. Each 2x2 block of outputs
// (a "tile") comes from the 4x4 input window d at twice its position:
//   y_tile = A^T [ U (.) V ] A,   U = G w G^T (per filter and channel),   V = B^T d B (per channel and tile),
// so that a tile costs 16 multiplications per filter and channel instead of 36. The products summed over the
// channels are 16 GEMMs, one per position xi of the 4x4 transformed tile: M_xi (K, tiles) = U_xi (K, C) x
// V_xi (C, tiles), on the packed GEMM of gemm.hpp, into whose packed layout the forward's input transform writes
// V directly (WinogradPanelsV). The transforms run on 8 tiles of a tile row at a time.
// Rounding differs from direct convolution (a few float ulps more); tests compare with conv2d_ref.hpp.

#ifndef DEEPCNN_ISA_NS
#error "kernels/winograd.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

// The thresholds of the Winograd variants (each with the measurement behind it: CPU, and the commit that made it):
// - at least 16 channels (the reduction of each GEMM; the FER nets' 3x3 layers, 32-256 channels, were measured)
//   and 8 filters (one 8-lane group of the weight transform);
constexpr int winograd_min_channels = 16;
constexpr int winograd_min_filters = 8;
// - images of at most 1024 tiles (64 x 64 outputs), so that a chunk's transformed input and products stay a few
//   MB per thread; larger images take the implicit GEMM, which stores no more than the padded image;
constexpr long winograd_max_image_tiles = 1024;
// - at least 144 tiles in the batch for the forward (below it, winograd_forward's transforms and small GEMMs
//   cost more than they save: the 12x12 layers at batch 1, Zen 4, ff68f2d), and the chunk a thread works on;
constexpr long winograd_min_tiles = 144;
// - from 36 tiles (one 12x12 image) with 64 filters or more in whole panels, turned around
//   (winograd_transposed.hpp: forward 1.49-1.57x, backward-data 1.37-1.58x on the Zen 3, f042a2c);
constexpr long winograd_transposed_min_tiles = 36;
constexpr int winograd_transposed_min_filters = 64;
// - backward-weights on fewer than 144 tiles with 128 filters or more (Zen 5, 2a0ab24 and 13bfc9d, below);
constexpr int winograd_weights_min_filters = 128;
// - backward-weights below winograd_weight_parts images split by tile rows on images of 576 tiles or more
//   (48 x 48 outputs) with fewer than 128 filters (Zen 5, e8ead5b, at winograd_weights_by_rows).
constexpr long winograd_rows_min_image_tiles = 576;

// Where the Winograd kernels run: 3x3 windows, stride 1, float with AVX2, enough channels and filters, images of
// at most winograd_max_image_tiles.
inline bool winograd_applies(const ConvGeometry& g) {
    return DEEPCNN_ISA_AVX2 && g.KH == 3 && g.KW == 3 && g.stride_h == 1 && g.stride_w == 1 &&
           g.C >= winograd_min_channels && g.K >= winograd_min_filters &&
           static_cast<long>((g.OH + 1) / 2) * ((g.OW + 1) / 2) <= winograd_max_image_tiles;
}

// The tiles of a batch of N images.
inline long winograd_tiles(const ConvGeometry& g, int N) {
    return static_cast<long>(N) * ((g.OH + 1) / 2) * ((g.OW + 1) / 2);
}

// Whether the filters fill whole 16-wide panels of the AVX2 tile, as winograd_transposed.hpp's GEMMs need.
inline bool winograd_transposed_fits(const ConvGeometry& g) {
    return GemmBlocking::MR == 6 && g.K % GemmBlocking::NR == 0;
}

// Where the forward pays for a batch of N images: at least 144 tiles in all; or from 36 tiles (a 12x12 image)
// with at least 64 filters that fill whole panels, computed by winograd_transposed.hpp. (On fewer tiles the
// transforms and small GEMMs of winograd_forward's orientation cost more than they save: measured at batch 1 on
// the 12x12 layers.) Depends on N only, never on the thread count.
inline bool winograd_pays(const ConvGeometry& g, int N) {
    const long tiles = winograd_tiles(g, N);
    return winograd_applies(g) &&
           (tiles >= winograd_min_tiles || (winograd_transposed_fits(g) && g.K >= winograd_transposed_min_filters &&
                                            tiles >= winograd_transposed_min_tiles));
}

// Where backward-weights runs by Winograd: on at least 144 tiles, and on fewer with at least 128 filters, whose
// 16 GEMMs (K, C, tiles) are then large enough. Measured at batch 1 on the 12x12 layers (36 tiles) against the
// implicit GEMM (Zen 5, 2a0ab24 and 13bfc9d): with 256 filters 1.35-1.47x on 1 thread, 1.00-1.31x on
// 2; with 128 filters 1.10-1.33x on 1 thread and 0.99-1.15x on 2, once each thread sums into a dU of its own.
inline bool winograd_weights_pays(const ConvGeometry& g, int N) {
    return winograd_applies(g) && (winograd_tiles(g, N) >= winograd_min_tiles || g.K >= winograd_weights_min_filters);
}

// Sizes of one thread's work: the padded image (wide enough for the 8-tile loads), and a chunk of whole images
// (or of one image's tile rows) of about 144 tiles whose transformed input V (16, C, ld) and products M (16, K,
// ld) are kept; V may instead be in the GEMM's packed layout (WinogradPanelsV). Rows of V and M hold `ld` >=
// chunk_tiles + 8 values: the transforms read and write 8 tiles at a time, up to 7 past the last. (With V
// packed, chunks of 144 tiles measured 1.02-1.48x chunks of 288 on the forward and backward-data of the nets'
// 3x3 layers at batch 64, one thread, and the same on backward-weights: Zen 5, 752c33a.)
struct WinogradLayout {
    int tiles_h = 0, tiles_w = 0;  // tile rows and columns per image
    int image_tiles = 0;
    int images_per_chunk = 0;
    long ld = 0;
    // scalars between the operands of V as rows (V_xi, C rows of ld) and of M or Z (K rows of ld), by
    // winograd_operand_stride (128 or 256 rows of the usual 152 scalars are a multiple of 4 KiB)
    long v_xi_stride = 0, m_xi_stride = 0;
    long vt_xi_stride = 0;  // between the operands V_xi^T of backward-weights packed (winograd_weights_prepacked)
    long zt_xi_stride = 0;  // ... and between its operands Z_xi packed (at least m_xi_stride)
    PaddedLayout padded;
    ConvGeometry dy_image;  // backward-weights: one image's dy as K channels of OH x OW ...
    PaddedLayout padded_dy;  // ... zero-padded to (2 * tiles_h, 16 * ceil(tiles_w / 8)) for the 8-tile loads
    std::size_t padded_scalars = 0, v_scalars = 0, m_scalars = 0, dy_scalars = 0;
};

// Scalars between two of the 16 operands (one per position xi) of `scalars` each that the transforms store or
// load together: one cache line more, as a multiple of 4 KiB (the nets' operand sizes often are) would put the 16
// stores or loads of a tile group in one L1 set.
inline long winograd_operand_stride(long scalars) { return scalars + 16; }

// Scalars between the operands V_xi of `tiles` tiles in the GEMM's packed layout (WinogradPanelsV).
inline long winograd_panels_stride(int C, long tiles) {
    return winograd_operand_stride(C * PrepackedB<float>::padded(tiles));
}

inline WinogradLayout winograd_layout(const ConvGeometry& g) {
    WinogradLayout w;
    w.tiles_h = (g.OH + 1) / 2;
    w.tiles_w = (g.OW + 1) / 2;
    w.image_tiles = w.tiles_h * w.tiles_w;
    w.images_per_chunk = std::max(1, (static_cast<int>(winograd_min_tiles) + w.image_tiles - 1) / w.image_tiles);
    w.ld = static_cast<long>(w.images_per_chunk) * w.image_tiles + 8;
    w.padded.Hp = std::max(g.pad_top + g.H, 2 * w.tiles_h + 2);
    w.padded.Wp = std::max(g.pad_left + g.W, 16 * ((w.tiles_w + 7) / 8) + 2);
    w.padded.size = static_cast<std::size_t>(g.C) * w.padded.Hp * w.padded.Wp + 16;
    w.padded_scalars = (w.padded.size + 15) / 16 * 16;
    // V as rows of ld, or as the GEMM's packed panels (WinogradPanelsV, or backward-weights' V^T), whichever is
    // larger
    const long chunk_tiles = static_cast<long>(w.images_per_chunk) * w.image_tiles;
    w.v_xi_stride = winograd_operand_stride(g.C * w.ld);
    w.m_xi_stride = winograd_operand_stride(g.K * w.ld);
    w.vt_xi_stride = winograd_operand_stride(chunk_tiles * PrepackedB<float>::padded(g.C));
    w.v_scalars = static_cast<std::size_t>(16) *
                  std::max({w.v_xi_stride, winograd_panels_stride(g.C, chunk_tiles), w.vt_xi_stride});
    w.zt_xi_stride =
        std::max(w.m_xi_stride, winograd_operand_stride(chunk_tiles * PrepackedA<float>::padded(g.K)));
    w.m_scalars = static_cast<std::size_t>(16) * w.zt_xi_stride;
    w.dy_image.C = g.K;
    w.dy_image.H = g.OH;
    w.dy_image.W = g.OW;
    w.padded_dy.Hp = 2 * w.tiles_h;
    w.padded_dy.Wp = 16 * ((w.tiles_w + 7) / 8);
    // 8 scalars of slack let pad_image write rows as whole vectors (pad_image_vectors)
    w.padded_dy.size = static_cast<std::size_t>(g.K) * w.padded_dy.Hp * w.padded_dy.Wp + 8;
    w.dy_scalars = (w.padded_dy.size + 15) / 16 * 16;
    return w;
}

// Scalars between the transformed weights' 16 operands U_xi (K, C) in the GEMM's packed layout (PrepackedA).
inline long winograd_weights_stride(int K, int C) { return winograd_operand_stride(PrepackedA<float>::padded(K) * C); }

// Scalars between the 16 planes dU_xi (K, C) of a gradient of backward-weights (K * C is a multiple of 4 KiB on
// every 3x3 layer of the nets).
inline long winograd_gradient_stride(const ConvGeometry& g) {
    return winograd_operand_stride(static_cast<long>(g.K) * g.C);
}

// Scalars of the transformed weights U, room for those of the backward-data's convolution too (K and C swapped);
// also of one gradient dU (16 planes winograd_gradient_stride apart) of backward-weights.
inline std::size_t winograd_weight_scalars(const ConvGeometry& g) {
    const long stride = std::max(winograd_weights_stride(g.K, g.C), winograd_weights_stride(g.C, g.K));
    return (static_cast<std::size_t>(16) * stride + 15) / 16 * 16;
}

// Whether winograd_forward splits a batch smaller than the pool by tile rows rather than by filters: where the
// filters are fewer than a quarter of an image's tiles (every thread then reads all the weights).
inline bool winograd_splits_tiles(const ConvGeometry& g, const WinogradLayout& w) { return 4 * g.K < w.image_tiles; }

// Whether a forward of N images on `threads` threads splits each image's tile rows between the threads: fewer
// images than threads, and few filters (winograd_splits_tiles).
inline bool winograd_splits_image_rows(const ConvGeometry& g, const WinogradLayout& w, int N, int threads) {
    return N < threads && winograd_splits_tiles(g, w);
}

// Where winograd_transposed.hpp can compute the forward of N images on `threads` threads: filters in whole
// panels, and fewer than 144 tiles per thread's GEMMs (in all, or a thread's share of one image's tile rows).
inline bool winograd_transposed_applies(const ConvGeometry& g, int N, int threads) {
    if (!winograd_applies(g) || !winograd_transposed_fits(g)) return false;
    const long tiles = winograd_tiles(g, N);
    if (tiles < winograd_min_tiles) return true;
    return winograd_splits_image_rows(g, winograd_layout(g), N, threads) && tiles / threads < winograd_min_tiles;
}

// Where the forward of N images on `threads` threads runs with the tiles as the GEMM's rows
// (winograd_transposed.hpp), that is where each thread's GEMMs have fewer than 144 tiles: on 36-143 in all where
// winograd_pays; or on one image whose tile rows the threads split (winograd_splits_image_rows), a thread's share.
// Measured on the nets' layers at batch 1 against winograd_forward (Zen 3, f042a2c and 45ceab9): forward and
// backward-data of the 12x12 layers 1.37-1.58x on 1 thread; fer conv3's backward-data (32 filters, 144 tiles)
// 1.16x on 2 threads. The results are the same either way, bit for bit.
inline bool winograd_transposes(const ConvGeometry& g, int N, int threads) {
    return winograd_pays(g, N) && winograd_transposed_applies(g, N, threads);
}

// Scalars of one thread's workspace: padded image, V, M (or transformed dy), a GEMM block, one image's dy, and
// where winograd_forward may split by tile rows, the thread's own transformed weights.
inline std::size_t winograd_thread_scalars(const ConvGeometry& g) {
    const WinogradLayout w = winograd_layout(g);
    const std::size_t own_weights =
        winograd_splits_tiles(g, w) ? (16 * static_cast<std::size_t>(winograd_weights_stride(g.K, g.C)) + 15) / 16 * 16
                                    : 0;
    return w.padded_scalars + w.v_scalars + w.m_scalars + gemm_workspace_size<float>() + w.dy_scalars + own_weights;
}

// Backward-weights sums the batch in this many fixed parts, each into its own dU, added in a fixed order at the
// end: threads take whole parts, so the sums never depend on the thread count.
constexpr int winograd_weight_parts = 4;

#if DEEPCNN_ISA_AVX2
// U_xi = G w G^T for weight w (K, C, 3, 3), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], filters [k0, k1)
// in groups of Group <= 8 (k0 a multiple of Group): per group and channel c, the group's 9 taps transposed in
// registers (eight by a transpose, the ninth by scalar loads) so that the group's values are lanes of one
// vector, whose first Group lanes for position xi go to place(k, c) + xi * xi_stride. A last group of fewer
// filters fills the other lanes with copies of its last filter. Flipped: w is read from the weight of the
// convolution this one is the backward-data of, (C, K, 3, 3): w(k, c, i) = weight(c, k, 8 - i) for the taps i
// in row-major order.
template <int Group, bool Flipped, class Place>
inline void winograd_transform_weight_groups(const ConvGeometry& g, const float* weight, int k0, int k1,
                                             long xi_stride, const Place& place) {
    static_assert(Group <= 8, "a group of filters is one 8-lane vector");
    const __m256 half = _mm256_set1_ps(0.5f);
    const auto store = [](float* u, __m256 value) { store_first_lanes(u, value, Group); };
    // where w(f, c, 0) is: weight[c * channel_step + row(f)]
    const long channel_step = Flipped ? 9L * g.K : 9;
    for (int k = k0; k < k1; k += Group) {
        const int count = std::min(Group, g.K - k);
        int rows[8];
        for (int j = 0; j < 8; ++j) {
            const int f = k + std::min(j, count - 1);
            rows[j] = Flipped ? 9 * f : 9 * f * g.C;
        }
        for (int c = 0; c < g.C; ++c) {
            const float* w = weight + c * channel_step;
            __m256 taps[8];  // lane j of taps[i]: w[rows[j] + i]
            transpose_8x8_registers(w, rows, taps);
            const __m256 last = _mm256_setr_ps(w[rows[0] + 8], w[rows[1] + 8], w[rows[2] + 8], w[rows[3] + 8],
                                               w[rows[4] + 8], w[rows[5] + 8], w[rows[6] + 8], w[rows[7] + 8]);
            __m256 v[9];
#pragma GCC unroll 9
            for (int i = 0; i < 9; ++i) {
                const int tap = Flipped ? 8 - i : i;
                v[i] = tap == 8 ? last : taps[tap];
            }
            __m256 t[4][3];
#pragma GCC unroll 3
            for (int j = 0; j < 3; ++j) {
                t[0][j] = v[j];
                t[1][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(v[j], v[3 + j]), v[6 + j]));
                t[2][j] = _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(v[j], v[3 + j]), v[6 + j]));
                t[3][j] = v[6 + j];
            }
            float* u = place(k, c);
#pragma GCC unroll 4
            for (int i = 0; i < 4; ++i) {
                store(u + (4 * i + 0) * xi_stride, t[i][0]);
                store(u + (4 * i + 1) * xi_stride,
                      _mm256_mul_ps(half, _mm256_add_ps(_mm256_add_ps(t[i][0], t[i][1]), t[i][2])));
                store(u + (4 * i + 2) * xi_stride,
                      _mm256_mul_ps(half, _mm256_add_ps(_mm256_sub_ps(t[i][0], t[i][1]), t[i][2])));
                store(u + (4 * i + 3) * xi_stride, t[i][2]);
            }
        }
    }
}

// winograd_transform_weight_groups with `flipped` a run-time choice.
template <int Group, class Place>
inline void winograd_transform_weight_groups(const ConvGeometry& g, const float* weight, bool flipped, int k0, int k1,
                                             long xi_stride, const Place& place) {
    if (flipped) {
        winograd_transform_weight_groups<Group, true>(g, weight, k0, k1, xi_stride, place);
    } else {
        winograd_transform_weight_groups<Group, false>(g, weight, k0, k1, xi_stride, place);
    }
}

// The transformed weights written straight into the GEMM's packed layout as its A operands U_xi (PrepackedA of K
// rows and C columns, at U + xi * winograd_weights_stride), filters [k0, k1) (k0 a multiple of MR): a group of MR
// filters per store, one column of a panel.
inline void winograd_transform_weights(const ConvGeometry& g, const float* weight, bool flipped, float* U, int k0,
                                       int k1) {
    const long padded_rows = PrepackedA<float>::padded(g.K);
    winograd_transform_weight_groups<GemmBlocking::MR>(
        g, weight, flipped, k0, k1, winograd_weights_stride(g.K, g.C),
        [&](int k, int c) { return U + PrepackedA<float>::offset(k, c, g.C, padded_rows); });
}

// even = (a0 a2 a4 a6 b0 b2 b4 b6), odd = (a1 a3 a5 a7 b1 b3 b5 b7).
inline void deinterleave(__m256 a, __m256 b, __m256& even, __m256& odd) {
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

// v = B^T d B for eight tiles side by side (lane i of every vector belongs to one tile), B^T = [1 0 -1 0;
// 0 1 1 0; 0 -1 1 0; 0 1 0 -1], v[4 * i + j] = position (i, j): the arithmetic of every input transform.
inline void winograd_input_tile(const __m256 (&d)[4][4], __m256 (&v)[16]) {
    __m256 e[4][4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
        e[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
        e[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
        e[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
        e[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        v[4 * i + 0] = _mm256_sub_ps(e[i][0], e[i][2]);
        v[4 * i + 1] = _mm256_add_ps(e[i][1], e[i][2]);
        v[4 * i + 2] = _mm256_sub_ps(e[i][2], e[i][1]);
        v[4 * i + 3] = _mm256_sub_ps(e[i][1], e[i][3]);
    }
}

// m = A a A^T for eight 2x2 dy tiles side by side, A = [1 0; 1 1; 1 -1; 0 -1], m[4 * i + j] = position (i, j):
// the arithmetic of every dy transform.
inline void winograd_dy_tile(const __m256 (&a)[2][2], __m256 (&m)[16]) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 e[4][2];
    for (int j = 0; j < 2; ++j) {
        e[0][j] = a[0][j];
        e[1][j] = _mm256_add_ps(a[0][j], a[1][j]);
        e[2][j] = _mm256_sub_ps(a[0][j], a[1][j]);
        e[3][j] = _mm256_sub_ps(zero, a[1][j]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
        m[4 * i + 0] = e[i][0];
        m[4 * i + 1] = _mm256_add_ps(e[i][0], e[i][1]);
        m[4 * i + 2] = _mm256_sub_ps(e[i][0], e[i][1]);
        m[4 * i + 3] = _mm256_sub_ps(zero, e[i][1]);
    }
}

// B^T d B for the tiles of rows [ty0, ty1) of one padded image xp, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0;
// 0 1 0 -1], tile (ty, tx) numbered t0 + (ty - ty0) * tiles_w + tx, eight tiles of a row at a time: store(c, t,
// valid, v) takes channel c's 16 positions xi of tiles [t, t + 8) in v[xi], of which the first `valid` exist.
template <class Store>
inline void winograd_transform_input(const ConvGeometry& g, const WinogradLayout& w, const float* xp, int ty0,
                                     int ty1, long t0, const Store& store) {
    const int Wp = w.padded.Wp;
    const std::size_t plane = static_cast<std::size_t>(w.padded.Hp) * Wp;
    for (int c = 0; c < g.C; ++c) {
        const float* image = xp + c * plane;
        for (int ty = ty0; ty < ty1; ++ty)
            for (int tx = 0; tx < w.tiles_w; tx += 8) {
                const float* s = image + 2 * ty * Wp + 2 * tx;
                __m256 d[4][4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; ++i) {
                    const float* r = s + i * Wp;
                    deinterleave(_mm256_loadu_ps(r), _mm256_loadu_ps(r + 8), d[i][0], d[i][1]);
                    deinterleave(_mm256_loadu_ps(r + 2), _mm256_loadu_ps(r + 10), d[i][2], d[i][3]);
                }
                __m256 v[16];
                winograd_input_tile(d, v);
                store(c, t0 + (ty - ty0) * w.tiles_w + tx, std::min(8, w.tiles_w - tx), v);
            }
    }
}

// The transformed input as V (16, C, ld): tile t of channel c at V[xi * xi_stride + c * ld + t], for
// backward-weights.
// Writes up to 7 columns past the last tile (a later row, or the slack, takes them).
struct WinogradRowsV {
    float* V;
    long ld, xi_stride;
    void operator()(int c, long t, int, const __m256* v) const {
        float* out = V + c * ld + t;
#pragma GCC unroll 16
        for (int xi = 0; xi < 16; ++xi) _mm256_storeu_ps(out + xi * xi_stride, v[xi]);
    }
};

// The transformed input of `tiles` tiles as the 16 GEMMs' B operands V_xi (C, tiles), each already packed for
// gemm_packed (PrepackedB, at V + xi * xi_stride): the forward's products read it in place. Eight tiles within
// one panel are one store (the ones past `valid` landing on tiles a later row writes, or on the last panel's
// padding); the tiles that exist, when they end a panel, a store of their lanes only; across a panel's edge, one
// by one.
struct WinogradPanelsV {
    float* V;
    int C;
    long padded_columns, xi_stride;
    WinogradPanelsV(float* V_, int C_, long tiles)
        : V(V_), C(C_), padded_columns(PrepackedB<float>::padded(tiles)),
          xi_stride(winograd_panels_stride(C_, tiles)) {}
    PrepackedB<float> operand(int xi) const { return {V + xi * xi_stride, padded_columns}; }
    void operator()(int c, long t, int valid, const __m256* v) const {
        constexpr int NR = GemmBlocking::NR;
        float* out = V + PrepackedB<float>::offset(c, t, C, padded_columns);
        if (t % NR + 8 <= NR) {
#pragma GCC unroll 16
            for (int xi = 0; xi < 16; ++xi) _mm256_storeu_ps(out + xi * xi_stride, v[xi]);
            return;
        }
        if (t % NR + valid <= NR) {
#pragma GCC unroll 16
            for (int xi = 0; xi < 16; ++xi) store_first_lanes(out + xi * xi_stride, v[xi], valid);
            return;
        }
        alignas(32) float lanes[8];
        for (int xi = 0; xi < 16; ++xi) {
            _mm256_store_ps(lanes, v[xi]);
            for (int j = 0; j < valid; ++j)
                V[xi * xi_stride + PrepackedB<float>::offset(c, t + j, C, padded_columns)] = lanes[j];
        }
    }
};

// The rows of A^T m for eight sets of 4x4 products m side by side (tiles, or filters), position xi at mp + xi *
// xi_stride, A^T = [1 1 1 0; 0 1 -1 -1]: s[0][j] = m_0j + m_1j + m_2j, s[1][j] = m_1j - m_2j - m_3j.
inline void winograd_output_rows(const float* mp, long xi_stride, __m256 (&s)[2][4]) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
        const __m256 m0 = _mm256_loadu_ps(mp + (0 + j) * xi_stride);
        const __m256 m1 = _mm256_loadu_ps(mp + (4 + j) * xi_stride);
        const __m256 m2 = _mm256_loadu_ps(mp + (8 + j) * xi_stride);
        const __m256 m3 = _mm256_loadu_ps(mp + (12 + j) * xi_stride);
        s[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
}

// The two outputs of one output row from its row of A^T m (winograd_output_rows) times A, + b.
inline void winograd_output_columns(const __m256 (&row)[4], __m256 b, __m256& left, __m256& right) {
    left = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(row[0], row[1]), row[2]), b);
    right = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(row[1], row[2]), row[3]), b);
}

// y (K, OH, OW) rows of tile rows [ty0, ty1) of one image, filters [k0, k1) = A^T m A (+ bias), with `relu` then
// max(., 0) (0 for NaN), m read from M (16, K, ld) at columns t0 + (ty - ty0) * tiles_w + tx,
// A^T = [1 1 1 0; 0 1 -1 -1]. Assigns y.
inline void winograd_transform_output(const ConvGeometry& g, const WinogradLayout& w, const float* M, long t0,
                                      int ty0, int ty1, const float* bias, float* y, int k0, int k1,
                                      bool relu = false) {
    const long xi_stride = w.m_xi_stride;
    for (int k = k0; k < k1; ++k) {
        const __m256 b = _mm256_set1_ps(bias ? bias[k] : 0.0f);
        const float* m_k = M + k * w.ld + t0;
        float* y_k = y + static_cast<std::size_t>(k) * g.OH * g.OW;
        for (int ty = ty0; ty < ty1; ++ty)
            for (int tx = 0; tx < w.tiles_w; tx += 8) {
                const float* mp = m_k + (ty - ty0) * w.tiles_w + tx;
                __m256 s[2][4];
                winograd_output_rows(mp, xi_stride, s);
                const int columns = std::min(16, g.OW - 2 * tx);
                for (int oy = 0; oy < 2 && 2 * ty + oy < g.OH; ++oy) {
                    __m256 left, right;
                    winograd_output_columns(s[oy], b, left, right);
                    if (relu) {  // max(v, 0) gives its second operand, 0, for a NaN v
                        left = _mm256_max_ps(left, _mm256_setzero_ps());
                        right = _mm256_max_ps(right, _mm256_setzero_ps());
                    }
                    const __m256 lo = _mm256_unpacklo_ps(left, right), hi = _mm256_unpackhi_ps(left, right);
                    const __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20);
                    const __m256 second = _mm256_permute2f128_ps(lo, hi, 0x31);
                    float* dst = y_k + static_cast<std::size_t>(2 * ty + oy) * g.OW + 2 * tx;
                    if (columns == 16) {
                        _mm256_storeu_ps(dst, first);
                        _mm256_storeu_ps(dst + 8, second);
                    } else if (columns >= 8) {
                        _mm256_storeu_ps(dst, first);
                        store_first_lanes(dst + 8, second, columns - 8);
                    } else {
                        store_first_lanes(dst, first, columns);
                    }
                }
            }
    }
}

// M_xi (K, tiles) rows [k0, k1) (k0 a multiple of MR) = U_xi (K, C) x V_xi (C, tiles) for the 16 positions xi,
// U as winograd_transform_weights writes it (read in place, or with `copy_u` copied block by block into the GEMM's
// workspace), V as written through `panels`.
inline void winograd_products(const ConvGeometry& g, const WinogradLayout& w, const float* U,
                              const WinogradPanelsV& panels, int tiles, float* M, float* gemm_ws, int k0, int k1,
                              bool copy_u) {
    const long padded_rows = PrepackedA<float>::padded(g.K);
    const long u_stride = winograd_weights_stride(g.K, g.C);
    for (int xi = 0; xi < 16; ++xi) {
        const PrepackedA<float> u{U + xi * u_stride, padded_rows, k0};
        float* m = M + xi * w.m_xi_stride + static_cast<long>(k0) * w.ld;
        if (copy_u) {
            gemm_packed(k1 - k0, tiles, g.C, CopyPrepackedA<float>{u}, panels.operand(xi), m, w.ld, false, gemm_ws);
        } else {
            gemm_packed(k1 - k0, tiles, g.C, u, panels.operand(xi), m, w.ld, false, gemm_ws);
        }
    }
}

// One thread's buffers in its part of the workspace (winograd_thread_scalars): padded image, V, the products M
// (forward) or the transformed dy Z (backward-weights, in the same place), GEMM block, padded dy, and (where
// winograd_splits_tiles) the thread's own transformed weights.
struct WinogradBuffers {
    float *xp, *V, *M, *gemm_ws, *dyp, *U;
    WinogradBuffers(const WinogradLayout& w, float* part)
        : xp(part), V(xp + w.padded_scalars), M(V + w.v_scalars), gemm_ws(M + w.m_scalars),
          dyp(gemm_ws + gemm_workspace_size<float>()), U(dyp + w.dy_scalars) {}
};

// y (N, K, OH, OW) = conv(x, weight) + bias (with `relu`, then max(y, 0)), the weights transformed into U
// (winograd_weight_scalars(g)); with `flipped`, weight is that of the convolution this one is the backward-data of
// (winograd_transform_weights). When the batch fills the pool, threads transform the weights split by filters, then
// take the images in chunks. Otherwise, with at least a quarter as many filters as an image has tiles, each thread
// takes a share of the filters (in multiples of the GEMM's MR), transforms their weights and computes them on every
// image (every thread transforms the whole input); with fewer filters, the threads split each image's tile rows, each
// with all the weights transformed into its own copy (b.U): a shared U, each half written by one core and read by both,
// crossed between the cores at 2-3x the cost of transforming it all twice. Measured on the FER nets' layers at batch 1
// on 2 threads: the filter split wins where the weights are many (24x24 images, 64-128 filters), the tile split where
// the input is (48x48, 32 filters; the 24x24 backward-data's 32). Every output sums its channels in the GEMM's fixed
// order, so results are bit-identical for any thread count and batch size. `workspace` holds winograd_thread_scalars(g)
// per thread. With `transformed` (winograd_weight_scalars(g), as winograd_transform_weights writes all the filters)
// no weights are transformed: every thread reads them from there.
inline void winograd_forward(const ConvGeometry& g, int N, const float* x, const float* weight, bool flipped, float* U,
                             const float* bias, float* y, float* workspace, std::size_t thread_scalars,
                             ThreadPool* pool, bool relu = false, const float* transformed = nullptr) {
    const int threads = pool ? pool->size() : 1;
    const WinogradLayout w = winograd_layout(g);
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.OH * g.OW;
    const auto buffers = [&](int t) {
        return WinogradBuffers(w, workspace + static_cast<std::size_t>(t) * thread_scalars);
    };
    const float* shared_u = transformed ? transformed : U;  // the shared weights the products read
    if (N < threads && !winograd_splits_tiles(g, w)) {
        pool_run(pool, threads, [&](int t) {
            int k0 = 0, k1 = 0;
            split_range(g.K, threads, t, GemmBlocking::MR, k0, k1);
            if (k0 == k1) return;
            const WinogradBuffers b = buffers(t);
            if (!transformed) winograd_transform_weights(g, weight, flipped, U, k0, k1);
            const WinogradPanelsV panels(b.V, g.C, w.image_tiles);
            for (int n = 0; n < N; ++n) {
                pad_image(g, w.padded, x + n * in_size, b.xp);
                winograd_transform_input(g, w, b.xp, 0, w.tiles_h, 0, panels);
                winograd_products(g, w, shared_u, panels, w.image_tiles, b.M, b.gemm_ws, k0, k1, false);
                winograd_transform_output(g, w, b.M, 0, 0, w.tiles_h, bias, y + n * out_size, k0, k1, relu);
            }
        });
        return;
    }
    if (N < threads) {
        pool_run(pool, threads, [&](int t) {
            int begin = 0, end = 0;
            split_range(w.tiles_h, threads, t, 1, begin, end);
            if (begin == end) return;
            const WinogradBuffers b = buffers(t);
            if (!transformed) winograd_transform_weights(g, weight, flipped, b.U, 0, g.K);
            const WinogradPanelsV panels(b.V, g.C, (end - begin) * w.tiles_w);
            for (int n = 0; n < N; ++n) {
                pad_image(g, w.padded, x + n * in_size, b.xp);
                winograd_transform_input(g, w, b.xp, begin, end, 0, panels);
                winograd_products(g, w, transformed ? transformed : b.U, panels, (end - begin) * w.tiles_w, b.M,
                                  b.gemm_ws, 0, g.K, false);
                winograd_transform_output(g, w, b.M, 0, begin, end, bias, y + n * out_size, 0, g.K, relu);
            }
        });
        return;
    }
    if (!transformed) {
        pool_run(pool, threads, [&](int t) {
            int k0 = 0, k1 = 0;
            split_range(g.K, threads, t, GemmBlocking::MR, k0, k1);
            winograd_transform_weights(g, weight, flipped, U, k0, k1);
        });
    }
    // Every chunk reads all of U: on one thread straight from U; on more, from a copy of each GEMM block in the
    // core's own cache. Copying measured 0.84-1.04x of reading in place on one thread and 0.90-1.15x on two
    // (faster on 14 of 18 entries) for the forward and backward-data of the nets' 3x3 layers at batch 64. The
    // arithmetic is the same either way.
    const bool copy_u = threads > 1;
    pool_run(pool, threads, [&](int t) {
        const WinogradBuffers b = buffers(t);
        int begin = 0, end = 0;
        split_range(N, threads, t, 1, begin, end);
        for (int n0 = begin; n0 < end; n0 += w.images_per_chunk) {
            const int n1 = std::min(end, n0 + w.images_per_chunk);
            const WinogradPanelsV panels(b.V, g.C, static_cast<long>(n1 - n0) * w.image_tiles);
            for (int n = n0; n < n1; ++n) {
                pad_image(g, w.padded, x + n * in_size, b.xp);
                winograd_transform_input(g, w, b.xp, 0, w.tiles_h, static_cast<long>(n - n0) * w.image_tiles, panels);
            }
            winograd_products(g, w, shared_u, panels, (n1 - n0) * w.image_tiles, b.M, b.gemm_ws, 0, g.K, copy_u);
            for (int n = n0; n < n1; ++n)
                winograd_transform_output(g, w, b.M, static_cast<long>(n - n0) * w.image_tiles, 0, w.tiles_h, bias,
                                          y + n * out_size, 0, g.K, relu);
        }
    });
}

// Z (16, K, ld) rows [k0, k1), columns t0 + (ty - ty0) * tiles_w + tx for the tile rows [ty0, ty1) = A dy A^T
// per tile of one image's padded dy (w.padded_dy), A = [1 0; 1 1; 1 -1; 0 -1]: the gradient of the products M
// that winograd_transform_output reads. Writes up to 7 columns past the last tile.
inline void winograd_transform_dy(const WinogradLayout& w, const float* dyp, float* Z, long t0, int k0, int k1,
                                  int ty0, int ty1) {
    const long xi_stride = w.m_xi_stride;
    for (int k = k0; k < k1; ++k) {
        const float* image = dyp + static_cast<std::size_t>(k) * w.padded_dy.Hp * w.padded_dy.Wp;
        float* z = Z + k * w.ld + t0 - static_cast<long>(ty0) * w.tiles_w;
        for (int ty = ty0; ty < ty1; ++ty)
            for (int tx = 0; tx < w.tiles_w; tx += 8) {
                const float* r0 = image + 2 * ty * w.padded_dy.Wp + 2 * tx;
                const float* r1 = r0 + w.padded_dy.Wp;
                __m256 a[2][2];
                deinterleave(_mm256_loadu_ps(r0), _mm256_loadu_ps(r0 + 8), a[0][0], a[0][1]);
                deinterleave(_mm256_loadu_ps(r1), _mm256_loadu_ps(r1 + 8), a[1][0], a[1][1]);
                __m256 m[16];
                winograd_dy_tile(a, m);
                float* out = z + ty * w.tiles_w + tx;
#pragma GCC unroll 16
                for (int xi = 0; xi < 16; ++xi) _mm256_storeu_ps(out + xi * xi_stride, m[xi]);
            }
    }
}

// dweight (K, C, 3, 3) rows [k0, k1) = G^T dU G, the gradient of winograd_transform_weights, from dU (16 planes
// (K, C), winograd_gradient_stride apart): eight channels at a time (contiguous in dU; their 9 x 8 results go
// through a scratch block into the 72 contiguous values of dweight, the first 8 taps of each channel by a
// register transpose), the rest one by one, with the same arithmetic.
inline void winograd_weights_gradient(const ConvGeometry& g, const float* dU, int k0, int k1, float* dweight) {
    const long plane = winograd_gradient_stride(g);
    const __m256 half = _mm256_set1_ps(0.5f);
    for (int k = k0; k < k1; ++k) {
        int c = 0;
        for (; c + 8 <= g.C; c += 8) {
            const float* u = dU + static_cast<std::size_t>(k) * g.C + c;
            __m256 s[3][4];
            for (int j = 0; j < 4; ++j) {
                const __m256 u0 = _mm256_loadu_ps(u + j * plane), u1 = _mm256_loadu_ps(u + (4 + j) * plane);
                const __m256 u2 = _mm256_loadu_ps(u + (8 + j) * plane), u3 = _mm256_loadu_ps(u + (12 + j) * plane);
                s[0][j] = _mm256_add_ps(u0, _mm256_mul_ps(half, _mm256_add_ps(u1, u2)));
                s[1][j] = _mm256_mul_ps(half, _mm256_sub_ps(u1, u2));
                s[2][j] = _mm256_add_ps(_mm256_mul_ps(half, _mm256_add_ps(u1, u2)), u3);
            }
            alignas(32) float taps[9][8];
            for (int a = 0; a < 3; ++a) {
                const __m256 sum = _mm256_mul_ps(half, _mm256_add_ps(s[a][1], s[a][2]));
                _mm256_store_ps(taps[3 * a + 0], _mm256_add_ps(s[a][0], sum));
                _mm256_store_ps(taps[3 * a + 1], _mm256_mul_ps(half, _mm256_sub_ps(s[a][1], s[a][2])));
                _mm256_store_ps(taps[3 * a + 2], _mm256_add_ps(sum, s[a][3]));
            }
            float* dw = dweight + (static_cast<std::size_t>(k) * g.C + c) * 9;
            static constexpr int tap_rows[8] = {0, 8, 16, 24, 32, 40, 48, 56};
            transpose_8x8(taps[0], tap_rows, dw, 9);
            for (int i = 0; i < 8; ++i) dw[i * 9 + 8] = taps[8][i];
        }
        for (; c < g.C; ++c) {
            const float* u = dU + static_cast<std::size_t>(k) * g.C + c;
            float s[3][4];
            for (int j = 0; j < 4; ++j) {
                const float u0 = u[j * plane], u1 = u[(4 + j) * plane];
                const float u2 = u[(8 + j) * plane], u3 = u[(12 + j) * plane];
                s[0][j] = u0 + 0.5f * (u1 + u2);
                s[1][j] = 0.5f * (u1 - u2);
                s[2][j] = 0.5f * (u1 + u2) + u3;
            }
            float* dw = dweight + (static_cast<std::size_t>(k) * g.C + c) * 9;
            for (int a = 0; a < 3; ++a) {
                dw[3 * a + 0] = s[a][0] + 0.5f * (s[a][1] + s[a][2]);
                dw[3 * a + 1] = 0.5f * (s[a][1] - s[a][2]);
                dw[3 * a + 2] = 0.5f * (s[a][1] + s[a][2]) + s[a][3];
            }
        }
    }
}

// Whether backward-weights' transforms write the GEMM's operands already packed, from channels-last copies of x
// and dy, instead of writing V and Z with the tiles contiguous for the GEMM to transpose on every call: input
// channels in multiples of 16 (whole edge vectors of B) and filters in multiples of 8 (whole vectors of the
// channels-last dy), with either micro-tile (8 rows with AVX-512, 6 with AVX2 alone).
inline bool winograd_weights_prepacked(const ConvGeometry& g) {
    return (GemmBlocking::MR == 8 || GemmBlocking::MR == 6) && g.C % 16 == 0 && g.K % 8 == 0;
}

// The filters of backward-weights split by filters come in multiples of this: whole MR panels, and where the
// transforms read a channels-last dy (winograd_weights_prepacked), whole vectors of 8 filters too.
inline int winograd_weights_filter_unit(const ConvGeometry& g) {
    return winograd_weights_prepacked(g) ? std::lcm(GemmBlocking::MR, 8) : GemmBlocking::MR;
}

// out[p * ld + c] = src[c * plane + p] for the n <= 8 columns p of one run of an image row and the channels c in
// [0, channels) (a multiple of 8): the run channels last, 8 x 8 at a time by a register transpose when n is 8.
inline void transpose_run_channels_last(const float* src, int plane, int n, int channels, float* out, int ld) {
    int rows[8];
    for (int i = 0; i < 8; ++i) rows[i] = i * plane;
    for (int c = 0; c < channels; c += 8) {
        const float* s = src + static_cast<std::size_t>(c) * plane;
        if (n == 8) {
            transpose_8x8(s, rows, out + c, ld);
            continue;
        }
        for (int p = 0; p < n; ++p)
            for (int i = 0; i < 8; ++i)
                out[static_cast<std::size_t>(p) * ld + c + i] = s[static_cast<std::size_t>(i) * plane + p];
    }
}

// xc (2 tiles_h + 2, 2 tiles_w + 2, C) = the windows the tiles read of one image x (C, H, W), zero outside it,
// channels last, rows [r0, r1): 8 channels x 8 columns at a time by register transposes, the rest one by one.
inline void winograd_channels_last_input(const ConvGeometry& g, const WinogradLayout& w, const float* x, int r0,
                                         int r1, float* xc) {
    const int Wc = 2 * w.tiles_w + 2, C = g.C, plane = g.H * g.W;
    const int qa = std::max(0, std::min(Wc, g.pad_left)), qb = std::max(qa, std::min(Wc, g.pad_left + g.W));
    for (int r = r0; r < r1; ++r) {
        float* out = xc + static_cast<std::size_t>(r) * Wc * C;
        const int h = r - g.pad_top;
        if (h < 0 || h >= g.H) {
            std::fill(out, out + static_cast<std::size_t>(Wc) * C, 0.0f);
            continue;
        }
        std::fill(out, out + static_cast<std::size_t>(qa) * C, 0.0f);
        std::fill(out + static_cast<std::size_t>(qb) * C, out + static_cast<std::size_t>(Wc) * C, 0.0f);
        for (int q = qa; q < qb; q += 8)
            transpose_run_channels_last(x + static_cast<std::size_t>(h) * g.W + (q - g.pad_left), plane,
                                        std::min(8, qb - q), C, out + static_cast<std::size_t>(q) * C, C);
    }
}

// dyc (2 tiles_h, 2 tiles_w, k1 - k0) = filters [k0, k1) of one image's dy (K, OH, OW), zero past its last row and
// column, filters last, rows [r0, r1); as winograd_channels_last_input.
inline void winograd_channels_last_dy(const ConvGeometry& g, const WinogradLayout& w, const float* dy, int k0, int k1,
                                      int r0, int r1, float* dyc) {
    const int Wd = 2 * w.tiles_w, Kt = k1 - k0, plane = g.OH * g.OW;
    for (int r = r0; r < r1; ++r) {
        float* out = dyc + static_cast<std::size_t>(r) * Wd * Kt;
        if (r >= g.OH) {
            std::fill(out, out + static_cast<std::size_t>(Wd) * Kt, 0.0f);
            continue;
        }
        std::fill(out + static_cast<std::size_t>(g.OW) * Kt, out + static_cast<std::size_t>(Wd) * Kt, 0.0f);
        const float* row = dy + static_cast<std::size_t>(k0) * plane + static_cast<std::size_t>(r) * g.OW;
        for (int q = 0; q < g.OW; q += 8)
            transpose_run_channels_last(row + q, plane, std::min(8, g.OW - q), Kt,
                                        out + static_cast<std::size_t>(q) * Kt, Kt);
    }
}

// V_xi^T (T tiles, C) in the GEMM's packed layout (PrepackedB of T rows at V + xi * stride) for the tiles of rows
// [ty0, ty1), numbered from t0, = B^T d B per tile of xc (winograd_channels_last_input), 8 channels at a time: the
// arithmetic of winograd_input_tile.
inline void winograd_transform_input_packed(const ConvGeometry& g, const WinogradLayout& w, const float* xc, int ty0,
                                            int ty1, long t0, int T, float* V, long stride) {
    const int Wc = 2 * w.tiles_w + 2, C = g.C;
    const long padded_c = PrepackedB<float>::padded(C);
    for (int ty = ty0; ty < ty1; ++ty)
        for (int tx = 0; tx < w.tiles_w; ++tx) {
            const long t = t0 + static_cast<long>(ty - ty0) * w.tiles_w + tx;
            const float* s = xc + (static_cast<std::size_t>(2 * ty) * Wc + 2 * tx) * C;
            for (int c = 0; c < C; c += 8) {
                __m256 d[4][4];
#pragma GCC unroll 4
                for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
                    for (int j = 0; j < 4; ++j)
                        d[i][j] = _mm256_loadu_ps(s + (static_cast<std::size_t>(i) * Wc + j) * C + c);
                __m256 v[16];
                winograd_input_tile(d, v);
                float* out = V + PrepackedB<float>::offset(t, c, T, padded_c);
#pragma GCC unroll 16
                for (int xi = 0; xi < 16; ++xi) _mm256_storeu_ps(out + xi * stride, v[xi]);
            }
        }
}

// Z_xi (Kt filters, T tiles) in the GEMM's packed layout (PrepackedA of Kt rows at Z + xi * stride) for the tiles of
// rows [ty0, ty1), numbered from t0, = A dy A^T per tile of dyc (winograd_channels_last_dy), one MR panel of
// filters at a time, as 8 lanes: the arithmetic of winograd_dy_tile. With MR 6 (AVX2), lanes past the operand's
// Kt filters load as 0 (the padding rows), and a tile's 8-lane stores reach 2 scalars into the next tile's slots
// of the same panel, which that tile, written later, overwrites; the last tile of a KC block (whose next slots are
// another panel's) and of the operand store MR lanes only. So every tile from 0 to T - 1 must be written in order.
inline void winograd_transform_dy_packed(const WinogradLayout& w, const float* dyc, int Kt, int ty0, int ty1, long t0,
                                         int T, float* Z, long stride) {
    constexpr int MR = GemmBlocking::MR;
    static_assert(MR == 6 || MR == 8, "a panel of filters is one 8-lane vector, or its first 6 lanes");
    const int Wd = 2 * w.tiles_w;
    const long padded_kt = PrepackedA<float>::padded(Kt);
    const auto load = [Kt](const float* p, int k) {
        return k + 8 <= Kt ? _mm256_loadu_ps(p + k) : _mm256_maskload_ps(p + k, first_lanes(Kt - k));
    };
    for (int ty = ty0; ty < ty1; ++ty)
        for (int tx = 0; tx < w.tiles_w; ++tx) {
            const long t = t0 + static_cast<long>(ty - ty0) * w.tiles_w + tx;
            const float* s = dyc + (static_cast<std::size_t>(2 * ty) * Wd + 2 * tx) * Kt;
            const bool whole_vectors = MR == 8 || ((t + 1) % GemmBlocking::KC != 0 && t + 1 < T);
            for (int k = 0; k < Kt; k += MR) {
                __m256 a[2][2];
                a[0][0] = load(s, k);
                a[0][1] = load(s + Kt, k);
                a[1][0] = load(s + static_cast<std::size_t>(Wd) * Kt, k);
                a[1][1] = load(s + static_cast<std::size_t>(Wd + 1) * Kt, k);
                __m256 m[16];
                winograd_dy_tile(a, m);
                float* out = Z + PrepackedA<float>::offset(k, t, T, padded_kt);
                if (whole_vectors) {
#pragma GCC unroll 16
                    for (int xi = 0; xi < 16; ++xi) _mm256_storeu_ps(out + xi * stride, m[xi]);
                } else {
                    for (int xi = 0; xi < 16; ++xi) store_first_lanes(out + xi * stride, m[xi], MR);
                }
            }
        }
}

// V (every channel) and Z (filters [k0, k1), only their dy padded) of images [n0, n1), their tiles from column 0
// on.
inline void winograd_transform_for_weights(const ConvGeometry& g, const WinogradLayout& w, const float* x,
                                           const float* dy, int n0, int n1, int k0, int k1,
                                           const WinogradBuffers& b) {
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.OH * g.OW;
    for (int n = n0; n < n1; ++n) {
        const long t0 = static_cast<long>(n - n0) * w.image_tiles;
        pad_image(g, w.padded, x + n * in_size, b.xp);
        winograd_transform_input(g, w, b.xp, 0, w.tiles_h, t0,
                                 WinogradRowsV{b.V, w.ld, w.v_xi_stride});
        pad_channels(w.dy_image, w.padded_dy, dy + n * out_size, k0, k1, b.dyp);
        winograd_transform_dy(w, b.dyp, b.M, t0, k0, k1, 0, w.tiles_h);
    }
}

// dU_xi (K, C) rows [k0, k1) [+]= Z_xi rows [k0, k1) x V_xi^T over `tiles` tiles from column `first` on, for
// each xi.
inline void winograd_weight_products(const ConvGeometry& g, const WinogradLayout& w, const WinogradBuffers& b,
                                     long first, int tiles, int k0, int k1, float* dU, bool accumulate) {
    const long u_plane = winograd_gradient_stride(g);
    for (int xi = 0; xi < 16; ++xi) {
        const long z_rows = xi * w.m_xi_stride + static_cast<long>(k0) * w.ld + first;
        gemm_packed(k1 - k0, g.C, tiles, StridedPackA<float>{{b.M + z_rows, w.ld, 1}},
                    StridedPackB<float>{{b.V + xi * w.v_xi_stride + first, 1, w.ld}},
                    dU + xi * u_plane + static_cast<std::size_t>(k0) * g.C, g.C, accumulate, b.gemm_ws);
    }
}

// winograd_weight_products for operands the transforms wrote packed (winograd_transform_input_packed and
// winograd_transform_dy_packed, `tiles` tiles from 0; Z of filters [k0, k1) only).
inline void winograd_weight_products_packed(const ConvGeometry& g, const WinogradLayout& w, const WinogradBuffers& b,
                                            int tiles, int k0, int k1, float* dU, bool accumulate) {
    const long u_plane = winograd_gradient_stride(g);
    const long padded_c = PrepackedB<float>::padded(g.C);
    for (int xi = 0; xi < 16; ++xi)
        gemm_packed(k1 - k0, g.C, tiles,
                    PrepackedA<float>{b.M + xi * w.zt_xi_stride, PrepackedA<float>::padded(k1 - k0), 0},
                    PrepackedB<float>{b.V + xi * w.vt_xi_stride, padded_c},
                    dU + xi * u_plane + static_cast<std::size_t>(k0) * g.C, g.C, accumulate, b.gemm_ws);
}

// dU_xi (K, C) rows [k0, k1) [+]= Z_xi x V_xi^T over the tiles of images [n0, n1) (at most a chunk): the
// transforms and the 16 GEMMs. Where winograd_weights_prepacked, the transforms read channels-last copies of x
// and dy and write both operands in the GEMM's packed layout, so the GEMMs pack nothing; the products, and their
// order in every sum, are the same either way.
inline void winograd_weights_chunk(const ConvGeometry& g, const WinogradLayout& w, const float* x, const float* dy,
                                   int n0, int n1, int k0, int k1, const WinogradBuffers& b, float* dU,
                                   bool accumulate) {
    const int tiles = (n1 - n0) * w.image_tiles;
    if (!winograd_weights_prepacked(g)) {
        winograd_transform_for_weights(g, w, x, dy, n0, n1, k0, k1, b);
        winograd_weight_products(g, w, b, 0, tiles, k0, k1, dU, accumulate);
        return;
    }
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.OH * g.OW;
    const int Kt = k1 - k0;
    for (int n = n0; n < n1; ++n) {
        const long t0 = static_cast<long>(n - n0) * w.image_tiles;
        winograd_channels_last_input(g, w, x + n * in_size, 0, 2 * w.tiles_h + 2, b.xp);
        winograd_transform_input_packed(g, w, b.xp, 0, w.tiles_h, t0, tiles, b.V, w.vt_xi_stride);
        winograd_channels_last_dy(g, w, dy + n * out_size, k0, k1, 0, 2 * w.tiles_h, b.dyp);
        winograd_transform_dy_packed(w, b.dyp, Kt, 0, w.tiles_h, t0, tiles, b.M, w.zt_xi_stride);
    }
    winograd_weight_products_packed(g, w, b, tiles, k0, k1, dU, accumulate);
}

// dweight rows [k0, k1) from `parts` (2 or 4) gradients dU_p, part_scalars apart in dU: dU = dU_0 + dU_1, or
// (dU_0 + dU_1) + (dU_2 + dU_3), into dU_0, then G^T dU G.
inline void winograd_sum_weight_parts(const ConvGeometry& g, float* dU, std::size_t part_scalars, int parts, int k0,
                                      int k1, float* dweight) {
    const long u_plane = winograd_gradient_stride(g);
    for (int xi = 0; xi < 16; ++xi) {
        const long begin = xi * u_plane + static_cast<long>(k0) * g.C;
        const long end = xi * u_plane + static_cast<long>(k1) * g.C;
        if (parts == 2) {
            for (long i = begin; i < end; ++i) dU[i] = dU[i] + dU[part_scalars + i];
        } else {
            for (long i = begin; i < end; ++i)
                dU[i] = (dU[i] + dU[part_scalars + i]) + (dU[2 * part_scalars + i] + dU[3 * part_scalars + i]);
        }
    }
    winograd_weights_gradient(g, dU, k0, k1, dweight);
}

// Whether winograd_backward_weights splits a batch of fewer images than winograd_weight_parts by tile rows rather
// than by filters: with fewer than 128 filters (the filter split gives each thread GEMMs of K / threads rows, and
// every thread transforms the whole input) on images of at least 576 tiles (48 x 48 outputs: each part's GEMMs
// still sum 288 tiles). Measured at batch 1 (Zen 5, e8ead5b): fer conv2 (48 x 48, 32 filters)
// 1.13x on 2 threads, 0.97x on one; the 24 x 24 layers with 64 filters 0.85-0.98x on either.
inline bool winograd_weights_by_rows(const ConvGeometry& g, int N) {
    return N < winograd_weight_parts && g.K < winograd_weights_min_filters &&
           winograd_layout(g).image_tiles >= winograd_rows_min_image_tiles;
}

// winograd_backward_weights where winograd_weights_by_rows: two fixed parts, the top and bottom halves of every
// image's tile rows, each summed (image by image, in order) into its own dU, then added as the image parts are. A
// thread pads each image once and transforms the tile rows of all its parts together. The sums depend on the
// parts only, so results are the same for any thread count.
inline void winograd_backward_weights_by_rows(const ConvGeometry& g, int N, const float* x, const float* dy,
                                              float* dweight, float* dU, float* workspace,
                                              std::size_t thread_scalars, ThreadPool* pool) {
    constexpr int parts = 2;
    const int threads = pool ? pool->size() : 1;
    const WinogradLayout w = winograd_layout(g);
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.OH * g.OW;
    const std::size_t part_scalars = winograd_weight_scalars(g);
    const auto part_rows = [&](int part, int& ty0, int& ty1) { split_range(w.tiles_h, parts, part, 1, ty0, ty1); };
    const bool prepacked = winograd_weights_prepacked(g);
    pool_run(pool, threads, [&](int t) {
        int p0 = 0, p1 = 0;
        split_range(parts, threads, t, 1, p0, p1);
        if (p0 == p1) return;
        int ty0 = 0, ty1 = 0, unused = 0;
        part_rows(p0, ty0, unused);
        part_rows(p1 - 1, unused, ty1);
        const WinogradBuffers b(w, workspace + static_cast<std::size_t>(t) * thread_scalars);
        for (int n = 0; n < N; ++n) {
            if (ty0 < ty1 && prepacked) {  // the rows of channels-last x and dy these tile rows read
                winograd_channels_last_input(g, w, x + n * in_size, 2 * ty0, 2 * ty1 + 2, b.xp);
                winograd_channels_last_dy(g, w, dy + n * out_size, 0, g.K, 2 * ty0, 2 * ty1, b.dyp);
            } else if (ty0 < ty1) {
                pad_image(g, w.padded, x + n * in_size, b.xp);
                winograd_transform_input(g, w, b.xp, ty0, ty1, 0,
                                         WinogradRowsV{b.V, w.ld, w.v_xi_stride});
                pad_image(w.dy_image, w.padded_dy, dy + n * out_size, b.dyp);
                winograd_transform_dy(w, b.dyp, b.M, 0, 0, g.K, ty0, ty1);
            }
            for (int part = p0; part < p1; ++part) {
                float* dU_part = dU + static_cast<std::size_t>(part) * part_scalars;
                int r0 = 0, r1 = 0;
                part_rows(part, r0, r1);
                if (r0 == r1) {  // an image one tile row high
                    std::fill(dU_part, dU_part + 16 * winograd_gradient_stride(g), 0.0f);
                    continue;
                }
                const int tiles = (r1 - r0) * w.tiles_w;
                if (prepacked) {  // each part's operands packed on their own, its tiles from 0
                    winograd_transform_input_packed(g, w, b.xp, r0, r1, 0, tiles, b.V, w.vt_xi_stride);
                    winograd_transform_dy_packed(w, b.dyp, g.K, r0, r1, 0, tiles, b.M, w.zt_xi_stride);
                    winograd_weight_products_packed(g, w, b, tiles, 0, g.K, dU_part, n > 0);
                } else {
                    winograd_weight_products(g, w, b, static_cast<long>(r0 - ty0) * w.tiles_w, tiles, 0, g.K, dU_part,
                                             n > 0);
                }
            }
        }
    });
    pool_run(pool, threads, [&](int t) {
        int k0 = 0, k1 = 0;
        split_range(g.K, threads, t, 1, k0, k1);
        winograd_sum_weight_parts(g, dU, part_scalars, parts, k0, k1, dweight);
    });
}

// winograd_backward_weights for a batch of fewer images than winograd_weight_parts, where the parts would leave
// threads idle: each thread takes a range of filters (whole micro-tile rows), transforms every image's input (the
// same V on every thread) and its filters' dy, and sums its dU rows over all tiles in order, in a part of dU of its
// own: with both threads' rows in one dU, the GEMMs that write them ran at half speed on 2 threads (fer conv6 at
// batch 1: 112-119 us per thread against 63-65, and 117 us for all the rows on one thread). The sums per filter
// do not depend on the split, so results are the same for any thread count.
inline void winograd_backward_weights_by_filters(const ConvGeometry& g, int N, const float* x, const float* dy,
                                                 float* dweight, float* dU, float* workspace,
                                                 std::size_t thread_scalars, ThreadPool* pool) {
    const int threads = pool ? pool->size() : 1;
    const WinogradLayout w = winograd_layout(g);
    pool_run(pool, threads, [&](int t) {
        int k0 = 0, k1 = 0;
        split_range(g.K, threads, t, winograd_weights_filter_unit(g), k0, k1);
        if (k0 == k1) return;
        const WinogradBuffers b(w, workspace + static_cast<std::size_t>(t) * thread_scalars);
        float* own = dU + static_cast<std::size_t>(t % winograd_weight_parts) * winograd_weight_scalars(g);
        for (int n0 = 0; n0 < N; n0 += w.images_per_chunk) {
            const int n1 = std::min(N, n0 + w.images_per_chunk);
            winograd_weights_chunk(g, w, x, dy, n0, n1, k0, k1, b, own, n0 > 0);
        }
        winograd_weights_gradient(g, own, k0, k1, dweight);
    });
}

// dweight (K, C, 3, 3) = dL/dweight for x (N, C, H, W) and dy (N, K, OH, OW): per position xi,
// dU_xi (K, C) = sum over the tiles of every image of Z_xi (K, tiles) x V_xi (C, tiles)^T, then G^T dU G.
// The images are split in winograd_weight_parts parts, each summed (in chunks, in order) into its own dU by one
// thread; then dU = (dU_0 + dU_1) + (dU_2 + dU_3), split by filters. A batch of fewer images than parts is
// split by tile rows (winograd_backward_weights_by_rows) or by filters (winograd_backward_weights_by_filters).
// `dU` holds winograd_weight_parts * winograd_weight_scalars(g); `workspace` holds winograd_thread_scalars(g) per
// thread.
inline void winograd_backward_weights(const ConvGeometry& g, int N, const float* x, const float* dy, float* dweight,
                                      float* dU, float* workspace, std::size_t thread_scalars, ThreadPool* pool) {
    static_assert(winograd_weight_parts == 4, "the final sum below adds four parts");
    if (winograd_weights_by_rows(g, N)) {
        winograd_backward_weights_by_rows(g, N, x, dy, dweight, dU, workspace, thread_scalars, pool);
        return;
    }
    if (N < winograd_weight_parts) {
        winograd_backward_weights_by_filters(g, N, x, dy, dweight, dU, workspace, thread_scalars, pool);
        return;
    }
    const int threads = pool ? pool->size() : 1;
    const WinogradLayout w = winograd_layout(g);
    const long u_plane = winograd_gradient_stride(g);
    const std::size_t part_scalars = winograd_weight_scalars(g);
    auto sum_part = [&](int t, int part) {
        const WinogradBuffers b(w, workspace + static_cast<std::size_t>(t) * thread_scalars);
        float* dU_part = dU + static_cast<std::size_t>(part) * part_scalars;
        int first = 0, last = 0;
        split_range(N, winograd_weight_parts, part, 1, first, last);
        if (first == last) std::fill(dU_part, dU_part + 16 * u_plane, 0.0f);
        for (int n0 = first; n0 < last; n0 += w.images_per_chunk) {
            const int n1 = std::min(last, n0 + w.images_per_chunk);
            winograd_weights_chunk(g, w, x, dy, n0, n1, 0, g.K, b, dU_part, n0 > first);
        }
    };
    auto add_parts = [&](int t) {
        int k0 = 0, k1 = 0;
        split_range(g.K, threads, t, 1, k0, k1);
        winograd_sum_weight_parts(g, dU, part_scalars, winograd_weight_parts, k0, k1, dweight);
    };
    pool_run(pool, threads, [&](int t) {
        for (int part = t; part < winograd_weight_parts; part += threads) sum_part(t, part);
    });
    pool_run(pool, threads, add_parts);
}
#endif

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
