// deepcnn/loss/softmax_cross_entropy.hpp: softmax cross-entropy on logits, fused and stable (log-sum-exp),
// averaged over the batch with optional class weights and label smoothing (PyTorch's CrossEntropyLoss with `weight` and
// `label_smoothing`). Caches the probabilities for backward.
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

    // Label smoothing e in [0, 1): each sample's target is (1 - e) onehot(y) + e / K instead of onehot(y), which keeps
    // the logits from growing without bound on noisy labels. Throws config_error outside [0, 1).
    SoftmaxCrossEntropy& set_label_smoothing(double e) {
        if (!(e >= 0.0 && e < 1.0)) {
            throw config_error("SoftmaxCrossEntropy: label smoothing must be in [0, 1), got " + std::to_string(e));
        }
        label_smoothing_ = e;
        return *this;
    }
    double label_smoothing() const { return label_smoothing_; }

    // logits (N, K, 1, 1), labels N values in [0, K). With l_ik = logsumexp(z_i) - z_ik and e the label smoothing,
    //   L = sum_i [(1 - e) w_{y_i} l_{i, y_i} + e / K sum_k w_k l_ik] / sum_i w_{y_i}
    // (w_k = 1 without class weights; e = 0: the plain weighted mean of -log p(y_i)). Caches softmax(z) and the labels.
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
            total += (1.0 - label_smoothing_) * w * (log_sum - double(z[label]));
            if (label_smoothing_ > 0.0) {
                double smooth = 0.0;
                for (int k = 0; k < K; ++k) smooth += weight(k) * (log_sum - double(z[k]));
                total += label_smoothing_ / K * smooth;
            }
            weight_sum_ += w;
        }
        if (weight_sum_ <= 0.0) throw data_error("SoftmaxCrossEntropy: every sample in the batch has class weight 0");
        return static_cast<Scalar>(total / weight_sum_);
    }

    // dlogits_ik = [(1 - e) w_{y_i} (p_ik - [k == y_i]) + e / K (p_ik sum_j w_j - w_k)] / sum_i w_{y_i}
    // (without class weights and smoothing: (p_ik - [k == y_i]) / N). Assigns dlogits.
    void backward(Tensor<Scalar>& dlogits) const {
        if (labels_.empty()) throw error("SoftmaxCrossEntropy: backward called without a forward pass");
        dlogits.resize(probabilities_.shape());
        const int K = probabilities_.c();
        double weight_total = 0.0;
        for (int k = 0; k < K; ++k) weight_total += weight(k);
        const double smooth = label_smoothing_ / K;
        for (int i = 0; i < probabilities_.n(); ++i) {
            const Scalar* p = probabilities_.sample(i);
            Scalar* d = dlogits.sample(i);
            if (label_smoothing_ == 0.0) {
                const double scale = weight(labels_[i]) / weight_sum_;
                for (int k = 0; k < K; ++k) {
                    d[k] = static_cast<Scalar>(scale * (double(p[k]) - (k == labels_[i] ? 1.0 : 0.0)));
                }
                continue;
            }
            const double scale = (1.0 - label_smoothing_) * weight(labels_[i]);
            for (int k = 0; k < K; ++k) {
                const double hard = scale * (double(p[k]) - (k == labels_[i] ? 1.0 : 0.0));
                d[k] = static_cast<Scalar>((hard + smooth * (double(p[k]) * weight_total - weight(k))) / weight_sum_);
            }
        }
    }

    // softmax(logits) of the last forward.
    const Tensor<Scalar>& probabilities() const { return probabilities_; }

private:
    double weight(int label) const { return class_weights_.empty() ? 1.0 : class_weights_[label]; }

    std::vector<double> class_weights_;
    double label_smoothing_ = 0.0;
    Tensor<Scalar> probabilities_;  // (N, K, 1, 1)
    std::vector<int> labels_;
    double weight_sum_ = 0.0;
};

}  // namespace deepcnn
