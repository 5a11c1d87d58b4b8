// deepcnn/kernels/avg_pool.hpp: 2-D average pooling over NCHW batches, windowed (window, stride, padding) and
// global (each (n, c) plane to its mean). Padding cells count in a window's divisor when `count_include_pad`
// (PyTorch's default: always KH * KW), otherwise the divisor is the number of input cells the window covers.
// The _ref functions are plain window scans that test every cell; avg_pool_forward / _backward clip each window
// to the input once and split the (n, c) planes over a ThreadPool; global_avg_pool_forward sums in eight
// independent lanes. Each plane is computed by one thread, so results do not depend on the thread count.
#pragma once

#include <algorithm>

#include "../parallel/thread_pool.hpp"
#include "conv_geometry.hpp"

namespace deepcnn {

namespace detail {

// The input rows (or columns) [begin, end) under output row (column) `out`'s window, and its full extent.
struct PoolSpan {
    int begin, end;
    PoolSpan(int out, int stride, int pad, int window, int size) {
        const int start = out * stride - pad;
        begin = std::max(start, 0);
        end = std::min(start + window, size);
    }
    int count() const { return end - begin; }
};

// Calls fn(o, rows, cols, divisor) for every output cell o = oh * OW + ow of one plane, with its window clipped to
// the input and its divisor.
template <class F>
void for_each_pool_window(const ConvGeometry& g, bool count_include_pad, F&& fn) {
    for (int oh = 0; oh < g.OH; ++oh) {
        const PoolSpan rows(oh, g.stride_h, g.pad_top, g.KH, g.H);
        for (int ow = 0; ow < g.OW; ++ow) {
            const PoolSpan cols(ow, g.stride_w, g.pad_left, g.KW, g.W);
            fn(oh * g.OW + ow, rows, cols, count_include_pad ? g.KH * g.KW : rows.count() * cols.count());
        }
    }
}

// Planes per task so that a task holds at least about 16k cell visits.
inline long pool_planes_per_task(double cells_per_plane) {
    return std::max(1L, static_cast<long>(16384.0 / std::max(1.0, cells_per_plane)));
}

// Calls fn(plane) for each of the N * C planes of a pooling, split over `pool`.
template <class F>
void for_each_pool_plane(const ConvGeometry& g, int N, ThreadPool* pool, F&& fn) {
    const long grain = pool_planes_per_task(double(g.OH) * g.OW * g.KH * g.KW);
    parallel_for(pool, static_cast<long>(N) * g.C, grain, 1, [&](long begin, long end) {
        for (long plane = begin; plane < end; ++plane) fn(plane);
    });
}

}  // namespace detail

// y (N, C, OH, OW) = window means of x (N, C, H, W). g.K must equal g.C; windows must overlap the input
// (padding smaller than the window). Assigns y.
template <class Scalar>
void avg_pool_forward_ref(const ConvGeometry& g, int N, const Scalar* x, Scalar* y, bool count_include_pad) {
    for (long plane = 0; plane < static_cast<long>(N) * g.C; ++plane)
        for (int oh = 0; oh < g.OH; ++oh)
            for (int ow = 0; ow < g.OW; ++ow) {
                Scalar sum(0);
                int cells = 0;
                for (int kh = 0; kh < g.KH; ++kh)
                    for (int kw = 0; kw < g.KW; ++kw) {
                        const int ih = oh * g.stride_h - g.pad_top + kh;
                        const int iw = ow * g.stride_w - g.pad_left + kw;
                        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                        sum += x[(plane * g.H + ih) * g.W + iw];
                        ++cells;
                    }
                y[(plane * g.OH + oh) * g.OW + ow] = sum / Scalar(count_include_pad ? g.KH * g.KW : cells);
            }
}

// dx (N, C, H, W) = each dy spread evenly (divided by its window's divisor) over its window's input cells,
// summed where windows overlap. Assigns dx.
template <class Scalar>
void avg_pool_backward_ref(const ConvGeometry& g, int N, const Scalar* dy, Scalar* dx, bool count_include_pad) {
    for (long i = 0; i < static_cast<long>(N) * g.C * g.H * g.W; ++i) dx[i] = Scalar(0);
    for (long plane = 0; plane < static_cast<long>(N) * g.C; ++plane)
        for (int oh = 0; oh < g.OH; ++oh)
            for (int ow = 0; ow < g.OW; ++ow) {
                int cells = 0;
                for (int kh = 0; kh < g.KH; ++kh)
                    for (int kw = 0; kw < g.KW; ++kw) {
                        const int ih = oh * g.stride_h - g.pad_top + kh;
                        const int iw = ow * g.stride_w - g.pad_left + kw;
                        if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ++cells;
                    }
                const Scalar share = dy[(plane * g.OH + oh) * g.OW + ow] /
                                     Scalar(count_include_pad ? g.KH * g.KW : cells);
                for (int kh = 0; kh < g.KH; ++kh)
                    for (int kw = 0; kw < g.KW; ++kw) {
                        const int ih = oh * g.stride_h - g.pad_top + kh;
                        const int iw = ow * g.stride_w - g.pad_left + kw;
                        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                        dx[(plane * g.H + ih) * g.W + iw] += share;
                    }
            }
}

// As avg_pool_forward_ref, with planes split over `pool` (null: the calling thread). Assigns y.
template <class Scalar>
void avg_pool_forward(const ConvGeometry& g, int N, const Scalar* x, Scalar* y, bool count_include_pad,
                      ThreadPool* pool) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    detail::for_each_pool_plane(g, N, pool, [&](long plane) {
        const Scalar* in = x + plane * in_plane;
        Scalar* out = y + plane * out_plane;
        detail::for_each_pool_window(g, count_include_pad, [&](int o, const detail::PoolSpan& rows,
                                                               const detail::PoolSpan& cols, int divisor) {
            Scalar sum(0);
            for (int ih = rows.begin; ih < rows.end; ++ih)
                for (int iw = cols.begin; iw < cols.end; ++iw) sum += in[ih * g.W + iw];
            out[o] = sum / Scalar(divisor);
        });
    });
}

