// deepcnn/model/inference_plan.hpp: InferencePlan<Scalar>, how predict and evaluate run a model's layers: a
// BatchNorm that is the only reader of a Conv2D's output is folded into the convolution's weights and bias, and a
// ReLU that is the only reader of the convolution (or of that BatchNorm) is applied by the convolution to its output
// (conv2d_plan.hpp's forward variants); the folded layers are skipped, and so is Dropout (the identity in eval mode,
// where predict and evaluate run). The layers that run are run by Layer::infer, which keeps nothing for a backward.
// ModelBase builds the plan from the model's layers and who reads whom on the first inference, and drops it whenever
// the parameters may have changed.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "../layers/batch_norm.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/layer.hpp"
#include "../tensor.hpp"

namespace deepcnn {

template <class Scalar>
class InferencePlan {
public:
    static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

    // What an inference does with layer i: run it (Layer::infer), run its convolution with the folded parameters, or
    // skip it (its output is its input's: a BatchNorm or ReLU folded into the convolution before it, a ReLU that the
    // layer before it applies in every pass, or a Dropout).
    enum class Step { run, folded, skip };

    // layers: the model's layers in order (a topological order); reader[i]: the one layer that reads layer i's
    // output, `none` where no layer or several do; skipped[i]: layer i is skipped in every pass (a ReLU fused into
    // the layer it reads). The folded parameters are computed here, in double, from the current values.
    void build(const std::vector<Layer<Scalar>*>& layers, const std::vector<std::size_t>& reader,
               const std::vector<bool>& skipped) {
        steps_.assign(layers.size(), Step::run);
        fold_of_.assign(layers.size(), none);
        folds_.clear();
        folds_.reserve(layers.size());
        for (std::size_t i = 0; i < layers.size(); ++i)
            if (skipped[i] || layers[i]->type() == "Dropout") steps_[i] = Step::skip;
        for (std::size_t i = 0; i < layers.size(); ++i) {
            auto* conv = dynamic_cast<Conv2D<Scalar>*>(layers[i]);
            if (!conv || steps_[i] != Step::run) continue;
            std::size_t next = reader[i];
            const BatchNorm<Scalar>* bn = nullptr;
            if (next != none) bn = dynamic_cast<const BatchNorm<Scalar>*>(layers[next]);
            const std::size_t bn_at = bn ? next : none;
            if (bn) next = reader[next];
            const std::size_t relu_at = next != none && layers[next]->type() == "ReLU" ? next : none;
            if (!bn && relu_at == none) continue;
            folds_.push_back(fold(*conv, bn, relu_at != none));
            steps_[i] = Step::folded;
            fold_of_[i] = folds_.size() - 1;
            if (bn_at != none) steps_[bn_at] = Step::skip;
            if (relu_at != none) steps_[relu_at] = Step::skip;
        }
        built_ = true;
    }
    bool built() const { return built_; }
    void clear() {
        built_ = false;
        steps_.clear();
        fold_of_.clear();
        folds_.clear();
    }

    Step step(std::size_t i) const { return steps_[i]; }
    // Layer i's inference (Step::folded): its convolution with the folded parameters, which stay constant while the
    // plan is built; so, with prepare_weights on, the weights its forward variant prepares (transforms, packs) are
    // prepared on the first run and kept (Conv2D::PreparedWeights), remade where the variant changes (another batch
    // size, thread count or instruction set). The results are the same bits either way.
    void run_folded(std::size_t i, const Tensor<Scalar>& x, Tensor<Scalar>& y) const {
        const Fold& f = folds_[fold_of_[i]];
        f.conv->forward_folded(x, y, f.weight ? *f.weight : f.folded_weight, f.bias, f.relu,
                               prepare_weights_ ? &f.prepared : nullptr);
    }
    // How many convolutions run with folded parameters.
    std::size_t folded_count() const { return folds_.size(); }
    // Whether run_folded keeps the prepared weights (on by default; off: the variants prepare them on every call, as
    // in forward). Kept across clear() and build().
    void set_prepare_weights(bool on) {
        prepare_weights_ = on;
        for (Fold& f : folds_) f.prepared = {};
    }
    bool prepare_weights() const { return prepare_weights_; }

private:
    struct Fold {
        Conv2D<Scalar>* conv = nullptr;
        const Tensor<Scalar>* weight = nullptr;  // the convolution's own weights where no BatchNorm is folded
        Tensor<Scalar> folded_weight;            // (K, C / groups, KH, KW): weight * scale per filter
        Tensor<Scalar> bias;                     // (1, K, 1, 1): bias * scale + offset
        bool relu = false;
        mutable typename Conv2D<Scalar>::PreparedWeights prepared;  // the forward variant's weights, prepared once
    };

    // conv followed by bn (may be null: weights unchanged, a zero bias where it has none) and a ReLU or not.
    static Fold fold(Conv2D<Scalar>& conv, const BatchNorm<Scalar>* bn, bool relu) {
        Fold f;
        f.conv = &conv;
        f.relu = relu;
        const Tensor<Scalar>& weight = conv.weight();
        const int K = weight.shape().n;
        f.bias = Tensor<Scalar>(Shape(1, K, 1, 1), Scalar(0));
        if (conv.has_bias()) f.bias = conv.bias();
        if (!bn) {
            f.weight = &weight;
            return f;
        }
        std::vector<double> scale, offset;
        bn->eval_affine(scale, offset);
        f.folded_weight.resize(weight.shape());
        const std::size_t per_filter = weight.shape().per_sample();
        for (int k = 0; k < K; ++k) {
            for (std::size_t r = 0; r < per_filter; ++r) {
                const std::size_t at = static_cast<std::size_t>(k) * per_filter + r;
                f.folded_weight[at] = static_cast<Scalar>(double(weight[at]) * scale[k]);
            }
            f.bias[k] = static_cast<Scalar>(double(f.bias[k]) * scale[k] + offset[k]);
        }
        return f;
    }

    bool built_ = false;
    bool prepare_weights_ = true;
    std::vector<Step> steps_;
    std::vector<std::size_t> fold_of_;  // layer -> its entry in folds_ (Step::folded)
    std::vector<Fold> folds_;
};

}  // namespace deepcnn
