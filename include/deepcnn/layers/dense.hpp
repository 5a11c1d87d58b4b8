// deepcnn/layers/dense.hpp: Dense, a fully connected layer y = x W^T + b over flat (N, F, 1, 1) batches.
// Owns W (units, F), b (units), their gradients and the cached input. For float where the CPU runs AVX2 or AVX-512
// (kernels::simd_active) the products run threaded: Y and dX as matrix-vector products (kernels/gemv.hpp) up to
// gemv_max_batch images, which read W once, and on the packed GEMM of kernels/gemm.hpp above it and for dW; on
// Eigen otherwise (the portable path).
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../kernels/kernels.hpp"
#include "init.hpp"
#include "input_cache.hpp"
#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class Dense : public Layer<Scalar> {
public:
    // `units` outputs; the input size is inferred at build (or declared with with_in_features).
    explicit Dense(int units) : units_(units) {
        if (units <= 0) throw config_error("Dense: units must be positive, got " + std::to_string(units));
    }
    Dense& with_bias(bool use_bias) {
        use_bias_ = use_bias;
        return *this;
    }
    Dense& with_init(Init init) {
        init_ = init;
        return *this;
    }
    // Declares the expected input features; build() then rejects any other count.
    Dense& with_in_features(int features) {
        in_features_ = features;
        return *this;
    }

    std::string type() const override { return "Dense"; }

    Shape output_shape(const Shape& input) const override {
        if (!input.is_flat()) {
            throw shape_error("expected flat input (F), got " + input.sample_str() + "; add a Flatten layer first");
        }
        if (in_features_ > 0 && input.c != in_features_) {
            throw shape_error("expected input " + std::to_string(in_features_) + ", got " + std::to_string(input.c));
        }
        return Shape(input.n, units_, 1, 1);
    }
    double forward_flops(const Shape& input) const override {
        return 2.0 * input.c * units_ + (use_bias_ ? units_ : 0);
    }
    LayerConfig config() const override {
        return {{"units", units_}, {"in_features", in_features_}, {"bias", use_bias_ ? 1 : 0},
                {"init", static_cast<int>(init_)}};
    }
    std::vector<ParamRef<Scalar>> params() override {
        std::vector<ParamRef<Scalar>> out{{"weight", &weight_, &dweight_}};
        if (use_bias_) out.push_back({"bias", &bias_, &dbias_});
        return out;
    }
    Tensor<Scalar>& weight() { return weight_; }
    Tensor<Scalar>& bias() { return bias_; }

    // The largest batch whose Y = X W^T and dX = dY W run as matrix-vector products (kernels::gemv,
    // kernels::gemv_transposed) rather than the packed GEMM, which first copies all of W into panels. Measured by
    // benchmarks/bench_dense on the fer net's Dense 4608 -> 256 (W 4.7 MB; the seed net's 9216 -> 128 alike), Intel
    // Xeon family 6 model 207, load average 1.05: on 1 thread the forward took 163 / 204 / 402 / 403 us at batches
    // 1 / 4 / 6 / 8 against the GEMM's 446 / 454 / 471 / 443, backward-data 166 / 207 / 421 / 424 against
    // 385 / 397 / 409 / 378; on 2 threads the forward 59 / 91 / 189 / 186 against 251 / 262 / 269 / 248 us. Up to
    // 4 images (the vectors one AVX-512 block takes) W is read once; above, once per 4, and the GEMM catches up.
    static constexpr int gemv_max_batch = 4;
    // Whether a batch of n runs as matrix-vector products (float with AVX2 or AVX-512, n <= gemv_max_batch).
    static bool uses_gemv(int n) { return kernels::simd_active<Scalar>() && n <= gemv_max_batch; }

