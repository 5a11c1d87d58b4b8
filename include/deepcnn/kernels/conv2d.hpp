// deepcnn/kernels/conv2d.hpp: convolution by im2col + GEMM for a batch in NCHW layout (forward,
// backward-data, backward-weights). The caller passes a workspace of conv2d_workspace_size(g) scalars; the
// kernels allocate nothing. Checked against conv2d_ref.hpp.
#pragma once

#include <Eigen/Core>

#include <cstddef>

#include "conv_geometry.hpp"
#include "im2col.hpp"

namespace deepcnn {

namespace detail {
template <class Scalar>
using RowMajorMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class Scalar>
using MatrixMap = Eigen::Map<RowMajorMatrix<Scalar>>;
template <class Scalar>
using ConstMatrixMap = Eigen::Map<const RowMajorMatrix<Scalar>>;
}  // namespace detail

// Scalars of workspace the conv2d_* kernels need: one im2col matrix (C*KH*KW, OH*OW).
inline std::size_t conv2d_workspace_size(const ConvGeometry& g) {
    return static_cast<std::size_t>(g.patch_size()) * static_cast<std::size_t>(g.out_pixels());
}

// y (N, K, OH, OW) = weight (K, C*KH*KW) x im2col(x_n) + bias (K) [bias may be null]. Assigns y.
template <class Scalar>
void conv2d_forward(const ConvGeometry& g, int N, const Scalar* x, const Scalar* weight, const Scalar* bias, Scalar* y,
                    Scalar* workspace) {
    const int P = g.out_pixels(), R = g.patch_size();
    detail::ConstMatrixMap<Scalar> w(weight, g.K, R);
    detail::ConstMatrixMap<Scalar> col(workspace, R, P);
    for (int n = 0; n < N; ++n) {
        im2col(g, x + static_cast<std::size_t>(n) * g.C * g.H * g.W, workspace);
        detail::MatrixMap<Scalar> out(y + static_cast<std::size_t>(n) * g.K * P, g.K, P);
        out.noalias() = w * col;
        if (bias) out.colwise() += Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>(bias, g.K);
    }
}

// dx (N, C, H, W) = col2im(weight^T (C*KH*KW, K) x dy_n (K, OH*OW)). Assigns dx.
template <class Scalar>
void conv2d_backward_data(const ConvGeometry& g, int N, const Scalar* dy, const Scalar* weight, Scalar* dx,
                          Scalar* workspace) {
    const int P = g.out_pixels(), R = g.patch_size();
    detail::ConstMatrixMap<Scalar> w(weight, g.K, R);
    detail::MatrixMap<Scalar> dcol(workspace, R, P);
    for (int n = 0; n < N; ++n) {
        detail::ConstMatrixMap<Scalar> grad(dy + static_cast<std::size_t>(n) * g.K * P, g.K, P);
        dcol.noalias() = w.transpose() * grad;
        col2im(g, workspace, dx + static_cast<std::size_t>(n) * g.C * g.H * g.W);
    }
}

// dweight (K, C*KH*KW) = sum_n dy_n (K, OH*OW) x im2col(x_n)^T; dbias (K) = sum of dy over batch and pixels
// [may be null]. Assigns both.
template <class Scalar>
void conv2d_backward_weights(const ConvGeometry& g, int N, const Scalar* x, const Scalar* dy, Scalar* dweight,
                             Scalar* dbias, Scalar* workspace) {
    const int P = g.out_pixels(), R = g.patch_size();
    detail::MatrixMap<Scalar> dw(dweight, g.K, R);
    detail::ConstMatrixMap<Scalar> col(workspace, R, P);
    dw.setZero();
    Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> db(dbias, dbias ? g.K : 0);
    if (dbias) db.setZero();
    for (int n = 0; n < N; ++n) {
        im2col(g, x + static_cast<std::size_t>(n) * g.C * g.H * g.W, workspace);
        detail::ConstMatrixMap<Scalar> grad(dy + static_cast<std::size_t>(n) * g.K * P, g.K, P);
        dw.noalias() += grad * col.transpose();
        if (dbias) db += grad.rowwise().sum();
    }
}

}  // namespace deepcnn
