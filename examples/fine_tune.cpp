// examples/fine_tune.cpp: fine-tunes a 3-class FER model to all seven FER2013 emotions with the library alone:
// loads a fer_train model of either kind (a Sequential "fer" net or a Graph "resnet"; without --model it pretrains
// one on the three largest classes), replaces its head by a 7-way one (replace_head), trains the new head with the
// body frozen, then the whole net at a lower rate with early stopping (keeping frozen what --freeze-through and
// --freeze name), and reports PrivateTest accuracy (flip-averaged), per class, and the confusion matrix. Writes
// OUT/model.dcnn (which fer_predict reads), report.json, confusion.svg and predictions.svg / .png.
#include "fer_common.hpp"
#include "fer_data.hpp"
#include "fer_nets.hpp"
#include "fer_report.hpp"

#include <deepcnn/deepcnn.hpp>
#include <deepcnn/io/output_directory.hpp>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#ifndef FER_DEFAULT_DATA
#define FER_DEFAULT_DATA "examples/data/fer2013_sample3.csv.gz"
#endif

namespace {

using namespace deepcnn;

const char* const usage_text =
    "usage: fine_tune [--data PATH] [--model FILE | --net NET] [--pretrain-epochs N] [--head-epochs N] [--epochs N]\n"
    "                 [--freeze-through LAYER] [--freeze LAYER[,LAYER...]] [--batch N] [--lr X] [--seed N]\n"
    "                 [--threads N] [--max-rows N] [--out DIR] [--overwrite]\n"
    "Fine-tunes a 3-class FER model (--model, a fer_train model.dcnn of any net; without it a --net net, default\n"
    "fer, is pretrained here on the three largest classes) to all seven emotions: the new head alone first\n"
    "(--head-epochs, 0 to skip), then the whole net at lr / 10 with early stopping (--epochs, 0 to skip), where the\n"
    "layers --freeze-through names (it and every layer before it) and --freeze lists stay frozen. Layers are named\n"
    "as in the model's summary (a resnet's nodes: s3b2_add; a fer net's: conv2d_4). Writes model.dcnn,\n"
    "report.json, confusion.svg, predictions.svg and predictions.png into --out (default fine_tune_out), which is\n"
    "created and locked before anything else; one that holds an earlier run's files is refused unless --overwrite\n"
    "replaces them. The bundled sample holds three emotions only: use the full FER2013 CSV (--data) for a real\n"
    "result.\n";

struct Options {
    std::string data = FER_DEFAULT_DATA;
    std::string model;
    std::string net = "fer";
    int pretrain_epochs = 3;
    int head_epochs = 2;
    int epochs = 6;
    std::string freeze_through;
    std::string freeze_list;  // --freeze as given
    std::vector<std::string> freeze;
    int batch = 64;
    double lr = 2e-3;
    std::uint64_t seed = 1;
    int threads = 0;
    long max_rows = 0;
    std::string out = "fine_tune_out";
    bool overwrite = false;
};

Options parse_options(int argc, char** argv) {
    Options o;
    bool net_given = false;
    for (fer::Arguments a(argc, argv); a.next();) {
        const std::string& arg = a.arg();
        if (a.is("--data")) o.data = a.value();
        else if (a.is("--model")) o.model = a.value();
        else if (a.is("--net")) { o.net = a.value(); net_given = true; }
        else if (a.is("--pretrain-epochs")) o.pretrain_epochs = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 1000));
        else if (a.is("--head-epochs")) o.head_epochs = static_cast<int>(fer::parse_integer(arg, a.value(), 0, 1000));
        else if (a.is("--epochs")) o.epochs = static_cast<int>(fer::parse_integer(arg, a.value(), 0, 1000));
        else if (a.is("--freeze-through")) o.freeze_through = a.value();
        else if (a.is("--freeze")) { o.freeze_list = a.value(); o.freeze = fer::split_text(o.freeze_list, ','); }
        else if (a.is("--batch")) o.batch = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 65536));
        else if (a.is("--lr")) o.lr = fer::parse_positive(arg, a.value());
        else if (a.is("--seed")) o.seed = static_cast<std::uint64_t>(fer::parse_integer(arg, a.value(), 0, 2147483647L));
        else if (a.is("--threads")) o.threads = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 1024));
        else if (a.is("--max-rows")) o.max_rows = fer::parse_integer(arg, a.value(), 1, 100000000L);
        else if (a.is("--out")) o.out = a.value();
        else if (a.is("--overwrite")) o.overwrite = true;
        else if (a.is("--help") || a.is("-h")) { std::cout << usage_text; std::exit(fer::exit_ok); }
        else throw fer::usage_error("unknown option '" + arg + "'");
    }
    if (net_given && !o.model.empty()) throw fer::usage_error("--net and --model exclude each other");
    if (!fer::is_net(o.net)) throw fer::usage_error("--net: expected " + fer::net_names() + ", got '" + o.net + "'");
    if (o.head_epochs == 0 && o.epochs == 0) throw fer::usage_error("--head-epochs and --epochs are both 0: nothing to train");
    if (o.out.empty()) throw fer::usage_error("--out: empty directory name");
    return o;
}

