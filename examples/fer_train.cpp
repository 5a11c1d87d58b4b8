// examples/fer_train.cpp: trains a facial-emotion classifier on FER2013 with deepcnn::Trainer: reads the CSV, keeps
// the largest classes (fer_data.hpp), trains the "fer" (default), "large" (the long recipe), "seed" (the
// tutorial's), "resnet" or "resnet-wide" (residual Graphs) net (fer_nets.hpp) with checkpoints and resume, selects
// the model on PublicTest, chooses the test-time shifts on PublicTest, reports PrivateTest accuracy, per-class
// figures and the confusion matrix, and writes model.dcnn, checkpoint.dcnn, history.csv, report.json and pictures
// into --out.
#include "fer_common.hpp"
#include "fer_data.hpp"
#include "fer_distributed.hpp"
#include "fer_nets.hpp"
#include "fer_onnx.hpp"
#include "fer_report.hpp"
#include "fer_resume.hpp"

#include <deepcnn/deepcnn.hpp>
#include <deepcnn/io/output_directory.hpp>
#include <deepcnn/parallel/cpus.hpp>
#include <deepcnn/report/history.hpp>
#include <deepcnn/report/layer_times.hpp>
#include <deepcnn/report/metrics.hpp>
#include <deepcnn/report/model_svg.hpp>
#include <deepcnn/report/plots.hpp>
#include <deepcnn/report/run_report.hpp>
#include <deepcnn/train/trainer.hpp>

#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#ifndef FER_DEFAULT_DATA
#define FER_DEFAULT_DATA "examples/data/fer2013_sample3.csv.gz"
#endif

