// deepcnn/model/model_base.hpp: ModelBase<Derived, Scalar>, the machinery Sequential and Graph share, written once
// over what each offers (size(), layer(i), layer_name(i), forward_logits(x) and a private backward_through(dy,
// input_gradient)): the thread pool lent to every layer, train / eval mode, per-layer timing, the named parameter
// list, buffers, the inference plan (inference_plan.hpp) and train_step / predict / evaluate. A model derives from it
// (CRTP), offers owned_layer(i) (layer(i) without dropping the inference plan), build_inference_plan(plan) and
// forward_planned(x, plan), and calls adopt() for each layer it adds.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../cancellation.hpp"
#include "../layers/layer.hpp"
#include "../loss/softmax_cross_entropy.hpp"
#include "../optim/optimizer.hpp"
#include "../parallel/thread_pool.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "inference_plan.hpp"
#include "model_common.hpp"

namespace deepcnn {

// Watches train_step's backward pass (data-parallel training, distributed/data_parallel.hpp, starts summing a
// layer's gradients over the ranks while the layers below it are still back-propagating).
class BackwardObserver {
public:
    virtual ~BackwardObserver() = default;
    // Layer `layer`'s parameter gradients are final for this step (called after each layer's backward).
    virtual void layer_done(std::size_t layer) = 0;
    // Backward has finished; the optimizer step follows.
    virtual void backward_done() = 0;
};

template <class Derived, class Scalar>
class ModelBase {
public:
    using scalar_type = Scalar;

    // The threads forward, backward and training use (0: std::thread::hardware_concurrency()). Results are
    // bit-identical for a given seed whatever the count.
    void set_threads(int threads) {
        pool_ = std::make_unique<ThreadPool>(threads);
        for (std::size_t i = 0; i < model().size(); ++i) model().owned_layer(i).set_thread_pool(pool_.get());
    }
    int threads() const { return pool_->size(); }

    // Per-layer timing (off by default): while on, every forward and backward of a layer, and every optimizer step
    // of train_step, adds its wall-clock time to timings(). Two clock reads per pass; results do not change.
    void set_timing(bool on) { timing_ = on; }
    bool timing() const { return timing_; }
    const ModelTimings& timings() const { return timings_; }
    void reset_timings() { timings_.reset(); }

    // The caller's cancellation flag (null: none): predict and evaluate poll it before each batch, and a forward pass
    // in eval mode before each layer (a batch of 256 images through the FER net takes about a second on 2 busy
    // cores; one layer a tenth of that), throwing cancelled once it is set. Training never polls: a step is not cut
    // (BatchNorm would have moved its running statistics); its caller stops between steps and saves a checkpoint.
    void set_cancel_flag(const CancelFlag* flag) { cancel_ = flag; }
    // One line per layer that chooses among kernels: "  conv2d_1  avx512: forward direct, backward-data ...".
    std::string kernel_plans() const {
        std::string out;
        for (std::size_t i = 0; i < model().size(); ++i) {
            const std::string plan = model().layer(i).kernel_plan();
            if (!plan.empty()) out += "  " + model().layer_name(i) + "  " + plan + "\n";
        }
        return out;
    }

    // Train or eval mode for every layer; a frozen layer stays in eval mode (BatchNorm uses its running statistics,
    // Dropout passes its input through).
    void set_mode(Mode mode) {
        mode_ = mode;
        for (std::size_t i = 0; i < model().size(); ++i)
            model().owned_layer(i).set_mode(trainable_[i] ? mode : Mode::eval);
    }
    void train() { set_mode(Mode::train); }
    void eval() { set_mode(Mode::eval); }
    Mode mode() const { return mode_; }

