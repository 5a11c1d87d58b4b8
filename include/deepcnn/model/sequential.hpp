// deepcnn/model/sequential.hpp: Sequential<Scalar>, a stack of layers composed at run time. Given only the
// input shape it infers every layer's shape (errors name the layer), owns the activations and gradients
// between layers, and trains, evaluates, predicts and prints a Keras-style summary. On request it times every
// layer's passes (set_timing). For fine-tuning: clone() (a deep copy), freezing layers, pop() (drop the head)
// and activations() (each layer's own output).
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <memory>
#include <numeric>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../layers/layer.hpp"
#include "../layers/softmax.hpp"
#include "../loss/softmax_cross_entropy.hpp"
#include "../model/layer_factory.hpp"
#include "../optim/optimizer.hpp"
#include "../parallel/thread_pool.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace deepcnn {

// Loss and accuracy over a set of samples.
struct Evaluation {
    double loss = 0.0;
    double accuracy = 0.0;
    long count = 0;
};

// What one train_step did.
struct StepResult {
    double loss = 0.0;
    int correct = 0;
    int count = 0;
};

// Where the time of a model's passes went, summed since Sequential::reset_timings() while set_timing(true):
// wall-clock seconds and calls of every layer's forward and backward, in layer order, and of the optimizer steps
// train_step made. A ReLU that the layer before it applies (fused) keeps zero calls.
struct LayerTiming {
    std::string name;  // "conv2d_1", as in parameter names
    double forward_seconds = 0.0;
    double backward_seconds = 0.0;
    long forward_calls = 0;
    long backward_calls = 0;
};
struct ModelTimings {
    std::vector<LayerTiming> layers;
    double optimizer_seconds = 0.0;
    long optimizer_steps = 0;
};

template <class Scalar>
class Sequential {
public:
    using scalar_type = Scalar;

    // input: the shape of one sample (N is ignored); seed: initialises every layer's parameters and RNGs.
    // Runs on std::thread::hardware_concurrency() threads until set_threads() says otherwise.
    explicit Sequential(const Shape& input, std::uint64_t seed = 0)
        : input_shape_(input.with_batch(1)), rng_(seed), pool_(std::make_unique<ThreadPool>()) {
        if (input.c <= 0 || input.h <= 0 || input.w <= 0) {
            throw shape_error("Sequential: input shape must be positive, got " + input.sample_str());
        }
    }
    Sequential(int channels, int height, int width, std::uint64_t seed = 0)
        : Sequential(Shape(1, channels, height, width), seed) {}

    Sequential(Sequential&&) noexcept = default;
    Sequential& operator=(Sequential&&) noexcept = default;

    // Appends a copy of `layer`, builds it for the current output shape and returns the model's copy.
    // Throws shape_error "layer N (Type): ..." if the layer cannot take that shape.
    template <class L, class = std::enable_if_t<std::is_base_of<Layer<Scalar>, std::decay_t<L>>::value>>
    std::decay_t<L>& add(L&& layer) {
        auto owned = std::make_unique<std::decay_t<L>>(std::forward<L>(layer));
        auto& ref = *owned;
        add(LayerPtr<Scalar>(std::move(owned)));
        return ref;
    }
    Layer<Scalar>& add(LayerPtr<Scalar> layer) {
        if (!layer) throw error("Sequential::add: null layer");
        const int index = static_cast<int>(layers_.size()) + 1;
        layer->set_label("layer " + std::to_string(index) + " (" + layer->type() + ")");
        layer->build(output_shape(), rng_);
        layer->set_mode(mode_);
        layer->set_thread_pool(pool_.get());
        // the inputs of layers 2.. are activations_, which stay untouched until the next forward: those layers may
        // keep a pointer instead of a copy. Adding a layer may move activations_, so the last forward is void.
        layer->set_input_retained(index > 1);
        forwarded_ = 0;
        shapes_.push_back(layer->output_shape(output_shape()));
        // A ReLU right after a layer that can apply it itself (BatchNorm) is skipped in forward and backward.
        const bool fused = layer->type() == "ReLU" && !layers_.empty() && !fused_into_previous_.back() &&
                           layers_.back()->fuse_following_relu();
        layers_.push_back(std::move(layer));
        fused_into_previous_.push_back(fused);
        activations_.emplace_back();
        const std::string name = layer_name(layers_.size() - 1);
        timings_.layers.push_back({name});
        trainable_.push_back(true);
        param_counts_.push_back(0);
        for (auto& p : layers_.back()->params()) {
            params_.push_back({name + "." + p.name, p.value, p.grad});
            param_shapes_.push_back(p.value->shape());
            ++param_counts_.back();
        }
        for (auto& b : layers_.back()->buffers()) {
            buffers_.push_back({name + "." + b.name, b.value});
            buffer_shapes_.push_back(b.value->shape());
        }
        update_trainable_params();
        return *layers_.back();
    }

