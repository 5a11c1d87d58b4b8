// deepcnn/kernels/winograd_transposed.hpp: the Winograd F(2x2, 3x3) forward (winograd.hpp) where each thread's
// GEMMs have few tiles (winograd_transposes: under 144, such as one 12x12 image's 36), with the 16 GEMMs turned
// around: M_xi^T (tiles, K) = V_xi^T (tiles, C) x U_xi^T (C, K). The tiles are then the rows, 36 of them six
// whole 6-row panels of the AVX2 tile, and the filters the columns, whole 16-wide panels; the other way round,
// 36 tiles fill three 16-wide panels three quarters full. The transforms write both operands in the GEMM's
// packed layout and use the same arithmetic as winograd.hpp's, so a result does not depend on which of the two
// orientations computed it.

#ifndef DEEPCNN_ISA_NS
#error "kernels/winograd_transposed.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

#if DEEPCNN_ISA_AVX2
// Scalars between the 16 operands U_xi^T (C, K) in the GEMM's packed layout (PrepackedB); K is a multiple of NR
// wherever winograd_transposes, so that they fit in the room of winograd_weight_scalars.
inline long winograd_transposed_weights_stride(const ConvGeometry& g) {
    return winograd_operand_stride(g.C * PrepackedB<float>::padded(g.K));
}

// U_xi^T (C, K) filters [k0, k1) (multiples of 8), as the GEMM's B operands (PrepackedB at U + xi *
// winograd_transposed_weights_stride): a group of 8 filters is 8 columns of one panel, one whole store.
inline void winograd_transform_weights_transposed(const ConvGeometry& g, const float* weight, bool flipped, float* U,
                                                  int k0, int k1) {
    const long padded_columns = PrepackedB<float>::padded(g.K);
    winograd_transform_weight_groups<8>(
        g, weight, flipped, k0, k1, winograd_transposed_weights_stride(g),
        [&](int k, int c) { return U + PrepackedB<float>::offset(c, k, g.C, padded_columns); });
}

// The transformed input of `tiles` tiles as the 16 GEMMs' A operands V_xi^T (tiles, C), packed for gemm_packed
// (PrepackedA, at V + xi * xi_stride): the store functor of winograd_transform_input. A vector's tiles that fall
// in one MR-row panel are consecutive scalars there: one store of their lanes per panel the vector reaches
// (shifted down to the first lanes where they do not start the vector; up to three panels of 6).
struct WinogradPanelsVT {
    float* V;
    int C;
    long padded_rows, xi_stride;
    WinogradPanelsVT(float* V_, int C_, long tiles)
        : V(V_), C(C_), padded_rows(PrepackedA<float>::padded(tiles)),
          xi_stride(winograd_operand_stride(C_ * padded_rows)) {}
    PrepackedA<float> operand(int xi) const { return {V + xi * xi_stride, padded_rows, 0}; }
    void operator()(int c, long t, int valid, const __m256* v) const {
        constexpr int MR = GemmBlocking::MR;
        for (int first = 0; first < valid;) {
            const int count = std::min<int>(valid - first, MR - static_cast<int>((t + first) % MR));
            float* out = V + PrepackedA<float>::offset(t + first, c, C, padded_rows);
            if (first == 0) {
#pragma GCC unroll 16
                for (int xi = 0; xi < 16; ++xi) store_first_lanes(out + xi * xi_stride, v[xi], count);
            } else {
                const __m256i shift = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                                       _mm256_set1_epi32(first));
                for (int xi = 0; xi < 16; ++xi)
                    store_first_lanes(out + xi * xi_stride, _mm256_permutevar8x32_ps(v[xi], shift), count);
            }
            first += count;
        }
    }
};

