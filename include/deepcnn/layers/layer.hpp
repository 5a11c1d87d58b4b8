// deepcnn/layers/layer.hpp: the layer contract, written once. Every layer derives from Layer<Scalar>.
//
//   output_shape(in)      shape inference; throws shape_error for an input the layer cannot take
//   build(in, rng)        allocates and initialises parameters for that input shape (once)
//   forward(x, y)         y = f(x); caches exactly what backward needs; y is resized as needed
//   infer(x, y)           y = f(x) for an inference that no backward follows (a backward after it throws): layers
//                         may skip what only backward needs (MaxPool2D's argmax); predict and evaluate use it
//   backward(dy, dx)      ASSIGNS dx and every parameter gradient (never accumulates); throws without a forward
//   backward_params(dy, scratch)  every parameter gradient only, for a caller that discards dx (the model's first
//                         layer in training): layers that can skip computing dx do (Conv2D, Dense);
//                         the others compute it into `scratch`, whose contents are otherwise left unspecified
//   params()              named {value, grad} views of the learnable parameters
//   buffers()             named non-learnable state saved with the model (BatchNorm running statistics)
//   random_generator()    the layer's own Rng if it draws random numbers (Dropout), for checkpoints
//   set_first_sample(i)   the global index of the batch's first sample when the batch is a shard of a larger one
//                         (data-parallel training); layers whose draws are keyed by sample index use it
//   kernel_plan()         the kernels the layer ran last, in words (Conv2D's variants), for profiles
//   set_mode(train|eval)  each layer holds its own mode; the model sets it; there is no global flag
//   type(), config()      the layer's type name and its configuration, for summaries and model files
//   set_thread_pool(pool) the threads a layer may use (lent by the model; null: the calling thread only)
//   set_input_retained(b) the caller's promise that each forward's input stays alive and unchanged until the
//                         next forward (so through the matching backward); layers whose backward reads the input
//                         (Conv2D, Dense) then keep a pointer to it instead of a copy. Off by default: a layer used
//                         on its own may be given a temporary. Sequential sets it for every layer but the first,
//                         whose inputs are the model's own activations.
//
// The public forward/backward check shapes and call order, then delegate to forward_impl/backward_impl.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../parallel/thread_pool.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace deepcnn {

enum class Mode { train, eval };

// A learnable parameter: its value and the gradient backward writes, under a name unique within the layer.
template <class Scalar>
struct ParamRef {
    std::string name;
    Tensor<Scalar>* value;
    Tensor<Scalar>* grad;
};

// Non-learnable state that belongs in a model file (for example BatchNorm's running mean).
template <class Scalar>
struct BufferRef {
    std::string name;
    Tensor<Scalar>* value;
};

// A layer's configuration as ordered (key, number) pairs: what a model file needs to rebuild the layer.
using LayerConfig = std::vector<std::pair<std::string, double>>;

template <class Scalar>
class Layer {
public:
    virtual ~Layer() = default;

    // The type name, as in summaries and model files: "Conv2D", "Dense", ...
    virtual std::string type() const = 0;
    // The output shape for an input shape (N carried through); throws shape_error with a message that does
    // not name the layer (callers prefix it with where()).
    virtual Shape output_shape(const Shape& input) const = 0;
    // Forward FLOPs for one sample of this input shape (a multiply-add counts 2).
    virtual double forward_flops(const Shape& /*input*/) const { return 0.0; }
    virtual LayerConfig config() const { return {}; }
    virtual std::vector<ParamRef<Scalar>> params() { return {}; }
    virtual std::vector<BufferRef<Scalar>> buffers() { return {}; }
    // The layer's own random generator (Dropout's mask stream), saved in checkpoints; null for most layers.
    virtual Rng* random_generator() { return nullptr; }
    // True if the layer keys every sample's random draws by the sample's global index (first_sample() + n) and
    // takes the same number of draws from random_generator() per forward whatever the batch: then a batch split
    // into shards draws what the whole batch would (Dropout). False: data-parallel training gives each shard a
    // stream of its own.
    virtual bool draws_by_sample_index() const { return false; }
    // The kernels the layer ran last, in words ("avx512: forward winograd, ..."), for profiles; empty where the
    // layer has no choice of kernels.
    virtual std::string kernel_plan() const { return {}; }
    // The bytes of scratch memory the built layer's forward and backward use with `threads` threads (for memory
    // estimates, train/memory_estimate.hpp); 0 for layers without scratch.
    virtual std::size_t workspace_bytes(int /*threads*/) const { return 0; }
    // Asks the layer to apply a ReLU to its own output (forward) and to the incoming gradient (backward), so that a
    // container can skip the ReLU layer that follows it: one pass over the activations instead of two. Returns
    // whether the layer did so (most layers do not). Built layers only; the model file keeps both layers.
    virtual bool fuse_following_relu() { return false; }
    // Undoes fuse_following_relu: the layer's output is its own again and the ReLU layer runs by itself (a graph
    // whose fused layer gains a second consumer asks, and Sequential::pop and activations).
    virtual void unfuse_following_relu() {}

