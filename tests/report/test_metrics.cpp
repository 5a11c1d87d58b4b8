// Tests for report/metrics.hpp: confusion matrix, accuracy, per-class precision / recall / F1 / support on a
// hand-computed example, zero division, and the text rendering.
#include <catch2/catch.hpp>

#include <deepcnn/report/metrics.hpp>

#include <string>
#include <vector>

using namespace deepcnn;

namespace {

// 10 samples, 3 classes. Confusion matrix (rows true, columns predicted):
//   [2 1 1]
//   [1 2 0]
//   [0 1 2]
ConfusionMatrix example() {
    const std::vector<int> truth = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
    const std::vector<int> pred = {0, 0, 1, 2, 1, 1, 0, 2, 2, 1};
    return confusion_matrix(truth, pred, 3);
}

}  // namespace

TEST_CASE("confusion matrix counts (true, predicted) pairs", "[report][metrics]") {
    const ConfusionMatrix cm = example();
    REQUIRE(cm.num_classes() == 3);
    const int expected[3][3] = {{2, 1, 1}, {1, 2, 0}, {0, 1, 2}};
    for (int t = 0; t < 3; ++t) {
        for (int p = 0; p < 3; ++p) CHECK(cm.count(t, p) == expected[t][p]);
    }
    CHECK(cm.total() == 10);
    CHECK(cm.correct() == 6);
    CHECK(cm.accuracy() == Approx(0.6));
    CHECK(cm.true_total(0) == 4);
    CHECK(cm.predicted_total(1) == 4);
}

TEST_CASE("precision, recall, F1 and support match hand computation", "[report][metrics]") {
    const std::vector<ClassMetrics> m = per_class_metrics(example());
    REQUIRE(m.size() == 3);
    // class 0: TP 2, predicted 3, support 4
    CHECK(m[0].precision == Approx(2.0 / 3));
    CHECK(m[0].recall == Approx(0.5));
    CHECK(m[0].f1 == Approx(4.0 / 7));
    CHECK(m[0].support == 4);
    // class 1: TP 2, predicted 4, support 3
    CHECK(m[1].precision == Approx(0.5));
    CHECK(m[1].recall == Approx(2.0 / 3));
    CHECK(m[1].f1 == Approx(4.0 / 7));
    CHECK(m[1].support == 3);
    // class 2: TP 2, predicted 3, support 3
    CHECK(m[2].precision == Approx(2.0 / 3));
    CHECK(m[2].recall == Approx(2.0 / 3));
    CHECK(m[2].f1 == Approx(2.0 / 3));
    CHECK(m[2].support == 3);

    const ClassMetrics macro = macro_average(m);
    CHECK(macro.precision == Approx(11.0 / 18));
    CHECK(macro.recall == Approx(11.0 / 18));
    CHECK(macro.f1 == Approx(38.0 / 63));
    CHECK(macro.support == 10);

    const ClassMetrics weighted = weighted_average(m);
    CHECK(weighted.precision == Approx(37.0 / 60));
    CHECK(weighted.recall == Approx(0.6));  // weighted recall is the accuracy
    CHECK(weighted.support == 10);
}

TEST_CASE("zero division gives 0, never NaN", "[report][metrics]") {
    // Class 1 is never predicted; class 2 has no samples and is never predicted.
    const ConfusionMatrix cm = confusion_matrix({0, 1}, {0, 0}, 3);
    const std::vector<ClassMetrics> m = per_class_metrics(cm);
    CHECK(m[0].precision == Approx(0.5));
    CHECK(m[0].recall == 1.0);
    CHECK(m[1].precision == 0.0);
    CHECK(m[1].recall == 0.0);
    CHECK(m[1].f1 == 0.0);
    CHECK(m[2].precision == 0.0);
    CHECK(m[2].recall == 0.0);
    CHECK(m[2].f1 == 0.0);
    CHECK(m[2].support == 0);
    CHECK(ConfusionMatrix(4).accuracy() == 0.0);
    CHECK(weighted_average(per_class_metrics(ConfusionMatrix(2))).precision == 0.0);
}

TEST_CASE("confusion matrix rejects bad labels and mismatched inputs", "[report][metrics]") {
    ConfusionMatrix cm(3);
    CHECK_THROWS_WITH(cm.add(3, 0), "ConfusionMatrix::add: true label 3 out of range [0, 3)");
    CHECK_THROWS_WITH(cm.add(0, -1), "ConfusionMatrix::add: predicted label -1 out of range [0, 3)");
    CHECK_THROWS_AS(cm.add(5, 0), data_error);
    CHECK_THROWS_WITH(confusion_matrix({0, 1}, {0}, 2), "confusion_matrix: 2 true labels but 1 predictions");
    CHECK_THROWS_AS(ConfusionMatrix(0), config_error);
    CHECK_THROWS_AS(cm.merge(ConfusionMatrix(2)), shape_error);
}

TEST_CASE("merge adds counts, add takes a multiplicity", "[report][metrics]") {
    ConfusionMatrix a(2);
    a.add(0, 0, 5);
    ConfusionMatrix b(2);
    b.add(0, 0);
    b.add(1, 0);
    a.merge(b);
    CHECK(a.count(0, 0) == 6);
    CHECK(a.count(1, 0) == 1);
    a.clear();
    CHECK(a.total() == 0);
    CHECK(a == ConfusionMatrix(2));
}

TEST_CASE("confusion matrix text has class-name headers and aligned columns", "[report][metrics]") {
    const std::string text = format_confusion_matrix(example(), {"happy", "neutral", "sad"});
    const std::string expected =
        "true \\ predicted  happy  neutral  sad\n"
        "happy                 2        1    1\n"
        "neutral               1        2    0\n"
        "sad                   0        1    2\n";
    CHECK(text == expected);
    CHECK(format_confusion_matrix(ConfusionMatrix(2)) ==
          "true \\ predicted  0  1\n"
          "0                 0  0\n"
          "1                 0  0\n");
    CHECK_THROWS_WITH(format_confusion_matrix(example(), {"a", "b"}),
                      "format_confusion_matrix: expected 3 class names, got 2");
}

TEST_CASE("class metrics table and the evaluation summary", "[report][metrics]") {
    const std::string table = format_class_metrics(example(), {"happy", "neutral", "sad"});
    const std::string expected =
        "class         precision  recall  f1-score  support\n"
        "happy             0.667   0.500     0.571        4\n"
        "neutral           0.500   0.667     0.571        3\n"
        "sad               0.667   0.667     0.667        3\n"
        "macro avg         0.611   0.611     0.603       10\n"
        "weighted avg      0.617   0.600     0.600       10\n";
    CHECK(table == expected);

    const std::string summary = format_evaluation(example(), {"happy", "neutral", "sad"});
    CHECK(summary.rfind("test accuracy: 60.00% (6 / 10)\n\n", 0) == 0);
    CHECK(summary.find(expected) != std::string::npos);
    CHECK(summary.find("sad                   0        1    2\n") != std::string::npos);
}
