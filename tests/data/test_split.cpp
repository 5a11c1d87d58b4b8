// tests/data/test_split.cpp: Usage splits and the seeded stratified split of the shared sample into labelled
// tensors, batch gathering, and the training-set normalisation.
#include <catch2/catch.hpp>

#include <deepcnn/data/normalize.hpp>
#include <deepcnn/data/split.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace deepcnn;

namespace {

const Fer2013Dataset& sample() {
    static const Fer2013Dataset data = read_fer2013(std::string(DEEPCNN_SHARED_DIR) + "/data/fer2013_sample.csv");
    return data;
}

}  // namespace

TEST_CASE("split_by_usage gives Training, PublicTest and PrivateTest of the selected classes", "[data][split]") {
    const Fer2013Dataset& data = sample();
    const ClassSelection selection = select_largest(count_emotions(data), 3);  // happiness, neutral, sadness
    const UsageSplits<float> splits = split_by_usage<float>(data, selection);
    // The README's per-split counts of emotions 3, 6 and 4.
    CHECK(splits.train.size() == 123 + 85 + 82);
    CHECK(splits.validation.size() == 26 + 18 + 19);
    CHECK(splits.test.size() == 26 + 18 + 17);
    CHECK(splits.train.images.shape() == Shape(290, 1, 48, 48));
    CHECK(std::count(splits.train.labels.begin(), splits.train.labels.end(), 0) == 123);
    CHECK(std::count(splits.train.labels.begin(), splits.train.labels.end(), 1) == 85);
    CHECK(std::count(splits.train.labels.begin(), splits.train.labels.end(), 2) == 82);

    for (int i = 0; i < splits.test.size(); ++i) {
        const std::size_t row = splits.test.rows[static_cast<std::size_t>(i)];
        REQUIRE(data.usages[row] == Usage::private_test);
        REQUIRE(selection.emotions[static_cast<std::size_t>(splits.test.labels[static_cast<std::size_t>(i)])] ==
                data.emotions[row]);
        for (int p = 0; p < fer_image_pixels; p += 97) {
            REQUIRE(splits.test.images.sample(i)[p] == Approx(data.image(row)[p] / 255.0f));
        }
    }
    const float top = *std::max_element(splits.train.images.begin(), splits.train.images.end());
    const float bottom = *std::min_element(splits.train.images.begin(), splits.train.images.end());
    CHECK(top <= 1.0f);
    CHECK(bottom >= 0.0f);
}

TEST_CASE("stratified_split is seeded, disjoint, complete and stratified", "[data][split]") {
    std::vector<std::size_t> items;
    std::vector<int> labels;
    for (std::size_t i = 0; i < 1000; ++i) {
        items.push_back(100 + i);
        labels.push_back(i % 10 < 6 ? 0 : (i % 10 < 9 ? 1 : 2));  // 600 / 300 / 100
    }
    const IndexSplit a = stratified_split(items, labels, 0.1, 42);
    const IndexSplit b = stratified_split(items, labels, 0.1, 42);
    const IndexSplit c = stratified_split(items, labels, 0.1, 43);
    CHECK(a.first == b.first);
    CHECK(a.second == b.second);
    CHECK(a.second != c.second);
    CHECK(a.first.size() == 900);
    REQUIRE(a.second.size() == 100);
    std::vector<std::size_t> all = a.first;
    all.insert(all.end(), a.second.begin(), a.second.end());
    std::sort(all.begin(), all.end());
    CHECK(all == items);
    int per_class[3] = {0, 0, 0};
    for (std::size_t item : a.second) ++per_class[labels[item - 100]];
    CHECK(per_class[0] == 60);
    CHECK(per_class[1] == 30);
    CHECK(per_class[2] == 10);
    CHECK(std::is_sorted(a.first.begin(), a.first.end()));
    CHECK_THROWS_AS(stratified_split(items, labels, 1.5, 1), config_error);
    CHECK_THROWS_AS(stratified_split(items, std::vector<int>(3, 0), 0.1, 1), config_error);
}

TEST_CASE("split_stratified takes 10% of each selected class whatever its Usage", "[data][split]") {
    const Fer2013Dataset& data = sample();
    const ClassSelection selection = select_largest(count_emotions(data), 3);
    const UsageSplits<float> splits = split_stratified<float>(data, selection, 0.1, 7);
    CHECK(splits.validation.size() == 18 + 12 + 12);  // round(17.5), round(12.1), round(11.8)
    CHECK(splits.train.size() + splits.validation.size() == 175 + 121 + 118);
    CHECK(splits.test.size() == 0);
    const UsageSplits<float> again = split_stratified<float>(data, selection, 0.1, 7);
    CHECK(again.validation.rows == splits.validation.rows);
}

TEST_CASE("gather_batch copies the indexed samples and labels", "[data][split]") {
    const Fer2013Dataset& data = sample();
    const UsageSplits<float> splits = split_by_usage<float>(data, select_all_classes());
    const std::vector<std::size_t> order = {5, 0, 489, 17};
    Tensor<float> batch;
    std::vector<int> labels;
    gather_batch(splits.train, order, 1, 3, batch, labels);
    CHECK(batch.shape() == Shape(3, 1, 48, 48));
    REQUIRE(labels.size() == 3);
    for (int i = 0; i < 3; ++i) {
        const std::size_t index = order[static_cast<std::size_t>(i) + 1];
        CHECK(labels[static_cast<std::size_t>(i)] == splits.train.labels[index]);
        CHECK(std::equal(batch.sample(i), batch.sample(i) + 2304, splits.train.images.sample(static_cast<int>(index))));
    }
    CHECK_THROWS_AS(gather_batch(splits.train, order, 2, 3, batch, labels), shape_error);
    const std::vector<std::size_t> bad = {490};
    CHECK_THROWS_AS(gather_batch(splits.train, bad, 0, 1, batch, labels), shape_error);
}

TEST_CASE("fit_normalization and normalize give zero mean and unit deviation", "[data][normalize]") {
    Tensor<float> x(Shape(1, 1, 2, 2), {1.0f, 2.0f, 3.0f, 4.0f});
    const Normalization norm = fit_normalization(x);
    CHECK(norm.mean == Approx(2.5));
    CHECK(norm.stddev == Approx(std::sqrt(1.25)));
    normalize(x, norm);
    CHECK(x[0] == Approx(-1.5 / std::sqrt(1.25)));
    CHECK(x[3] == Approx(1.5 / std::sqrt(1.25)));

    const UsageSplits<float> splits = split_by_usage<float>(sample(), select_all_classes());
    Tensor<float> train = splits.train.images;
    const Normalization fitted = fit_normalization(train);
    CHECK(fitted.mean > 0.3);
    CHECK(fitted.mean < 0.7);
    normalize(train, fitted);
    const Normalization after = fit_normalization(train);
    CHECK(after.mean == Approx(0.0).margin(1e-5));
    CHECK(after.stddev == Approx(1.0).epsilon(1e-5));

    CHECK_THROWS_AS(fit_normalization(Tensor<float>(Shape(1, 1, 2, 2), 0.5f)), data_error);
    CHECK_THROWS_AS(fit_normalization(Tensor<float>()), data_error);
    CHECK_THROWS_AS(normalize(x, Normalization{0.0, 0.0}), config_error);
}
