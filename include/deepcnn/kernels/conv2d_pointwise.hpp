// deepcnn/kernels/conv2d_pointwise.hpp: 1x1 convolutions (no padding; stride 1 or more) as plain GEMMs on the
// NCHW planes, with no padded copy and no im2col packer (the plan's "pointwise" variants, conv2d_plan.hpp):
//   forward           y_n (K, P) = weight (K, C) x xs_n (C, P) + bias
//   backward-data     dxs_n (C, P) = weight^T (C, K) x dy_n (K, P)
//   backward-weights  dweight (K, C) = sum_n dy_n (K, P) x xs_n^T (P, C)
// where xs_n is image n subsampled at the stride (x_n itself at stride 1) and dx_n is dxs_n scattered back to the
// strided pixels, zero elsewhere. Forward and backward-data split the images over the threads (or, at a batch
// smaller than the pool, the pixels, in whole GEMM panels, or the rows where that splits evener); backward-weights
// splits dweight by rows or columns, each thread summing every image in order; so no split changes a sum and
// results are the same on any thread count. Workspace: the layout of conv2d_fast_workspace_size (the shared part
// holds the weights packed once per call where that pays, each thread's image part a subsampled image).

#ifndef DEEPCNN_ISA_NS
#error "kernels/conv2d_pointwise.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {
namespace detail {

// A 1x1 window without padding: every output pixel reads one input pixel, at (oh * stride_h, ow * stride_w).
inline bool pointwise_applies(const ConvGeometry& g) {
    return g.KH == 1 && g.KW == 1 && g.pad_top == 0 && g.pad_left == 0;
}

inline bool pointwise_unit_stride(const ConvGeometry& g) { return g.stride_h == 1 && g.stride_w == 1; }

// xs (C, OH * OW) = x (C, H, W) at the strided pixels.
template <class Scalar>
void pointwise_subsample(const ConvGeometry& g, const Scalar* x, Scalar* xs) {
    for (int c = 0; c < g.C; ++c)
        for (int oh = 0; oh < g.OH; ++oh) {
            const Scalar* row = x + (static_cast<std::size_t>(c) * g.H + oh * g.stride_h) * g.W;
            Scalar* out = xs + (static_cast<std::size_t>(c) * g.OH + oh) * g.OW;
            for (int ow = 0; ow < g.OW; ++ow) out[ow] = row[ow * g.stride_w];
        }
}

#if DEEPCNN_ISA_AVX2
// Float at stride 2 across: each row's even pixels by whole-vector loads (masked where the row ends).
inline void pointwise_subsample(const ConvGeometry& g, const float* x, float* xs) {
    if (g.stride_w != 2) {
        pointwise_subsample<float>(g, x, xs);
        return;
    }
    using V = Widest;
    constexpr int L = V::lanes;
    for (int c = 0; c < g.C; ++c)
        for (int oh = 0; oh < g.OH; ++oh) {
            const float* row = x + (static_cast<std::size_t>(c) * g.H + oh * g.stride_h) * g.W;
            float* out = xs + (static_cast<std::size_t>(c) * g.OH + oh) * g.OW;
            int ow = 0;
            for (; 2 * ow + 2 * L <= g.W; ow += L) V::store(out + ow, V::load_even(row + 2 * ow));
            if (ow < g.OW) {
                const int left = g.W - 2 * ow;  // the row's floats from 2 ow on: fewer than 2 L
                const V::V lo = V::load_first(row + 2 * ow, V::first(std::min(L, left)));
                const V::V hi = V::load_first(row + 2 * ow + L, V::first(std::max(0, left - L)));
                V::store_first(out + ow, V::first(g.OW - ow), V::even_of(lo, hi));
            }
        }
}
#endif

// Channels [c0, c1) of dx (C, H, W) = those of dxs (C, OH * OW) at the strided pixels, zero elsewhere.
template <class Scalar>
void pointwise_scatter(const ConvGeometry& g, const Scalar* dxs, Scalar* dx, int c0, int c1) {
    const std::size_t plane = static_cast<std::size_t>(g.H) * g.W;
    std::fill(dx + c0 * plane, dx + c1 * plane, Scalar(0));
    for (int c = c0; c < c1; ++c)
        for (int oh = 0; oh < g.OH; ++oh) {
            Scalar* row = dx + (static_cast<std::size_t>(c) * g.H + oh * g.stride_h) * g.W;
            const Scalar* in = dxs + (static_cast<std::size_t>(c) * g.OH + oh) * g.OW;
            for (int ow = 0; ow < g.OW; ++ow) row[ow * g.stride_w] = in[ow];
        }
}

#if DEEPCNN_ISA_AVX2
// Float at stride 2 across: every row written once, whole vectors of values with zeros between, or zeros.
inline void pointwise_scatter(const ConvGeometry& g, const float* dxs, float* dx, int c0, int c1) {
    if (g.stride_w != 2) {
        pointwise_scatter<float>(g, dxs, dx, c0, c1);
        return;
    }
    using V = Widest;
    constexpr int L = V::lanes;
    for (int c = c0; c < c1; ++c)
        for (int h = 0; h < g.H; ++h) {
            float* row = dx + (static_cast<std::size_t>(c) * g.H + h) * g.W;
            if (h % g.stride_h != 0) {
                int w = 0;
                for (; w + L <= g.W; w += L) V::store(row + w, V::zero());
                if (w < g.W) V::store_first(row + w, V::first(g.W - w), V::zero());
                continue;
            }
            const float* in = dxs + (static_cast<std::size_t>(c) * g.OH + h / g.stride_h) * g.OW;
            for (int w = 0; w < g.W; w += L) {
                const V::V v = V::expand_even(in + w / 2, std::min(L / 2, g.OW - w / 2));
                if (w + L <= g.W) {
                    V::store(row + w, v);
                } else {
                    V::store_first(row + w, V::first(g.W - w), v);
                }
            }
        }
}
#endif

// Thread t's scratch: an image-sized part (a subsampled image or dxs) and its GEMM block after it.
template <class Scalar>
struct PointwiseScratch {
    Scalar* image;
    Scalar* gemm_ws;
    PointwiseScratch(Scalar* threads_workspace, std::size_t per_thread, int t) {
        image = threads_workspace + static_cast<std::size_t>(t) * per_thread;
        gemm_ws = image + per_thread - gemm_workspace_size<Scalar>();
    }
};

// Forward: y = bias + weight x xs (the GEMM's sums start from the bias), by images (or pixel panels at a batch
// smaller than the pool); the weights packed once into packed_weights (PrepackedA::padded(K) * C scalars) where
// that pays (SharedA).
template <class Scalar>
void pointwise_forward(const ConvGeometry& g, int N, const Scalar* x, const Scalar* weight, const Scalar* bias,
                       Scalar* y, Scalar* packed_weights, Scalar* threads_workspace, std::size_t per_thread,
                       ThreadPool* pool) {
    const int P = g.out_pixels();
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W, out_size = static_cast<std::size_t>(g.K) * P;
    const bool unit = pointwise_unit_stride(g);
    const int threads = pool ? pool->size() : 1;
    const SharedA<Scalar> a(g.K, g.C, StridedMatrix<Scalar>{weight, g.C, 1}, packed_weights, N, threads);
    const bool by_rows = N < threads && rows_split_evener(g.K, GemmBlocking::MR, P, GemmBlocking::NR, threads);
    for_each_image_part(N, pool, by_rows ? g.K : P, by_rows ? GemmBlocking::MR : GemmBlocking::NR,
                        [&](int t, int n, int b0, int b1) {
        const int k0 = by_rows ? b0 : 0, k1 = by_rows ? b1 : g.K, p0 = by_rows ? 0 : b0, p1 = by_rows ? P : b1;
        const PointwiseScratch<Scalar> s(threads_workspace, per_thread, t);
        const Scalar* xs = x + n * in_size;
        if (!unit) {
            pointwise_subsample(g, xs, s.image);
            xs = s.image;
        }
        a.rows(k0, [&](const auto& pack_a) {
            gemm_packed(k1 - k0, p1 - p0, g.C, pack_a, StridedPackB<Scalar>{{xs + p0, P, 1}},
                        y + n * out_size + static_cast<std::size_t>(k0) * P + p0, P, false, s.gemm_ws,
                        bias ? bias + k0 : bias);
        });
    });
}

// Backward-data: dxs = weight^T x dy (stride 1: written in place; a batch smaller than the pool splits the pixels),
// scattered to the strided pixels (a batch smaller than the pool splits the input channels); weight^T packed once
// into packed_weights (PrepackedA::padded(C) * K scalars) where that pays (SharedA).
template <class Scalar>
void pointwise_backward_data(const ConvGeometry& g, int N, const Scalar* dy, const Scalar* weight, Scalar* dx,
                             Scalar* packed_weights, Scalar* threads_workspace, std::size_t per_thread,
                             ThreadPool* pool) {
    const int P = g.out_pixels();
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W, out_size = static_cast<std::size_t>(g.K) * P;
    const int threads = pool ? pool->size() : 1;
    const SharedA<Scalar> a(g.C, g.K, StridedMatrix<Scalar>{weight, 1, g.C}, packed_weights, N, threads);
    if (pointwise_unit_stride(g)) {
        const bool by_rows = N < threads && rows_split_evener(g.C, GemmBlocking::MR, P, GemmBlocking::NR, threads);
        for_each_image_part(N, pool, by_rows ? g.C : P, by_rows ? GemmBlocking::MR : GemmBlocking::NR,
                            [&](int t, int n, int b0, int b1) {
            const int c0 = by_rows ? b0 : 0, c1 = by_rows ? b1 : g.C, p0 = by_rows ? 0 : b0, p1 = by_rows ? P : b1;
            const PointwiseScratch<Scalar> s(threads_workspace, per_thread, t);
            a.rows(c0, [&](const auto& pack_a) {
                gemm_packed(c1 - c0, p1 - p0, g.K, pack_a, StridedPackB<Scalar>{{dy + n * out_size + p0, P, 1}},
                            dx + n * in_size + static_cast<std::size_t>(c0) * P + p0, P, false, s.gemm_ws);
            });
        });
        return;
    }
    for_each_image_part(N, pool, g.C, GemmBlocking::MR, [&](int t, int n, int c0, int c1) {
        const PointwiseScratch<Scalar> s(threads_workspace, per_thread, t);
        a.rows(c0, [&](const auto& pack_a) {
            gemm_packed(c1 - c0, P, g.K, pack_a, StridedPackB<Scalar>{{dy + n * out_size, P, 1}},
                        s.image + static_cast<std::size_t>(c0) * P, P, false, s.gemm_ws);
        });
        pointwise_scatter(g, s.image, dx + n * in_size, c0, c1);
    });
}

// dbias[k] for k in [k0, k1) = [dbias[k] +] the sum of row k of dy_n (P pixels): in 8 lanes, then folded (a fixed
// order); called image by image, while dy_n is in the cache from the GEMM that read it.
template <class Scalar>
void pointwise_add_bias(const Scalar* dy_n, int P, int k0, int k1, Scalar* dbias, bool accumulate) {
    for (int k = k0; k < k1; ++k) {
        const Scalar* row = dy_n + static_cast<std::size_t>(k) * P;
        Scalar part[8] = {};
        int p = 0;
        for (; p + 8 <= P; p += 8)
            for (int j = 0; j < 8; ++j) part[j] += row[p + j];
        for (int j = 0; p < P; ++p, ++j) part[j] += row[p];
        const Scalar total = sum_lanes8(part);
        dbias[k] = accumulate ? dbias[k] + total : total;
    }
}

#if DEEPCNN_ISA_AVX2
// Float: the same sums (8 lanes, each in pixel order, then folded), four rows at a time so that their additions
// overlap.
inline void pointwise_add_bias(const float* dy_n, int P, int k0, int k1, float* dbias, bool accumulate) {
    const int whole = P / 8 * 8;
    const __m256i tail = first_lanes(P - whole);
    for (int k = k0; k < k1; k += 4) {
        const int rows = std::min(4, k1 - k);
        const float* row[4];
        for (int r = 0; r < 4; ++r) row[r] = dy_n + static_cast<std::size_t>(k + std::min(r, rows - 1)) * P;
        __m256 part[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int p = 0; p < whole; p += 8)
#pragma GCC unroll 4
            for (int r = 0; r < 4; ++r) part[r] = _mm256_add_ps(part[r], _mm256_loadu_ps(row[r] + p));
        if (whole < P)
            for (int r = 0; r < 4; ++r) part[r] = _mm256_add_ps(part[r], _mm256_maskload_ps(row[r] + whole, tail));
        for (int r = 0; r < rows; ++r) {
            alignas(32) float lanes[8];
            _mm256_store_ps(lanes, part[r]);
            const float total = sum_lanes8(lanes);
            dbias[k + r] = accumulate ? dbias[k + r] + total : total;
        }
    }
}
#endif

// Backward-weights: dweight = sum_n dy_n x xs_n^T; threads split dweight by columns (input channels, when they
// hold two panels per thread) or rows (filters), and the bias by filters (their own rows, or an even share), each
// summing every image in order.
template <class Scalar>
void pointwise_backward_weights(const ConvGeometry& g, int N, const Scalar* x, const Scalar* dy, Scalar* dweight,
                                Scalar* dbias, Scalar* threads_workspace, std::size_t per_thread, ThreadPool* pool) {
    const int P = g.out_pixels(), threads = pool ? pool->size() : 1;
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W, out_size = static_cast<std::size_t>(g.K) * P;
    const bool unit = pointwise_unit_stride(g);
    const bool by_columns = g.C >= 2 * GemmBlocking::NR * threads;
    pool_run(pool, threads, [&](int t) {
        const PointwiseScratch<Scalar> s(threads_workspace, per_thread, t);
        int begin = 0, end = 0, bias0 = 0, bias1 = 0;
        split_range(by_columns ? g.C : g.K, threads, t, by_columns ? GemmBlocking::NR : GemmBlocking::MR, begin, end);
        if (by_columns) {
            split_range(g.K, threads, t, 1, bias0, bias1);
        } else {
            bias0 = begin, bias1 = end;
        }
        const int k0 = by_columns ? 0 : begin, k1 = by_columns ? g.K : end;
        const int c0 = by_columns ? begin : 0, c1 = by_columns ? end : g.C;
        for (int n = 0; n < N; ++n) {
            const Scalar* dy_n = dy + n * out_size;
            if (begin < end) {
                const Scalar* xs = x + n * in_size;
                if (!unit) {
                    pointwise_subsample(g, xs, s.image);
                    xs = s.image;
                }
                gemm(k1 - k0, c1 - c0, P, StridedMatrix<Scalar>{dy_n + static_cast<std::size_t>(k0) * P, P, 1},
                     StridedMatrix<Scalar>{xs + static_cast<std::size_t>(c0) * P, 1, P},
                     dweight + static_cast<std::size_t>(k0) * g.C + c0, g.C, n > 0, s.gemm_ws);
            }
            if (dbias) pointwise_add_bias(dy_n, P, bias0, bias1, dbias, n > 0);
        }
    });
}

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
