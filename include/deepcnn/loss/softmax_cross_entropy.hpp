// deepcnn/loss/softmax_cross_entropy.hpp: softmax cross-entropy on logits, fused and stable (log-sum-exp),
// averaged over the batch with optional class weights. Caches the probabilities for backward.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../error.hpp"
#include "../tensor.hpp"

namespace deepcnn {

template <class Scalar>
class SoftmaxCrossEntropy {
public:
    SoftmaxCrossEntropy() = default;
    // weight[k] scales the loss of samples of class k; the mean divides by the summed weights of the batch
    // (as PyTorch's CrossEntropyLoss does), so uniform weights give the plain mean.
    explicit SoftmaxCrossEntropy(std::vector<double> class_weights) : class_weights_(std::move(class_weights)) {
        for (double w : class_weights_) {
            if (!(w >= 0.0) || !std::isfinite(w)) throw config_error("SoftmaxCrossEntropy: class weights must be finite and >= 0");
        }
    }

    const std::vector<double>& class_weights() const { return class_weights_; }

    // logits (N, K, 1, 1), labels N values in [0, K). Returns
    //   L = sum_i w_{y_i} (logsumexp(z_i) - z_{i, y_i}) / sum_i w_{y_i}.
    // Caches softmax(z) and the labels.
    Scalar forward(const Tensor<Scalar>& logits, const std::vector<int>& labels) {
        const int N = logits.n(), K = static_cast<int>(logits.shape().per_sample());
        if (!logits.shape().is_flat()) {
            throw shape_error("SoftmaxCrossEntropy: expected logits (N, K), got " + logits.shape().str());
        }
        if (static_cast<int>(labels.size()) != N) {
            throw shape_error("SoftmaxCrossEntropy: " + std::to_string(N) + " logit rows but " +
                              std::to_string(labels.size()) + " labels");
        }
        if (!class_weights_.empty() && static_cast<int>(class_weights_.size()) != K) {
            throw shape_error("SoftmaxCrossEntropy: " + std::to_string(class_weights_.size()) + " class weights for " +
                              std::to_string(K) + " classes");
        }
        probabilities_.resize(logits.shape());
        labels_ = labels;
        double total = 0.0;
        weight_sum_ = 0.0;
        for (int i = 0; i < N; ++i) {
            const int label = labels[i];
            if (label < 0 || label >= K) {
                throw data_error("SoftmaxCrossEntropy: label " + std::to_string(label) + " of sample " +
                                 std::to_string(i) + " outside [0, " + std::to_string(K) + ")");
            }
            const Scalar* z = logits.sample(i);
            Scalar* p = probabilities_.sample(i);
            Scalar max_logit = z[0];
            for (int k = 1; k < K; ++k) max_logit = std::max(max_logit, z[k]);
            double sum = 0.0;
            for (int k = 0; k < K; ++k) sum += std::exp(double(z[k] - max_logit));
            const double log_sum = std::log(sum) + double(max_logit);
            for (int k = 0; k < K; ++k) p[k] = static_cast<Scalar>(std::exp(double(z[k]) - log_sum));
            const double w = weight(label);
            total += w * (log_sum - double(z[label]));
            weight_sum_ += w;
        }
        if (weight_sum_ <= 0.0) throw data_error("SoftmaxCrossEntropy: every sample in the batch has class weight 0");
        return static_cast<Scalar>(total / weight_sum_);
    }

    // dlogits_ik = w_{y_i} (p_ik - [k == y_i]) / sum_i w_{y_i}. Assigns dlogits.
    void backward(Tensor<Scalar>& dlogits) const {
        if (labels_.empty()) throw error("SoftmaxCrossEntropy: backward called without a forward pass");
        dlogits.resize(probabilities_.shape());
        const int K = probabilities_.c();
        for (int i = 0; i < probabilities_.n(); ++i) {
            const double scale = weight(labels_[i]) / weight_sum_;
            for (int k = 0; k < K; ++k) {
                const double target = k == labels_[i] ? 1.0 : 0.0;
                dlogits.sample(i)[k] = static_cast<Scalar>(scale * (double(probabilities_.sample(i)[k]) - target));
            }
        }
    }

    // softmax(logits) of the last forward.
    const Tensor<Scalar>& probabilities() const { return probabilities_; }

private:
    double weight(int label) const { return class_weights_.empty() ? 1.0 : class_weights_[label]; }

    std::vector<double> class_weights_;
    Tensor<Scalar> probabilities_;  // (N, K, 1, 1)
    std::vector<int> labels_;
    double weight_sum_ = 0.0;
};

}  // namespace deepcnn
