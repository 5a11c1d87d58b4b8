// deepcnn/model/sequential.hpp: Sequential<Scalar>, a stack of layers composed at run time. Given only the
// input shape it infers every layer's shape (errors name the layer), owns the activations and gradients
// between layers, and trains, evaluates, predicts and prints a Keras-style summary. On request it times every
// layer's passes (set_timing). For fine-tuning: clone() (a deep copy), freezing layers (ModelBase), pop() (drop the
// head) and activations() (each layer's own output).
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
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

#include "../cancellation.hpp"
#include "../error.hpp"
#include "../layers/layer.hpp"
#include "../layers/softmax.hpp"
#include "../loss/softmax_cross_entropy.hpp"
#include "../optim/optimizer.hpp"
#include "inference_plan.hpp"
#include "layer_factory.hpp"
#include "model_base.hpp"
#include "model_common.hpp"
#include "../parallel/thread_pool.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace deepcnn {

template <class Scalar>
class Sequential : public ModelBase<Sequential<Scalar>, Scalar> {
    using Base = ModelBase<Sequential<Scalar>, Scalar>;
    friend Base;

public:
    static constexpr const char* kind = "Sequential";

    // input: the shape of one sample (N is ignored); seed: initialises every layer's parameters and RNGs.
    // Runs on std::thread::hardware_concurrency() threads until set_threads() says otherwise.
    explicit Sequential(const Shape& input, std::uint64_t seed = 0)
        : Base(seed), input_shape_(input.with_batch(1)) {
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
        layer->build(output_shape(), this->rng_);
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
        this->adopt(*layers_.back(), layer_name(layers_.size() - 1));
        return *layers_.back();
    }

    // Removes the last layer (to drop or replace a model's head): its parameters leave params(), and a layer that
    // applied the removed ReLU itself (fusion) applies it no more. Throws error on an empty model.
    void pop() {
        if (layers_.empty()) throw error("Sequential::pop: the model has no layers");
        if (fused_into_previous_.back()) layers_[layers_.size() - 2]->unfuse_following_relu();
        layers_.pop_back();
        shapes_.pop_back();
        fused_into_previous_.pop_back();
        activations_.pop_back();
        forwarded_ = 0;
        this->unadopt_last();
    }


