// deepcnn/kernels/grouped_conv2d.hpp: grouped 2-D convolution over NCHW batches (forward, backward-data,
// backward-weights). The C input channels and K filters split into `groups` equal groups; filter k sees only the
// C / groups input channels of its group k / (K / groups). Depthwise when groups == C. weight (K, C / groups, KH, KW).
// The _ref functions are the plain twins (forward and backward-data: conv2d_ref.hpp's per image and group).
// grouped_conv2d_forward / _backward_data / _backward_weights are portable row loops the compiler vectorises (for
// each tap, one multiply-add over a row of outputs), with the three taps of a 3-wide window fused into one pass (the
// depthwise 3x3 case), and output planes (forward), input planes (backward-data) or filters (backward-weights) split
// over a ThreadPool. Each result element is computed by one thread in a fixed order, so results do not depend on the
// thread count. No allocation.
#pragma once

#include <algorithm>

#include "../parallel/thread_pool.hpp"
#include "conv2d_ref.hpp"
#include "conv_geometry.hpp"

namespace deepcnn {

// The group structure of one grouped convolution: g holds the totals (g.C input channels, g.K filters).
struct ConvGroups {
    int groups = 1;
    int in_per_group = 0;   // C / groups
    int out_per_group = 0;  // K / groups
    ConvGroups(const ConvGeometry& g, int group_count)
        : groups(group_count), in_per_group(g.C / group_count), out_per_group(g.K / group_count) {}
    // The first input channel filter k reads.
    int first_input(int k) const { return k / out_per_group * in_per_group; }
};

// The convolution one group of one image is: C / groups input channels, K / groups filters, the same window.
inline ConvGeometry group_geometry(const ConvGeometry& g, int groups) {
    ConvGeometry sub = g;
    sub.C = g.C / groups;
    sub.K = g.K / groups;
    return sub;
}

// y (N, K, OH, OW) = grouped conv(x (N, C, H, W), weight (K, C / groups, KH, KW)) + bias (K) [bias may be null]:
// for each image and group, conv2d_forward_ref on the group's channels and filters. Assigns y.
template <class Scalar>
void grouped_conv2d_forward_ref(const ConvGeometry& g, int groups, int N, const Scalar* x, const Scalar* weight,
                                const Scalar* bias, Scalar* y) {
    const ConvGeometry sub = group_geometry(g, groups);
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    for (int n = 0; n < N; ++n)
        for (int group = 0; group < groups; ++group)
            conv2d_forward_ref(sub, 1, x + (static_cast<long>(n) * g.C + group * sub.C) * in_plane,
                               weight + static_cast<long>(group) * sub.K * sub.patch_size(),
                               bias ? bias + group * sub.K : nullptr,
                               y + (static_cast<long>(n) * g.K + group * sub.K) * out_plane);
}

// dx (N, C, H, W) = sum over the windows of each filter of its group of weight * dy: for each image and group,
// conv2d_backward_data_ref. Assigns dx.
template <class Scalar>
void grouped_conv2d_backward_data_ref(const ConvGeometry& g, int groups, int N, const Scalar* dy,
                                      const Scalar* weight, Scalar* dx) {
    const ConvGeometry sub = group_geometry(g, groups);
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    for (int n = 0; n < N; ++n)
        for (int group = 0; group < groups; ++group)
            conv2d_backward_data_ref(sub, 1, dy + (static_cast<long>(n) * g.K + group * sub.K) * out_plane,
                                     weight + static_cast<long>(group) * sub.K * sub.patch_size(),
                                     dx + (static_cast<long>(n) * g.C + group * sub.C) * in_plane);
}

// dweight (K, C / groups, KH, KW) = sum over batch and windows of dy * x; dbias (K) = sum of dy [may be null].
// Assigns both.
template <class Scalar>
void grouped_conv2d_backward_weights_ref(const ConvGeometry& g, int groups, int N, const Scalar* x,
                                         const Scalar* dy, Scalar* dweight, Scalar* dbias) {
    const ConvGroups gr(g, groups);
    for (int k = 0; k < g.K; ++k)
        for (int j = 0; j < gr.in_per_group; ++j)
            for (int kh = 0; kh < g.KH; ++kh)
                for (int kw = 0; kw < g.KW; ++kw) {
                    Scalar sum(0);
                    const int c = gr.first_input(k) + j;
                    for (int n = 0; n < N; ++n)
                        for (int oh = 0; oh < g.OH; ++oh)
                            for (int ow = 0; ow < g.OW; ++ow) {
                                const int ih = oh * g.stride_h - g.pad_top + kh;
                                const int iw = ow * g.stride_w - g.pad_left + kw;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                sum += dy[((static_cast<long>(n) * g.K + k) * g.OH + oh) * g.OW + ow] *
                                       x[((static_cast<long>(n) * g.C + c) * g.H + ih) * g.W + iw];
                            }
                    dweight[((k * gr.in_per_group + j) * g.KH + kh) * g.KW + kw] = sum;
                }
    if (dbias) {
        for (int k = 0; k < g.K; ++k) {
            Scalar sum(0);
            for (int n = 0; n < N; ++n)
                for (int p = 0; p < g.OH * g.OW; ++p) sum += dy[(static_cast<long>(n) * g.K + k) * g.OH * g.OW + p];
            dbias[k] = sum;
        }
    }
}

namespace detail {

// The output columns [lo, hi) whose input column ow * stride + shift lies in [0, W).
struct TapColumns {
    int lo, hi;
    TapColumns(int shift, int stride, int W, int OW) {
        lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
        hi = W - 1 - shift < 0 ? 0 : std::min(OW, (W - 1 - shift) / stride + 1);
        lo = std::min(lo, hi);
    }
};

// Calls fn(i) for every i in [0, count) outside [lo, hi): the edge columns a fused loop leaves out.
template <class F>
void for_each_outside(int lo, int hi, int count, F&& fn) {
    for (int i = 0; i < std::min(lo, count); ++i) fn(i);
    for (int i = std::max(hi, 0); i < count; ++i) fn(i);
}

// The columns where a 3-wide window's three taps fuse into one pass, worked out once per kernel call: the output
// columns [lo, hi) whose taps all fall inside the input (forward), and the input columns [in_lo, in_hi) whose taps
// all come from inside the output (backward-data, stride 1). Empty for other widths.
struct FusedColumns {
    int lo = 0, hi = 0, in_lo = 0, in_hi = 0;
    explicit FusedColumns(const ConvGeometry& g) {
        if (g.KW != 3) return;
        const TapColumns first(-g.pad_left, g.stride_w, g.W, g.OW), last(2 - g.pad_left, g.stride_w, g.W, g.OW);
        lo = std::max(first.lo, last.lo);
        hi = std::max(lo, std::min(first.hi, last.hi));
        in_lo = std::min(g.W, std::max(0, 2 - g.pad_left));
        in_hi = std::max(in_lo, std::min(g.W, g.OW - g.pad_left));
    }
};

// out[ow] += w[0] * in[ow * stride + shift] + ... over the taps kw of one kernel row: for 3-wide windows the three
// taps in one pass where all of them are in range (the edge columns tap by tap), otherwise tap by tap.
template <class Scalar>
void accumulate_row(const ConvGeometry& g, const FusedColumns& fused, const Scalar* w, const Scalar* in, Scalar* out) {
    const int stride = g.stride_w;
    if (g.KW == 3) {
        const int shift = -g.pad_left;
        const int lo = fused.lo, hi = fused.hi;
        const Scalar w0 = w[0], w1 = w[1], w2 = w[2];
        if (stride == 1) {
            for (int ow = lo; ow < hi; ++ow)
                out[ow] += w0 * in[ow + shift] + w1 * in[ow + shift + 1] + w2 * in[ow + shift + 2];
        } else {
            for (int ow = lo; ow < hi; ++ow) {
                const Scalar* p = in + ow * stride + shift;
                out[ow] += w0 * p[0] + w1 * p[1] + w2 * p[2];
            }
        }
        for_each_outside(lo, hi, g.OW, [&](int ow) {
            for (int kw = 0; kw < 3; ++kw) {
                const int iw = ow * stride + shift + kw;
                if (iw >= 0 && iw < g.W) out[ow] += w[kw] * in[iw];
            }
        });
        return;
    }
    for (int kw = 0; kw < g.KW; ++kw) {
        const int shift = kw - g.pad_left;
        const TapColumns cols(shift, stride, g.W, g.OW);
        const Scalar wk = w[kw];
        if (stride == 1) {
            for (int ow = cols.lo; ow < cols.hi; ++ow) out[ow] += wk * in[ow + shift];
        } else {
            for (int ow = cols.lo; ow < cols.hi; ++ow) out[ow] += wk * in[ow * stride + shift];
        }
    }
}

// in_grad[ow * stride + kw - pad_left] += w[kw] * out_grad[ow] over the taps of one kernel row (the transpose of
// accumulate_row). For 3-wide windows and stride 1, each input column gathers its three taps in one pass.
template <class Scalar>
void scatter_row(const ConvGeometry& g, const FusedColumns& fused, const Scalar* w, const Scalar* out_grad,
                 Scalar* in_grad) {
    const int stride = g.stride_w;
    if (g.KW == 3 && stride == 1) {
        // in_grad[iw] += w0 * out_grad[iw + p] + w1 * out_grad[iw + p - 1] + w2 * out_grad[iw + p - 2], p = pad_left,
        // over the taps whose output column lies in [0, OW).
        const int p = g.pad_left;
        const int lo = fused.in_lo, hi = fused.in_hi;
        const Scalar w0 = w[0], w1 = w[1], w2 = w[2];
        for (int iw = lo; iw < hi; ++iw)
            in_grad[iw] += w0 * out_grad[iw + p] + w1 * out_grad[iw + p - 1] + w2 * out_grad[iw + p - 2];
        for_each_outside(lo, hi, g.W, [&](int iw) {
            for (int kw = 0; kw < 3; ++kw) {
                const int ow = iw + p - kw;
                if (ow >= 0 && ow < g.OW) in_grad[iw] += w[kw] * out_grad[ow];
            }
        });
        return;
    }
    for (int kw = 0; kw < g.KW; ++kw) {
        const int shift = kw - g.pad_left;
        const TapColumns cols(shift, stride, g.W, g.OW);
        const Scalar wk = w[kw];
        for (int ow = cols.lo; ow < cols.hi; ++ow) in_grad[ow * stride + shift] += wk * out_grad[ow];
    }
}

// Eight running sums, kept apart so that a dot product vectorises without reassociation and added up in a fixed
// order at the end.
template <class Scalar>
struct LaneSums {
    static constexpr int lanes = 8;
    Scalar partial[lanes] = {};
    // partial += a[ow] * b[ow * stride + shift] for ow in [lo, hi).
    void add_dot(const Scalar* a, const Scalar* b, int lo, int hi, int stride, int shift) {
        int ow = lo;
        if (stride == 1) {
            for (; ow + lanes <= hi; ow += lanes)
                for (int l = 0; l < lanes; ++l) partial[l] += a[ow + l] * b[ow + l + shift];
        }
        for (; ow < hi; ++ow) partial[ow % lanes] += a[ow] * b[ow * stride + shift];
    }
    Scalar total() const {
        Scalar sum(0);
        for (int l = 0; l < lanes; ++l) sum += partial[l];
        return sum;
    }
};

// Planes (or filters) per task so that a task holds at least about 32k multiply-adds.
inline long planes_per_task(double macs_per_plane) {
    return std::max(1L, static_cast<long>(32768.0 / std::max(1.0, macs_per_plane)));
}

}  // namespace detail

// As grouped_conv2d_forward_ref; output planes (n, k) split over `pool` (null: the calling thread). Assigns y.
template <class Scalar>
void grouped_conv2d_forward(const ConvGeometry& g, int groups, int N, const Scalar* x, const Scalar* weight,
                            const Scalar* bias, Scalar* y, ThreadPool* pool) {
    const ConvGroups gr(g, groups);
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const long filter = static_cast<long>(gr.in_per_group) * g.KH * g.KW;
    const long planes = static_cast<long>(N) * g.K;
    const detail::FusedColumns fused(g);
    parallel_for(pool, planes, detail::planes_per_task(double(out_plane) * filter), 1, [&](long begin, long end) {
        for (long plane = begin; plane < end; ++plane) {
            const int n = static_cast<int>(plane / g.K), k = static_cast<int>(plane % g.K);
            const Scalar* x_group = x + (static_cast<long>(n) * g.C + gr.first_input(k)) * in_plane;
            const Scalar* w_k = weight + k * filter;
            Scalar* out = y + plane * out_plane;
            std::fill(out, out + out_plane, bias ? bias[k] : Scalar(0));
            for (int j = 0; j < gr.in_per_group; ++j)
                for (int kh = 0; kh < g.KH; ++kh)
                    for (int oh = 0; oh < g.OH; ++oh) {
                        const int ih = oh * g.stride_h - g.pad_top + kh;
                        if (ih < 0 || ih >= g.H) continue;
                        detail::accumulate_row(g, fused, w_k + (j * g.KH + kh) * g.KW,
                                               x_group + j * in_plane + ih * g.W, out + oh * g.OW);
                    }
        }
    });
}

// As grouped_conv2d_backward_data_ref; input planes (n, c) split over `pool`. Assigns dx.
template <class Scalar>
void grouped_conv2d_backward_data(const ConvGeometry& g, int groups, int N, const Scalar* dy, const Scalar* weight,
                                  Scalar* dx, ThreadPool* pool) {
    const ConvGroups gr(g, groups);
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const long filter = static_cast<long>(gr.in_per_group) * g.KH * g.KW;
    const long planes = static_cast<long>(N) * g.C;
    const double macs = double(out_plane) * gr.out_per_group * g.KH * g.KW;
    const detail::FusedColumns fused(g);
    parallel_for(pool, planes, detail::planes_per_task(macs), 1, [&](long begin, long end) {
        for (long plane = begin; plane < end; ++plane) {
            const int n = static_cast<int>(plane / g.C), c = static_cast<int>(plane % g.C);
            const int group = c / gr.in_per_group, j = c % gr.in_per_group;
            Scalar* in_grad = dx + plane * in_plane;
            std::fill(in_grad, in_grad + in_plane, Scalar(0));
            for (int m = 0; m < gr.out_per_group; ++m) {
                const int k = group * gr.out_per_group + m;
                const Scalar* dy_k = dy + (static_cast<long>(n) * g.K + k) * out_plane;
                const Scalar* w_kj = weight + k * filter + j * g.KH * g.KW;
                for (int kh = 0; kh < g.KH; ++kh)
                    for (int oh = 0; oh < g.OH; ++oh) {
                        const int ih = oh * g.stride_h - g.pad_top + kh;
                        if (ih < 0 || ih >= g.H) continue;
                        detail::scatter_row(g, fused, w_kj + kh * g.KW, dy_k + oh * g.OW, in_grad + ih * g.W);
                    }
            }
        }
    });
}

// As grouped_conv2d_backward_weights_ref; filters split over `pool`, each summed over the whole batch by one thread.
// Assigns dweight and dbias [may be null].
template <class Scalar>
void grouped_conv2d_backward_weights(const ConvGeometry& g, int groups, int N, const Scalar* x, const Scalar* dy,
                                     Scalar* dweight, Scalar* dbias, ThreadPool* pool) {
    const ConvGroups gr(g, groups);
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    const long filter = static_cast<long>(gr.in_per_group) * g.KH * g.KW;
    const double macs = double(N) * out_plane * filter;
    parallel_for(pool, g.K, detail::planes_per_task(macs), 1, [&](long begin, long end) {
        for (int k = static_cast<int>(begin); k < end; ++k) {
            for (int j = 0; j < gr.in_per_group; ++j)
                for (int kh = 0; kh < g.KH; ++kh)
                    for (int kw = 0; kw < g.KW; ++kw) {
                        const int shift = kw - g.pad_left;
                        const detail::TapColumns cols(shift, g.stride_w, g.W, g.OW);
                        detail::LaneSums<Scalar> sum;
                        for (int n = 0; n < N; ++n) {
                            const Scalar* x_c = x + (static_cast<long>(n) * g.C + gr.first_input(k) + j) * in_plane;
                            const Scalar* dy_k = dy + (static_cast<long>(n) * g.K + k) * out_plane;
                            for (int oh = 0; oh < g.OH; ++oh) {
                                const int ih = oh * g.stride_h - g.pad_top + kh;
                                if (ih < 0 || ih >= g.H) continue;
                                sum.add_dot(dy_k + oh * g.OW, x_c + ih * g.W, cols.lo, cols.hi, g.stride_w, shift);
                            }
                        }
                        dweight[k * filter + (j * g.KH + kh) * g.KW + kw] = sum.total();
                    }
            if (dbias) {
                Scalar sum(0);
                for (int n = 0; n < N; ++n) {
                    const Scalar* dy_k = dy + (static_cast<long>(n) * g.K + k) * out_plane;
                    for (long p = 0; p < out_plane; ++p) sum += dy_k[p];
                }
                dbias[k] = sum;
            }
        }
    });
}

}  // namespace deepcnn
