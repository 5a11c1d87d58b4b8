// deepcnn/kernels/conv2d_pointwise.hpp: 1x1 convolutions (no padding; stride 1 or more) as plain GEMMs on the
// NCHW planes, with no padded copy and no im2col packer (the plan's "pointwise" variants, conv2d_plan.hpp):
//   forward           y_n (K, P) = weight (K, C) x xs_n (C, P) + bias
//   backward-data     dxs_n (C, P) = weight^T (C, K) x dy_n (K, P)
//   backward-weights  dweight (K, C) = sum_n dy_n (K, P) x xs_n^T (P, C)
// where xs_n is image n subsampled at the stride (x_n itself at stride 1) and dx_n is dxs_n scattered back to the
// strided pixels, zero elsewhere. Forward and backward-data split the images over the threads (or, at a batch
// smaller than the pool, the pixels, in whole GEMM panels); backward-weights splits dweight by rows or columns,
// each thread summing every image in order; so no split changes a sum and results are the same on any thread
// count. Workspace: the layout of conv2d_fast_workspace_size (each thread's image part holds a subsampled image).

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

// Forward: y = weight x xs + bias, by images (or pixel panels at a batch smaller than the pool).
template <class Scalar>
void pointwise_forward(const ConvGeometry& g, int N, const Scalar* x, const Scalar* weight, const Scalar* bias,
                       Scalar* y, Scalar* threads_workspace, std::size_t per_thread, ThreadPool* pool) {
    const int P = g.out_pixels();
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W, out_size = static_cast<std::size_t>(g.K) * P;
    const bool unit = pointwise_unit_stride(g);
    for_each_image_part(N, pool, P, GemmBlocking::NR, [&](int t, int n, int p0, int p1) {
        const PointwiseScratch<Scalar> s(threads_workspace, per_thread, t);
        const Scalar* xs = x + n * in_size;
        if (!unit) {
            pointwise_subsample(g, xs, s.image);
            xs = s.image;
        }
        Scalar* out = y + n * out_size;
        gemm(g.K, p1 - p0, g.C, StridedMatrix<Scalar>{weight, g.C, 1}, StridedMatrix<Scalar>{xs + p0, P, 1}, out + p0,
             P, false, s.gemm_ws);
        if (bias)
            for (int k = 0; k < g.K; ++k) {
                Scalar* row = out + static_cast<std::size_t>(k) * P;
                for (int p = p0; p < p1; ++p) row[p] += bias[k];
            }
    });
}

// Backward-data: dxs = weight^T x dy (stride 1: written in place; a batch smaller than the pool splits the pixels),
// scattered to the strided pixels (a batch smaller than the pool splits the input channels).
template <class Scalar>
void pointwise_backward_data(const ConvGeometry& g, int N, const Scalar* dy, const Scalar* weight, Scalar* dx,
                             Scalar* threads_workspace, std::size_t per_thread, ThreadPool* pool) {
    const int P = g.out_pixels();
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W, out_size = static_cast<std::size_t>(g.K) * P;
    if (pointwise_unit_stride(g)) {
        for_each_image_part(N, pool, P, GemmBlocking::NR, [&](int t, int n, int p0, int p1) {
            const PointwiseScratch<Scalar> s(threads_workspace, per_thread, t);
            gemm(g.C, p1 - p0, g.K, StridedMatrix<Scalar>{weight, 1, g.C},
                 StridedMatrix<Scalar>{dy + n * out_size + p0, P, 1}, dx + n * in_size + p0, P, false, s.gemm_ws);
        });
        return;
    }
    for_each_image_part(N, pool, g.C, GemmBlocking::MR, [&](int t, int n, int c0, int c1) {
        const PointwiseScratch<Scalar> s(threads_workspace, per_thread, t);
        gemm(c1 - c0, P, g.K, StridedMatrix<Scalar>{weight + c0, 1, g.C}, StridedMatrix<Scalar>{dy + n * out_size, P, 1},
             s.image + static_cast<std::size_t>(c0) * P, P, false, s.gemm_ws);
        pointwise_scatter(g, s.image, dx + n * in_size, c0, c1);
    });
}

// Backward-weights: dweight = sum_n dy_n x xs_n^T; threads split dweight by columns (input channels, when they
// hold two panels per thread) or rows (filters); thread 0 sums the bias.
template <class Scalar>
void pointwise_backward_weights(const ConvGeometry& g, int N, const Scalar* x, const Scalar* dy, Scalar* dweight,
                                Scalar* dbias, Scalar* threads_workspace, std::size_t per_thread, ThreadPool* pool) {
    const int P = g.out_pixels(), threads = pool ? pool->size() : 1;
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W, out_size = static_cast<std::size_t>(g.K) * P;
    const bool unit = pointwise_unit_stride(g);
    const bool by_columns = g.C >= 2 * GemmBlocking::NR * threads;
    pool_run(pool, threads, [&](int t) {
        const PointwiseScratch<Scalar> s(threads_workspace, per_thread, t);
        int begin = 0, end = 0;
        split_range(by_columns ? g.C : g.K, threads, t, by_columns ? GemmBlocking::NR : GemmBlocking::MR, begin, end);
        if (begin < end) {
            const int k0 = by_columns ? 0 : begin, k1 = by_columns ? g.K : end;
            const int c0 = by_columns ? begin : 0, c1 = by_columns ? end : g.C;
            for (int n = 0; n < N; ++n) {
                const Scalar* xs = x + n * in_size;
                if (!unit) {
                    pointwise_subsample(g, xs, s.image);
                    xs = s.image;
                }
                gemm(k1 - k0, c1 - c0, P, StridedMatrix<Scalar>{dy + n * out_size + static_cast<std::size_t>(k0) * P, P, 1},
                     StridedMatrix<Scalar>{xs + static_cast<std::size_t>(c0) * P, 1, P},
                     dweight + static_cast<std::size_t>(k0) * g.C + c0, g.C, n > 0, s.gemm_ws);
            }
        }
        if (t == 0 && dbias) sum_bias(g, N, dy, dbias);
    });
}

}  // namespace detail
}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