    // Removes the last layer (to drop or replace a model's head): its parameters leave params(), and a layer that
    // applied the removed ReLU itself (fusion) applies it no more. Throws error on an empty model.
    void pop() {
        if (layers_.empty()) throw error("Sequential::pop: the model has no layers");
        if (fused_into_previous_.back()) layers_[layers_.size() - 2]->unfuse_following_relu();
        const std::size_t params = param_counts_.back();
        const std::size_t buffers = layers_.back()->buffers().size();
        params_.resize(params_.size() - params);
        param_shapes_.resize(param_shapes_.size() - params);
        buffers_.resize(buffers_.size() - buffers);
        buffer_shapes_.resize(buffer_shapes_.size() - buffers);
        layers_.pop_back();
        shapes_.pop_back();
        fused_into_previous_.pop_back();
        activations_.pop_back();
        timings_.layers.pop_back();
        trainable_.pop_back();
        param_counts_.pop_back();
        forwarded_ = 0;
        update_trainable_params();
    }

    std::size_t size() const { return layers_.size(); }
    // Layer i (0-based); throws error naming the index and the model's size when there is no such layer.
    Layer<Scalar>& layer(std::size_t i) {
        check_layer_index(i, "layer");
        return *layers_[i];
    }
    const Layer<Scalar>& layer(std::size_t i) const {
        check_layer_index(i, "layer");
        return *layers_[i];
    }
    // Per-sample shapes (N = 1).
    const Shape& input_shape() const { return input_shape_; }
    const Shape& output_shape() const { return shapes_.empty() ? input_shape_ : shapes_.back(); }
    // Name of layer i used in parameter names: lower-case type and 1-based position, "conv2d_1".
    std::string layer_name(std::size_t i) const {
        check_layer_index(i, "layer_name");
        std::string name = layers_[i]->type();
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
        return name + "_" + std::to_string(i + 1);
    }

    // The threads forward, backward and training use (0: std::thread::hardware_concurrency()). Results are
    // bit-identical for a given seed whatever the count.
    void set_threads(int threads) {
        pool_ = std::make_unique<ThreadPool>(threads);
        for (auto& l : layers_) l->set_thread_pool(pool_.get());
    }
    int threads() const { return pool_->size(); }

    // Per-layer timing (off by default): while on, every forward and backward of a layer, and every optimizer step
    // of train_step, adds its wall-clock time to timings(). Two clock reads per pass; results do not change.
    void set_timing(bool on) { timing_ = on; }
    bool timing() const { return timing_; }
    const ModelTimings& timings() const { return timings_; }
    void reset_timings() {
        for (auto& layer : timings_.layers) layer = LayerTiming{layer.name};
        timings_.optimizer_seconds = 0.0;
        timings_.optimizer_steps = 0;
    }