protected:
    void build_impl(const Shape& input, Rng& rng) override {
        in_features_ = input.c;
        weight_.resize(Shape(units_, input.c, 1, 1));
        dweight_.resize(weight_.shape());
        initialize_weights(weight_, init_, input.c, units_, rng);
        if (use_bias_) {
            bias_ = Tensor<Scalar>(Shape(1, units_, 1, 1), Scalar(0));
            dbias_.resize(bias_.shape());
        }
    }

    // Y (N, units) = X (N, F) W^T (F, units) + b. Keeps X: a pointer when the caller retains it
    // (input_retained()), else a copy.
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        input_.keep(x, this->input_retained());
        y.resize(output_shape(x.shape()));
        auto out = y.matrix();
        if (uses_gemv(x.n())) {
            kernels::gemv(this->thread_pool(), x.n(), units_, in_features_, weight_.data(), x.data(), y.data());
        } else if (kernels::simd_active<Scalar>()) {
            const int N = x.n(), F = in_features_;
            kernels::gemm_parallel(this->thread_pool(), N, units_, F, StridedMatrix<Scalar>{x.data(), F, 1},
                          StridedMatrix<Scalar>{weight_.data(), 1, F}, y.data(), units_, false, workspace());
        } else {
            out.noalias() = x.matrix() * weight_matrix().transpose();
        }
        if (use_bias_) out.rowwise() += bias_.vec().transpose();
    }

    // dW (units, F) = dY^T X;  db = column sums of dY;  dX (N, F) = dY W.
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        backward_weights(dy);
        dx.resize(input_.get().shape());
        if (uses_gemv(dy.n())) {
            kernels::gemv_transposed(this->thread_pool(), dy.n(), units_, in_features_, weight_.data(), dy.data(),
                                     dx.data());
        } else if (kernels::simd_active<Scalar>()) {
            const int N = dy.n(), F = in_features_, U = units_;
            kernels::gemm_parallel(this->thread_pool(), N, F, U, StridedMatrix<Scalar>{dy.data(), U, 1},
                          StridedMatrix<Scalar>{weight_.data(), F, 1}, dx.data(), F, false, workspace());
        } else {
            dx.matrix().noalias() = dy.matrix() * weight_matrix();
        }
    }
    // Without dX (the model's first layer in training).
    void backward_params_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& /*scratch*/) override { backward_weights(dy); }

private:
    // dW and db from dY and the kept input.
    void backward_weights(const Tensor<Scalar>& dy) {
        if (kernels::simd_active<Scalar>()) {
            const int N = dy.n(), F = in_features_, U = units_;
            kernels::gemm_parallel(this->thread_pool(), U, F, N, StridedMatrix<Scalar>{dy.data(), 1, U},
                          StridedMatrix<Scalar>{input_.get().data(), F, 1}, dweight_.data(), F, false, workspace());
        } else {
            auto dw = typename Tensor<Scalar>::MatrixMap(dweight_.data(), units_, in_features_);
            dw.noalias() = dy.matrix().transpose() * input_.get().matrix();
        }
        if (use_bias_) dbias_.vec() = dy.matrix().colwise().sum().transpose();
    }

    // GEMM scratch for every thread of the pool, grown once and then reused.
    Scalar* workspace() {
        const ThreadPool* pool = this->thread_pool();
        const std::size_t needed = static_cast<std::size_t>(pool ? pool->size() : 1) * kernels::gemm_workspace_size<Scalar>();
        if (workspace_.size() < needed) workspace_.resize(needed);
        return workspace_.data();
    }

    typename Tensor<Scalar>::ConstMatrixMap weight_matrix() const {
        return typename Tensor<Scalar>::ConstMatrixMap(weight_.data(), units_, in_features_);
    }

    int units_;
    int in_features_ = 0;
    bool use_bias_ = true;
    Init init_ = Init::glorot_uniform;
    Tensor<Scalar> weight_, dweight_;  // (units, F, 1, 1)
    Tensor<Scalar> bias_, dbias_;      // (1, units, 1, 1)
    InputCache<Scalar> input_;         // (N, F, 1, 1), the last forward's input (a copy or a pointer)
    std::vector<Scalar> workspace_;    // packed GEMM blocks, one set per thread
};

}  // namespace deepcnn
