// deepcnn/model/model_base.hpp: ModelBase<Derived, Scalar>, the machinery Sequential and Graph share, written once
// over what each offers (size(), layer(i), layer_name(i), forward_logits(x) and a private backward_through(dy,
// input_gradient)): the thread pool lent to every layer, train / eval mode, per-layer timing, the named parameter
// list, buffers, and train_step / predict / evaluate. A model derives from it (CRTP) and calls adopt() for each layer
// it adds.
#pragma once

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
#include "model_common.hpp"

namespace deepcnn {

template <class Derived, class Scalar>
class ModelBase {
public:
    // The threads forward, backward and training use (0: std::thread::hardware_concurrency()). Results are
    // bit-identical for a given seed whatever the count.
    void set_threads(int threads) {
        pool_ = std::make_unique<ThreadPool>(threads);
        for (std::size_t i = 0; i < model().size(); ++i) model().layer(i).set_thread_pool(pool_.get());
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

    void set_mode(Mode mode) {
        mode_ = mode;
        for (std::size_t i = 0; i < model().size(); ++i) model().layer(i).set_mode(mode);
    }
    void train() { set_mode(Mode::train); }
    void eval() { set_mode(Mode::eval); }
    Mode mode() const { return mode_; }

    // Every learnable parameter, named "LAYER.PARAM" ("conv2d_1.weight"), in layer order. The list is made as
    // layers are added (so that a training step does not build it again) and stays valid until the next add().
    const std::vector<ParamRef<Scalar>>& params() { return params_; }
    // Every buffer (BatchNorm running statistics), named like params().
    std::vector<BufferRef<Scalar>> buffers() {
        std::vector<BufferRef<Scalar>> out;
        for (std::size_t i = 0; i < model().size(); ++i)
            for (auto& b : model().layer(i).buffers()) out.push_back({model().layer_name(i) + "." + b.name, b.value});
        return out;
    }
    std::size_t parameter_count() {
        std::size_t total = 0;
        for (auto& p : params()) total += p.value->size();
        return total;
    }
    void zero_grad() {
        for (std::size_t i = 0; i < model().size(); ++i) model().layer(i).zero_grad();
    }

    // One optimisation step on a batch: train mode, forward to logits, fused softmax cross-entropy, backward,
    // optimizer update. Returns the batch loss and the number of correct predictions.
    StepResult train_step(const Tensor<Scalar>& x, const std::vector<int>& labels, SoftmaxCrossEntropy<Scalar>& loss,
                          Optimizer<Scalar>& optimizer) {
        detail::check_finite(x, Derived::kind, "train_step");
        train();
        const Tensor<Scalar>& logits = model().forward_logits(x);
        StepResult result;
        result.loss = double(loss.forward(logits, labels));
        result.count = x.n();
        result.correct = detail::count_correct(loss.probabilities(), labels);
        loss.backward(loss_grad_);
        model().backward_through(loss_grad_, false);  // dL/dx of the images is not needed
        timed(timings_.optimizer_seconds, timings_.optimizer_steps, [&] { optimizer.step(params(), pool_.get()); });
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

    // Takes a just-built layer named `name` into the model's mode, threads, timings and parameter list.
    void adopt(Layer<Scalar>& layer, const std::string& name) {
        layer.set_mode(mode_);
        layer.set_thread_pool(pool_.get());
        timings_.layers.push_back({name});
        for (auto& p : layer.params()) params_.push_back({name + "." + p.name, p.value, p.grad});
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
    ModelTimings timings_;                  // an entry per layer, named when added
    std::vector<ParamRef<Scalar>> params_;  // every layer's parameters, named, in order
    Tensor<Scalar> loss_grad_;

private:
    Derived& model() { return static_cast<Derived&>(*this); }
    const Derived& model() const { return static_cast<const Derived&>(*this); }
};

}  // namespace deepcnn
