// deepcnn/model/graph.hpp: Graph<Scalar>, a model whose layers form a directed acyclic graph of named nodes, as
// Keras' functional API builds one: each node applies a layer to one or more earlier nodes (or the named input),
// so residual connections (Add) and branches (Concat) can be written. The last node added is the output.
// It infers every node's shape (errors name the node), owns the activations and gradients, sums the gradients of a
// tensor that several nodes read, fuses BatchNorm + ReLU where the BatchNorm has no other consumer, and offers
// Sequential's interface (train_step, evaluate, predict, modes, params, threads, timings, summary).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../layers/layer.hpp"
#include "../layers/merge.hpp"
#include "../loss/softmax_cross_entropy.hpp"
#include "../optim/optimizer.hpp"
#include "../parallel/thread_pool.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "inference_plan.hpp"
#include "layer_factory.hpp"
#include "model_base.hpp"
#include "model_common.hpp"

namespace deepcnn {

template <class Scalar>
class Graph : public ModelBase<Graph<Scalar>, Scalar> {
    using Base = ModelBase<Graph<Scalar>, Scalar>;
    friend Base;

public:
    static constexpr const char* kind = "Graph";

    // input: the shape of one sample (N is ignored); seed: initialises every layer's parameters and RNGs;
    // input_name: how nodes refer to the model's input. Runs on std::thread::hardware_concurrency() threads until
    // set_threads() says otherwise.
    explicit Graph(const Shape& input, std::uint64_t seed = 0, std::string input_name = "input")
        : Base(seed), input_shape_(input.with_batch(1)), input_name_(std::move(input_name)) {
        if (input.c <= 0 || input.h <= 0 || input.w <= 0) {
            throw shape_error("Graph: input shape must be positive, got " + input.sample_str());
        }
        check_name("Graph: the input", input_name_);
        value_shapes_.push_back(input_shape_);
        consumers_.push_back(0);
        value_ptr_.push_back(nullptr);
        grads_.emplace_back();
    }
    Graph(int channels, int height, int width, std::uint64_t seed = 0)
        : Graph(Shape(1, channels, height, width), seed) {}

    Graph(Graph&&) noexcept = default;
    Graph& operator=(Graph&&) noexcept = default;

    // Adds node `name` applying a copy of `layer` to the outputs of `inputs` (node names or the input's name), builds
    // it for their shapes and returns the model's copy. Single-input layers take exactly one input; merge layers
    // (Add, Concat) one or more. Throws shape_error / config_error naming the node: `node "res2_add" (Add): inputs
    // (64, 24, 24) and (32, 24, 24) differ`.
    template <class L, class = std::enable_if_t<std::is_base_of<Layer<Scalar>, std::decay_t<L>>::value>>
    std::decay_t<L>& add(const std::string& name, L&& layer, const std::vector<std::string>& inputs) {
        auto owned = std::make_unique<std::decay_t<L>>(std::forward<L>(layer));
        auto& ref = *owned;
        add(name, LayerPtr<Scalar>(std::move(owned)), inputs);
        return ref;
    }
    Layer<Scalar>& add(const std::string& name, LayerPtr<Scalar> layer, const std::vector<std::string>& inputs) {
        if (!layer) throw error("Graph::add: null layer for node \"" + name + "\"");
        const std::string where = "node \"" + name + "\" (" + layer->type() + ")";
        check_name(where + ": the name", name);
        if (find_value(name) >= 0) throw config_error(where + ": the name is taken");
        Node node;
        node.name = name;
        node.merge = dynamic_cast<MergeLayer<Scalar>*>(layer.get());
        if (inputs.empty()) throw config_error(where + ": needs an input");
        if (!node.merge && inputs.size() != 1) {
            throw config_error(where + ": takes one input, got " + std::to_string(inputs.size()));
        }
        std::vector<Shape> shapes;
        for (const auto& input : inputs) {
            const int value = find_value(input);
            if (value < 0) throw config_error(where + ": unknown input \"" + input + "\"");
            node.inputs.push_back(value);
            shapes.push_back(value_shapes_[value]);
        }
        layer->set_label(where);
        if (node.merge) {
            node.merge->build(shapes, this->rng_);
        } else {
            layer->build(shapes.front(), this->rng_);
        }
        // Node outputs stay untouched until the next forward; the model's input is the caller's.
        bool reads_model_input = false;
        for (int value : node.inputs) reads_model_input = reads_model_input || value == 0;
        layer->set_input_retained(!reads_model_input);
        node.shape = node.merge ? node.merge->merged_shape(shapes) : layer->output_shape(shapes.front());
        node.layer = std::move(layer);
        node.in_ptrs.resize(node.inputs.size());
        node.dx_ptrs.resize(node.inputs.size());
        node.dx_scratch.resize(node.inputs.size());
        for (int value : node.inputs) gain_consumer(value);
        // A ReLU reading a node that has no other consumer and can apply it itself (BatchNorm) is skipped.
        const int source = node.inputs.front();
        node.fused_into_input = node.layer->type() == "ReLU" && source > 0 && consumers_[source] == 1 &&
                                !node_of(source).fused_into_input && node_of(source).layer->fuse_following_relu();

        node_index_[name] = static_cast<int>(nodes_.size());
        nodes_.push_back(std::move(node));
        value_shapes_.push_back(nodes_.back().shape);
        consumers_.push_back(0);
        value_ptr_.push_back(nullptr);
        activations_.emplace_back();
        grads_.emplace_back();
        read_grad_.assign(value_shapes_.size(), nullptr);
        grad_written_.assign(value_shapes_.size(), 0);
        forwarded_any_ = false;  // adding may move activations_: the last forward is void
        this->adopt(*nodes_.back().layer, name);
        return *nodes_.back().layer;
    }