    // Every learnable parameter, named "LAYER.PARAM" ("conv2d_1.weight"), in layer order. The list is made as
    // layers are added (so that a training step does not build it again) and stays valid until the next add().
    // A parameter keeps the shape its layer built it with: forward and train_step throw shape_error naming it if a
    // caller assigned it a tensor of another shape. The caller may write the values: the inference plan is dropped.
    const std::vector<ParamRef<Scalar>>& params() {
        parameters_changed();
        return params_;
    }
    // The parameters of the layers that are not frozen: what train_step gives the optimizer.
    const std::vector<ParamRef<Scalar>>& trainable_params() {
        parameters_changed();
        return trainable_params_;
    }
    // Every buffer (BatchNorm running statistics), named like params(); the inference plan is dropped.
    std::vector<BufferRef<Scalar>> buffers() {
        parameters_changed();
        return buffers_;
    }

    // Inference folding (on by default): predict and evaluate run the inference plan (inference_plan.hpp), a
    // BatchNorm that alone reads a Conv2D's output folded into the convolution's weights and bias and a ReLU that
    // alone reads either applied by the convolution; the results equal the layer-by-layer ones within float rounding
    // (the folded weights are rounded once more). Off: predict and evaluate run every layer as forward does.
    void set_folding(bool on) {
        folding_ = on;
        parameters_changed();
    }
    bool folding() const { return folding_; }
    // Weights prepared once (on by default): with folding, each folded convolution's forward variant transforms or
    // packs its constant weights on the first inference and keeps them until the plan is dropped, instead of on every
    // call; the results are the same bits. Off: every call prepares them (for comparisons).
    void set_prepared_weights(bool on) { plan_.set_prepare_weights(on); }
    bool prepared_weights() const { return plan_.prepare_weights(); }
    // Drops the inference plan, so that the next predict or evaluate folds the current values. train_step, params(),
    // buffers(), the models' non-const layer() and every loader (they go through params()) call it; a caller that
    // writes parameters through a layer reference kept from add() calls it too.
    void parameters_changed() { plan_.clear(); }
    // Logits (the output of every layer but a trailing Softmax) in eval mode, through the inference plan when folding
    // is on (built here when there is none). Owned by the model, valid until the next forward; there is nothing to
    // back-propagate afterwards (backward throws).
    const Tensor<Scalar>& infer_logits(const Tensor<Scalar>& x) {
        eval();
        if (!folding_) return model().forward_logits(x);
        if (!plan_.built()) model().build_inference_plan(plan_);
        return model().forward_planned(x, plan_);
    }

    // Freezing, for fine-tuning: a frozen layer's parameters are left out of the optimizer's steps and the layer
    // runs in eval mode (a frozen BatchNorm normalises with its running statistics and does not update them).
    // A frozen layer's gradients are set to zero: training may no longer write them (Sequential back-propagates
    // only down to the lowest layer that still learns).
    void set_trainable(std::size_t i, bool trainable) {
        check_layer_index(i, "set_trainable");
        trainable_[i] = trainable;
        if (!trainable) model().owned_layer(i).zero_grad();
        model().owned_layer(i).set_mode(trainable ? mode_ : Mode::eval);
        update_trainable_params();
    }
    bool trainable(std::size_t i) const {
        check_layer_index(i, "trainable");
        return trainable_[i];
    }
    void freeze(std::size_t i) { set_trainable(i, false); }
    void unfreeze(std::size_t i) { set_trainable(i, true); }
    // Freezes layers [0, end): the usual fine-tuning set-up, a pretrained body under a new head.
    void freeze_up_to(std::size_t end) {
        if (end > model().size()) check_layer_index(end, "freeze_up_to");
        for (std::size_t i = 0; i < end; ++i) set_trainable(i, false);
    }
    std::size_t parameter_count() {
        std::size_t total = 0;
        for (auto& p : params()) total += p.value->size();
        return total;
    }
    void zero_grad() {
        for (std::size_t i = 0; i < model().size(); ++i) model().owned_layer(i).zero_grad();
    }

    // The observer train_step tells about its backward pass (null: none); the caller keeps it alive.
    void set_backward_observer(BackwardObserver* observer) { observer_ = observer; }

