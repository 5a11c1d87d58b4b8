// deepcnn/report/metrics.hpp: classification metrics: the confusion matrix, accuracy, per-class precision, recall,
// F1 and support, and their text rendering for the end of a training run. Pictures live in plots.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../error.hpp"

namespace deepcnn {

// Counts of (true label, predicted label) pairs for K classes: row = true class, column = predicted class.
class ConfusionMatrix {
public:
    ConfusionMatrix() = default;
    // An all-zero K x K matrix; throws config_error for K < 1.
    explicit ConfusionMatrix(int num_classes) : k_(num_classes) {
        if (num_classes < 1) {
            throw config_error("ConfusionMatrix: number of classes must be >= 1, got " + std::to_string(num_classes));
        }
        counts_.assign(static_cast<std::size_t>(num_classes) * static_cast<std::size_t>(num_classes), 0);
    }

    // Adds `times` samples of true class `true_label` predicted as `predicted_label`; throws data_error when a
    // label is outside [0, K).
    void add(int true_label, int predicted_label, std::int64_t times = 1) {
        check_label("true", true_label);
        check_label("predicted", predicted_label);
        counts_[index(true_label, predicted_label)] += times;
    }
    // Adds every count of `other`, which must have the same number of classes (shape_error otherwise).
    void merge(const ConfusionMatrix& other) {
        if (other.k_ != k_) {
            throw shape_error("ConfusionMatrix::merge: expected " + std::to_string(k_) + " classes, got " +
                              std::to_string(other.k_));
        }
        for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    }
    void clear() { std::fill(counts_.begin(), counts_.end(), 0); }

    int num_classes() const { return k_; }
    // Samples of true class `true_label` predicted as `predicted_label` (unchecked).
    std::int64_t count(int true_label, int predicted_label) const { return counts_[index(true_label, predicted_label)]; }
    // Row sum: samples whose true class is `label` (the class's support).
    std::int64_t true_total(int label) const {
        std::int64_t sum = 0;
        for (int p = 0; p < k_; ++p) sum += count(label, p);
        return sum;
    }
    // Column sum: samples predicted as `label`.
    std::int64_t predicted_total(int label) const {
        std::int64_t sum = 0;
        for (int t = 0; t < k_; ++t) sum += count(t, label);
        return sum;
    }
    // Sum of the diagonal.
    std::int64_t correct() const {
        std::int64_t sum = 0;
        for (int c = 0; c < k_; ++c) sum += count(c, c);
        return sum;
    }
    std::int64_t total() const {
        std::int64_t sum = 0;
        for (std::int64_t v : counts_) sum += v;
        return sum;
    }
    // correct / total in [0, 1]; 0 for an empty matrix.
    double accuracy() const {
        const std::int64_t n = total();
        return n == 0 ? 0.0 : static_cast<double>(correct()) / static_cast<double>(n);
    }

    friend bool operator==(const ConfusionMatrix& a, const ConfusionMatrix& b) {
        return a.k_ == b.k_ && a.counts_ == b.counts_;
    }
    friend bool operator!=(const ConfusionMatrix& a, const ConfusionMatrix& b) { return !(a == b); }

private:
    std::size_t index(int t, int p) const {
        return static_cast<std::size_t>(t) * static_cast<std::size_t>(k_) + static_cast<std::size_t>(p);
    }
    void check_label(const char* which, int label) const {
        if (label < 0 || label >= k_) {
            throw data_error(std::string("ConfusionMatrix::add: ") + which + " label " + std::to_string(label) +
                             " out of range [0, " + std::to_string(k_) + ")");
        }
    }

