// deepcnn/layers/conv2d.hpp: Conv2D, a 2-D convolution layer over NCHW batches. Owns the weights
// (K, C, KH, KW), the optional bias (K), their gradients, the cached input and the kernels' workspace; the
// arithmetic lives in kernels/: conv2d_fast.hpp (packed GEMM, Winograd and direct kernels, threaded) for float
// where the CPU runs AVX2 or AVX-512 (kernels::simd_active), otherwise conv2d.hpp (im2col + Eigen, one thread).
// With groups > 1 (with_groups) the weights are (K, C / groups, KH, KW) and the grouped convolution's plan
// (grouped_conv2d_plan.hpp: the depthwise 3x3 SIMD kernels where they apply, else grouped_conv2d.hpp's row loops;
// threaded, any Scalar) does the arithmetic.
#pragma once

#include <string>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../kernels/conv2d.hpp"
#include "../kernels/grouped_conv2d.hpp"
#include "../kernels/kernels.hpp"
#include "init.hpp"
#include "input_cache.hpp"
#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class Conv2D : public Layer<Scalar> {
public:
    // `filters` output channels, a square or KH x KW window; stride 1, 'same' padding, bias, He-normal by default.
    Conv2D(int filters, int kernel) : Conv2D(filters, kernel, kernel) {}
    Conv2D(int filters, int kernel_h, int kernel_w) : filters_(filters), kernel_h_(kernel_h), kernel_w_(kernel_w) {
        if (filters <= 0 || kernel_h <= 0 || kernel_w <= 0) {
            throw config_error("Conv2D: filters and kernel size must be positive, got " + std::to_string(filters) +
                               " filters of " + std::to_string(kernel_h) + "x" + std::to_string(kernel_w));
        }
    }

    Conv2D& with_stride(int stride) { return with_stride(stride, stride); }
    Conv2D& with_stride(int stride_h, int stride_w) {
        if (stride_h <= 0 || stride_w <= 0) throw config_error("Conv2D: stride must be positive");
        stride_h_ = stride_h;
        stride_w_ = stride_w;
        return *this;
    }
    Conv2D& with_padding(Padding padding) {
        padding_ = padding;
        return *this;
    }
    Conv2D& with_bias(bool use_bias) {
        use_bias_ = use_bias;
        return *this;
    }
    Conv2D& with_init(Init init) {
        init_ = init;
        return *this;
    }
    // Splits input channels and filters into `groups` groups, filter k seeing only the input channels of its group
    // (depthwise when groups equals the input channels). The filters must divide into the groups; build() checks the
    // input channels.
    Conv2D& with_groups(int groups) {
        if (groups <= 0 || filters_ % groups != 0) {
            throw config_error("Conv2D: groups must be positive and divide the " + std::to_string(filters_) +
                               " filters, got " + std::to_string(groups));
        }
        groups_ = groups;
        return *this;
    }
    // Declares the expected input channels; build() then rejects any other count.
    Conv2D& with_in_channels(int channels) {
        in_channels_ = channels;
        return *this;
    }

    std::string type() const override { return "Conv2D"; }

    Shape output_shape(const Shape& input) const override {
        const ConvGeometry g = geometry(input);
        return Shape(input.n, g.K, g.OH, g.OW);
    }

    double forward_flops(const Shape& input) const override {
        const ConvGeometry g = geometry(input);
        return 2.0 * g.macs() / groups_ + (use_bias_ ? double(g.K) * g.OH * g.OW : 0.0);
    }

    // `groups` only where it is not 1: files of ungrouped models stay byte for byte what earlier versions wrote.
    LayerConfig config() const override {
        LayerConfig config{{"filters", filters_},
                {"kernel_h", kernel_h_},
                {"kernel_w", kernel_w_},
                {"stride_h", stride_h_},
                {"stride_w", stride_w_},
                {"padding", static_cast<int>(padding_.mode)},
                {"pad_h", padding_.pad_h},
                {"pad_w", padding_.pad_w},
                {"bias", use_bias_ ? 1 : 0},
                {"init", static_cast<int>(init_)}};
        if (groups_ != 1) config.push_back({"groups", groups_});
        return config;
    }

    std::vector<ParamRef<Scalar>> params() override {
        std::vector<ParamRef<Scalar>> out{{"weight", &weight_, &dweight_}};
        if (use_bias_) out.push_back({"bias", &bias_, &dbias_});
        return out;
    }

    const ConvGeometry& geometry() const { return geometry_; }
    int groups() const { return groups_; }

    // The variant each direction ran last (kernels/conv2d_plan.hpp), or a note on the path that ran.
    std::string kernel_plan() const override {
        if (groups_ > 1 && plan_.threads == 0) return "not run yet (" + std::to_string(groups_) + " groups)";
        if (groups_ > 1) return plan_.str() + " (" + std::to_string(groups_) + " groups)";
        if (plan_.threads == 0) return kernels::simd_active<Scalar>() ? "not run yet" : "im2col + Eigen";
        return plan_.str();
    }
    std::size_t workspace_bytes(int threads) const override {
        return this->built() ? sizeof(Scalar) * workspace_scalars(threads) : 0;
    }
    Tensor<Scalar>& weight() { return weight_; }
    Tensor<Scalar>& bias() { return bias_; }
    bool has_bias() const { return use_bias_; }

    // The weights of forward_folded prepared once for the forward variant that runs (kernels::conv2d_forward_prepare:
    // Winograd's transform, broadcast's packing), and what they were prepared for: the variant, the instruction set
    // and the weights' shape. The caller keeps it beside weights that do not change while it is kept.
    struct PreparedWeights {
        std::string variant;  // empty: not prepared yet
        Isa isa = Isa::portable;
        Shape weight_shape;
        std::vector<Scalar, Eigen::aligned_allocator<Scalar>> data;  // empty where the variant prepares none
    };

    // Inference with other parameters (model/inference_plan.hpp: a following BatchNorm folded in): y = conv(x,
    // weight) + bias, then with `relu` max(y, 0). weight (K, C / groups, KH, KW), bias (1, K, 1, 1). Runs the kernels
    // forward runs and caches nothing: a backward after it still refers to the last forward(). With `prepared`,
    // the forward variant reads its weights from there, prepared from `weight` on the first call and again whenever
    // the variant (batch size, threads), the instruction set or the shape changed since: the caller promises the
    // same `weight` values on every call with one `prepared`. The results are the same bits either way. Throws
    // shape_error naming the layer for an input or parameters of other shapes.
    void forward_folded(const Tensor<Scalar>& x, Tensor<Scalar>& y, const Tensor<Scalar>& weight,
                        const Tensor<Scalar>& bias, bool relu, PreparedWeights* prepared = nullptr) {
        if (!this->built()) throw error(this->where() + ": forward called before build()");
        if (x.shape().with_batch(1) != this->input_shape() || x.n() <= 0) {
            throw shape_error(this->where() + ": expected input " + this->input_shape().sample_str() + ", got " +
                              x.shape().str());
        }
        if (weight.shape() != weight_.shape() || bias.shape() != Shape(1, filters_, 1, 1)) {
            throw shape_error(this->where() + ": folded weight " + weight.shape().str() + " and bias " +
                              bias.shape().str() + ", expected " + weight_.shape().str() + " and " +
                              Shape(1, filters_, 1, 1).str());
        }
        convolve(x, y, weight.data(), bias.data(), relu, prepared);
    }