    // One optimisation step on a batch: train mode, forward to logits, fused softmax cross-entropy, backward,
    // optimizer update. Returns the batch loss and the number of correct predictions.
    StepResult train_step(const Tensor<Scalar>& x, const std::vector<int>& labels, SoftmaxCrossEntropy<Scalar>& loss,
                          Optimizer<Scalar>& optimizer) {
        check_parameter_shapes();
        detail::check_finite(x, Derived::kind, "train_step");
        parameters_changed();
        train();
        const Tensor<Scalar>& logits = model().forward_logits(x);
        StepResult result;
        result.loss = double(loss.forward(logits, labels));
        result.count = x.n();
        result.correct = detail::count_correct(loss.probabilities(), labels);
        loss.backward(loss_grad_);
        if (lowest_trainable_ < model().size()) model().backward_through(loss_grad_, false);  // no dL/dx of the images
        if (observer_) observer_->backward_done();
        timed(timings_.optimizer_seconds, timings_.optimizer_steps,
              [&] { optimizer.step(trainable_params_, pool_.get()); });
        return result;
    }

    // Class probabilities (N, K, 1, 1) in eval mode, computed in batches of `batch`.
    Tensor<Scalar> predict(const Tensor<Scalar>& x, int batch = 256) {
        return detail::predict_in_batches(model(), Derived::kind, x, batch, cancel_);
    }

    // Mean loss and accuracy in eval mode (the loss's class weights apply).
    Evaluation evaluate(const Tensor<Scalar>& x, const std::vector<int>& labels, int batch = 256,
                        const SoftmaxCrossEntropy<Scalar>& loss = SoftmaxCrossEntropy<Scalar>()) {
        return detail::evaluate_in_batches(model(), Derived::kind, x, labels, batch, loss, cancel_);
    }

    // The generator layers draw initial weights from; exposed so that checkpoints can save it.
    Rng& rng() { return rng_; }

protected:
    explicit ModelBase(std::uint64_t seed) : rng_(seed), pool_(std::make_unique<ThreadPool>()) {}
    ModelBase(ModelBase&&) noexcept = default;
    ModelBase& operator=(ModelBase&&) noexcept = default;
    ~ModelBase() = default;

    // The second half of clone(): `copy` holds the same layers built afresh; this gives it the frozen layers, each
    // layer's random state, the parameter and buffer values, the model's random state, threads, mode, inference folding
    // and weight preparation.
    void copy_state_to(Derived& copy) {
        for (std::size_t i = 0; i < trainable_.size(); ++i) {
            copy.set_trainable(i, trainable_[i]);
            if (Rng* rng = model().owned_layer(i).random_generator())
                copy.owned_layer(i).random_generator()->set_state(rng->state());
        }
        for (std::size_t k = 0; k < params_.size(); ++k) *copy.params_[k].value = *params_[k].value;
        for (std::size_t k = 0; k < buffers_.size(); ++k) *copy.buffers_[k].value = *buffers_[k].value;
        copy.rng_ = rng_;
        copy.set_threads(threads());
        copy.set_mode(mode_);
        copy.set_folding(folding_);
        copy.set_prepared_weights(prepared_weights());
    }

