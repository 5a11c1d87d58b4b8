// deepcnn/kernels/max_pool.hpp: 2-D max pooling over NCHW batches (forward with argmax, backward routing).
// Padding cells never win; ties go to the first maximum in row-major window order.
#pragma once

#include <cstdint>
#include <limits>

#include "conv_geometry.hpp"

namespace deepcnn {

// y (N, C, OH, OW) = window maxima of x (N, C, H, W); argmax (N, C, OH, OW) = index h * W + w of each maximum
// within its (n, c) plane. g.K must equal g.C. Assigns y and argmax.
template <class Scalar>
void max_pool_forward(const ConvGeometry& g, int N, const Scalar* x, Scalar* y, std::int32_t* argmax) {
    for (long plane = 0; plane < static_cast<long>(N) * g.C; ++plane) {
        const Scalar* in = x + plane * g.H * g.W;
        Scalar* out = y + plane * g.OH * g.OW;
        std::int32_t* arg = argmax + plane * g.OH * g.OW;
        for (int oh = 0; oh < g.OH; ++oh)
            for (int ow = 0; ow < g.OW; ++ow) {
                Scalar best = -std::numeric_limits<Scalar>::infinity();
                std::int32_t best_index = -1;
                for (int kh = 0; kh < g.KH; ++kh) {
                    const int ih = oh * g.stride_h - g.pad_top + kh;
                    if (ih < 0 || ih >= g.H) continue;
                    for (int kw = 0; kw < g.KW; ++kw) {
                        const int iw = ow * g.stride_w - g.pad_left + kw;
                        if (iw < 0 || iw >= g.W) continue;
                        const Scalar v = in[ih * g.W + iw];
                        if (best_index < 0 || v > best) {
                            best = v;
                            best_index = ih * g.W + iw;
                        }
                    }
                }
                out[oh * g.OW + ow] = best;
                arg[oh * g.OW + ow] = best_index;
            }
    }
}

// dx (N, C, H, W) = dy routed to the argmax of each window (summed where windows overlap). Assigns dx.
template <class Scalar>
void max_pool_backward(const ConvGeometry& g, int N, const Scalar* dy, const std::int32_t* argmax, Scalar* dx) {
    for (long plane = 0; plane < static_cast<long>(N) * g.C; ++plane) {
        Scalar* out = dx + plane * g.H * g.W;
        for (int i = 0; i < g.H * g.W; ++i) out[i] = Scalar(0);
        const Scalar* grad = dy + plane * g.OH * g.OW;
        const std::int32_t* arg = argmax + plane * g.OH * g.OW;
        for (int o = 0; o < g.OH * g.OW; ++o) out[arg[o]] += grad[o];
    }
}

}  // namespace deepcnn