    // Train or eval mode for every layer; a frozen layer stays in eval mode (BatchNorm uses its running statistics,
    // Dropout passes its input through).
    void set_mode(Mode mode) {
        mode_ = mode;
        for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i]->set_mode(trainable_[i] ? mode : Mode::eval);
    }
    void train() { set_mode(Mode::train); }
    void eval() { set_mode(Mode::eval); }
    Mode mode() const { return mode_; }

    // Every learnable parameter, named "LAYER.PARAM" ("conv2d_1.weight"), in layer order. The list is made as
    // layers are added (so that a training step does not build it again) and stays valid until the next add().
    // A parameter keeps the shape its layer built it with: forward and train_step throw shape_error naming it if a
    // caller assigned it a tensor of another shape.
    const std::vector<ParamRef<Scalar>>& params() { return params_; }
    // The parameters of the layers that are not frozen: what train_step gives the optimizer.
    const std::vector<ParamRef<Scalar>>& trainable_params() { return trainable_params_; }
    // Every buffer (BatchNorm running statistics), named like params().
    std::vector<BufferRef<Scalar>> buffers() { return buffers_; }

    // Freezing, for fine-tuning: a frozen layer's parameters are left out of the optimizer's steps and the layer
    // runs in eval mode (a frozen BatchNorm normalises with its running statistics and does not update them).
    // Training back-propagates only down to the lowest layer that still learns.
    // A frozen layer's gradients are set to zero: training may no longer write them (below the lowest layer that
    // learns, backward does not run).
    void set_trainable(std::size_t i, bool trainable) {
        check_layer_index(i, "set_trainable");
        trainable_[i] = trainable;
        if (!trainable) layers_[i]->zero_grad();
        layers_[i]->set_mode(trainable ? mode_ : Mode::eval);
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
        if (end > layers_.size()) check_layer_index(end, "freeze_up_to");
        for (std::size_t i = 0; i < end; ++i) set_trainable(i, false);
    }

    // A deep copy: the same layers (rebuilt from their type and configuration by make_layer), parameter and buffer
    // values, layer random states, frozen layers, mode and thread count; the copy and the original share nothing.
    // Throws error naming the layer for a layer type make_layer does not know.
    Sequential clone() {
        Sequential copy(input_shape_);
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            LayerPtr<Scalar> layer;
            try {
                layer = make_layer<Scalar>(layers_[i]->type(), layers_[i]->config());
            } catch (const error& e) {
                throw error("Sequential::clone: " + layers_[i]->where() + ": " + e.what());
            }
            copy.add(std::move(layer));
            copy.set_trainable(i, trainable_[i]);
            if (Rng* rng = layers_[i]->random_generator()) copy.layers_[i]->random_generator()->set_state(rng->state());
        }
        for (std::size_t k = 0; k < params_.size(); ++k) *copy.params_[k].value = *params_[k].value;
        for (std::size_t k = 0; k < buffers_.size(); ++k) *copy.buffers_[k].value = *buffers_[k].value;
        copy.rng_ = rng_;
        copy.set_threads(threads());
        copy.set_mode(mode_);
        copy.update_trainable_params();
        return copy;
    }

    // Each layer's own output for input x, in eval mode: element i is what layer i returns, also where layer i is a
    // ReLU that the layer before it applies in normal passes (the pair is run apart here; the results are the same).
    std::vector<Tensor<Scalar>> activations(const Tensor<Scalar>& x) {
        check_input(x);
        check_parameter_shapes();
        eval();
        forwarded_ = 0;  // the layers' caches now refer to these outputs, not to activations_
        struct Refuse {
            Sequential& model;
            ~Refuse() {
                for (std::size_t i = 1; i < model.layers_.size(); ++i)
                    if (model.fused_into_previous_[i]) model.layers_[i - 1]->fuse_following_relu();
            }
        } refuse{*this};
        for (std::size_t i = 1; i < layers_.size(); ++i)
            if (fused_into_previous_[i]) layers_[i - 1]->unfuse_following_relu();
        std::vector<Tensor<Scalar>> outputs(layers_.size());
        const Tensor<Scalar>* in = &x;
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            layers_[i]->forward(*in, outputs[i]);
            in = &outputs[i];
        }
        return outputs;
    }
    std::size_t parameter_count() {
        std::size_t total = 0;
        for (auto& p : params()) total += p.value->size();
        return total;
    }
    void zero_grad() {
        for (auto& l : layers_) l->zero_grad();
    }

    // Runs every layer; returns the last output (owned by the model, valid until the next forward).
    const Tensor<Scalar>& forward(const Tensor<Scalar>& x) { return forward_through(x, layers_.size()); }

    // Back-propagates dL/d(output of the last forward'ed layer); assigns every parameter gradient and returns
    // dL/dx (owned by the model).
    const Tensor<Scalar>& backward(const Tensor<Scalar>& dy) { return backward_through(dy, true, 0); }

    // Logits: the output of every layer but a trailing Softmax (which the fused loss replaces).
    const Tensor<Scalar>& forward_logits(const Tensor<Scalar>& x) { return forward_through(x, logits_end()); }

    // One optimisation step on a batch: train mode, forward to logits, fused softmax cross-entropy, backward,
    // optimizer update. Returns the batch loss and the number of correct predictions.
    StepResult train_step(const Tensor<Scalar>& x, const std::vector<int>& labels, SoftmaxCrossEntropy<Scalar>& loss,
                          Optimizer<Scalar>& optimizer) {
        train();
        const Tensor<Scalar>& logits = forward_logits(x);
        StepResult result;
        result.loss = double(loss.forward(logits, labels));
        result.count = x.n();
        result.correct = count_correct(loss.probabilities(), labels);
        loss.backward(loss_grad_);
        // dL/dx of the images is not needed, nor the gradients below the lowest layer that learns
        if (lowest_trainable_ < layers_.size()) backward_through(loss_grad_, false, lowest_trainable_);
        timed(timings_.optimizer_seconds, timings_.optimizer_steps,
              [&] { optimizer.step(trainable_params_, pool_.get()); });
        return result;
    }

    // Class probabilities (N, K, 1, 1) in eval mode, computed in batches of `batch`.
    Tensor<Scalar> predict(const Tensor<Scalar>& x, int batch = 256) {
        check_batch(batch);
        eval();
        Tensor<Scalar> out(Shape(x.n(), static_cast<int>(output_shape().per_sample()), 1, 1));
        Tensor<Scalar> chunk;
        for (int first = 0; first < x.n(); first += batch) {
            const int count = std::min(batch, x.n() - first);
            chunk = x.slice(first, count);
            const Tensor<Scalar>& logits = forward_logits(chunk);
            const int K = static_cast<int>(logits.shape().per_sample());
            for (int i = 0; i < count; ++i) softmax_row(logits.sample(i), out.sample(first + i), K, 1);
        }
        return out;
    }

    // Mean loss and accuracy in eval mode (the loss's class weights apply).
    Evaluation evaluate(const Tensor<Scalar>& x, const std::vector<int>& labels, int batch = 256,
                        const SoftmaxCrossEntropy<Scalar>& loss = SoftmaxCrossEntropy<Scalar>()) {
        check_batch(batch);
        if (static_cast<int>(labels.size()) != x.n()) {
            throw shape_error("Sequential::evaluate: " + std::to_string(x.n()) + " samples but " +
                              std::to_string(labels.size()) + " labels");
        }
        eval();
        SoftmaxCrossEntropy<Scalar> batch_loss(loss.class_weights());
        Evaluation result;
        double weighted_loss = 0.0, weight_total = 0.0;
        long correct = 0;
        Tensor<Scalar> chunk;
        for (int first = 0; first < x.n(); first += batch) {
            const int count = std::min(batch, x.n() - first);
            chunk = x.slice(first, count);
            const std::vector<int> chunk_labels(labels.begin() + first, labels.begin() + first + count);
            const double l = double(batch_loss.forward(forward_logits(chunk), chunk_labels));
            double w = 0.0;
            for (int label : chunk_labels) w += loss.class_weights().empty() ? 1.0 : loss.class_weights()[label];
            weighted_loss += l * w;
            weight_total += w;
            correct += count_correct(batch_loss.probabilities(), chunk_labels);
        }
        result.count = x.n();
        result.loss = weight_total > 0 ? weighted_loss / weight_total : 0.0;
        result.accuracy = x.n() > 0 ? double(correct) / x.n() : 0.0;
        return result;
    }

    // Keras-style table: layer, output shape, parameters, forward MFLOPs per image; then totals.
    std::string summary() {
        std::ostringstream out;
        const int w_layer = 26, w_shape = 18, w_params = 12, w_flops = 14;
        const std::string rule(w_layer + w_shape + w_params + w_flops, '=');
        const std::string thin(rule.size(), '-');
        out << "Model: Sequential<" << (std::is_same<Scalar, float>::value ? "float" : "double") << ">\n" << rule << '\n';
        out << std::left << std::setw(w_layer) << "Layer (type)" << std::setw(w_shape) << "Output Shape" << std::right
            << std::setw(w_params) << "Param #" << std::setw(w_flops) << "MFLOPs" << '\n'
            << rule << '\n';
        out << std::left << std::setw(w_layer) << "input" << std::setw(w_shape) << input_shape_.sample_str() << std::right
            << std::setw(w_params) << 0 << std::setw(w_flops) << "0.00" << '\n';
        double total_flops = 0.0;
        std::size_t total_params = 0;
        Shape in = input_shape_;
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            std::size_t count = 0;
            for (auto& p : layers_[i]->params()) count += p.value->size();
            const double flops = layers_[i]->forward_flops(in);
            total_flops += flops;
            total_params += count;
            std::ostringstream mflops;
            mflops << std::fixed << std::setprecision(2) << flops / 1e6;
            out << std::left << std::setw(w_layer) << (layer_name(i) + " (" + layers_[i]->type() + ")")
                << std::setw(w_shape) << shapes_[i].sample_str() << std::right << std::setw(w_params) << count
                << std::setw(w_flops) << mflops.str() << '\n';
            in = shapes_[i];
        }
        out << rule << '\n';
        out << "Total params: " << total_params << '\n';
        out << "Forward MFLOPs per image: " << std::fixed << std::setprecision(2) << total_flops / 1e6 << '\n';
        out << thin << '\n';
        return out.str();
    }
    // Forward FLOPs for one image.
    double forward_flops() const {
        double total = 0.0;
        Shape in = input_shape_;
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            total += layers_[i]->forward_flops(in);
            in = shapes_[i];
        }
        return total;
    }

    // The generator add() draws initial weights from; exposed so that checkpoints can save it.
    Rng& rng() { return rng_; }