    // Removes the output node (the last added: no node reads it), to drop or replace a model's head; its name is free
    // again, its parameters leave params(), and a BatchNorm that applied it (a fused ReLU) applies it no more. A ReLU
    // that was unfused because the removed node also read its input stays a layer of its own (the same results).
    // Throws error on a model without nodes.
    void pop() {
        if (nodes_.empty()) throw error("Graph::pop: the model has no nodes");
        Node& last = nodes_.back();
        if (last.fused_into_input) node_of(last.inputs.front()).layer->unfuse_following_relu();
        for (int value : last.inputs) --consumers_[value];
        node_index_.erase(last.name);
        nodes_.pop_back();
        value_shapes_.pop_back();
        consumers_.pop_back();
        value_ptr_.pop_back();
        activations_.pop_back();
        grads_.pop_back();
        read_grad_.assign(value_shapes_.size(), nullptr);
        grad_written_.assign(value_shapes_.size(), 0);
        forwarded_any_ = false;
        this->unadopt_last();
    }

    // A deep copy: the same nodes and inputs (each layer rebuilt from its type and configuration by make_layer),
    // parameter and buffer values, layer random states, frozen layers, mode and thread count; the copy and the
    // original share nothing. Throws error naming the node for a layer type make_layer does not know.
    Graph clone() {
        Graph copy(input_shape_, 0, input_name_);
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            const Node& node = nodes_[i];
            LayerPtr<Scalar> layer;
            try {
                layer = make_layer<Scalar>(node.layer->type(), node.layer->config());
            } catch (const error& e) {
                throw error("Graph::clone: " + node.layer->where() + ": " + e.what());
            }
            copy.add(node.name, std::move(layer), node_inputs(i));
        }
        this->copy_state_to(copy);
        return copy;
    }

    std::size_t size() const { return nodes_.size(); }
    // Node i's layer; the non-const one may be used to write parameters, so it drops the inference plan.
    Layer<Scalar>& layer(std::size_t i) {
        this->parameters_changed();
        return *nodes_.at(i).layer;
    }
    const Layer<Scalar>& layer(std::size_t i) const { return *nodes_.at(i).layer; }
    // The layer of the node named `name` (dropping the inference plan); throws config_error if there is none.
    Layer<Scalar>& layer(const std::string& name) {
        const int value = find_value(name);
        if (value <= 0) throw config_error("Graph: no node \"" + name + "\"");
        this->parameters_changed();
        return *node_of(value).layer;
    }
    // Node i's name, as in parameter names ("res2_add.weight").
    std::string layer_name(std::size_t i) const { return nodes_.at(i).name; }
    // The names node i reads, in order (node names or input_name()).
    std::vector<std::string> node_inputs(std::size_t i) const {
        std::vector<std::string> names;
        for (int value : nodes_.at(i).inputs) names.push_back(value_name(value));
        return names;
    }
    // Whether node i is a ReLU that the node it reads applies itself (fused): it is skipped in forward and backward.
    bool fused(std::size_t i) const { return nodes_.at(i).fused_into_input; }
    const std::string& input_name() const { return input_name_; }
    // Whether `name` is the input's or a node's name.
    bool has(const std::string& name) const { return find_value(name) >= 0; }
    // The per-sample shape of the input or node named `name`; throws config_error if there is none.
    const Shape& shape_of(const std::string& name) const {
        const int value = find_value(name);
        if (value < 0) throw config_error("Graph: no node \"" + name + "\"");
        return value_shapes_[static_cast<std::size_t>(value)];
    }
    // Per-sample shapes (N = 1).
    const Shape& input_shape() const { return input_shape_; }
    const Shape& output_shape() const { return value_shapes_.back(); }
    const Shape& node_shape(std::size_t i) const { return nodes_.at(i).shape; }

