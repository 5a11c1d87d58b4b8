// deepcnn/kernels/conv2d_ref.hpp: plain-loop reference convolution (forward, backward-data, backward-weights)
// for one batch in NCHW layout. Slow and obviously correct: the twin every fast kernel is tested against.
#pragma once

#include "conv_geometry.hpp"

namespace deepcnn {

// y (N, K, OH, OW) = conv(x (N, C, H, W), weight (K, C, KH, KW)) + bias (K) [bias may be null]. Assigns y.
template <class Scalar>
void conv2d_forward_ref(const ConvGeometry& g, int N, const Scalar* x, const Scalar* weight, const Scalar* bias,
                        Scalar* y) {
    for (int n = 0; n < N; ++n)
        for (int k = 0; k < g.K; ++k)
            for (int oh = 0; oh < g.OH; ++oh)
                for (int ow = 0; ow < g.OW; ++ow) {
                    Scalar sum = bias ? bias[k] : Scalar(0);
                    for (int c = 0; c < g.C; ++c)
                        for (int kh = 0; kh < g.KH; ++kh)
                            for (int kw = 0; kw < g.KW; ++kw) {
                                const int ih = oh * g.stride_h - g.pad_top + kh;
                                const int iw = ow * g.stride_w - g.pad_left + kw;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                sum += weight[((k * g.C + c) * g.KH + kh) * g.KW + kw] *
                                       x[((static_cast<long>(n) * g.C + c) * g.H + ih) * g.W + iw];
                            }
                    y[((static_cast<long>(n) * g.K + k) * g.OH + oh) * g.OW + ow] = sum;
                }
}

// dx (N, C, H, W) = sum over windows of weight * dy. Assigns dx.
template <class Scalar>
void conv2d_backward_data_ref(const ConvGeometry& g, int N, const Scalar* dy, const Scalar* weight, Scalar* dx) {
    for (long i = 0; i < static_cast<long>(N) * g.C * g.H * g.W; ++i) dx[i] = Scalar(0);
    for (int n = 0; n < N; ++n)
        for (int k = 0; k < g.K; ++k)
            for (int oh = 0; oh < g.OH; ++oh)
                for (int ow = 0; ow < g.OW; ++ow) {
                    const Scalar grad = dy[((static_cast<long>(n) * g.K + k) * g.OH + oh) * g.OW + ow];
                    for (int c = 0; c < g.C; ++c)
                        for (int kh = 0; kh < g.KH; ++kh)
                            for (int kw = 0; kw < g.KW; ++kw) {
                                const int ih = oh * g.stride_h - g.pad_top + kh;
                                const int iw = ow * g.stride_w - g.pad_left + kw;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                dx[((static_cast<long>(n) * g.C + c) * g.H + ih) * g.W + iw] +=
                                    weight[((k * g.C + c) * g.KH + kh) * g.KW + kw] * grad;
                            }
                }
}

// dweight (K, C, KH, KW) = sum over batch and windows of dy * x; dbias (K) = sum of dy [may be null]. Assigns.
template <class Scalar>
void conv2d_backward_weights_ref(const ConvGeometry& g, int N, const Scalar* x, const Scalar* dy, Scalar* dweight,
                                 Scalar* dbias) {
    for (int k = 0; k < g.K; ++k)
        for (int c = 0; c < g.C; ++c)
            for (int kh = 0; kh < g.KH; ++kh)
                for (int kw = 0; kw < g.KW; ++kw) {
                    Scalar sum(0);
                    for (int n = 0; n < N; ++n)
                        for (int oh = 0; oh < g.OH; ++oh)
                            for (int ow = 0; ow < g.OW; ++ow) {
                                const int ih = oh * g.stride_h - g.pad_top + kh;
                                const int iw = ow * g.stride_w - g.pad_left + kw;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                sum += dy[((static_cast<long>(n) * g.K + k) * g.OH + oh) * g.OW + ow] *
                                       x[((static_cast<long>(n) * g.C + c) * g.H + ih) * g.W + iw];
                            }
                    dweight[((k * g.C + c) * g.KH + kh) * g.KW + kw] = sum;
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

}  // namespace deepcnn