private:
    void check_layer_index(std::size_t i, const char* function) const {
        if (i >= layers_.size()) {
            throw error("Sequential::" + std::string(function) + ": no layer " + std::to_string(i) + " (the model has " +
                        std::to_string(layers_.size()) + " layers, 0 to " +
                        (layers_.empty() ? std::string("none") : std::to_string(layers_.size() - 1)) + ")");
        }
    }
    void check_input(const Tensor<Scalar>& x) const {
        if (x.shape().with_batch(1) != input_shape_) {
            throw shape_error("Sequential: expected input " + input_shape_.sample_str() + ", got " +
                              x.shape().sample_str());
        }
    }
    // Throws shape_error naming the first parameter or buffer whose tensor no longer has the shape its layer built.
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
        for (std::size_t k = 0; k < buffers_.size(); ++k) check(buffers_[k].name, *buffers_[k].value, buffer_shapes_[k], "the buffer");
    }
    void update_trainable_params() {
        trainable_params_.clear();
        lowest_trainable_ = layers_.size();
        std::size_t k = 0;
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            for (std::size_t j = 0; j < param_counts_[i]; ++j, ++k) {
                if (!trainable_[i]) continue;
                trainable_params_.push_back(params_[k]);
                lowest_trainable_ = std::min(lowest_trainable_, i);
            }
        }
    }
    std::size_t logits_end() const {
        if (!layers_.empty() && layers_.back()->type() == "Softmax") return layers_.size() - 1;
        return layers_.size();
    }
    static void check_batch(int batch) {
        if (batch <= 0) throw config_error("batch size must be positive, got " + std::to_string(batch));
    }
    static int count_correct(const Tensor<Scalar>& probabilities, const std::vector<int>& labels) {
        int correct = 0;
        const int K = static_cast<int>(probabilities.shape().per_sample());
        for (int i = 0; i < probabilities.n(); ++i) {
            const Scalar* p = probabilities.sample(i);
            if (std::max_element(p, p + K) - p == labels[i]) ++correct;
        }
        return correct;
    }
    // f(), adding its wall-clock time to `seconds` and one to `calls` while timing is on.
    template <class F>
    void timed(double& seconds, long& calls, F&& f) {
        if (!timing_) {
            f();
            return;
        }
        const auto start = std::chrono::steady_clock::now();
        f();
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        ++calls;
    }

    const Tensor<Scalar>& forward_through(const Tensor<Scalar>& x, std::size_t end) {
        check_input(x);
        check_parameter_shapes();
        const Tensor<Scalar>* in = &x;
        for (std::size_t i = 0; i < end; ++i) {
            if (fused_into_previous_[i]) continue;
            timed(timings_.layers[i].forward_seconds, timings_.layers[i].forward_calls,
                  [&] { layers_[i]->forward(*in, activations_[i]); });
            in = &activations_[i];
        }
        forwarded_ = end;
        return *in;
    }

    // Back-propagates dy through the forward'ed layers down to layer `lowest`; returns dL/dx, or with
    // input_gradient false (training: the gradient below `lowest` is discarded) that layer's scratch, and that layer
    // skips dx where it can.
    const Tensor<Scalar>& backward_through(const Tensor<Scalar>& dy, bool input_gradient, std::size_t lowest) {
        if (forwarded_ == 0) throw error("Sequential::backward called without a forward pass");
        const Tensor<Scalar>* grad = &dy;
        for (std::size_t i = forwarded_; i-- > lowest;) {
            if (fused_into_previous_[i]) continue;
            Tensor<Scalar>& out = (grad == &grad_a_) ? grad_b_ : grad_a_;
            timed(timings_.layers[i].backward_seconds, timings_.layers[i].backward_calls, [&] {
                if (i == lowest && !input_gradient) {
                    layers_[i]->backward_params(*grad, out);
                } else {
                    layers_[i]->backward(*grad, out);
                }
            });
            grad = &out;
        }
        return *grad;
    }

    Shape input_shape_;
    Rng rng_;
    std::unique_ptr<ThreadPool> pool_;            // lent to every layer
    Mode mode_ = Mode::train;
    std::vector<LayerPtr<Scalar>> layers_;
    std::vector<Shape> shapes_;                   // per-sample output shape of each layer
    std::vector<bool> fused_into_previous_;       // a ReLU the previous layer applies (fuse_following_relu)
    std::vector<Tensor<Scalar>> activations_;     // output of each layer, reused between steps
    Tensor<Scalar> grad_a_, grad_b_, loss_grad_;  // gradient ping-pong buffers
    std::size_t forwarded_ = 0;
    bool timing_ = false;
    ModelTimings timings_;  // an entry per layer, named when added
    std::vector<ParamRef<Scalar>> params_;  // every layer's parameters, named, in order
    std::vector<Shape> param_shapes_;       // the shape each parameter was built with
    std::vector<BufferRef<Scalar>> buffers_;
    std::vector<Shape> buffer_shapes_;
    std::vector<std::size_t> param_counts_;  // parameters of each layer
    std::vector<bool> trainable_;            // false: frozen
    std::vector<ParamRef<Scalar>> trainable_params_;
    std::size_t lowest_trainable_ = 0;       // the lowest layer with parameters that learn (size(): none)
};

}  // namespace deepcnn