    // Runs every node; returns the output node's output (owned by the model, valid until the next forward).
    const Tensor<Scalar>& forward(const Tensor<Scalar>& x) { return forward_through(x, nodes_.size()); }
    // Back-propagates dL/d(output of the last forward); assigns every parameter gradient and returns dL/dx.
    const Tensor<Scalar>& backward(const Tensor<Scalar>& dy) { return backward_through(dy, true); }
    // Logits: the output of the last node, or of its input when it is a Softmax (which the fused loss replaces).
    const Tensor<Scalar>& forward_logits(const Tensor<Scalar>& x) { return forward_through(x, logits_end()); }

    // Keras-style table as Sequential's, with each node's inputs ("Connected to").
    std::string summary() {
        detail::SummaryTable<Scalar> table("Graph", true);
        table.row(input_name_, "Input", input_shape_, 0, 0.0);
        for (auto& node : nodes_) {
            std::size_t count = 0;
            for (auto& p : node.layer->params()) count += p.value->size();
            std::string connected;
            for (int value : node.inputs) connected += (connected.empty() ? "" : ", ") + value_name(value);
            table.row(node.name, node.layer->type(), node.shape, count,
                      node.layer->forward_flops(value_shapes_[node.inputs.front()]), connected);
        }
        return table.finish();
    }
    // Forward FLOPs for one image.
    double forward_flops() const {
        double total = 0.0;
        for (const auto& node : nodes_) total += node.layer->forward_flops(value_shapes_[node.inputs.front()]);
        return total;
    }

private:
    struct Node {
        std::string name;
        LayerPtr<Scalar> layer;
        MergeLayer<Scalar>* merge = nullptr;  // the layer, when it takes several inputs
        std::vector<int> inputs;              // values read: 0 the model's input, k + 1 node k's output
        Shape shape;                          // per-sample output shape
        bool fused_into_input = false;        // a ReLU its input's layer applies (fuse_following_relu)
        std::vector<const Tensor<Scalar>*> in_ptrs;  // merge inputs, refilled every forward
        std::vector<Tensor<Scalar>*> dx_ptrs;        // where each input's gradient goes, refilled every backward
        std::vector<Tensor<Scalar>> dx_scratch;      // an input's gradient before it is added to another's
    };

    Layer<Scalar>& owned_layer(std::size_t i) { return *nodes_[i].layer; }
    // The inference plan: node k's only reader is the one node that reads value k + 1, where a single input does.
    void build_inference_plan(InferencePlan<Scalar>& plan) {
        std::vector<Layer<Scalar>*> layers;
        std::vector<std::size_t> reader(nodes_.size(), InferencePlan<Scalar>::none);
        std::vector<bool> skipped;
        for (std::size_t k = 0; k < nodes_.size(); ++k) {
            layers.push_back(nodes_[k].layer.get());
            skipped.push_back(nodes_[k].fused_into_input);
            for (int value : nodes_[k].inputs)
                if (value > 0 && consumers_[value] == 1) reader[static_cast<std::size_t>(value) - 1] = k;
        }
        plan.build(layers, reader, skipped);
    }
    const Tensor<Scalar>& forward_planned(const Tensor<Scalar>& x, const InferencePlan<Scalar>& plan) {
        return forward_through(x, logits_end(), &plan);
    }

    static void check_name(const std::string& what, const std::string& name) {
        if (name.empty() || name.find('.') != std::string::npos || name.find('/') != std::string::npos) {
            throw config_error(what + " \"" + name + "\" must be non-empty, without '.' or '/'");
        }
    }
    // The value named `name`: 0 for the input, k + 1 for node k; -1 if none.
    int find_value(const std::string& name) const {
        if (name == input_name_) return 0;
        const auto it = node_index_.find(name);
        return it == node_index_.end() ? -1 : it->second + 1;
    }
    std::string value_name(int value) const { return value == 0 ? input_name_ : node_of(value).name; }
    Node& node_of(int value) { return nodes_[static_cast<std::size_t>(value) - 1]; }
    const Node& node_of(int value) const { return nodes_[static_cast<std::size_t>(value) - 1]; }