namespace {

using namespace deepcnn;
using Clock = std::chrono::steady_clock;

const char* const usage_text =
    "usage: fer_train [--data PATH] [--classes LIST|K|all] [--net fer|large|seed|resnet|resnet-wide] [--tutorial]\n"
    "                 [--epochs N] [--batch N] [--lr X] [--optimizer adam|adamw|sgd] [--schedule cosine|plateau|none]\n"
    "                 [--augment on|off] [--erase P] [--label-smoothing E] [--tta on|off] [--tta-shift auto|N]\n"
    "                 [--average DECAY|off] [--seed N] [--threads N] [--max-rows N] [--out DIR]\n"
    "                 [--resume FILE | --overwrite]\n"
    "                 [--skip-bad-rows] [--profile] [--sync-bn]\n"
    "Trains on the FER2013 CSV (.csv or .csv.gz; default: the sample shipped in examples/data/) and writes\n"
    "model.dcnn, model.onnx, checkpoint.dcnn, history.csv, report.json, curves.svg, confusion.svg,\n"
    "predictions.svg and model.svg (the net's layers)\n"
    "into --out (default fer_out), which one run at a time may use (a lock). An --out holding an earlier run is\n"
    "refused unless --resume continues it or --overwrite replaces it (its result files are removed first).\n"
    "--threads: at most 4x the CPUs this process may use; a run whose estimated memory exceeds what is available\n"
    "is refused. --erase P: one random rectangle of each training image erased with probability P (default 0).\n"
    "--label-smoothing E: training targets (1 - E) one-hot + E / classes (default 0). --tta: validation and\n"
    "test average each face with its mirror image (default on). --tta-shift: the test and model.dcnn also\n"
    "average copies moved N pixels each way (0 to 5); auto (the default with --tta on) picks none, 2 or 3 on\n"
    "validation after training (none where validation is the test split). --profile ends with each layer's\n"
    "share of the training steps' time. Under mpirun, --batch is the global batch and --sync-bn normalises\n"
    "BatchNorm with its statistics (docs/distributed.md). Exit codes:\n"
    "0 success, 1 data or file error, 2 bad command line, 130 SIGINT, 143 SIGTERM or SIGHUP (a checkpoint is\n"
    "written when training had started). See README.md.\n";

struct Options {
    fer::DataRequest data;
    std::string net = "fer", optimizer, schedule, out = "fer_out", resume;
    bool tutorial = false, augment = true, tta = true, profile = false, overwrite = false, sync_bn = false;
    int tta_shift = -1;  // test-time shifts in pixels; -1: chosen on validation after training (auto)
    int epochs = 0, batch = 0, threads = 0;  // 0: the recipe's default
    double lr = 0.0, average = -1.0;         // average: the weight average's decay; 0: off; -1: the recipe's
    double erase = 0.0, label_smoothing = 0.0;  // every recipe's: off
};

Options parse_options(int argc, char** argv) {
    Options o;
    bool net_given = false, tta_given = false, tta_shift_given = false, data_given = false;
    for (fer::Arguments a(argc, argv); a.next();) {
        const std::string& arg = a.arg();
        if (a.is("--data")) { o.data.path = a.value(); data_given = true; }
        else if (a.is("--classes")) o.data.classes = a.value();
        else if (a.is("--net")) { o.net = a.value(); net_given = true; }
        else if (a.is("--tutorial")) o.tutorial = true;
        else if (a.is("--epochs")) o.epochs = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 100000));
        else if (a.is("--batch")) o.batch = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 65536));
        else if (a.is("--lr")) o.lr = fer::parse_positive(arg, a.value());
        else if (a.is("--optimizer")) o.optimizer = a.value();
        else if (a.is("--schedule")) o.schedule = a.value();
        else if (a.is("--augment")) o.augment = a.on_off();
        else if (a.is("--erase")) o.erase = fer::parse_fraction(arg, a.value(), true);
        else if (a.is("--label-smoothing")) o.label_smoothing = fer::parse_fraction(arg, a.value(), false);
        else if (a.is("--tta")) { o.tta = a.on_off(); tta_given = true; }
        else if (a.is("--tta-shift")) { o.tta_shift = fer::parse_tta_shift(arg, a.value()); tta_shift_given = true; }
        else if (a.is("--average")) o.average = fer::parse_average(arg, a.value());
        else if (a.is("--seed")) o.data.seed = static_cast<std::uint64_t>(fer::parse_integer(arg, a.value(), 0, 2147483647L));
        else if (a.is("--threads")) o.threads = static_cast<int>(fer::parse_integer(arg, a.value(), 1, 1024));
        else if (a.is("--max-rows")) o.data.max_rows = fer::parse_integer(arg, a.value(), 1, 100000000L);
        else if (a.is("--out")) o.out = a.value();
        else if (a.is("--resume")) o.resume = a.value();
        else if (a.is("--skip-bad-rows")) o.data.skip_bad_rows = true;
        else if (a.is("--overwrite")) o.overwrite = true;
        else if (a.is("--profile")) o.profile = true;
        else if (a.is("--sync-bn")) o.sync_bn = true;
        else if (a.is("--help") || a.is("-h")) { std::cout << usage_text; std::exit(fer::exit_ok); }
        else throw fer::usage_error("unknown option '" + arg + "'");
    }
    if (o.tutorial && !net_given) o.net = "seed";
    if (!fer::is_net(o.net)) throw fer::usage_error("--net: expected " + fer::net_names() + ", got '" + o.net + "'");
    // Every net but "seed" shares one recipe (AdamW, cosine schedule); "large" trains about twice as long; "large"
    // and the residual nets select and test a moving average of the weights (docs/results.md).
    const bool staged_recipe = o.net != "seed" && !o.tutorial;
    if (o.optimizer.empty()) o.optimizer = staged_recipe ? "adamw" : "adam";
    if (o.optimizer != "adam" && o.optimizer != "adamw" && o.optimizer != "sgd") {
        throw fer::usage_error("--optimizer: expected adam, adamw or sgd, got '" + o.optimizer + "'");
    }
    if (o.schedule.empty()) o.schedule = staged_recipe ? "cosine" : "plateau";
    if (o.schedule != "cosine" && o.schedule != "plateau" && o.schedule != "none") {
        throw fer::usage_error("--schedule: expected cosine, plateau or none, got '" + o.schedule + "'");
    }
    if (o.out.empty()) throw fer::usage_error("--out: empty directory name");
    if (data_given && o.data.path.empty()) throw fer::usage_error("--data: empty path (leave --data out for the sample)");
    if (o.overwrite && !o.resume.empty()) throw fer::usage_error("--overwrite and --resume exclude each other");
    // Each thread costs tens of MB (its share of the activations and scratch): 1000 of them exhausted memory.
    const int cpus = usable_cpus();
    if (o.threads > 4 * cpus) {
        throw fer::usage_error("--threads " + std::to_string(o.threads) + ": more than 4x the " + std::to_string(cpus) +
                               " CPUs this process may use (at most " + std::to_string(4 * cpus) + ")");
    }
    if (o.threads > cpus) {
        std::cerr << "fer_train: warning: --threads " << o.threads << " is more than the " << cpus
                  << " CPUs this process may use; the results are the same, the run only slower\n";
    }
    fer::check_class_request(o.data.classes);
    const bool embedded_sample = o.data.path.empty();
    if (embedded_sample) o.data.path = FER_DEFAULT_DATA;
    o.data.tutorial = o.tutorial;
    if (o.epochs == 0) o.epochs = !staged_recipe ? 10 : embedded_sample ? 12 : o.net == "large" ? 40 : 18;
    if (o.batch == 0) o.batch = o.tutorial ? 32 : 64;
    if (o.lr == 0.0) o.lr = o.optimizer == "sgd" ? 0.05 : (staged_recipe ? 2e-3 : 1e-3);
    if (!tta_given) o.tta = !o.tutorial;
    if (!tta_shift_given) o.tta_shift = o.tta ? -1 : 0;  // no shifts where the flip is off, unless asked
    const bool averaged_net = o.net == "large" || o.net == "resnet" || o.net == "resnet-wide";
    if (o.average < 0.0) o.average = averaged_net && !o.tutorial ? 0.999 : 0.0;
    return o;
}

