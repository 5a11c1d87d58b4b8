// examples/fer_report.hpp: the end of a fer_train run: the test-time shift chosen on validation, the model selected
// on validation tested once (with the views the model file names), its per-class figures and confusion matrix
// printed, and report.json, confusion.svg, predictions.svg and predictions.png written into the output directory.
#pragma once

#include "fer_common.hpp"
#include "fer_data.hpp"

#include <deepcnn/io/atomic_file.hpp>
#include <deepcnn/report/metrics.hpp>
#include <deepcnn/report/plots.hpp>
#include <deepcnn/report/run_report.hpp>
#include <deepcnn/train/data_source.hpp>
#include <deepcnn/train/evaluation.hpp>
#include <deepcnn/train/training_state.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace fer {

// The shifts fer_train's --tta-shift auto tries: within the shifts training's augmentation makes (up to a tenth of
// the face, 4.8 pixels), each costing 4 (or 8, with the flip) more passes of the model over the validation faces.
inline const std::vector<int>& tta_shift_candidates() {
    static const std::vector<int> candidates = {2, 3};
    return candidates;
}

// The test-time shift (0: none) that gives `best` the highest accuracy on the validation split, with or without
// the flip as `flip` says; the fewer views on ties. Prints every candidate's accuracy.
template <class Model>
int choose_tta_shift(Model& best, TrainingData& data, bool flip) {
    using namespace deepcnn;
    LabeledImages<float>& validation = data.splits.validation;
    TensorSource<float> source(validation.images, validation.labels);
    auto accuracy = [&](int shift) {
        return evaluate_classifier(best, source, TestTimeAugmentation{flip, shift}).accuracy;
    };
    auto percent = [](double fraction) {
        char text[32];
        std::snprintf(text, sizeof text, "%.2f%%", 100.0 * fraction);
        return std::string(text);
    };
    int chosen = 0;
    double most = accuracy(0);
    std::cout << "\nTest-time shifts, chosen on validation (" << validation.size() << " images): none " << percent(most);
    for (int shift : tta_shift_candidates()) {
        const double candidate = accuracy(shift);
        std::cout << ", " << shift << " pixels " << percent(candidate) << std::flush;
        if (candidate > most) { most = candidate; chosen = shift; }
    }
    std::cout << " -> " << (chosen ? std::to_string(chosen) + " pixels" : "none") << "\n";
    return chosen;
}

// Tests `best` on the data's test split and writes the report; `report` comes with the caller's command line, seed
// and settings, and gains the rest (classes, split sizes, the test's figures, the training state's, the wall time
// since `run_start`). Returns the test's confusion matrix.
template <class Model>
deepcnn::ConfusionMatrix test_and_report(Model& best, TrainingData& data, const ModelInfo& info, const deepcnn::TrainingState& state,
                     const std::string& out, deepcnn::RunReport report,
                     std::chrono::steady_clock::time_point run_start) {
    using namespace deepcnn;
    LabeledImages<float>& test = data.test();
    TensorSource<float> test_source(test.images, test.labels);
    const ClassifierEvaluation<float> tested = evaluate_classifier(best, test_source, info.tta());
    const ConfusionMatrix cm = confusion_matrix(test.labels, tested.predicted, data.selection.size());
    std::cout << "\nBest epoch " << state.best_epoch << " (validation accuracy " << state.best_metric << ")\n";
    std::cout << "Test (" << data.test_name << ", " << test.size() << " images"
              << (info.tta().views() > 1 ? ", " + describe_views(info.tta()) : "") << "):\n"
              << format_evaluation(cm, data.selection.names) << "\n";

    const int train_size = data.splits.train.size();
    report.classes = data.selection.names;
    report.split_sizes = {{"train", train_size}, {"validation", data.splits.validation.size()}, {"test", test.size()}};
    report.test_confusion = cm;
    report.test_loss = tested.loss;
    report.epochs = state.epochs_done;
    report.best_epoch = state.best_epoch;
    report.best_val_accuracy = state.best_metric;
    report.train_seconds = state.train_seconds;
    report.images_per_second =
        state.train_seconds > 0 ? double(state.epochs_done) * train_size / state.train_seconds : NAN;
    report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    write_report_json(out + "/report.json", report);
    write_file_atomically(out + "/confusion.svg",
                          confusion_svg(cm, data.selection.names, "Confusion matrix, " + data.test_name));
    const Normalization& norm = info.normalization;
    const std::vector<Prediction> shown =
        sample_predictions(test.images, test.labels, tested.predicted, tested.probabilities, 36,
                           -norm.mean / norm.stddev, (1.0 - norm.mean) / norm.stddev);
    const std::string title = "Test predictions (" + data.test_name + ")";
    write_file_atomically(out + "/predictions.svg", predictions_svg(shown, data.selection.names, 6, title));
    write_file_atomically(out + "/predictions.png", predictions_png(shown, data.selection.names, 6, title));
    return cm;
}

}  // namespace fer
