// tests/kernels/test_conv2d_kernels.cpp: the stateless kernels: conv geometry (output sizes, TensorFlow's 'same'
// padding split, errors), im2col / col2im adjointness, conv2d.hpp (im2col + GEMM) against the plain loops of
// conv2d_ref.hpp on odd sizes, stride 2, valid / same / explicit padding and several channels in float and double,
// and the max-pool kernel (ties, padding, overlapping windows) against a naive window scan.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/conv2d.hpp>
#include <deepcnn/kernels/conv2d_ref.hpp>
#include <deepcnn/kernels/conv_geometry.hpp>
#include <deepcnn/kernels/im2col.hpp>
#include <deepcnn/kernels/kernels.hpp>

#include "gradient_check.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

using namespace deepcnn;
using deepcnn_test::random_tensor;

namespace {

struct GeometryCase {
    std::string label;
    int C, H, W, K, KH, KW, stride_h, stride_w;
    Padding padding;
};

std::vector<GeometryCase> geometry_cases() {
    return {
        {"3x3 same s1 odd 7x5, C3 K4", 3, 7, 5, 4, 3, 3, 1, 1, Padding::same()},
        {"3x3 same s2 odd 7x9, C2 K3", 2, 7, 9, 3, 3, 3, 2, 2, Padding::same()},
        {"3x3 valid s1 9x7, C4 K2", 4, 9, 7, 2, 3, 3, 1, 1, Padding::valid()},
        {"3x3 valid s2 9x7, C3 K5", 3, 9, 7, 5, 3, 3, 2, 2, Padding::valid()},
        {"5x3 explicit (2, 1) s2x1, C2 K3", 2, 8, 5, 3, 5, 3, 2, 1, Padding::explicit_pad(2, 1)},
        {"2x2 same s2 even 6x6, C1 K1", 1, 6, 6, 1, 2, 2, 2, 2, Padding::same()},
        {"1x1 valid s1, C5 K3", 5, 3, 4, 3, 1, 1, 1, 1, Padding::valid()},
        {"4x4 same s3 odd 11x13, C2 K2", 2, 11, 13, 2, 4, 4, 3, 3, Padding::same()},
        {"window = input, valid", 2, 3, 3, 2, 3, 3, 1, 1, Padding::valid()},
    };
}

ConvGeometry make(const GeometryCase& c) {
    return make_conv_geometry(c.C, c.H, c.W, c.K, c.KH, c.KW, c.stride_h, c.stride_w, c.padding);
}

template <class Scalar>
double tolerance() {
    return std::is_same<Scalar, float>::value ? 2e-5 : 1e-12;
}

}  // namespace

TEST_CASE("Conv geometry: output sizes and padding", "[kernels][geometry]") {
    // 'same': OH = ceil(H / s), total padding (OH - 1) s + KH - H, the smaller half on top (TensorFlow).
    ConvGeometry g = make_conv_geometry(3, 7, 8, 4, 3, 3, 2, 2, Padding::same());
    CHECK(g.OH == 4);
    CHECK(g.OW == 4);
    CHECK(g.pad_top == 1);   // total 2
    CHECK(g.pad_left == 0);  // total 1: the extra column goes right
    CHECK(g.patch_size() == 27);
    CHECK(g.out_pixels() == 16);
    CHECK(g.macs() == 4.0 * 16 * 27);

    g = make_conv_geometry(1, 48, 48, 32, 3, 3, 1, 1, Padding::same());
    CHECK(g.OH == 48);
    CHECK(g.pad_top == 1);

    g = make_conv_geometry(1, 7, 5, 1, 3, 2, 2, 1, Padding::valid());
    CHECK(g.OH == 3);
    CHECK(g.OW == 4);
    CHECK(g.pad_top == 0);

    g = make_conv_geometry(1, 7, 5, 1, 3, 3, 2, 2, Padding::explicit_pad(2, 1));
    CHECK(g.OH == (7 + 4 - 3) / 2 + 1);
    CHECK(g.OW == (5 + 2 - 3) / 2 + 1);
    CHECK(g.pad_top == 2);
    CHECK(g.pad_left == 1);

    CHECK_THROWS_MATCHES(make_conv_geometry(1, 2, 9, 1, 3, 3, 1, 1, Padding::valid()), shape_error,
                         Catch::Message("window of 3 rows larger than the padded input (2 rows)"));
    CHECK_THROWS_MATCHES(make_conv_geometry(1, 9, 1, 1, 3, 4, 1, 1, Padding::explicit_pad(0, 1)), shape_error,
                         Catch::Message("window of 4 columns larger than the padded input (3 columns)"));
    CHECK_THROWS_MATCHES(make_conv_geometry(1, 9, 9, 1, 3, 3, 1, 1, Padding::explicit_pad(-1, 0)), shape_error,
                         Catch::Message("negative padding -1"));
    CHECK(Padding::explicit_pad(1, 2).str() == "explicit(1, 2)");
    CHECK(Padding::same().str() == "same");
    CHECK(Padding::valid().str() == "valid");
}