TrainerOptions trainer_options(const Options& o, int epochs) {
    TrainerOptions options;
    options.epochs = epochs;
    options.batch = o.batch;
    options.seed = o.seed * 0x9E3779B97F4A7C15ULL + 12345;
    options.augment = true;
    options.flip_averaged_evaluation = true;
    options.verbosity = Verbosity::automatic;
    return options;
}

std::unique_ptr<Optimizer<float>> adamw(double lr) { return fer::make_optimizer("adamw", lr); }

// Images of every split normalised with `norm`, labels mapped through `selection`.
UsageSplits<float> normalised_splits(const Fer2013Dataset& data, const ClassSelection& selection,
                                     const Normalization& norm) {
    UsageSplits<float> splits = split_by_usage<float>(data, selection);
    normalize(splits.train.images, norm);
    normalize(splits.validation.images, norm);
    normalize(splits.test.images, norm);
    return splits;
}

// Trains a new --net model on the three largest classes of `data` (the 3-class model to start from).
fer::AnyNet pretrain(const Options& o, const Fer2013Dataset& data, fer::ModelInfo& info) {
    const ClassSelection three = select_classes("", count_emotions(data));
    info.classes = three.names;
    info.emotions = three.emotions;
    info.net = o.net;
    UsageSplits<float> splits = split_by_usage<float>(data, three);
    info.normalization = fit_normalization(splits.train.images);
    normalize(splits.train.images, info.normalization);
    normalize(splits.validation.images, info.normalization);
    fer::AnyNet net = fer::make_net(o.net, three.size(), o.seed);
    std::visit([&](auto& model) {
        if (o.threads > 0) model.set_threads(o.threads);
        std::cout << "Pretraining a 3-class " << o.net << " net for " << o.pretrain_epochs << " epochs\n";
        const std::unique_ptr<Optimizer<float>> optimizer = adamw(o.lr);
        TrainerOptions options = trainer_options(o, o.pretrain_epochs);
        options.schedule = fer::make_schedule("cosine", o.lr, o.pretrain_epochs);
        Trainer<std::decay_t<decltype(model)>> trainer(model, *optimizer, options);
        trainer.fit(splits.train.images, splits.train.labels, splits.validation.images, splits.validation.labels);
    }, net);
    return net;
}

// A fer_train model file of either kind, and what its metadata says (classes, normalisation, net).
fer::AnyNet load_pretrained(const std::string& path, fer::ModelInfo& info) {
    ModelMetadata meta;
    fer::AnyNet model = load_any_model<float>(path, &meta);
    const int outputs = std::visit([](auto& m) { return static_cast<int>(m.output_shape().per_sample()); }, model);
    info = fer::read_model_info(meta, outputs, path);
    std::cout << "Pretrained: " << path << " (" << info.net << " net, " << info.classes.size() << " classes)\n";
    return model;
}

// The per-class test accuracy (each class's recall), one line per class: "  anger      41.3%  (193 / 467)".
std::string format_class_accuracy(const ConfusionMatrix& cm, const std::vector<std::string>& names) {
    std::string out = "Per-class test accuracy:\n";
    for (int c = 0; c < cm.num_classes(); ++c) {
        const std::int64_t total = cm.true_total(c);
        std::ostringstream line;
        line << "  " << std::left << std::setw(10) << names[static_cast<std::size_t>(c)] << std::right << std::fixed
             << std::setprecision(1) << std::setw(6);
        if (total > 0) line << 100.0 * double(cm.count(c, c)) / double(total) << "%";
        else line << "n/a" << " ";
        line << "  (" << cm.count(c, c) << " / " << total << ")\n";
        out += line.str();
    }
    return out;
}