    int k_ = 0;
    std::vector<std::int64_t> counts_;  // (K, K) row-major: counts_[t * K + p]
};

// The confusion matrix of paired label lists; throws shape_error when the lists differ in length and data_error
// for a label outside [0, num_classes).
inline ConfusionMatrix confusion_matrix(const std::vector<int>& true_labels, const std::vector<int>& predicted_labels,
                                        int num_classes) {
    if (true_labels.size() != predicted_labels.size()) {
        throw shape_error("confusion_matrix: " + std::to_string(true_labels.size()) + " true labels but " +
                          std::to_string(predicted_labels.size()) + " predictions");
    }
    ConfusionMatrix cm(num_classes);
    for (std::size_t i = 0; i < true_labels.size(); ++i) cm.add(true_labels[i], predicted_labels[i]);
    return cm;
}

// One class's figures, as scikit-learn's classification_report gives them.
struct ClassMetrics {
    double precision = 0;      // TP / (TP + FP): the share of samples predicted as this class that belong to it
    double recall = 0;         // TP / (TP + FN): the share of this class's samples predicted as it
    double f1 = 0;             // 2 P R / (P + R), the harmonic mean of precision and recall
    std::int64_t support = 0;  // TP + FN: samples whose true class is this one
};

namespace detail {
// a / b, or 0 when b is 0 (scikit-learn's zero_division=0).
inline double ratio_or_zero(double a, double b) { return b == 0 ? 0.0 : a / b; }
}  // namespace detail

// Precision, recall, F1 and support of every class, in class order.
// Zero division gives 0: precision of a class never predicted, recall of a class with no samples, and F1 when
// precision + recall is 0 are all 0 (never NaN), as scikit-learn with zero_division=0.
inline std::vector<ClassMetrics> per_class_metrics(const ConfusionMatrix& cm) {
    std::vector<ClassMetrics> out(static_cast<std::size_t>(cm.num_classes()));
    for (int c = 0; c < cm.num_classes(); ++c) {
        const double tp = static_cast<double>(cm.count(c, c));
        ClassMetrics& m = out[static_cast<std::size_t>(c)];
        m.support = cm.true_total(c);
        m.precision = detail::ratio_or_zero(tp, static_cast<double>(cm.predicted_total(c)));
        m.recall = detail::ratio_or_zero(tp, static_cast<double>(m.support));
        m.f1 = detail::ratio_or_zero(2 * m.precision * m.recall, m.precision + m.recall);
    }
    return out;
}

// Unweighted mean of each figure over the classes; support is the total.
inline ClassMetrics macro_average(const std::vector<ClassMetrics>& classes) {
    ClassMetrics avg;
    for (const ClassMetrics& m : classes) {
        avg.precision += m.precision;
        avg.recall += m.recall;
        avg.f1 += m.f1;
        avg.support += m.support;
    }
    const double k = static_cast<double>(classes.size());
    avg.precision = detail::ratio_or_zero(avg.precision, k);
    avg.recall = detail::ratio_or_zero(avg.recall, k);
    avg.f1 = detail::ratio_or_zero(avg.f1, k);
    return avg;
}

// Mean of each figure weighted by support; support is the total (all zeros when there are no samples).
inline ClassMetrics weighted_average(const std::vector<ClassMetrics>& classes) {
    ClassMetrics avg;
    for (const ClassMetrics& m : classes) {
        const double w = static_cast<double>(m.support);
        avg.precision += w * m.precision;
        avg.recall += w * m.recall;
        avg.f1 += w * m.f1;
        avg.support += m.support;
    }
    const double n = static_cast<double>(avg.support);
    avg.precision = detail::ratio_or_zero(avg.precision, n);
    avg.recall = detail::ratio_or_zero(avg.recall, n);
    avg.f1 = detail::ratio_or_zero(avg.f1, n);
    return avg;
}

namespace detail {

// `names` when it has one entry per class, "0", "1", ... when it is empty; shape_error otherwise.
inline std::vector<std::string> class_labels(const std::vector<std::string>& names, int num_classes,
                                             const char* caller) {
    if (names.empty()) {
        std::vector<std::string> out;
        for (int c = 0; c < num_classes; ++c) out.push_back(std::to_string(c));
        return out;
    }
    if (names.size() != static_cast<std::size_t>(num_classes)) {
        throw shape_error(std::string(caller) + ": expected " + std::to_string(num_classes) + " class names, got " +
                          std::to_string(names.size()));
    }
    return names;
}

inline std::string pad_left(const std::string& s, std::size_t width) {
    return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}
inline std::string pad_right(const std::string& s, std::size_t width) {
    return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}
inline std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

}  // namespace detail

// The per-class table, one row per class then "macro avg" and "weighted avg"; figures with 3 decimals:
//
//   class         precision  recall  f1-score  support
//   happiness         0.912   0.897     0.904      879
//   ...
//   macro avg         0.781   0.779     0.780     2507
//   weighted avg      0.803   0.801     0.802     2507
//
// `names` holds one name per class, or is empty for "0", "1", ...; shape_error otherwise.
inline std::string format_class_metrics(const ConfusionMatrix& cm, const std::vector<std::string>& names = {}) {
    const std::vector<std::string> labels = detail::class_labels(names, cm.num_classes(), "format_class_metrics");
    const std::vector<ClassMetrics> metrics = per_class_metrics(cm);
    std::size_t name_width = std::string("weighted avg").size();
    for (const std::string& l : labels) name_width = std::max(name_width, l.size());
    const std::size_t support_width = std::max<std::size_t>(7, std::to_string(cm.total()).size());

    std::string out = detail::pad_right("class", name_width) + "  precision  recall  f1-score  " +
                      detail::pad_left("support", support_width) + "\n";
    auto row = [&](const std::string& label, const ClassMetrics& m) {
        out += detail::pad_right(label, name_width) + "  " + detail::pad_left(detail::fixed(m.precision, 3), 9) +
               "  " + detail::pad_left(detail::fixed(m.recall, 3), 6) + "  " +
               detail::pad_left(detail::fixed(m.f1, 3), 8) + "  " +
               detail::pad_left(std::to_string(m.support), support_width) + "\n";
    };
    for (std::size_t c = 0; c < metrics.size(); ++c) row(labels[c], metrics[c]);
    row("macro avg", macro_average(metrics));
    row("weighted avg", weighted_average(metrics));
    return out;
}

// The confusion matrix as a table of counts, class names as row and column headers, columns right-aligned:
//
//   true \ predicted  happiness  neutral  sadness
//   happiness               792       50       37
//   ...
//
// `names` as for format_class_metrics.
inline std::string format_confusion_matrix(const ConfusionMatrix& cm, const std::vector<std::string>& names = {}) {
    const int k = cm.num_classes();
    const std::vector<std::string> labels = detail::class_labels(names, k, "format_confusion_matrix");
    const std::string corner = "true \\ predicted";
    std::size_t row_width = corner.size();
    for (const std::string& l : labels) row_width = std::max(row_width, l.size());
    std::vector<std::size_t> widths(static_cast<std::size_t>(k));
    for (int p = 0; p < k; ++p) {
        std::size_t w = labels[static_cast<std::size_t>(p)].size();
        for (int t = 0; t < k; ++t) w = std::max(w, std::to_string(cm.count(t, p)).size());
        widths[static_cast<std::size_t>(p)] = w;
    }
    std::string out = detail::pad_right(corner, row_width);
    for (int p = 0; p < k; ++p) {
        out += "  " + detail::pad_left(labels[static_cast<std::size_t>(p)], widths[static_cast<std::size_t>(p)]);
    }
    out += "\n";
    for (int t = 0; t < k; ++t) {
        out += detail::pad_right(labels[static_cast<std::size_t>(t)], row_width);
        for (int p = 0; p < k; ++p) {
            out += "  " + detail::pad_left(std::to_string(cm.count(t, p)), widths[static_cast<std::size_t>(p)]);
        }
        out += "\n";
    }
    return out;
}

// What a program prints at the end of an evaluation: a heading line with the accuracy ("test accuracy: 80.12%
// (2009 / 2507)" for heading "test"), the per-class table and the confusion matrix.
inline std::string format_evaluation(const ConfusionMatrix& cm, const std::vector<std::string>& names = {},
                                     const std::string& heading = "test") {
    std::string out = heading + " accuracy: " + detail::fixed(100.0 * cm.accuracy(), 2) + "% (" +
                      std::to_string(cm.correct()) + " / " + std::to_string(cm.total()) + ")\n\n";
    out += format_class_metrics(cm, names);
    out += "\nconfusion matrix (rows: true class, columns: predicted class)\n";
    out += format_confusion_matrix(cm, names);
    return out;
}

}  // namespace deepcnn