TEST_CASE("im2col lays out patches and col2im is its adjoint", "[kernels][im2col]") {
    SECTION("hand-checked layout") {
        // 1 channel 3x3, 2x2 window, valid: 4 patches
        const ConvGeometry g = make_conv_geometry(1, 3, 3, 1, 2, 2, 1, 1, Padding::valid());
        const std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        std::vector<double> col(g.patch_size() * g.out_pixels());
        im2col(g, x.data(), col.data());
        // row (kh, kw), column (oh, ow)
        CHECK(col == std::vector<double>{1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9});
    }
    SECTION("zero padding") {
        const ConvGeometry g = make_conv_geometry(1, 2, 2, 1, 3, 3, 1, 1, Padding::same());
        const std::vector<double> x = {1, 2, 3, 4};
        std::vector<double> col(g.patch_size() * g.out_pixels(), -1.0);
        im2col(g, x.data(), col.data());
        // centre row (kh 1, kw 1) is the image itself; the top-left row reads (oh - 1, ow - 1)
        CHECK(std::vector<double>(col.begin() + 16, col.begin() + 20) == std::vector<double>{1, 2, 3, 4});
        CHECK(std::vector<double>(col.begin(), col.begin() + 4) == std::vector<double>{0, 0, 0, 1});
    }
    for (const GeometryCase& c : geometry_cases()) {
        SECTION("adjoint: " + c.label) {
            // <im2col(x), col> == <x, col2im(col)> for random x and col
            const ConvGeometry g = make(c);
            Rng rng(41);
            const Tensor<double> x = random_tensor(Shape(1, c.C, c.H, c.W), rng);
            const Tensor<double> col = random_tensor(Shape(1, 1, g.patch_size(), g.out_pixels()), rng);
            std::vector<double> x_col(col.size(), std::numeric_limits<double>::quiet_NaN());
            std::vector<double> col_x(x.size(), std::numeric_limits<double>::quiet_NaN());
            im2col(g, x.data(), x_col.data());
            col2im(g, col.data(), col_x.data());
            double lhs = 0.0, rhs = 0.0;
            for (std::size_t i = 0; i < col.size(); ++i) lhs += x_col[i] * col[i];
            for (std::size_t i = 0; i < x.size(); ++i) rhs += x[i] * col_x[i];
            REQUIRE(std::isfinite(lhs));
            REQUIRE(std::isfinite(rhs));
            CHECK(lhs == Approx(rhs).epsilon(1e-12));
        }
    }
}

