// deepcnn/report/run_report.hpp: RunReport, the summary of one training run, and its report.json form.
// The JSON writing itself is json.hpp; the metrics come from metrics.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../io/atomic_file.hpp"
#include "json.hpp"
#include "metrics.hpp"

namespace deepcnn {

// What report.json records about a run. Fields left at their defaults (NaN, -1, empty) are written as null or
// an empty list, so a partial report is still valid.
struct RunReport {
    std::vector<std::string> classes;                               // class names, label order
    std::vector<std::pair<std::string, std::int64_t>> split_sizes;  // {"train", 28273}, {"validation", 3589}, ...
    ConfusionMatrix test_confusion;   // on the test split: accuracy and per-class figures derive from it
    double test_loss = NAN;           // mean loss on the test split
    int epochs = 0;                   // epochs trained (in this run and resumed ones)
    int best_epoch = -1;              // epoch of the saved model (best validation accuracy), -1 if unknown
    double best_val_accuracy = NAN;   // validation accuracy of that epoch
    double wall_seconds = NAN;        // whole run: loading, training and evaluation
    double train_seconds = NAN;       // training epochs only
    double images_per_second = NAN;   // mean training throughput
    std::vector<std::string> command_line;  // argv as given, program name first
    std::uint64_t seed = 0;
    std::vector<std::pair<std::string, std::string>> settings;  // net, optimizer, batch, ... in display form
};

// argv joined with spaces, each argument single-quoted for a POSIX shell when it holds anything but
// [A-Za-z0-9_./=:,+-] ("fer_train --data 'my data/fer.csv'"), so it can be pasted back into a shell.
inline std::string shell_join(const std::vector<std::string>& args) {
    std::string out;
    for (const std::string& a : args) {
        if (!out.empty()) out += ' ';
        bool plain = !a.empty();
        for (char c : a) {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            std::string("_./=:,+-@%").find(c) != std::string::npos;
            if (!ok) plain = false;
        }
        if (plain) {
            out += a;
            continue;
        }
        out += '\'';
        for (char c : a) {
            if (c == '\'') {
                out += "'\\''";
            } else {
                out += c;
            }
        }
        out += '\'';
    }
    return out;
}

// The argument vector of main() as strings.
inline std::vector<std::string> command_line_of(int argc, const char* const* argv) {
    return std::vector<std::string>(argv, argv + (argc > 0 ? argc : 0));
}

// report.json for `report`:
//   { "deepcnn_version": "0.1.0", "classes": [...], "split_sizes": {"train": N, ...},
//     "test": { "accuracy": 0.80, "correct": C, "total": N, "loss": L,
//               "per_class": [ {"class": "happiness", "precision": P, "recall": R, "f1": F, "support": S}, ...],
//               "macro_avg": {...}, "weighted_avg": {...},
//               "confusion_matrix": {"rows": "true", "columns": "predicted", "counts": [[...], ...]} },
//     "epochs": E, "best_epoch": B, "best_val_accuracy": A, "wall_seconds": T, "train_seconds": T2,
//     "images_per_second": R, "command_line": "...", "argv": [...], "seed": S, "settings": {...} }
// Accuracies and per-class figures are fractions in [0, 1]. Throws shape_error when `classes` is non-empty and
// does not match the confusion matrix.
inline std::string report_json(const RunReport& report) {
    const ConfusionMatrix& cm = report.test_confusion;
    const int k = cm.num_classes();
    const std::vector<std::string> names =
        k > 0 ? detail::class_labels(report.classes, k, "report_json") : report.classes;
    const std::vector<ClassMetrics> metrics = per_class_metrics(cm);

    auto write_metrics = [](JsonWriter& json, const ClassMetrics& m) {
        json.field("precision", m.precision).field("recall", m.recall).field("f1", m.f1).field("support", m.support);
    };

    JsonWriter json;
    json.begin_object();
    json.field("deepcnn_version", std::to_string(DEEPCNN_VERSION_MAJOR) + "." + std::to_string(DEEPCNN_VERSION_MINOR) +
                                      "." + std::to_string(DEEPCNN_VERSION_PATCH));
    json.key("classes").array(names);
    json.key("split_sizes").begin_object();
    for (const auto& split : report.split_sizes) json.field(split.first, split.second);
    json.end_object();

    json.key("test").begin_object();
    if (k > 0 && cm.total() > 0) {
        json.field("accuracy", cm.accuracy());
    } else {
        json.key("accuracy").null();
    }
    json.field("correct", cm.correct()).field("total", cm.total()).field("loss", report.test_loss);
    json.key("per_class").begin_array();
    for (std::size_t c = 0; c < metrics.size(); ++c) {
        json.begin_object().field("class", names[c]);
        write_metrics(json, metrics[c]);
        json.end_object();
    }
    json.end_array();
    json.key("macro_avg").begin_object();
    write_metrics(json, macro_average(metrics));
    json.end_object();
    json.key("weighted_avg").begin_object();
    write_metrics(json, weighted_average(metrics));
    json.end_object();
    json.key("confusion_matrix").begin_object().field("rows", "true").field("columns", "predicted");
    json.key("counts").begin_array();
    for (int t = 0; t < k; ++t) {
        json.begin_inline_array();
        for (int p = 0; p < k; ++p) json.value(cm.count(t, p));
        json.end_array();
    }
    json.end_array().end_object();
    json.end_object();

    json.field("epochs", report.epochs);
    if (report.best_epoch >= 0) {
        json.field("best_epoch", report.best_epoch);
    } else {
        json.key("best_epoch").null();
    }
    json.field("best_val_accuracy", report.best_val_accuracy);
    json.field("wall_seconds", report.wall_seconds).field("train_seconds", report.train_seconds);
    json.field("images_per_second", report.images_per_second);
    json.field("command_line", shell_join(report.command_line));
    json.key("argv").array(report.command_line);
    json.field("seed", report.seed);
    json.key("settings").begin_object();
    for (const auto& s : report.settings) json.field(s.first, s.second);
    json.end_object();
    json.end_object();
    return json.str();
}

// Writes report_json(report) to `path` atomically (io_error on failure).
inline void write_report_json(const std::string& path, const RunReport& report) {
    write_file_atomically(path, report_json(report));
}

}  // namespace deepcnn