    // Fixes the input shape (N ignored), checks it, allocates and initialises parameters from `rng`.
    void build(const Shape& input, Rng& rng) {
        try {
            output_shape(input);
        } catch (const shape_error& e) {
            throw shape_error(where() + ": " + e.what());
        }
        input_shape_ = input.with_batch(1);
        build_impl(input_shape_, rng);
        built_ = true;
    }
    bool built() const { return built_; }
    // The per-sample input shape fixed by build() (N = 1).
    const Shape& input_shape() const { return input_shape_; }

    // y = f(x). Throws shape_error if x's sample shape differs from the built input shape.
    void forward(const Tensor<Scalar>& x, Tensor<Scalar>& y) {
        check_forward_input(x);
        forward_impl(x, y);
        forward_batch_ = x.n();
        has_forward_ = true;
    }
    Tensor<Scalar> forward(const Tensor<Scalar>& x) {
        Tensor<Scalar> y;
        forward(x, y);
        return y;
    }
    // y = f(x) as forward computes it, bit for bit, for an inference: nothing is kept for a backward, which then
    // throws until the next forward.
    void infer(const Tensor<Scalar>& x, Tensor<Scalar>& y) {
        has_forward_ = false;
        check_forward_input(x);
        inference_impl(x, y);
    }

    // dx = dL/dx given dy = dL/dy, for the last forward's input; assigns dx and the parameter gradients.
    void backward(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) {
        check_backward(dy);
        backward_impl(dy, dx);
    }
    Tensor<Scalar> backward(const Tensor<Scalar>& dy) {
        Tensor<Scalar> dx;
        backward(dy, dx);
        return dx;
    }
    // As backward, for a caller that does not need dx: assigns every parameter gradient; `scratch` is room that
    // layers which cannot skip dx write it to (its contents afterwards are unspecified).
    void backward_params(const Tensor<Scalar>& dy, Tensor<Scalar>& scratch) {
        check_backward(dy);
        backward_params_impl(dy, scratch);
    }

    void set_mode(Mode mode) { mode_ = mode; }
    Mode mode() const { return mode_; }
    bool training() const { return mode_ == Mode::train; }

    // Where this layer stands, for error messages: "layer 3 (Conv2D)" inside a model, "Conv2D" alone.
    std::string where() const { return label_.empty() ? type() : label_; }
    void set_label(std::string label) { label_ = std::move(label); }

    // Sets every parameter gradient to zero.
    void zero_grad() {
        for (auto& p : params()) p.grad->set_zero();
    }

    // The threads forward and backward may use; not owned (the model owns it). Null: the calling thread only.
    void set_thread_pool(ThreadPool* pool) { pool_ = pool; }
    ThreadPool* thread_pool() const { return pool_; }

    // The caller keeps each forward's input alive and unchanged until the next forward (see the file comment):
    // layers may then refer to it in backward instead of copying it. Off by default.
    void set_input_retained(bool retained) { input_retained_ = retained; }
    bool input_retained() const { return input_retained_; }

    // The global index of the next batches' first sample: where a shard of a larger batch starts (data-parallel
    // training sets it before each step; 0 otherwise). See draws_by_sample_index.
    void set_first_sample(long first) { first_sample_ = first; }
    long first_sample() const { return first_sample_; }

protected:
    virtual void build_impl(const Shape& /*input*/, Rng& /*rng*/) {}
    virtual void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) = 0;
    virtual void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) = 0;
    // The parameter gradients without dx (see backward_params); by default the whole backward into `scratch`.
    virtual void backward_params_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& scratch) { backward_impl(dy, scratch); }
    // infer's work: by default the forward's.
    virtual void inference_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) { forward_impl(x, y); }

private:
    void check_forward_input(const Tensor<Scalar>& x) const {
        if (!built_) throw error(where() + ": forward called before build()");
        if (x.shape().with_batch(1) != input_shape_) {
            throw shape_error(where() + ": expected input " + input_shape_.sample_str() + ", got " +
                              x.shape().sample_str());
        }
        if (x.n() <= 0) throw shape_error(where() + ": empty batch " + x.shape().str());
    }
    void check_backward(const Tensor<Scalar>& dy) const {
        if (!has_forward_) throw error(where() + ": backward called without a forward pass");
        const Shape expected = output_shape(input_shape_.with_batch(forward_batch_));
        if (dy.shape() != expected) {
            throw shape_error(where() + ": expected output gradient " + expected.str() + ", got " + dy.shape().str());
        }
    }

    Shape input_shape_;
    std::string label_;
    Mode mode_ = Mode::train;
    ThreadPool* pool_ = nullptr;
    int forward_batch_ = 0;
    long first_sample_ = 0;
    bool input_retained_ = false;
    bool built_ = false;
    bool has_forward_ = false;
};

template <class Scalar>
using LayerPtr = std::unique_ptr<Layer<Scalar>>;

}  // namespace deepcnn