    std::size_t size() const { return layers_.size(); }
    // Layer i; the non-const one may be used to write parameters, so it drops the inference plan.
    Layer<Scalar>& layer(std::size_t i) {
        this->check_layer_index(i, "layer");
        this->parameters_changed();
        return *layers_[i];
    }
    const Layer<Scalar>& layer(std::size_t i) const {
        this->check_layer_index(i, "layer");
        return *layers_[i];
    }
    // Per-sample shapes (N = 1).
    const Shape& input_shape() const { return input_shape_; }
    const Shape& output_shape() const { return shapes_.empty() ? input_shape_ : shapes_.back(); }
    // Name of layer i used in parameter names: lower-case type and 1-based position, "conv2d_1".
    std::string layer_name(std::size_t i) const {
        this->check_layer_index(i, "layer_name");
        return detail::lower_case(layers_[i]->type()) + "_" + std::to_string(i + 1);
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
        }
        this->copy_state_to(copy);
        return copy;
    }

    // Each layer's own output for input x, in eval mode: element i is what layer i returns, also where layer i is a
    // ReLU that the layer before it applies in normal passes (the pair is run apart here; the results are the same).
    std::vector<Tensor<Scalar>> activations(const Tensor<Scalar>& x) {
        check_input(x);
        this->check_parameter_shapes();
        this->eval();
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


    // Runs every layer; returns the last output (owned by the model, valid until the next forward).
    const Tensor<Scalar>& forward(const Tensor<Scalar>& x) { return forward_through(x, layers_.size()); }

    // Back-propagates dL/d(output of the last forward'ed layer); assigns every parameter gradient and returns
    // dL/dx (owned by the model).
    const Tensor<Scalar>& backward(const Tensor<Scalar>& dy) { return backward_through(dy, true); }

    // Logits: the output of every layer but a trailing Softmax (which the fused loss replaces).
    const Tensor<Scalar>& forward_logits(const Tensor<Scalar>& x) { return forward_through(x, logits_end()); }

    // Keras-style table: layer, output shape, parameters, forward MFLOPs per image; then totals.
    std::string summary() {
        detail::SummaryTable<Scalar> table("Sequential", false);
        table.row("input", "", input_shape_, 0, 0.0);
        Shape in = input_shape_;
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            std::size_t count = 0;
            for (auto& p : layers_[i]->params()) count += p.value->size();
            table.row(layer_name(i), layers_[i]->type(), shapes_[i], count, layers_[i]->forward_flops(in));
            in = shapes_[i];
        }
        return table.finish();
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

private:
    Layer<Scalar>& owned_layer(std::size_t i) { return *layers_[i]; }
    // The inference plan of this chain: each layer's only reader is the next one.
    void build_inference_plan(InferencePlan<Scalar>& plan) {
        std::vector<Layer<Scalar>*> layers;
        std::vector<std::size_t> reader;
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            layers.push_back(layers_[i].get());
            reader.push_back(i + 1 < layers_.size() ? i + 1 : InferencePlan<Scalar>::none);
        }
        plan.build(layers, reader, fused_into_previous_);
    }
    const Tensor<Scalar>& forward_planned(const Tensor<Scalar>& x, const InferencePlan<Scalar>& plan) {
        return forward_through(x, logits_end(), &plan);
    }

    std::size_t logits_end() const {
        if (!layers_.empty() && layers_.back()->type() == "Softmax") return layers_.size() - 1;
        return layers_.size();
    }
    void check_input(const Tensor<Scalar>& x) const {
        if (x.shape().with_batch(1) != input_shape_) {
            throw shape_error("Sequential: expected input " + input_shape_.sample_str() + ", got " +
                              x.shape().sample_str());
        }
    }
    // Runs layers [0, end), or with an inference plan as it says (then nothing is left to back-propagate).
    const Tensor<Scalar>& forward_through(const Tensor<Scalar>& x, std::size_t end,
                                          const InferencePlan<Scalar>* plan = nullptr) {
        using Step = typename InferencePlan<Scalar>::Step;
        check_input(x);
        this->check_parameter_shapes();
        const Tensor<Scalar>* in = &x;
        forwarded_ = 0;  // until this pass completes: a cancelled one leaves nothing to back-propagate
        for (std::size_t i = 0; i < end; ++i) {
            const Step step = plan ? plan->step(i) : fused_into_previous_[i] ? Step::skip : Step::run;
            if (step == Step::skip) continue;
            if (this->mode_ == Mode::eval) throw_if_cancelled(this->cancel_, "evaluating the model");
            this->timed(this->timings_.layers[i].forward_seconds, this->timings_.layers[i].forward_calls, [&] {
                if (step == Step::folded) {
                    plan->run_folded(i, *in, activations_[i]);
                } else if (plan) {
                    layers_[i]->infer(*in, activations_[i]);
                } else {
                    layers_[i]->forward(*in, activations_[i]);
                }
            });
            in = &activations_[i];
        }
        forwarded_ = plan ? 0 : end;
        return *in;
    }

    // Back-propagates dy through the forward'ed layers; returns dL/dx, or with input_gradient false (training: the
    // images' gradient is discarded) the scratch of the lowest layer that learns, where backward stops (the frozen
    // layers below it need no gradient), and that layer skips dx where it can.
    const Tensor<Scalar>& backward_through(const Tensor<Scalar>& dy, bool input_gradient) {
        if (forwarded_ == 0) throw error("Sequential::backward called without a forward pass");
        const std::size_t lowest = input_gradient ? 0 : this->lowest_trainable_;
        const Tensor<Scalar>* grad = &dy;
        for (std::size_t i = forwarded_; i-- > lowest;) {
            if (fused_into_previous_[i]) continue;
            Tensor<Scalar>& out = (grad == &grad_a_) ? grad_b_ : grad_a_;
            this->timed(this->timings_.layers[i].backward_seconds, this->timings_.layers[i].backward_calls, [&] {
                if (i == lowest && !input_gradient) {
                    layers_[i]->backward_params(*grad, out);
                } else {
                    layers_[i]->backward(*grad, out);
                }
            });
            this->layer_backward_done(i);
            grad = &out;
        }
        return *grad;
    }

    Shape input_shape_;
    std::vector<LayerPtr<Scalar>> layers_;
    std::vector<Shape> shapes_;                   // per-sample output shape of each layer
    std::vector<bool> fused_into_previous_;       // a ReLU the previous layer applies (fuse_following_relu)
    std::vector<Tensor<Scalar>> activations_;     // output of each layer, reused between steps
    Tensor<Scalar> grad_a_, grad_b_;              // gradient ping-pong buffers
    std::size_t forwarded_ = 0;
};

}  // namespace deepcnn