// Set by SIGINT, SIGTERM and SIGHUP (a closed terminal): training finishes the current step, writes a checkpoint
// and exits; reading and evaluation (which poll it through the library's cancellation hook) stop within a batch.
CancelFlag stop_signal{0};
extern "C" void on_stop_signal(int signal) { stop_signal.store(signal); }

void install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal, &action, nullptr);
}

// The exit code after a stop signal: 128 + the signal's number, SIGHUP counted as SIGTERM (130 or 143).
int stop_exit_code() { return stop_signal.load() == SIGINT ? 128 + SIGINT : 128 + SIGTERM; }

template <class Model>
int train(Model& model, fer::TrainingData& data, fer::ModelInfo info, const Options& o, int argc, char** argv,
          Clock::time_point run_start, fer::Distributed& distributed) {
    const bool writes = distributed.writes_files();  // rank 0, or the only process
    const std::string model_path = o.out + "/model.dcnn", checkpoint_path = o.out + "/checkpoint.dcnn";
    model.set_cancel_flag(&stop_signal);
    if (o.threads > 0) model.set_threads(o.threads);
    const std::unique_ptr<Optimizer<float>> optimizer = fer::make_optimizer(o.optimizer, o.lr);
    TrainerOptions t;
    t.epochs = o.epochs;
    t.batch = o.batch;
    t.seed = o.data.seed * 0x9E3779B97F4A7C15ULL + 12345;
    t.augment = o.augment;
    t.augmentation = o.tutorial ? tutorial_augmentation() : default_augmentation();
    t.augmentation.erase_probability = o.erase;
    t.label_smoothing = o.label_smoothing;
    t.flip_averaged_evaluation = o.tta;
    t.weight_average = o.average;  // validation, model.dcnn and the test use the average of the weights
    t.schedule = fer::make_schedule(o.schedule, o.lr, o.epochs);
    t.early_stopping_patience = o.tutorial ? 11 : 0;
    t.restore_best_weights = false;  // the best model is model.dcnn, written on each improvement
    t.checkpoint_path = checkpoint_path;
    fer::store_model_info(info, t.checkpoint_metadata);
    t.checkpoint_metadata.numbers["train.lr"] = o.lr;
    t.checkpoint_metadata.numbers["train.erase"] = o.erase;
    t.checkpoint_metadata.numbers["train.label_smoothing"] = o.label_smoothing;
    t.checkpoint_metadata.integers["train.sync_bn"] = o.sync_bn ? 1 : 0;
    t.checkpoint_metadata.integers["train.batch"] = static_cast<std::uint64_t>(o.batch);
    t.checkpoint_metadata.integers["train.seed"] = o.data.seed;
    t.stop = &stop_signal;
    t.communicator = distributed.communicator();  // under mpirun: data-parallel over the ranks
    t.sync_batch_norm = o.sync_bn;
    Trainer<Model> trainer(model, *optimizer, t);
    if (!o.resume.empty()) {
        CheckpointContents<float> saved = read_checkpoint<float>(o.resume);
        fer::check_resumed_run(saved.metadata, info, o.resume, o.lr, o.batch, o.data.seed, o.erase, o.label_smoothing,
                               o.sync_bn);
        trainer.resume(std::move(saved), o.resume);
        if (writes && trainer.state().best_epoch > 0) fer::bring_best_model(o.resume, trainer.state().best_epoch, model_path);
        std::cout << "Resuming from " << printable(o.resume) << " after " << trainer.state().epochs_done << " epochs"
                  << (trainer.state().step_in_epoch ? " and " + std::to_string(trainer.state().step_in_epoch) + " steps" : "") << "\n";
    }
    std::cout << "\n" << model.summary() << "Recipe: net " << o.net << ", " << o.epochs << " epochs, batch " << o.batch
              << ", " << optimizer->type() << " lr " << o.lr << ", schedule " << o.schedule << ", augmentation "
              << (o.augment ? "on" : "off") << ", erasing " << o.erase << ", label smoothing " << o.label_smoothing
              << ", flip averaging " << (o.tta ? "on" : "off") << ", test-time shifts "
              << (o.tta_shift < 0 ? "auto" : std::to_string(o.tta_shift)) << ", weight average ";
    if (o.average > 0.0) std::cout << o.average;
    else std::cout << "off";
    std::cout << ", seed " << o.data.seed << ", threads " << model.threads();
    if (distributed.size() > 1) {
        std::cout << " per rank, " << distributed.size() << " ranks, BatchNorm " << (o.sync_bn ? "synchronised" : "per rank");
    }
    std::cout << "\n" << std::endl;
    // A checkpoint (weights and two Adam moments) being written beside the last one, and the model; the files this
    // run replaces give their space back.
    if (writes) check_free_space(o.out, 8.0 * double(model.parameter_count()) * 4.0 + 1e6 -
                                double(existing_bytes(o.out, {"model.dcnn", "checkpoint.dcnn"})));

    trainer.on_batch_begin([&](int, int) { model.set_timing(o.profile); });  // training steps only
    trainer.on_batch_end([&](const BatchEnd&) { model.set_timing(false); });
    trainer.on_improvement([&](Model& evaluated, const EpochRecord& record) {
        if (!writes) return;
        ModelMetadata meta;
        fer::store_model_info(info, meta);
        meta.integers["epoch"] = static_cast<std::uint64_t>(record.epoch);
        save_model(model_path, evaluated, meta);
    });
    trainer.on_epoch_end([&](const EpochRecord&, bool) {
        if (!writes) return;
        write_history_csv(o.out + "/history.csv", trainer.history());
        write_file_atomically(o.out + "/curves.svg", curves_svg(trainer.history(), "fer_train: " + o.net + " net"));
    });
    TensorSource<float> train_source(data.splits.train.images, data.splits.train.labels);
    TensorSource<float> validation_source(data.splits.validation.images, data.splits.validation.labels);
    TrainingResult result;
    try {
        result = trainer.fit(train_source, &validation_source);
    } catch (const divergence_error& e) {  // stopped before anything was saved: model.dcnn keeps the best model so far
        const int best = trainer.state().best_epoch;
        throw error("training diverged at epoch " + std::to_string(e.epoch()) + e.detail() +
                    (best > 0 ? "; the best model so far (epoch " + std::to_string(best) + ") is kept in " + model_path
                              : "; no model was saved") + " (try a lower --lr)");
    }
    if (result.reason == StopReason::stop_requested) {
        if (!writes) return stop_exit_code();
        const bool between_epochs = result.step_in_epoch == 0;
        std::cerr << (between_epochs ? "" : "\n") << "Interrupted " << (between_epochs ? "after" : "at") << " epoch "
                  << result.epochs_done + (between_epochs ? 0 : 1)
                  << (between_epochs ? "" : result.step_in_epoch >= result.steps_per_epoch ? ", during validation"
                                                : ", step " + std::to_string(result.step_in_epoch))
                  << "; checkpoint written.\nResume with the same arguments plus: --resume " << printable(checkpoint_path) << "\n";
        return stop_exit_code();
    }

    // The model selected on validation, evaluated once on the test split (by rank 0: the ranks hold the same model).
    if (!writes) return fer::exit_ok;
    ModelMetadata best_meta;
    Model best = load_model_as<Model>(model_path, &best_meta);
    best.set_cancel_flag(&stop_signal);
    if (o.threads > 0) best.set_threads(o.threads);
    if (o.tta_shift < 0 && !data.test_is_validation) {  // auto: chosen on validation, kept in model.dcnn
        info.tta_shift = fer::choose_tta_shift(best, data, info.flip_averaging);
        if (info.tta_shift > 0) {  // with none, model.dcnn already says so
            fer::store_model_info(info, best_meta);
            save_model(model_path, best, best_meta);
        }
    }
    fer::save_fer_onnx(o.out + "/model.onnx", best, best_meta);  // docs/onnx.md
    RunReport report;
    report.command_line = command_line_of(argc, argv);
    report.seed = o.data.seed;
    report.settings = {{"net", o.net}, {"data", o.data.path}, {"test_split", data.test_name},
                       {"optimizer", optimizer->type()}, {"learning_rate", std::to_string(o.lr)},
                       {"schedule", o.schedule}, {"batch", std::to_string(o.batch)},
                       {"augmentation", o.augment ? "on" : "off"}, {"erasing", std::to_string(o.erase)},
                       {"label_smoothing", std::to_string(o.label_smoothing)}, {"flip_averaging", o.tta ? "on" : "off"},
                       {"tta_shift", (o.tta_shift < 0 ? "auto: " : "") + std::to_string(info.tta_shift)},
                       {"weight_average", o.average > 0.0 ? std::to_string(o.average) : "off"},
                       {"threads", std::to_string(best.threads())}};
    fer::test_and_report(best, data, info, trainer.state(), o.out, report, run_start);
    if (o.profile) std::cout << format_layer_times(model.timings()) << "Kernels by layer (--profile):\n" << model.kernel_plans() << "\n";
    write_model_svg(o.out + "/model.svg", model, "fer_train: " + o.net + " net");
    std::cout << "Wrote model.dcnn, model.onnx, checkpoint.dcnn, history.csv, report.json, curves.svg, confusion.svg, "
              << "predictions.svg, predictions.png and model.svg in " << printable(o.out) << "/ (run took "
              << format_duration(std::chrono::duration<double>(Clock::now() - run_start).count()) << ")\n";
    return fer::exit_ok;
}

