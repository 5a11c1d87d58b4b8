// deepcnn/kernels/conv_geometry.hpp: ConvGeometry, the dimensions of one 2-D convolution or pooling window
// (input C x H x W, K filters of KH x KW, stride, padding, output OH x OW), and the padding rules.
#pragma once

#include <algorithm>
#include <string>

#include "../error.hpp"

namespace deepcnn {

struct ConvGeometry {
    int C = 0, H = 0, W = 0;              // input channels, rows, columns
    int K = 0;                            // output channels (filters); pooling keeps K == C
    int KH = 0, KW = 0;                   // window rows, columns
    int stride_h = 1, stride_w = 1;
    int pad_top = 0, pad_left = 0;        // zero rows above / columns left of the input
    int OH = 0, OW = 0;                   // output rows, columns

    // Multiply-adds of a forward convolution for one image: K * OH * OW * C * KH * KW.
    double macs() const { return double(K) * OH * OW * C * KH * KW; }
    // Columns of the im2col matrix (output pixels) and its rows (C * KH * KW).
    int patch_size() const { return C * KH * KW; }
    int out_pixels() const { return OH * OW; }
};

// Padding modes. 'same' gives OH = ceil(H / stride), the padding split as TensorFlow does (extra row at the
// bottom / right); 'valid' uses no padding; explicit pads top/bottom by pad_h and left/right by pad_w.
enum class PaddingMode { same, valid, explicit_ };

struct Padding {
    PaddingMode mode = PaddingMode::same;
    int pad_h = 0;
    int pad_w = 0;

    static Padding same() { return {PaddingMode::same, 0, 0}; }
    static Padding valid() { return {PaddingMode::valid, 0, 0}; }
    static Padding explicit_pad(int pad_h, int pad_w) { return {PaddingMode::explicit_, pad_h, pad_w}; }

    std::string str() const {
        switch (mode) {
            case PaddingMode::same: return "same";
            case PaddingMode::valid: return "valid";
            case PaddingMode::explicit_:
                return "explicit(" + std::to_string(pad_h) + ", " + std::to_string(pad_w) + ")";
        }
        return "?";
    }
};

// Output size and leading pad of one dimension; throws shape_error when the window does not fit.
inline void conv_output_dim(int in, int kernel, int stride, const Padding& padding, bool rows, int& out,
                            int& pad_lead) {
    const char* dim = rows ? "rows" : "columns";
    if (kernel <= 0 || stride <= 0) {
        throw shape_error(std::string("kernel and stride must be positive, got kernel ") + std::to_string(kernel) +
                          ", stride " + std::to_string(stride));
    }
    int pad_total = 0;
    switch (padding.mode) {
        case PaddingMode::same:
            out = (in + stride - 1) / stride;
            pad_total = std::max((out - 1) * stride + kernel - in, 0);
            pad_lead = pad_total / 2;
            return;
        case PaddingMode::valid: pad_lead = 0; break;
        case PaddingMode::explicit_:
            pad_lead = rows ? padding.pad_h : padding.pad_w;
            if (pad_lead < 0) throw shape_error("negative padding " + std::to_string(pad_lead));
            break;
    }
    pad_total = 2 * pad_lead;
    if (in + pad_total < kernel) {
        throw shape_error("window of " + std::to_string(kernel) + " " + dim + " larger than the padded input (" +
                          std::to_string(in + pad_total) + " " + dim + ")");
    }
    out = (in + pad_total - kernel) / stride + 1;
}

inline ConvGeometry make_conv_geometry(int C, int H, int W, int K, int KH, int KW, int stride_h, int stride_w,
                                       const Padding& padding) {
    ConvGeometry g;
    g.C = C;
    g.H = H;
    g.W = W;
    g.K = K;
    g.KH = KH;
    g.KW = KW;
    g.stride_h = stride_h;
    g.stride_w = stride_w;
    conv_output_dim(H, KH, stride_h, padding, true, g.OH, g.pad_top);
    conv_output_dim(W, KW, stride_w, padding, false, g.OW, g.pad_left);
    return g;
}

}  // namespace deepcnn