    // Takes a just-built layer named `name` into the model's mode, threads, timings, parameter and buffer lists
    // (with the shapes they were built with), as a layer that learns.
    void adopt(Layer<Scalar>& layer, const std::string& name) {
        parameters_changed();
        layer.set_mode(mode_);
        layer.set_thread_pool(pool_.get());
        timings_.layers.push_back({name});
        trainable_.push_back(true);
        param_counts_.push_back(0);
        buffer_counts_.push_back(0);
        for (auto& p : layer.params()) {
            params_.push_back({name + "." + p.name, p.value, p.grad});
            param_shapes_.push_back(p.value->shape());
            ++param_counts_.back();
        }
        for (auto& b : layer.buffers()) {
            buffers_.push_back({name + "." + b.name, b.value});
            buffer_shapes_.push_back(b.value->shape());
            ++buffer_counts_.back();
        }
        update_trainable_params();
    }
    // Undoes adopt() for the last layer (Sequential::pop).
    void unadopt_last() {
        parameters_changed();
        params_.resize(params_.size() - param_counts_.back());
        param_shapes_.resize(param_shapes_.size() - param_counts_.back());
        buffers_.resize(buffers_.size() - buffer_counts_.back());
        buffer_shapes_.resize(buffer_shapes_.size() - buffer_counts_.back());
        timings_.layers.pop_back();
        trainable_.pop_back();
        param_counts_.pop_back();
        buffer_counts_.pop_back();
        update_trainable_params();
    }
    void check_layer_index(std::size_t i, const char* function) const {
        const std::size_t n = model().size();
        if (i >= n) {
            throw error(std::string(Derived::kind) + "::" + function + ": no layer " + std::to_string(i) +
                        " (the model has " + std::to_string(n) + " layers, 0 to " +
                        (n == 0 ? std::string("none") : std::to_string(n - 1)) + ")");
        }
    }
    // Each parameter, gradient and buffer still has the shape its layer was built with (a caller may have assigned
    // one a tensor of another shape: the layer would read past it).
    void check_parameter_shapes() const {
        const auto check = [](const std::string& name, const Tensor<Scalar>& t, const Shape& built, const char* what) {
            if (t.shape() != built) {
                throw shape_error(name + ": " + what + " has shape " + t.shape().str() + ", its layer was built for " +
                                  built.str());
            }
        };
        for (std::size_t k = 0; k < params_.size(); ++k) {
            check(params_[k].name, *params_[k].value, param_shapes_[k], "the value");
            check(params_[k].name, *params_[k].grad, param_shapes_[k], "the gradient");
        }
        for (std::size_t k = 0; k < buffers_.size(); ++k)
            check(buffers_[k].name, *buffers_[k].value, buffer_shapes_[k], "the buffer");
    }
    void update_trainable_params() {
        trainable_params_.clear();
        lowest_trainable_ = trainable_.size();
        std::size_t k = 0;
        for (std::size_t i = 0; i < trainable_.size(); ++i) {
            for (std::size_t j = 0; j < param_counts_[i]; ++j, ++k) {
                if (!trainable_[i]) continue;
                trainable_params_.push_back(params_[k]);
                lowest_trainable_ = std::min(lowest_trainable_, i);
            }
        }
    }
    // Called by the model after layer i's backward.
    void layer_backward_done(std::size_t i) {
        if (observer_) observer_->layer_done(i);
    }
    // f(), adding its wall-clock time to `seconds` and one to `calls` while timing is on.
    template <class F>
    void timed(double& seconds, long& calls, F&& f) {
        detail::timed(timing_, seconds, calls, std::forward<F>(f));
    }

    Rng rng_;
    std::unique_ptr<ThreadPool> pool_;  // lent to every layer
    Mode mode_ = Mode::train;
    bool timing_ = false;
    const CancelFlag* cancel_ = nullptr;    // the caller's, polled per batch (set_cancel_flag)
    BackwardObserver* observer_ = nullptr;  // the caller's (set_backward_observer)
    ModelTimings timings_;                  // an entry per layer, named when added
    std::vector<ParamRef<Scalar>> params_;  // every layer's parameters, named, in order
    std::vector<Shape> param_shapes_;       // the shape each parameter was built with
    std::vector<BufferRef<Scalar>> buffers_;
    std::vector<Shape> buffer_shapes_;
    std::vector<std::size_t> param_counts_, buffer_counts_;  // of each layer
    std::vector<bool> trainable_;                            // false: frozen
    std::vector<ParamRef<Scalar>> trainable_params_;
    std::size_t lowest_trainable_ = 0;  // the lowest layer with parameters that learn (size(): none)
    Tensor<Scalar> loss_grad_;
    bool folding_ = true;
    InferencePlan<Scalar> plan_;  // built by infer_logits, dropped by parameters_changed

private:
    Derived& model() { return static_cast<Derived&>(*this); }
    const Derived& model() const { return static_cast<const Derived&>(*this); }
};

}  // namespace deepcnn
