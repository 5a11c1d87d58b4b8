// examples/fer_data.hpp: fer_train's data: reads the FER2013 CSV, prints its class table, keeps the classes asked
// for, splits by Usage (or the tutorial's stratified 90/10) and normalises every split by the training set's
// statistics, with the messages and data errors (naming the file) that say what is missing and why.
#pragma once

#include "fer_common.hpp"

#include <deepcnn/data/classes.hpp>
#include <deepcnn/data/normalize.hpp>
#include <deepcnn/data/split.hpp>
#include <deepcnn/io/fer2013.hpp>
#include <deepcnn/train/progress.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>

namespace fer {

struct DataRequest {
    std::string path;
    std::string classes;    // --classes: empty (the 3 largest), a count, names or "all"
    bool tutorial = false;  // a random stratified 90/10 split, tested on its 10%
    std::uint64_t seed = 1;
    long max_rows = 0;
    bool skip_bad_rows = false;
};

struct TrainingData {
    deepcnn::ClassSelection selection;
    deepcnn::UsageSplits<float> splits;
    deepcnn::Normalization normalization;  // the training split's, applied to every split
    std::string test_name;                 // "PrivateTest", or the tutorial's validation split
    deepcnn::LabeledImages<float>& test() { return test_is_validation ? splits.validation : splits.test; }
    bool test_is_validation = false;
};

// --classes, checked before any work (usage_error): a count from 2 to 7, class names or all; whether the data has
// those classes is load_training_data's to say.
inline void check_class_request(const std::string& asked) {
    std::vector<deepcnn::ClassCount> every_emotion;
    const int emotions = deepcnn::fer_emotion_count;
    for (int e = 0; e < emotions; ++e) every_emotion.push_back({e, deepcnn::fer_emotion_names()[std::size_t(e)], 1, 1.0 / emotions});
    std::string classes = asked.substr(std::min(asked.size(), asked.find_first_not_of(" \t")));
    classes.erase(classes.find_last_not_of(" \t") + 1);
    if (!classes.empty() && classes.find_first_not_of(" \t0123456789") == std::string::npos) {
        const long k = classes.size() > 2 ? 99 : std::stol(classes);
        if (k < 2 || k > deepcnn::fer_emotion_count) {
            throw usage_error("--classes: expected a number of classes from 2 to " + std::to_string(deepcnn::fer_emotion_count) +
                                   " (a classifier needs at least 2), class names or all, got '" + asked + "'");
        }
    } else if (deepcnn::select_classes(asked, every_emotion).size() < 2) {
        throw usage_error("--classes: a classifier needs at least 2 classes, got '" + asked + "'");
    }
}

inline TrainingData load_training_data(const DataRequest& r, const deepcnn::CancelFlag* cancel) {
    using namespace deepcnn;
    deepcnn::Fer2013Options read_options;
    read_options.skip_bad_rows = r.skip_bad_rows;
    read_options.max_rows = static_cast<std::size_t>(r.max_rows);
    read_options.cancel = cancel;
    std::cout << "Reading " << printable(r.path) << " ..." << std::flush;
    const auto read_start = std::chrono::steady_clock::now();
    const Fer2013Dataset data = read_fer2013(r.path, read_options);
    std::cout << " " << data.size() << " rows in "
              << format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - read_start).count())
              << "\n";
    if (data.skipped_rows > 0) {
        std::cout << "Skipped " << data.skipped_rows << " malformed rows (--skip-bad-rows), for example:\n";
        for (const auto& message : data.skip_messages) std::cout << "  " << printable(message) << "\n";
    }
    // Where rows are missing, say why when --max-rows is the cause (it keeps the first rows, in file order).
    const std::string row_limit = r.max_rows > 0 && data.size() == static_cast<std::size_t>(r.max_rows)
                                      ? " among the first " + std::to_string(r.max_rows) +
                                            " rows (--max-rows keeps rows in file order)"
                                      : "";
    if (data.empty()) {
        throw data_error(r.path + ": no data rows" +
                         (data.skipped_rows > 0 ? " (all " + std::to_string(data.skipped_rows) + " were malformed and skipped)"
                                                : " after the header"));
    }
    const std::vector<ClassCount> counts = count_emotions(data);
    std::cout << "\n" << format_class_table(counts) << "\n";
    TrainingData d;
    try {
        d.selection = select_classes(r.classes, counts);
    } catch (const config_error& e) {  // the data lacks what --classes asks for: a data error, naming the file
        throw data_error(r.path + ": " + e.what() + row_limit);
    }
    if (d.selection.size() < 2) {
        throw data_error(r.path + ": only one class (" + d.selection.names.front() + ") has rows" + row_limit +
                         "; a classifier needs at least 2");
    }
    std::cout << "Classes:";
    for (int k = 0; k < d.selection.size(); ++k) std::cout << " " << k << "=" << d.selection.names[static_cast<std::size_t>(k)];
    std::cout << "\n";

    d.splits = r.tutorial ? split_stratified<float>(data, d.selection, 0.1, r.seed) : split_by_usage<float>(data, d.selection);
    d.test_is_validation = r.tutorial;
    d.test_name = r.tutorial ? "the tutorial's 10% validation split" : "PrivateTest";
    if (d.splits.train.size() == 0) throw data_error(r.path + ": no training rows for the selected classes" + row_limit);
    if (d.splits.validation.size() == 0) {
        throw data_error(r.path + ": no validation (PublicTest) rows for the selected classes" + row_limit);
    }
    if (d.test().size() == 0) throw data_error(r.path + ": no test (PrivateTest) rows for the selected classes" + row_limit);
    for (int k = 0; k < d.selection.size(); ++k) {
        if (std::count(d.splits.train.labels.begin(), d.splits.train.labels.end(), k) == 0) {
            std::cerr << "fer_train: warning: class " << d.selection.names[static_cast<std::size_t>(k)]
                      << " has no training rows" << row_limit << "; the model cannot learn it\n";
        }
    }
    std::cout << "Split: train " << d.splits.train.size() << ", validation " << d.splits.validation.size() << ", test "
              << d.test().size() << (r.tutorial ? " (tutorial: random stratified 90/10, test = validation)" : "") << "\n";
    d.normalization = fit_normalization(d.splits.train.images);
    normalize(d.splits.train.images, d.normalization);
    normalize(d.splits.validation.images, d.normalization);
    if (!r.tutorial) normalize(d.splits.test.images, d.normalization);
    return d;
}

}  // namespace fer