template <class Model>
int fine_tune(Model& model, const fer::ModelInfo& info, const Fer2013Dataset& data, const Options& o, int argc,
              char** argv, std::chrono::steady_clock::time_point run_start) {
    // All seven emotions, label = emotion code; inputs normalised as the pretrained model's were.
    fer::TrainingData prepared;
    prepared.selection = select_all_classes();
    prepared.splits = normalised_splits(data, prepared.selection, info.normalization);
    prepared.normalization = info.normalization;
    prepared.test_name = "PrivateTest";
    const UsageSplits<float>& splits = prepared.splits;
    std::cout << "Seven classes: train " << splits.train.size() << ", validation " << splits.validation.size()
              << ", test " << splits.test.size() << "\n";

    // The pretrained body under a new 7-way head (checked before any training: a bad layer name is a usage error).
    model.rng().reseed(o.seed);
    const std::size_t head = replace_head(model, static_cast<int>(prepared.selection.size()));
    if (!o.freeze_through.empty()) layer_index(model, o.freeze_through);
    for (const std::string& name : o.freeze) layer_index(model, name);
    if (o.threads > 0) model.set_threads(o.threads);
    std::cout << "New head: " << model.layer_name(head) << " (Dense " << prepared.selection.size() << ") after "
              << head << " pretrained layers\n";

    TrainingState last_state;
    double train_seconds = 0.0;
    if (o.head_epochs > 0) {
        std::cout << "\nStage 1: the new head only (" << o.head_epochs << " epochs, the body frozen)\n";
        model.freeze_up_to(head);
        const std::unique_ptr<Optimizer<float>> optimizer = fer::make_optimizer("adam", o.lr);
        Trainer<Model> trainer(model, *optimizer, trainer_options(o, o.head_epochs));
        trainer.fit(splits.train.images, splits.train.labels, splits.validation.images, splits.validation.labels);
        last_state = trainer.state();
        train_seconds += trainer.state().train_seconds;
    }
    if (o.epochs > 0) {
        unfreeze_all(model);
        if (!o.freeze_through.empty()) freeze_through(model, o.freeze_through);
        freeze_layers(model, o.freeze);
        std::cout << "\nStage 2: the whole net";
        if (model.trainable_params().size() < model.params().size()) {
            std::cout << " but " << model.params().size() - model.trainable_params().size() << " frozen tensors";
        }
        std::cout << " at lr " << o.lr / 10 << " (" << o.epochs << " epochs, early stopping)\n";
        const std::unique_ptr<Optimizer<float>> optimizer = adamw(o.lr / 10);
        TrainerOptions options = trainer_options(o, o.epochs);
        options.schedule = std::make_shared<CosineLr>(o.lr / 10, o.epochs);
        options.early_stopping_patience = 4;
        Trainer<Model> trainer(model, *optimizer, options);
        trainer.fit(splits.train.images, splits.train.labels, splits.validation.images, splits.validation.labels);
        last_state = trainer.state();
        train_seconds += trainer.state().train_seconds;
    }

    fer::ModelInfo tuned = info;
    tuned.classes = prepared.selection.names;
    tuned.emotions = prepared.selection.emotions;
    tuned.flip_averaging = true;
    tuned.tta_shift = 0;  // as tested here: flip-averaged, no shifts (fer_train chooses its shifts on validation)
    ModelMetadata meta;
    fer::store_model_info(tuned, meta);
    save_model(o.out + "/model.dcnn", model, meta);

    RunReport report;
    report.command_line = command_line_of(argc, argv);
    report.seed = o.seed;
    report.settings = {{"pretrained", o.model.empty() ? "pretrained here (" + std::to_string(o.pretrain_epochs) + " epochs)" : o.model},
                       {"net", info.net}, {"data", o.data}, {"test_split", prepared.test_name},
                       {"head_epochs", std::to_string(o.head_epochs)}, {"epochs", std::to_string(o.epochs)},
                       {"freeze_through", o.freeze_through}, {"freeze", o.freeze_list},
                       {"learning_rate", std::to_string(o.lr)}, {"batch", std::to_string(o.batch)},
                       {"flip_averaging", "on"}, {"threads", std::to_string(model.threads())}};
    last_state.train_seconds = train_seconds;  // both stages
    const ConfusionMatrix cm = fer::test_and_report(model, prepared, tuned, last_state, o.out, report, run_start);
    std::cout << format_class_accuracy(cm, prepared.selection.names);
    std::cout << "Wrote " << o.out << "/model.dcnn, report.json, confusion.svg, predictions.svg and predictions.png (run took "
              << format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count())
              << ")\n";
    return fer::exit_ok;
}

int run(const Options& o, int argc, char** argv) {
    const auto run_start = std::chrono::steady_clock::now();
    // --out before any work: one run at a time in it, and an earlier run's results kept unless --overwrite
    create_output_directory(o.out);
    DirectoryLock lock(o.out);
    claim_output_directory(o.out, {"model.dcnn", "report.json", "confusion.svg", "predictions.svg", "predictions.png"},
                           o.overwrite, false);
    std::cout << "Reading " << o.data << " ..." << std::endl;
    Fer2013Options read_options;
    read_options.max_rows = static_cast<std::size_t>(o.max_rows);
    const Fer2013Dataset data = read_fer2013(o.data, read_options);
    std::cout << format_class_table(count_emotions(data));

    // The 3-class model, either kind, and the normalisation its inputs had.
    fer::ModelInfo info;
    fer::AnyNet pretrained = o.model.empty() ? pretrain(o, data, info) : load_pretrained(o.model, info);
    return std::visit([&](auto& model) { return fine_tune(model, info, data, o, argc, argv, run_start); }, pretrained);
}

}  // namespace

int main(int argc, char** argv) {
    return fer::run_program("fine_tune", usage_text, [&] { return parse_options(argc, argv); },
                            [&](const Options& o) { return run(o, argc, argv); });
}