    // One more node reads `value`; a ReLU fused into it becomes a layer of its own again (the value is no longer
    // read by that ReLU alone).
    void gain_consumer(int value) {
        ++consumers_[value];
        if (value == 0 || consumers_[value] != 2) return;
        for (auto& node : nodes_) {
            if (node.fused_into_input && node.inputs.front() == value) {
                node_of(value).layer->unfuse_following_relu();
                node.fused_into_input = false;
            }
        }
    }

    std::size_t logits_end() const {
        if (!nodes_.empty() && nodes_.back().layer->type() == "Softmax") return nodes_.size() - 1;
        return nodes_.size();
    }

    // Every node but the output must feed another: a node that feeds none would get no gradient.
    void check_complete() const {
        if (nodes_.empty()) throw error("Graph: the model has no nodes");
        for (std::size_t k = 0; k + 1 < nodes_.size(); ++k) {
            if (consumers_[k + 1] == 0) {
                throw error("Graph: node \"" + nodes_[k].name + "\" (" + nodes_[k].layer->type() +
                            ") feeds no other node and is not the output (the last node added)");
            }
        }
    }

    // Runs nodes [0, end), or with an inference plan as it says (then nothing is left to back-propagate); returns
    // the output of node end - 1 (the input if end is 0).
    const Tensor<Scalar>& forward_through(const Tensor<Scalar>& x, std::size_t end,
                                          const InferencePlan<Scalar>* plan = nullptr) {
        using Step = typename InferencePlan<Scalar>::Step;
        check_complete();
        this->check_parameter_shapes();
        if (x.shape().with_batch(1) != input_shape_) {
            throw shape_error("Graph: expected input " + input_shape_.sample_str() + ", got " + x.shape().sample_str());
        }
        value_ptr_[0] = &x;
        forwarded_any_ = false;  // until this pass completes: a cancelled one leaves nothing to back-propagate
        for (std::size_t k = 0; k < end; ++k) {
            Node& node = nodes_[k];
            const int value = static_cast<int>(k) + 1;
            const Step step = plan ? plan->step(k) : node.fused_into_input ? Step::skip : Step::run;
            if (step == Step::skip) {
                value_ptr_[value] = value_ptr_[node.inputs.front()];
                continue;
            }
            if (this->mode_ == Mode::eval) throw_if_cancelled(this->cancel_, "evaluating the model");
            Tensor<Scalar>& y = activations_[k];
            this->timed(this->timings_.layers[k].forward_seconds, this->timings_.layers[k].forward_calls, [&] {
                if (step == Step::folded) {
                    plan->run_folded(k, *value_ptr_[node.inputs.front()], y);
                } else if (node.merge) {
                    for (std::size_t i = 0; i < node.inputs.size(); ++i) node.in_ptrs[i] = value_ptr_[node.inputs[i]];
                    node.merge->forward(node.in_ptrs, y);
                } else if (plan) {
                    node.layer->infer(*value_ptr_[node.inputs.front()], y);
                } else {
                    node.layer->forward(*value_ptr_[node.inputs.front()], y);
                }
            });
            value_ptr_[value] = &y;
        }
        forwarded_ = end;
        forwarded_any_ = plan == nullptr;
        return *value_ptr_[end];
    }

    // Where the gradient of `value` that node `reader` passes back goes: straight into the value's gradient if it is
    // the first, else into `scratch`, to be added (accumulate()). Null when nothing needs it (the model's input in
    // training).
    Tensor<Scalar>* gradient_target(int value, Tensor<Scalar>& scratch, bool input_gradient) {
        if (value == 0 && !input_gradient) return &scratch;
        if (grad_written_[value]) return &scratch;
        grad_written_[value] = 1;
        read_grad_[value] = &grads_[static_cast<std::size_t>(value)];
        return &grads_[static_cast<std::size_t>(value)];
    }
    // Adds `part` into the gradient of `value`, when gradient_target chose the scratch for it.
    void accumulate(int value, const Tensor<Scalar>* target, const Tensor<Scalar>& part, bool input_gradient) {
        if (target == read_grad_[value] || (value == 0 && !input_gradient)) return;
        Tensor<Scalar>& sum = grads_[static_cast<std::size_t>(value)];
        Scalar* out = sum.data();
        const Scalar* in = part.data();
        parallel_for(this->pool_.get(), static_cast<long>(sum.size()), 65536, 16, [&](long begin, long end) {
            for (long i = begin; i < end; ++i) out[i] += in[i];
        });
    }