protected:
    void build_impl(const Shape& input, Rng& rng) override {
        geometry_ = geometry(input);
        weight_.resize(Shape(filters_, input.c / groups_, kernel_h_, kernel_w_));
        dweight_.resize(weight_.shape());
        const int receptive = kernel_h_ * kernel_w_;
        initialize_weights(weight_, init_, input.c / groups_ * receptive, filters_ / groups_ * receptive, rng);
        if (use_bias_) {
            bias_ = Tensor<Scalar>(Shape(1, filters_, 1, 1), Scalar(0));
            dbias_.resize(bias_.shape());
        }
    }

    // Keeps x for backward-weights: a pointer when the caller retains it (input_retained()), else a copy.
    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        input_.keep(x, this->input_retained());
        convolve(x, y, weight_.data(), use_bias_ ? bias_.data() : nullptr, false);
    }

    // dweight = sum_n dy_n x im2col(x_n)^T;  dbias = sum of dy;  dx = col2im(weight^T x dy_n).
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        backward_weights(dy);
        dx.resize(input_.get().shape());
        if (groups_ > 1) {
            ConvArgs<Scalar> a = grouped_args(dy.n());
            a.dy = dy.data(), a.weight = weight_.data(), a.dx = dx.data();
            kernels::grouped_conv2d_run(ConvDirection::backward_data, plan_.backward_data, geometry_, groups_, a);
        } else if (kernels::simd_active<Scalar>()) {
            ConvArgs<Scalar> a = kernel_args(dy.n());
            a.dy = dy.data(), a.weight = weight_.data(), a.dx = dx.data();
            kernels::conv2d_run(ConvDirection::backward_data, plan_.backward_data, geometry_, a);
        } else {
            conv2d_backward_data(geometry_, dy.n(), dy.data(), weight_.data(), dx.data(), workspace());
        }
    }
    // Without dx: the backward-data convolution is skipped.
    void backward_params_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& /*scratch*/) override { backward_weights(dy); }

