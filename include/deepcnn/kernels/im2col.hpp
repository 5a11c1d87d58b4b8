// deepcnn/kernels/im2col.hpp: im2col / col2im for one image in CHW layout: the patch matrix that turns a
// convolution into a GEMM, and its adjoint that scatters patch gradients back to the image.
#pragma once

#include "conv_geometry.hpp"

namespace deepcnn {

// col (C*KH*KW, OH*OW), row (c, kh, kw), column (oh, ow): col[row][col] = x[c][oh*s - pad + kh][ow*s - pad + kw],
// zero outside the image. Assigns col.
template <class Scalar>
void im2col(const ConvGeometry& g, const Scalar* x, Scalar* col) {
    const int P = g.OH * g.OW;
    for (int c = 0; c < g.C; ++c)
        for (int kh = 0; kh < g.KH; ++kh)
            for (int kw = 0; kw < g.KW; ++kw) {
                Scalar* row = col + static_cast<long>((c * g.KH + kh) * g.KW + kw) * P;
                const Scalar* plane = x + static_cast<long>(c) * g.H * g.W;
                for (int oh = 0; oh < g.OH; ++oh) {
                    const int ih = oh * g.stride_h - g.pad_top + kh;
                    Scalar* out = row + oh * g.OW;
                    if (ih < 0 || ih >= g.H) {
                        for (int ow = 0; ow < g.OW; ++ow) out[ow] = Scalar(0);
                        continue;
                    }
                    const Scalar* in = plane + static_cast<long>(ih) * g.W;
                    for (int ow = 0; ow < g.OW; ++ow) {
                        const int iw = ow * g.stride_w - g.pad_left + kw;
                        out[ow] = (iw >= 0 && iw < g.W) ? in[iw] : Scalar(0);
                    }
                }
            }
}

// The adjoint of im2col: dx (C, H, W) = sum of col entries over the windows that read each pixel. Assigns dx.
// For channels [c_begin, c_end) alone: col then starts at channel c_begin's rows, and only those channels of dx are
// written (each channel's rows scatter into its own plane, in the same order as for the whole image).
template <class Scalar>
void col2im(const ConvGeometry& g, const Scalar* col, Scalar* dx, int c_begin = 0, int c_end = -1) {
    const int P = g.OH * g.OW;
    if (c_end < 0) c_end = g.C;
    const long plane = static_cast<long>(g.H) * g.W;
    for (long i = c_begin * plane; i < c_end * plane; ++i) dx[i] = Scalar(0);
    for (int c = c_begin; c < c_end; ++c)
        for (int kh = 0; kh < g.KH; ++kh)
            for (int kw = 0; kw < g.KW; ++kw) {
                const Scalar* row = col + static_cast<long>(((c - c_begin) * g.KH + kh) * g.KW + kw) * P;
                Scalar* out_plane = dx + c * plane;
                for (int oh = 0; oh < g.OH; ++oh) {
                    const int ih = oh * g.stride_h - g.pad_top + kh;
                    if (ih < 0 || ih >= g.H) continue;
                    const Scalar* in = row + oh * g.OW;
                    Scalar* out = out_plane + static_cast<long>(ih) * g.W;
                    for (int ow = 0; ow < g.OW; ++ow) {
                        const int iw = ow * g.stride_w - g.pad_left + kw;
                        if (iw >= 0 && iw < g.W) out[iw] += in[ow];
                    }
                }
            }
}

}  // namespace deepcnn
