// deepcnn/kernels/max_pool_ref.hpp: 2-D max pooling as plain window scans (forward with argmax, backward
// routing), the twins max_pool.hpp's threaded and vectorised kernels are tested against. Padding cells never win;
// ties go to the first maximum in row-major window order.
#pragma once

#include <cstdint>
#include <limits>

#include "conv_geometry.hpp"

namespace deepcnn {

namespace detail {

// One (n, c) plane of max_pool_forward_ref: in (H, W) -> out (OH, OW), arg (OH, OW) (null: not written).
template <class Scalar>
void max_pool_plane_ref(const ConvGeometry& g, const Scalar* in, Scalar* out, std::int32_t* arg) {
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
            if (arg) arg[oh * g.OW + ow] = best_index;
        }
}

// One plane of max_pool_backward_ref: out (H, W) = grad (OH, OW) routed to arg.
template <class Scalar>
void max_pool_backward_plane_ref(const ConvGeometry& g, const Scalar* grad, const std::int32_t* arg, Scalar* out) {
    for (int i = 0; i < g.H * g.W; ++i) out[i] = Scalar(0);
    for (int o = 0; o < g.OH * g.OW; ++o) out[arg[o]] += grad[o];
}

}  // namespace detail

// y (N, C, OH, OW) = window maxima of x (N, C, H, W); argmax (N, C, OH, OW) = index h * W + w of each maximum
// within its (n, c) plane. g.K must equal g.C. Assigns y and argmax. The plain twin of max_pool_forward.
template <class Scalar>
void max_pool_forward_ref(const ConvGeometry& g, int N, const Scalar* x, Scalar* y, std::int32_t* argmax) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    for (long plane = 0; plane < static_cast<long>(N) * g.C; ++plane)
        detail::max_pool_plane_ref(g, x + plane * in_plane, y + plane * out_plane, argmax + plane * out_plane);
}

// dx (N, C, H, W) = dy routed to the argmax of each window (summed where windows overlap). Assigns dx. The plain
// twin of max_pool_backward.
template <class Scalar>
void max_pool_backward_ref(const ConvGeometry& g, int N, const Scalar* dy, const std::int32_t* argmax, Scalar* dx) {
    const long in_plane = static_cast<long>(g.H) * g.W, out_plane = static_cast<long>(g.OH) * g.OW;
    for (long plane = 0; plane < static_cast<long>(N) * g.C; ++plane)
        detail::max_pool_backward_plane_ref(g, dy + plane * out_plane, argmax + plane * out_plane,
                                            dx + plane * in_plane);
}

}  // namespace deepcnn