private:
    // y = conv(x, weight) + bias (bias may be null), then with `relu` max(y, 0) (0 for NaN, as the ReLU layer); the
    // fast kernels' forward variant reads `prepared` weights where given (forward_folded).
    void convolve(const Tensor<Scalar>& x, Tensor<Scalar>& y, const Scalar* weight, const Scalar* bias, bool relu,
                  PreparedWeights* prepared = nullptr) {
        y.resize(output_shape(x.shape()));
        if (groups_ == 1 && kernels::simd_active<Scalar>()) {
            ConvArgs<Scalar> a = kernel_args(x.n());
            a.x = x.data(), a.weight = weight, a.bias = bias, a.y = y.data(), a.relu = relu;
            if (prepared) a.prepared_weight = prepared_forward_weights(*prepared, weight);
            kernels::conv2d_run(ConvDirection::forward, plan_.forward, geometry_, a);
            return;
        }
        if (groups_ > 1) {
            ConvArgs<Scalar> a = grouped_args(x.n());
            a.x = x.data(), a.weight = weight, a.bias = bias, a.y = y.data();
            kernels::grouped_conv2d_run(ConvDirection::forward, plan_.forward, geometry_, groups_, a);
        } else {
            conv2d_forward(geometry_, x.n(), x.data(), weight, bias, y.data(), workspace());
        }
        if (relu)
            for (std::size_t i = 0; i < y.size(); ++i) y[i] = y[i] > Scalar(0) ? y[i] : Scalar(0);
    }

    // dweight and dbias from dy and the kept input.
    void backward_weights(const Tensor<Scalar>& dy) {
        Scalar* dbias = use_bias_ ? dbias_.data() : nullptr;
        if (groups_ > 1) {
            ConvArgs<Scalar> a = grouped_args(dy.n());
            a.x = input_.get().data(), a.dy = dy.data(), a.dweight = dweight_.data(), a.dbias = dbias;
            kernels::grouped_conv2d_run(ConvDirection::backward_weights, plan_.backward_weights, geometry_, groups_,
                                        a);
        } else if (kernels::simd_active<Scalar>()) {
            ConvArgs<Scalar> a = kernel_args(dy.n());
            a.x = input_.get().data(), a.dy = dy.data(), a.dweight = dweight_.data(), a.dbias = dbias;
            kernels::conv2d_run(ConvDirection::backward_weights, plan_.backward_weights, geometry_, a);
        } else {
            conv2d_backward_weights(geometry_, dy.n(), input_.get().data(), dy.data(), dweight_.data(), dbias,
                                    workspace());
        }
    }

    // The workspace and pool of a fast-kernel call on N images, with the plan for (N, threads, instruction set),
    // made once for each such triple in a row.
    ConvArgs<Scalar> kernel_args(int N) {
        ConvArgs<Scalar> a;
        a.N = N;
        a.pool = this->thread_pool();
        a.workspace = workspace();
        const int threads = a.pool ? a.pool->size() : 1;
        if (plan_.N != N || plan_.threads != threads || plan_.isa != active_isa())
            plan_ = kernels::conv2d_plan<Scalar>(geometry_, N, threads);
        return a;
    }

    // `p` prepared from weight for the plan's forward variant, remade where it was prepared for another variant,
    // instruction set or shape; null where the variant prepares nothing.
    const Scalar* prepared_forward_weights(PreparedWeights& p, const Scalar* weight) {
        if (p.variant != plan_.forward || p.isa != plan_.isa || p.weight_shape != weight_.shape()) {
            p.data.resize(kernels::conv2d_forward_prepared_size<Scalar>(plan_.forward, geometry_));
            if (!p.data.empty())
                kernels::conv2d_forward_prepare<Scalar>(plan_.forward, geometry_, weight, p.data.data());
            p.variant = plan_.forward;
            p.isa = plan_.isa;
            p.weight_shape = weight_.shape();
        }
        return p.data.empty() ? nullptr : p.data.data();
    }

    // The pool of a grouped convolution's call on N images, with its plan (kernels/grouped_conv2d_plan.hpp) for
    // (N, threads, instruction set), made once for each such triple in a row. No workspace.
    ConvArgs<Scalar> grouped_args(int N) {
        ConvArgs<Scalar> a;
        a.N = N;
        a.pool = this->thread_pool();
        const int threads = a.pool ? a.pool->size() : 1;
        const Isa isa = std::is_same<Scalar, float>::value ? active_isa() : Isa::portable;
        if (plan_.N != N || plan_.threads != threads || plan_.isa != isa)
            plan_ = kernels::grouped_conv2d_plan<Scalar>(geometry_, groups_, N, threads);
        return a;
    }

    // The kernels' scratch memory, grown to fit the current thread count and then reused: no allocation per step.
    Scalar* workspace() {
        const ThreadPool* pool = this->thread_pool();
        const std::size_t needed = workspace_scalars(pool ? pool->size() : 1);
        if (workspace_.size() < needed) workspace_.resize(needed);
        return workspace_.data();
    }
    std::size_t workspace_scalars(int threads) const {
        return kernels::simd_active<Scalar>() ? kernels::conv2d_fast_workspace_size<Scalar>(geometry_, threads)
                                              : conv2d_workspace_size(geometry_);
    }

    ConvGeometry geometry(const Shape& input) const {
        if (in_channels_ > 0 && input.c != in_channels_) {
            throw shape_error("expected input channels " + std::to_string(in_channels_) + ", got " +
                              std::to_string(input.c));
        }
        if (input.c % groups_ != 0) {
            throw shape_error("input channels " + std::to_string(input.c) + " do not divide into " +
                              std::to_string(groups_) + " groups");
        }
        return make_conv_geometry(input.c, input.h, input.w, filters_, kernel_h_, kernel_w_, stride_h_, stride_w_,
                                  padding_);
    }

    int filters_;
    int kernel_h_;
    int kernel_w_;
    int stride_h_ = 1;
    int stride_w_ = 1;
    int in_channels_ = 0;
    int groups_ = 1;
    Padding padding_ = Padding::same();
    bool use_bias_ = true;
    Init init_ = Init::he_normal;

    ConvGeometry geometry_;
    Tensor<Scalar> weight_, dweight_;  // (K, C / groups, KH, KW)
    Tensor<Scalar> bias_, dbias_;      // (1, K, 1, 1)
    InputCache<Scalar> input_;         // (N, C, H, W), the last forward's input (a copy or a pointer)
    std::vector<Scalar> workspace_;    // kernel scratch: padded images and GEMM blocks, or one im2col matrix
    ConvPlan plan_;                    // the fast kernels' variants for the last (N, threads, instruction set)
};

}  // namespace deepcnn