// y (N, K, OH, OW), filters [k0, k1) (multiples of 8), tile rows [ty0, ty1) of each image = A^T m A (+ bias), m
// read from M^T: 16 operands (tiles, K) row-major, xi_stride apart, the tiles of those rows numbered image by
// image. Eight filters are the lanes of a vector, with the arithmetic of winograd_transform_output
// (winograd_output_rows, winograd_output_columns); each lane's 2x2 outputs are stored one by one (a few thousand
// per image at these sizes). Assigns y.
inline void winograd_transposed_output(const ConvGeometry& g, const WinogradLayout& w, int N, int ty0, int ty1,
                                       const float* M, long xi_stride, const float* bias, float* y, int k0, int k1) {
    const std::size_t plane = static_cast<std::size_t>(g.OH) * g.OW;
    const long image_tiles = static_cast<long>(ty1 - ty0) * w.tiles_w;
    for (int n = 0; n < N; ++n)
        for (int ty = ty0; ty < ty1; ++ty)
            for (int tx = 0; tx < w.tiles_w; ++tx) {
                const long t = n * image_tiles + (ty - ty0) * w.tiles_w + tx;
                for (int k = k0; k < k1; k += 8) {
                    const float* mp = M + t * g.K + k;
                    const __m256 b = bias ? _mm256_loadu_ps(bias + k) : _mm256_setzero_ps();
                    __m256 s[2][4];
                    winograd_output_rows(mp, xi_stride, s);
                    float* y_k = y + (static_cast<std::size_t>(n) * g.K + k) * plane + 2 * tx;
                    for (int oy = 0; oy < 2 && 2 * ty + oy < g.OH; ++oy) {
                        __m256 left_lanes, right_lanes;
                        winograd_output_columns(s[oy], b, left_lanes, right_lanes);
                        alignas(32) float left[8], right[8];
                        _mm256_store_ps(left, left_lanes);
                        _mm256_store_ps(right, right_lanes);
                        float* dst = y_k + static_cast<std::size_t>(2 * ty + oy) * g.OW;
                        const bool both = 2 * tx + 1 < g.OW;
                        for (int j = 0; j < 8; ++j) {
                            dst[j * plane] = left[j];
                            if (both) dst[j * plane + 1] = right[j];
                        }
                    }
                }
            }
}

// y (N, K, OH, OW) = conv(x, weight) + bias where winograd_transposes: as winograd_forward, the weights
// transformed into U (room of winograd_weight_scalars(g)), `flipped` for a backward-data. The threads split the
// filters in whole panels of NR: each transforms its filters' weights, every image into V^T in its own workspace
// (winograd_thread_scalars(g) per thread: V^T and M^T fit where winograd_forward keeps V and M), and computes its
// filters' 16 products and outputs. Or, on fewer images than threads with few filters (winograd_splits_image_rows, as
// winograd_forward), the threads split each image's tile rows, each with all the weights transformed into its own
// copy (b.U). Every output sums its channels in the GEMM's fixed order, as winograd_forward's do, so results are
// bit-identical to it and for any thread count. With `transformed` (as winograd_transform_weights_transposed writes
// all the filters) no weights are transformed: every thread reads them from there.
inline void winograd_forward_transposed(const ConvGeometry& g, int N, const float* x, const float* weight,
                                        bool flipped, float* U, const float* bias, float* y, float* workspace,
                                        std::size_t thread_scalars, ThreadPool* pool,
                                        const float* transformed = nullptr) {
    const WinogradLayout w = winograd_layout(g);
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const long u_stride = winograd_transposed_weights_stride(g);
    const long padded_columns = PrepackedB<float>::padded(g.K);
    const int threads = pool ? pool->size() : 1;
    const bool split_tiles = winograd_splits_image_rows(g, w, N, threads);
    pool_run(pool, threads, [&](int t) {
        int k0 = 0, k1 = g.K, ty0 = 0, ty1 = w.tiles_h;
        if (split_tiles) {
            split_range(w.tiles_h, threads, t, 1, ty0, ty1);
        } else {
            split_range(g.K, threads, t, GemmBlocking::NR, k0, k1);
        }
        if (k0 == k1 || ty0 == ty1) return;
        const WinogradBuffers b(w, workspace + static_cast<std::size_t>(t) * thread_scalars);
        float* u_own = split_tiles ? b.U : U;
        if (!transformed) winograd_transform_weights_transposed(g, weight, flipped, u_own, k0, k1);
        const float* u_read = transformed ? transformed : u_own;
        const long image_tiles = static_cast<long>(ty1 - ty0) * w.tiles_w;
        const long tiles = N * image_tiles;
        const WinogradPanelsVT panels(b.V, g.C, tiles);
        for (int n = 0; n < N; ++n) {
            pad_image(g, w.padded, x + n * in_size, b.xp);
            winograd_transform_input(g, w, b.xp, ty0, ty1, n * image_tiles, panels);
        }
        const long m_stride = winograd_operand_stride(tiles * g.K);
        for (int xi = 0; xi < 16; ++xi) {
            const PrepackedB<float> u{u_read + xi * u_stride, padded_columns, k0};
            gemm_packed(static_cast<int>(tiles), k1 - k0, g.C, panels.operand(xi), u, b.M + xi * m_stride + k0, g.K,
                        false, b.gemm_ws);
        }
        winograd_transposed_output(g, w, N, ty0, ty1, b.M, m_stride, bias, y, k0, k1);
    });
}
#endif

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