TEMPLATE_TEST_CASE("conv2d (im2col + GEMM) matches the reference loops", "[kernels][conv2d]", float, double) {
    const double tol = tolerance<TestType>();
    for (const GeometryCase& c : geometry_cases()) {
        SECTION(c.label) {
            const ConvGeometry g = make(c);
            const int N = 3;
            Rng rng(43);
            const Tensor<TestType> x = random_tensor<TestType>(Shape(N, c.C, c.H, c.W), rng);
            const Tensor<TestType> w = random_tensor<TestType>(Shape(c.K, c.C, c.KH, c.KW), rng);
            const Tensor<TestType> b = random_tensor<TestType>(Shape(1, c.K, 1, 1), rng);
            const Tensor<TestType> dy = random_tensor<TestType>(Shape(N, c.K, g.OH, g.OW), rng);
            std::vector<TestType> workspace(conv2d_workspace_size(g));
            const TestType nan = std::numeric_limits<TestType>::quiet_NaN();

            for (const bool with_bias : {true, false}) {
                INFO("bias: " << with_bias);
                Tensor<TestType> y(dy.shape(), nan), y_ref(dy.shape(), nan);
                conv2d_forward(g, N, x.data(), w.data(), with_bias ? b.data() : nullptr, y.data(), workspace.data());
                conv2d_forward_ref(g, N, x.data(), w.data(), with_bias ? b.data() : nullptr, y_ref.data());
                for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == Approx(y_ref[i]).epsilon(tol).margin(tol));

                Tensor<TestType> dw(w.shape(), nan), dw_ref(w.shape(), nan), db(b.shape(), nan), db_ref(b.shape(), nan);
                conv2d_backward_weights(g, N, x.data(), dy.data(), dw.data(), with_bias ? db.data() : nullptr,
                                        workspace.data());
                conv2d_backward_weights_ref(g, N, x.data(), dy.data(), dw_ref.data(), with_bias ? db_ref.data() : nullptr);
                for (std::size_t i = 0; i < dw.size(); ++i)
                    REQUIRE(dw[i] == Approx(dw_ref[i]).epsilon(tol).margin(tol));
                if (with_bias) {
                    for (std::size_t i = 0; i < db.size(); ++i)
                        REQUIRE(db[i] == Approx(db_ref[i]).epsilon(tol).margin(tol));
                } else {
                    for (TestType v : db) REQUIRE(std::isnan(v));  // untouched without a bias
                }
            }

            Tensor<TestType> dx(x.shape(), nan), dx_ref(x.shape(), nan);
            conv2d_backward_data(g, N, dy.data(), w.data(), dx.data(), workspace.data());
            conv2d_backward_data_ref(g, N, dy.data(), w.data(), dx_ref.data());
            for (std::size_t i = 0; i < dx.size(); ++i) REQUIRE(dx[i] == Approx(dx_ref[i]).epsilon(tol).margin(tol));
        }
    }
}

TEST_CASE("conv2d reference backward passes are the adjoints of its forward", "[kernels][conv2d]") {
    // <conv(x, w), dy> == <x, backward_data(dy, w)> == <w, backward_weights(x, dy)>: ties the reference to its
    // own forward, so the fast kernels are not only checked against loops that could share a mistake.
    for (const GeometryCase& c : geometry_cases()) {
        SECTION(c.label) {
            const ConvGeometry g = make(c);
            const int N = 2;
            Rng rng(47);
            const Tensor<double> x = random_tensor(Shape(N, c.C, c.H, c.W), rng);
            const Tensor<double> w = random_tensor(Shape(c.K, c.C, c.KH, c.KW), rng);
            const Tensor<double> dy = random_tensor(Shape(N, c.K, g.OH, g.OW), rng);
            Tensor<double> y(dy.shape()), dx(x.shape()), dw(w.shape()), db(Shape(1, c.K, 1, 1));
            conv2d_forward_ref(g, N, x.data(), w.data(), static_cast<const double*>(nullptr), y.data());
            conv2d_backward_data_ref(g, N, dy.data(), w.data(), dx.data());
            conv2d_backward_weights_ref(g, N, x.data(), dy.data(), dw.data(), db.data());
            const double y_dy = deepcnn_test::dot(y, dy);
            CHECK(deepcnn_test::dot(x, dx) == Approx(y_dy).epsilon(1e-12));
            CHECK(deepcnn_test::dot(w, dw) == Approx(y_dy).epsilon(1e-12));
            for (int k = 0; k < c.K; ++k) {
                double sum = 0.0;
                for (int n = 0; n < N; ++n)
                    for (int p = 0; p < g.OH * g.OW; ++p) sum += dy.sample(n)[k * g.OH * g.OW + p];
                CHECK(db[k] == Approx(sum).epsilon(1e-12));
            }
        }
    }
}