// As avg_pool_backward_ref, with planes split over `pool`. Assigns dx.
template <class Scalar>
void avg_pool_backward(const ConvGeometry& g, int N, const Scalar* dy, Scalar* dx, bool count_include_pad,
                       ThreadPool* pool) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    detail::for_each_pool_plane(g, N, pool, [&](long plane) {
        const Scalar* grad = dy + plane * out_plane;
        Scalar* in_grad = dx + plane * in_plane;
        std::fill(in_grad, in_grad + in_plane, Scalar(0));
        detail::for_each_pool_window(g, count_include_pad, [&](int o, const detail::PoolSpan& rows,
                                                               const detail::PoolSpan& cols, int divisor) {
            const Scalar share = grad[o] / Scalar(divisor);
            for (int ih = rows.begin; ih < rows.end; ++ih)
                for (int iw = cols.begin; iw < cols.end; ++iw) in_grad[ih * g.W + iw] += share;
        });
    });
}

// y (planes) = the mean of each of the `planes` runs of `size` values of x. Assigns y.
template <class Scalar>
void global_avg_pool_forward_ref(long planes, long size, const Scalar* x, Scalar* y) {
    for (long plane = 0; plane < planes; ++plane) {
        Scalar sum(0);
        for (long i = 0; i < size; ++i) sum += x[plane * size + i];
        y[plane] = sum / Scalar(size);
    }
}

// dx (planes x size) = dy[plane] / size everywhere in its plane. Assigns dx. The plain twin of
// global_avg_pool_backward.
template <class Scalar>
void global_avg_pool_backward_ref(long planes, long size, const Scalar* dy, Scalar* dx) {
    for (long plane = 0; plane < planes; ++plane)
        for (long i = 0; i < size; ++i) dx[plane * size + i] = dy[plane] / Scalar(size);
}

// As global_avg_pool_forward_ref, summing each plane in eight lanes (vectorisable) added up in order; planes split
// over `pool`. Assigns y.
template <class Scalar>
void global_avg_pool_forward(long planes, long size, const Scalar* x, Scalar* y, ThreadPool* pool) {
    parallel_for(pool, planes, detail::pool_planes_per_task(double(size)), 1, [&](long begin, long end) {
        constexpr int lanes = 8;
        for (long plane = begin; plane < end; ++plane) {
            const Scalar* in = x + plane * size;
            Scalar partial[lanes] = {};
            long i = 0;
            for (; i + lanes <= size; i += lanes)
                for (int l = 0; l < lanes; ++l) partial[l] += in[i + l];
            for (; i < size; ++i) partial[0] += in[i];
            Scalar sum(0);
            for (int l = 0; l < lanes; ++l) sum += partial[l];
            y[plane] = sum / Scalar(size);
        }
    });
}

// As global_avg_pool_backward_ref, planes split over `pool`. Assigns dx.
template <class Scalar>
void global_avg_pool_backward(long planes, long size, const Scalar* dy, Scalar* dx, ThreadPool* pool) {
    parallel_for(pool, planes, detail::pool_planes_per_task(double(size)), 1, [&](long begin, long end) {
        for (long plane = begin; plane < end; ++plane) std::fill(dx + plane * size, dx + (plane + 1) * size,
                                                                 dy[plane] / Scalar(size));
    });
}

}  // namespace deepcnn