int run(const Options& o, int argc, char** argv, fer::Distributed& distributed) {
    const auto run_start = Clock::now();
    install_signal_handlers();
    std::optional<DirectoryLock> lock;  // rank 0's: one run at a time in --out, until this run ends
    if (distributed.writes_files()) {
        create_output_directory(o.out);
        lock.emplace(o.out);
        claim_output_directory(o.out, {"model.dcnn", "checkpoint.dcnn", "history.csv", "report.json", "curves.svg", "confusion.svg",
                                       "predictions.svg", "predictions.png", "model.svg", "model.onnx"}, o.overwrite, !o.resume.empty());
    }
    fer::TrainingData data = fer::load_training_data(o.data, &stop_signal);
    fer::ModelInfo info;
    info.classes = data.selection.names;
    info.emotions = data.selection.emotions;
    info.net = o.net;
    info.flip_averaging = o.tta;
    info.tta_shift = std::max(0, o.tta_shift);
    info.normalization = data.normalization;
    fer::AnyNet net = fer::make_net(o.net, data.selection.size(), o.data.seed);
    return std::visit([&](auto& model) { return train(model, data, info, o, argc, argv, run_start, distributed); }, net);
}

}  // namespace

int main(int argc, char** argv) {
    // Alone, or one rank of an mpirun job (docs/distributed.md): rank 0 alone prints and writes files.
    return fer::run_distributed("fer_train", &argc, &argv, [&](fer::Distributed& distributed) {
        return fer::run_program(
            "fer_train", usage_text, [&] { return parse_options(argc, argv); },
            [&](const Options& o) { return run(o, argc, argv, distributed); },
            [](const deepcnn::cancelled& e) {  // a stop signal before training started, or during the final test
                std::cerr << "\nfer_train: " << printable(e.what()) << "; stopped by signal " << stop_signal.load()
                          << " (the files written so far are whole; no training step was lost)\n";
                return stop_exit_code();
            });
    });
}