namespace {

// Naive max pooling of one plane: scans each window in row-major order, keeps the first strict maximum.
template <class Scalar>
void naive_max_pool(const ConvGeometry& g, const Scalar* in, Scalar* out, std::int32_t* arg) {
    for (int oh = 0; oh < g.OH; ++oh)
        for (int ow = 0; ow < g.OW; ++ow) {
            bool found = false;
            Scalar best = 0;
            std::int32_t best_index = -1;
            for (int ih = oh * g.stride_h - g.pad_top; ih < oh * g.stride_h - g.pad_top + g.KH; ++ih)
                for (int iw = ow * g.stride_w - g.pad_left; iw < ow * g.stride_w - g.pad_left + g.KW; ++iw) {
                    if (ih < 0 || iw < 0 || ih >= g.H || iw >= g.W) continue;
                    if (!found || in[ih * g.W + iw] > best) {
                        found = true;
                        best = in[ih * g.W + iw];
                        best_index = ih * g.W + iw;
                    }
                }
            out[oh * g.OW + ow] = best;
            arg[oh * g.OW + ow] = best_index;
        }
}

}  // namespace

TEMPLATE_TEST_CASE("max_pool kernel matches a naive window scan, ties and padding included", "[kernels][max_pool]",
                   float, double) {
    struct PoolCase {
        const char* label;
        int C, H, W, KH, KW, stride;
        Padding padding;
    };
    const std::vector<PoolCase> cases = {
        {"2x2 s2 valid odd", 3, 7, 5, 2, 2, 2, Padding::valid()},
        {"3x3 s2 same", 2, 7, 8, 3, 3, 2, Padding::same()},
        {"3x3 s1 overlapping", 2, 5, 5, 3, 3, 1, Padding::valid()},
        {"3x2 s2 explicit (2, 1)", 2, 6, 6, 3, 2, 2, Padding::explicit_pad(2, 1)},
    };
    for (const PoolCase& c : cases) {
        SECTION(c.label) {
            const ConvGeometry g = make_conv_geometry(c.C, c.H, c.W, c.C, c.KH, c.KW, c.stride, c.stride, c.padding);
            const int N = 2;
            Rng rng(53);
            // few distinct values: many ties; all negative: a padding zero would win if padding could
            Tensor<TestType> x(Shape(N, c.C, c.H, c.W));
            for (auto& v : x) v = TestType(-1.0 - double(rng.below(3)));
            Tensor<TestType> y(Shape(N, c.C, g.OH, g.OW)), y_ref(y.shape());
            std::vector<std::int32_t> arg(y.size()), arg_ref(y.size());
            kernels::max_pool_forward(g, N, x.data(), y.data(), arg.data());
            for (int plane = 0; plane < N * c.C; ++plane)
                naive_max_pool(g, x.data() + plane * c.H * c.W, y_ref.data() + plane * g.OH * g.OW,
                               arg_ref.data() + plane * g.OH * g.OW);
            CHECK(std::vector<TestType>(y.begin(), y.end()) == std::vector<TestType>(y_ref.begin(), y_ref.end()));
            CHECK(arg == arg_ref);

            // backward: each dy lands on its window's argmax, summed where windows share it; NaN-filled dx must be
            // fully assigned
            const Tensor<TestType> dy = random_tensor<TestType>(y.shape(), rng);
            Tensor<TestType> dx(x.shape(), std::numeric_limits<TestType>::quiet_NaN());
            kernels::max_pool_backward(g, N, dy.data(), arg.data(), dx.data());
            Tensor<TestType> dx_ref(x.shape(), TestType(0));
            for (int plane = 0; plane < N * c.C; ++plane)
                for (int o = 0; o < g.OH * g.OW; ++o)
                    dx_ref[plane * c.H * c.W + arg_ref[plane * g.OH * g.OW + o]] += dy[plane * g.OH * g.OW + o];
            for (std::size_t i = 0; i < dx.size(); ++i) REQUIRE(dx[i] == Approx(dx_ref[i]).margin(1e-6));
        }
    }
}