    // learns_below_[k]: node k or a node it depends on has parameters that learn, so training needs its backward.
    // Nodes are in topological order: one pass. No allocation after the first step.
    void mark_nodes_that_learn() {
        learns_below_.resize(nodes_.size());
        for (std::size_t k = 0; k < nodes_.size(); ++k) {
            bool learns = this->trainable_[k] && this->param_counts_[k] > 0;
            for (int value : nodes_[k].inputs) learns = learns || (value > 0 && learns_below_[value - 1]);
            learns_below_[k] = learns;
        }
    }

    // Back-propagates dy (the gradient of the last forward's output) through the forward'ed nodes in reverse order,
    // summing the gradients of values read by several nodes in that fixed order. Returns dL/dx, or with
    // input_gradient false (training) a scratch tensor: nodes reading the input skip dx where they can, and nodes
    // that neither learn nor read one that does (a frozen body) are skipped.
    const Tensor<Scalar>& backward_through(const Tensor<Scalar>& dy, bool input_gradient) {
        if (!forwarded_any_) throw error("Graph::backward called without a forward pass");
        std::fill(grad_written_.begin(), grad_written_.end(), char(0));
        std::fill(read_grad_.begin(), read_grad_.end(), nullptr);
        const int top = static_cast<int>(forwarded_);
        if (dy.shape() != value_shapes_[top].with_batch(value_ptr_[top]->n())) {
            throw shape_error("Graph::backward: expected output gradient " +
                              value_shapes_[top].with_batch(value_ptr_[top]->n()).str() + ", got " + dy.shape().str());
        }
        read_grad_[top] = &dy;
        grad_written_[top] = 1;
        mark_nodes_that_learn();
        for (std::size_t k = forwarded_; k-- > 0;) {
            Node& node = nodes_[k];
            const int value = static_cast<int>(k) + 1;
            if (!input_gradient && !learns_below_[k]) continue;  // frozen, and so is everything it reads
            if (!grad_written_[value]) {
                throw error("Graph::backward: node \"" + node.name + "\" received no gradient");
            }
            const Tensor<Scalar>& grad = *read_grad_[value];
            if (node.fused_into_input) {  // the input's layer applies the ReLU to this gradient
                const int source = node.inputs.front();
                read_grad_[source] = &grad;
                grad_written_[source] = 1;
                continue;
            }
            this->timed(this->timings_.layers[k].backward_seconds, this->timings_.layers[k].backward_calls, [&] {
                for (std::size_t i = 0; i < node.inputs.size(); ++i) {
                    node.dx_ptrs[i] = gradient_target(node.inputs[i], node.dx_scratch[i], input_gradient);
                }
                if (node.merge) {
                    node.merge->backward(grad, node.dx_ptrs);
                } else if (node.inputs.front() == 0 && !input_gradient) {
                    node.layer->backward_params(grad, *node.dx_ptrs.front());
                } else {
                    node.layer->backward(grad, *node.dx_ptrs.front());
                }
                for (std::size_t i = 0; i < node.inputs.size(); ++i) {
                    accumulate(node.inputs[i], node.dx_ptrs[i], *node.dx_ptrs[i], input_gradient);
                }
            });
            this->layer_backward_done(k);
        }
        return input_gradient ? *read_grad_[0] : grads_.front();
    }

    Shape input_shape_;
    std::string input_name_;
    std::vector<Node> nodes_;           // in the order added, which is a topological order
    std::map<std::string, int> node_index_;  // node name -> index in nodes_
    // Per value (0: the model's input, k + 1: node k's output):
    std::vector<Shape> value_shapes_;               // per-sample shape
    std::vector<int> consumers_;                    // how many node inputs read it
    std::vector<const Tensor<Scalar>*> value_ptr_;  // the tensor holding it since the last forward
    std::vector<const Tensor<Scalar>*> read_grad_;  // its gradient once complete, during a backward
    std::vector<char> grad_written_;                // whether its gradient has its first term
    std::vector<Tensor<Scalar>> activations_;       // node k's output, reused between steps
    std::vector<Tensor<Scalar>> grads_;             // per value: its gradient (0: dL/dx; k + 1: node k's output)
    std::vector<char> learns_below_;                // per node, see mark_nodes_that_learn
    std::size_t forwarded_ = 0;
    bool forwarded_any_ = false;
};

}  // namespace deepcnn
