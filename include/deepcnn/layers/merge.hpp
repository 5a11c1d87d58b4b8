// deepcnn/layers/merge.hpp: MergeLayer<Scalar>, the contract of layers that take several inputs (Add, Concat),
// written as an extension of Layer<Scalar> so that every container and tool that holds layers holds these too.
//
//   output_shape(inputs)        shape inference over all inputs; throws shape_error naming the offending shapes
//   build(inputs, rng)          fixes the input shapes (N ignored)
//   forward(xs, y)              y = f(x_1, ..., x_k); xs holds k pointers, in the order build() was given
//   backward(dy, dxs)           ASSIGNS every dx_i (one per input, each resized to its input's shape)
//
// With one input a merge layer is the identity through the single-input Layer interface, so Layer's forward /
// backward (and gradient checks written for them) still work on it.
#pragma once

#include <string>
#include <vector>

#include "layer.hpp"

namespace deepcnn {

template <class Scalar>
class MergeLayer : public Layer<Scalar> {
public:
    using Layer<Scalar>::build;
    using Layer<Scalar>::forward;
    using Layer<Scalar>::backward;

    // The output shape for these inputs (N of the first carried through); throws shape_error with a message that
    // does not name the layer (callers prefix it with where()).
    virtual Shape merged_shape(const std::vector<Shape>& inputs) const = 0;

    Shape output_shape(const Shape& input) const override { return merged_shape({input}); }

    void build(const std::vector<Shape>& inputs, Rng& rng) {
        if (inputs.empty()) throw shape_error(this->where() + ": needs at least one input");
        try {
            merged_shape(inputs);
        } catch (const shape_error& e) {
            throw shape_error(this->where() + ": " + e.what());
        }
        pending_inputs_ = inputs;
        Layer<Scalar>::build(inputs.front(), rng);
    }
    // The per-sample input shapes fixed by build() (N = 1).
    const std::vector<Shape>& input_shapes() const { return input_shapes_; }

    // y = f(x_1, ..., x_k): checks the count, every sample shape and that the batches agree.
    void forward(const std::vector<const Tensor<Scalar>*>& xs, Tensor<Scalar>& y) {
        if (!this->built()) throw error(this->where() + ": forward called before build()");
        if (xs.size() != input_shapes_.size()) {
            throw shape_error(this->where() + ": expected " + std::to_string(input_shapes_.size()) + " inputs, got " +
                              std::to_string(xs.size()));
        }
        for (std::size_t i = 0; i < xs.size(); ++i) {
            if (xs[i]->shape().with_batch(1) != input_shapes_[i]) {
                throw shape_error(this->where() + ": expected input " + std::to_string(i + 1) + " " +
                                  input_shapes_[i].sample_str() + ", got " + xs[i]->shape().sample_str());
            }
            if (xs[i]->n() != xs.front()->n() || xs[i]->n() <= 0) {
                throw shape_error(this->where() + ": inputs hold batches of " + std::to_string(xs.front()->n()) +
                                  " and " + std::to_string(xs[i]->n()));
            }
        }
        merge_forward(xs, y);
        merged_batch_ = xs.front()->n();
    }

    // Every dx_i = dL/dx_i given dy = dL/dy, for the last forward's inputs; dxs holds one tensor per input.
    void backward(const Tensor<Scalar>& dy, const std::vector<Tensor<Scalar>*>& dxs) {
        if (merged_batch_ == 0) throw error(this->where() + ": backward called without a forward pass");
        if (dxs.size() != input_shapes_.size()) {
            throw shape_error(this->where() + ": expected " + std::to_string(input_shapes_.size()) +
                              " input gradients, got " + std::to_string(dxs.size()));
        }
        const Shape expected = merged_shape_.with_batch(merged_batch_);
        if (dy.shape() != expected) {
            throw shape_error(this->where() + ": expected output gradient " + expected.str() + ", got " +
                              dy.shape().str());
        }
        for (std::size_t i = 0; i < dxs.size(); ++i) dxs[i]->resize(input_shapes_[i].with_batch(merged_batch_));
        merge_backward(dy, dxs);
    }

protected:
    // Fixes the input shapes: those build(inputs) was given, or the one input of Layer::build.
    void build_impl(const Shape& input, Rng& /*rng*/) override {
        if (pending_inputs_.empty()) pending_inputs_.push_back(input);
        input_shapes_.clear();
        for (const Shape& s : pending_inputs_) input_shapes_.push_back(s.with_batch(1));
        pending_inputs_.clear();
        merged_shape_ = merged_shape(input_shapes_);
    }
    virtual void merge_forward(const std::vector<const Tensor<Scalar>*>& xs, Tensor<Scalar>& y) = 0;
    // dxs are already resized to their inputs' shapes.
    virtual void merge_backward(const Tensor<Scalar>& dy, const std::vector<Tensor<Scalar>*>& dxs) = 0;

    void forward_impl(const Tensor<Scalar>& x, Tensor<Scalar>& y) override {
        single_input_[0] = &x;
        forward(single_input_, y);
    }
    void backward_impl(const Tensor<Scalar>& dy, Tensor<Scalar>& dx) override {
        single_grad_[0] = &dx;
        backward(dy, single_grad_);
    }

private:
    std::vector<Shape> pending_inputs_;  // during build(inputs)
    std::vector<Shape> input_shapes_;
    Shape merged_shape_;  // per sample (N = 1)
    std::vector<const Tensor<Scalar>*> single_input_ = {nullptr};
    std::vector<Tensor<Scalar>*> single_grad_ = {nullptr};
    int merged_batch_ = 0;
};

}  // namespace deepcnn
