// examples/fer_train.cpp: trains a facial-emotion classifier on FER2013: reads the CSV, keeps the largest
// classes, trains the "fer" (default), "large" (the long recipe) or "seed" (the tutorial's) net with checkpoints
// and resume, selects the model on PublicTest, reports PrivateTest accuracy, per-class figures and the confusion
// matrix, and writes model.dcnn, checkpoint.dcnn, history.csv, report.json and pictures into --out.
#include "fer_common.hpp"
#include "fer_onnx.hpp"
#include "fer_nets.hpp"

#include <deepcnn/data/augment.hpp>
#include <deepcnn/data/classes.hpp>
#include <deepcnn/data/normalize.hpp>
#include <deepcnn/data/split.hpp>
#include <deepcnn/deepcnn.hpp>
#include <deepcnn/io/fer2013.hpp>
#include <deepcnn/io/output_directory.hpp>
#include <deepcnn/report/history.hpp>
#include <deepcnn/report/metrics.hpp>
#include <deepcnn/report/plots.hpp>
#include <deepcnn/report/run_report.hpp>

#include <sched.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef FER_DEFAULT_DATA
#define FER_DEFAULT_DATA "examples/data/fer2013_sample3.csv.gz"
#endif

namespace {

using namespace deepcnn;
using Clock = std::chrono::steady_clock;

const char* const usage_text =
    "usage: fer_train [--data PATH] [--classes LIST|K|all] [--net fer|large|seed] [--tutorial]\n"
    "                 [--epochs N] [--batch N] [--lr X] [--optimizer adam|adamw|sgd] [--schedule cosine|plateau|none]\n"
    "                 [--augment on|off] [--tta on|off] [--average DECAY|off] [--seed N] [--threads N]\n"
    "                 [--max-rows N] [--out DIR] [--resume FILE | --overwrite] [--skip-bad-rows] [--profile]\n"
    "Trains on the FER2013 CSV (.csv or .csv.gz; default: the sample shipped in examples/data/) and writes\n"
    "model.dcnn, checkpoint.dcnn, history.csv, report.json, curves.svg, confusion.svg, predictions.svg and\n"
    "model.svg (the net's layers)\n"
    "into --out (default fer_out), which one run at a time may use (a lock). An --out holding an earlier run is\n"
    "refused unless --resume continues it or --overwrite replaces it (its result files are removed first).\n"
    "--threads: at most 4x the CPUs this process may use. --profile ends with each layer's share of the\n"
    "training steps' time. Exit codes: 0 success, 1 data or file error, 2 bad command line, 130 SIGINT,\n"
    "143 SIGTERM or SIGHUP (a checkpoint is written when training had started). See README.md.\n";

struct Options {
    std::string data;
    std::string classes;
    std::string net = "fer";
    bool tutorial = false;
    int epochs = 0;  // 0: the recipe's default
    int batch = 0;
    double lr = 0.0;
    std::string optimizer;
    std::string schedule;
    bool augment = true;
    bool tta = true;
    double average = -1.0;  // weight-average decay; 0: off; -1: the recipe's default
    std::uint64_t seed = 1;
    int threads = 0;
    long max_rows = 0;
    std::string out = "fer_out";
    std::string resume;
    bool skip_bad_rows = false;
    bool profile = false;
    bool overwrite = false;
    bool net_given = false, augment_given = false, tta_given = false, data_given = false;
};

// The CPUs this process may run on (its affinity mask), at least 1.
int usable_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// --profile: the mean milliseconds per training step of each layer's forward and backward (fused layers left
// out) and of the optimizer, with each one's share of their sum.
std::string format_layer_times(const ModelTimings& timings) {
    const long steps = timings.optimizer_steps;
    if (steps == 0) return "Training time by layer: no training step was timed in this run.\n";
    double total = timings.optimizer_seconds;
    for (const LayerTiming& layer : timings.layers) total += layer.forward_seconds + layer.backward_seconds;
    std::ostringstream out;
    out << "Training time by layer (--profile): mean ms per step over " << steps << " steps\n";
    char line[128];
    std::snprintf(line, sizeof line, "  %-16s %10s %10s %8s\n", "layer", "forward", "backward", "share");
    out << line;
    const auto row = [&](const std::string& name, double forward, double backward) {
        std::snprintf(line, sizeof line, "  %-16s %10.2f %10.2f %7.1f%%\n", name.c_str(), 1e3 * forward / steps,
                      1e3 * backward / steps, 100.0 * (forward + backward) / std::max(total, 1e-12));
        out << line;
    };
    for (const LayerTiming& layer : timings.layers)
        if (layer.forward_calls + layer.backward_calls > 0) row(layer.name, layer.forward_seconds, layer.backward_seconds);
    row("optimizer", 0.0, timings.optimizer_seconds);
    std::snprintf(line, sizeof line, "  %-16s %21.2f ms per step\n", "sum", 1e3 * total / steps);
    out << line;
    return out.str();
}

// --average: "off" or a decay in (0, 1).
double parse_average(const std::string& arg, const std::string& v) {
    if (v == "off") return 0.0;
    char* end = nullptr;
    const double decay = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(decay > 0.0 && decay < 1.0)) {
        throw fer::usage_error(arg + ": expected off or a decay between 0 and 1 (such as 0.999), got '" + v + "'");
    }
    return decay;
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw fer::usage_error(arg + ": missing value");
            return argv[++i];
        };
        auto on_off = [&](const std::string& v) {
            if (v != "on" && v != "off") throw fer::usage_error(arg + ": expected on or off, got '" + v + "'");
            return v == "on";
        };
        if (arg == "--data") { o.data = value(); o.data_given = true; }
        else if (arg == "--classes") o.classes = value();
        else if (arg == "--net") { o.net = value(); o.net_given = true; }
        else if (arg == "--tutorial") o.tutorial = true;
        else if (arg == "--epochs") o.epochs = static_cast<int>(fer::parse_integer(arg, value(), 1, 100000));
        else if (arg == "--batch") o.batch = static_cast<int>(fer::parse_integer(arg, value(), 1, 65536));
        else if (arg == "--lr") o.lr = fer::parse_positive(arg, value());
        else if (arg == "--optimizer") o.optimizer = value();
        else if (arg == "--schedule") o.schedule = value();
        else if (arg == "--augment") { o.augment = on_off(value()); o.augment_given = true; }
        else if (arg == "--tta") { o.tta = on_off(value()); o.tta_given = true; }
        else if (arg == "--average") o.average = parse_average(arg, value());
        else if (arg == "--seed") o.seed = static_cast<std::uint64_t>(fer::parse_integer(arg, value(), 0, 2147483647L));
        else if (arg == "--threads") o.threads = static_cast<int>(fer::parse_integer(arg, value(), 1, 1024));
        else if (arg == "--max-rows") o.max_rows = fer::parse_integer(arg, value(), 1, 100000000L);
        else if (arg == "--out") o.out = value();
        else if (arg == "--resume") o.resume = value();
        else if (arg == "--skip-bad-rows") o.skip_bad_rows = true;
        else if (arg == "--overwrite") o.overwrite = true;
        else if (arg == "--profile") o.profile = true;
        else if (arg == "--help" || arg == "-h") {
            std::cout << usage_text;
            std::exit(fer::exit_ok);
        } else {
            throw fer::usage_error("unknown option '" + arg + "'");
        }
    }
    if (o.tutorial && !o.net_given) o.net = "seed";
    if (o.net != "fer" && o.net != "large" && o.net != "seed") {
        throw fer::usage_error("--net: expected fer, large or seed, got '" + o.net + "'");
    }
    // "fer" and "large" share one recipe (AdamW, cosine schedule); "large" trains about twice as long.
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
    if (o.data_given && o.data.empty()) throw fer::usage_error("--data: empty path (leave --data out for the sample)");
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
    // Class names are checked now, before any work; counts come later, from the data.
    std::vector<ClassCount> every_emotion(fer_emotion_count);
    for (int e = 0; e < fer_emotion_count; ++e) every_emotion[static_cast<std::size_t>(e)] = {e, fer_emotion_names()[static_cast<std::size_t>(e)], 1, 1.0 / fer_emotion_count};
    std::string classes = o.classes.substr(std::min(o.classes.size(), o.classes.find_first_not_of(" \t")));
    classes.erase(classes.find_last_not_of(" \t") + 1);
    if (!classes.empty() && classes.find_first_not_of(" \t0123456789") == std::string::npos) {
        const long k = classes.size() > 2 ? 99 : std::stol(classes);
        if (k < 2 || k > fer_emotion_count) {
            throw fer::usage_error("--classes: expected a number of classes from 2 to " +
                                   std::to_string(fer_emotion_count) + " (a classifier needs at least 2), class names "
                                   "or all, got '" + o.classes + "'");
        }
    } else if (select_classes(o.classes, every_emotion).size() < 2) {
        throw fer::usage_error("--classes: a classifier needs at least 2 classes, got '" + o.classes + "'");
    }
    const bool embedded_sample = o.data.empty();
    if (embedded_sample) o.data = FER_DEFAULT_DATA;
    if (o.epochs == 0) o.epochs = !staged_recipe ? 10 : embedded_sample ? 12 : o.net == "large" ? 40 : 18;
    if (o.batch == 0) o.batch = o.tutorial ? 32 : 64;
    if (o.lr == 0.0) o.lr = o.optimizer == "sgd" ? 0.05 : (staged_recipe ? 2e-3 : 1e-3);
    if (!o.tta_given) o.tta = !o.tutorial;
    if (o.average < 0.0) o.average = o.net == "large" && !o.tutorial ? 0.999 : 0.0;
    return o;
}

// Set by SIGINT, SIGTERM and SIGHUP: training finishes the current step, writes a checkpoint and exits; reading
// and evaluation (which poll it through the library's cancellation hook) stop within a batch or a MiB of text.
CancelFlag stop_signal{0};
extern "C" void on_stop_signal(int signal) { stop_signal.store(signal); }

void install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGHUP, &action, nullptr);  // a closed terminal: stop as for SIGTERM, with a checkpoint
}

// The exit code after a stop signal: 128 + the signal's number, SIGHUP counted as SIGTERM (130 or 143).
int stop_exit_code() { return stop_signal.load() == SIGINT ? 128 + SIGINT : 128 + SIGTERM; }

// The files a run writes into --out: an --out holding any of them holds an earlier run.
const std::vector<std::string>& result_files() {
    static const std::vector<std::string> names = {"model.dcnn",    "checkpoint.dcnn", "history.csv",
                                                   "report.json",   "curves.svg",      "confusion.svg",
                                                   "predictions.svg", "predictions.png", "model.svg",
                                                   "model.onnx"};
    return names;
}

// Refuses an --out that holds an earlier run unless --resume continues it or --overwrite replaces it; with
// --overwrite, the earlier run's files are removed first, so that none of them is left beside the new run's.
void claim_output_directory(const Options& o) {
    std::string found;
    for (const std::string& name : result_files()) {
        struct stat info {};
        if (::lstat((o.out + "/" + name).c_str(), &info) == 0) {
            if (o.overwrite) {
                if (::unlink((o.out + "/" + name).c_str()) != 0) {
                    throw io_error(printable(o.out + "/" + name) + ": cannot remove (" + std::strerror(errno) + ")");
                }
            } else if (found.empty()) {
                found = name;
            }
        }
    }
    if (!found.empty() && o.resume.empty()) {
        throw io_error(printable(o.out) + " holds an earlier run (" + found + "); continue it with --resume " +
                       printable(o.out) + "/checkpoint.dcnn, replace it with --overwrite, or choose another --out");
    }
}

void check_free_space(const std::string& dir, double needed_bytes) {
    struct statvfs fs {};
    if (::statvfs(dir.c_str(), &fs) != 0) return;
    const double available = double(fs.f_bavail) * double(fs.f_frsize);
    if (available < needed_bytes) {
        std::ostringstream msg;
        msg << printable(dir) << ": only " << available / 1e6 << " MB free, a checkpoint and model need about "
            << needed_bytes / 1e6 << " MB";
        throw io_error(msg.str());
    }
}

// Loss and accuracy of a model on a labelled split, with the probabilities it predicted.
struct SplitResult {
    double loss = NAN;
    double accuracy = NAN;
    std::vector<int> predicted;
    Tensor<float> probabilities;
};

SplitResult evaluate_split(Sequential<float>& model, const LabeledImages<float>& split, bool flip) {
    SplitResult result;
    if (split.size() == 0) return result;
    result.probabilities = fer::predict_probabilities(model, split.images, flip);
    result.predicted = fer::argmax_rows(result.probabilities);
    double loss = 0.0;
    int correct = 0;
    for (int i = 0; i < split.size(); ++i) {
        const int label = split.labels[static_cast<std::size_t>(i)];
        loss -= std::log(std::max(double(result.probabilities.sample(i)[label]), 1e-12));
        correct += result.predicted[static_cast<std::size_t>(i)] == label;
    }
    result.loss = loss / split.size();
    result.accuracy = double(correct) / split.size();
    return result;
}

// Up to `count` test images spread evenly over the split, with what the model predicted, for the picture.
std::vector<Prediction> predictions_to_show(const LabeledImages<float>& split, const SplitResult& result,
                                            const Normalization& norm, int count) {
    std::vector<Prediction> items;
    const int total = split.size();
    const int shown = std::min(count, total);
    const double lo = -norm.mean / norm.stddev, hi = (1.0 - norm.mean) / norm.stddev;
    for (int j = 0; j < shown; ++j) {
        const int i = static_cast<int>((static_cast<long>(j) * total) / shown);
        Prediction p;
        p.pixels = grey_pixels(split.images.sample(i), split.images.shape().per_sample(), lo, hi);
        p.true_label = split.labels[static_cast<std::size_t>(i)];
        p.predicted_label = result.predicted[static_cast<std::size_t>(i)];
        p.probability = result.probabilities.sample(i)[p.predicted_label];
        items.push_back(std::move(p));
    }
    return items;
}

std::unique_ptr<Optimizer<float>> make_optimizer(const Options& o) {
    if (o.optimizer == "sgd") {
        SgdOptions s;
        s.learning_rate = o.lr;
        s.momentum = 0.9;
        s.nesterov = true;
        s.weight_decay = 5e-4;
        return std::make_unique<Sgd<float>>(s);
    }
    AdamOptions a;
    a.learning_rate = o.lr;
    if (o.optimizer == "adamw") {
        a.decoupled_weight_decay = true;
        a.weight_decay = 0.05;
    }
    return std::make_unique<Adam<float>>(a);
}

std::unique_ptr<LrSchedule> make_schedule(const Options& o) {
    if (o.schedule == "cosine") return std::make_unique<CosineLr>(o.lr, o.epochs, std::min(1.0, o.epochs / 4.0), o.lr * 0.01);
    if (o.schedule == "plateau") return std::make_unique<ReduceOnPlateau>(o.lr, 0.5, 7, true, 1e-6);
    return std::make_unique<ConstantLr>(o.lr);
}

// A progress bar on a terminal, nothing otherwise (the per-epoch line is printed either way).
class Progress {
public:
    explicit Progress(bool enabled) : enabled_(enabled) {}
    void update(int epoch, int epochs, int step, int steps, double loss, double accuracy, double images_per_second,
                double eta_seconds) {
        if (!enabled_) return;
        const int width = 24;
        const int filled = steps > 0 ? width * step / steps : width;
        std::fprintf(stderr, "\repoch %d/%d [%s%s] %d/%d loss %.4f acc %.3f %.0f img/s ETA %.0fs   ", epoch, epochs,
                     std::string(static_cast<std::size_t>(filled), '#').c_str(),
                     std::string(static_cast<std::size_t>(width - filled), '.').c_str(), step, steps, loss, accuracy,
                     images_per_second, eta_seconds);
        std::fflush(stderr);
    }
    void clear() {
        if (enabled_) std::fprintf(stderr, "\r%*s\r", 100, "");
    }

private:
    bool enabled_;
};

// The first parameter gradient or value that is not finite, as "conv2d_1.weight (gradient)"; empty if none.
std::string first_non_finite(Sequential<float>& model) {
    for (const auto& p : model.params()) {
        for (float v : *p.grad)
            if (!std::isfinite(v)) return p.name + " (gradient)";
        for (float v : *p.value)
            if (!std::isfinite(v)) return p.name + " (value)";
    }
    return "";
}

void put_rng(ModelMetadata& meta, const std::string& key, const Rng::State& state) {
    for (int k = 0; k < 4; ++k) meta.integers[key + "." + std::to_string(k)] = state[static_cast<std::size_t>(k)];
}

Rng::State get_rng(const ModelMetadata& meta, const std::string& key, const std::string& source) {
    Rng::State state{};
    for (int k = 0; k < 4; ++k) {
        auto it = meta.integers.find(key + "." + std::to_string(k));
        if (it == meta.integers.end()) throw serialization_error(source + ": not a fer_train checkpoint (no " + key + ")");
        state[static_cast<std::size_t>(k)] = it->second;
    }
    return state;
}

// Where training stands; saved in checkpoints so that a resumed run continues bit-exactly.
struct TrainingState {
    int epochs_done = 0;      // complete epochs
    int step_in_epoch = 0;    // steps done in the current epoch (non-zero after an interrupt)
    Rng::State epoch_start_rng{};
    double epoch_loss_sum = 0.0, epoch_seconds = 0.0;
    long epoch_correct = 0, epoch_seen = 0;
    int best_epoch = 0;
    double best_val_accuracy = -1.0;
    double train_seconds = 0.0;
    std::vector<EpochRecord> history;
};

void store_training_state(const TrainingState& s, const Rng& data_rng, const LrSchedule& schedule, ModelMetadata& meta) {
    meta.integers["epoch"] = static_cast<std::uint64_t>(s.epochs_done);
    meta.integers["train.step_in_epoch"] = static_cast<std::uint64_t>(s.step_in_epoch);
    meta.integers["train.epoch_correct"] = static_cast<std::uint64_t>(s.epoch_correct);
    meta.integers["train.epoch_seen"] = static_cast<std::uint64_t>(s.epoch_seen);
    meta.integers["train.best_epoch"] = static_cast<std::uint64_t>(s.best_epoch);
    meta.numbers["train.epoch_loss_sum"] = s.epoch_loss_sum;
    meta.numbers["train.epoch_seconds"] = s.epoch_seconds;
    meta.numbers["train.best_val_accuracy"] = s.best_val_accuracy;
    meta.numbers["train.seconds"] = s.train_seconds;
    put_rng(meta, "train.rng_epoch_start", s.epoch_start_rng);
    put_rng(meta, "train.rng", data_rng.state());
    for (const auto& entry : schedule.state()) meta.numbers["schedule." + entry.first] = entry.second;
    meta.text["train.history"] = history_csv(s.history);
}

TrainingState load_training_state(const ModelMetadata& meta, Rng& data_rng, LrSchedule& schedule,
                                   const std::string& source) {
    auto integer = [&](const std::string& key) {
        auto it = meta.integers.find(key);
        if (it == meta.integers.end()) throw serialization_error(source + ": not a fer_train checkpoint (no " + key + ")");
        return it->second;
    };
    auto number = [&](const std::string& key) {
        auto it = meta.numbers.find(key);
        if (it == meta.numbers.end()) throw serialization_error(source + ": not a fer_train checkpoint (no " + key + ")");
        return it->second;
    };
    TrainingState s;
    s.epochs_done = static_cast<int>(integer("epoch"));
    s.step_in_epoch = static_cast<int>(integer("train.step_in_epoch"));
    s.epoch_correct = static_cast<long>(integer("train.epoch_correct"));
    s.epoch_seen = static_cast<long>(integer("train.epoch_seen"));
    s.best_epoch = static_cast<int>(integer("train.best_epoch"));
    s.epoch_loss_sum = number("train.epoch_loss_sum");
    s.epoch_seconds = number("train.epoch_seconds");
    s.best_val_accuracy = number("train.best_val_accuracy");
    s.train_seconds = number("train.seconds");
    s.epoch_start_rng = get_rng(meta, "train.rng_epoch_start", source);
    data_rng.set_state(get_rng(meta, "train.rng", source));
    std::map<std::string, double> schedule_state;
    for (const auto& entry : meta.numbers)
        if (entry.first.rfind("schedule.", 0) == 0) schedule_state[entry.first.substr(9)] = entry.second;
    if (!schedule_state.empty()) schedule.set_state(schedule_state);
    auto it = meta.text.find("train.history");
    if (it != meta.text.end()) s.history = parse_history_csv(it->second, source);
    return s;
}

std::string format_seconds(double seconds) {
    char text[32];
    if (seconds >= 60) std::snprintf(text, sizeof text, "%dm%02ds", int(seconds) / 60, int(seconds) % 60);
    else std::snprintf(text, sizeof text, "%.1fs", seconds);
    return text;
}

// A resumed run must train as the original did: a checkpoint states its learning rate, batch and seed (those
// written before these keys existed are taken as they are), and a resume asking for others is refused.
void check_resumed_settings(const ModelMetadata& meta, const Options& o) {
    const auto refuse = [&](const std::string& option, const std::string& saved, const std::string& asked) {
        throw data_error(o.resume + ": checkpoint trained with " + option + " " + saved + ", this run asks for " +
                         asked + "; resume with the arguments of the original run");
    };
    const auto lr = meta.numbers.find("train.lr");
    if (lr != meta.numbers.end() && lr->second != o.lr) refuse("--lr", std::to_string(lr->second), std::to_string(o.lr));
    const auto batch = meta.integers.find("train.batch");
    if (batch != meta.integers.end() && batch->second != static_cast<std::uint64_t>(o.batch)) {
        refuse("--batch", std::to_string(batch->second), std::to_string(o.batch));
    }
    const auto seed = meta.integers.find("train.seed");
    if (seed != meta.integers.end() && seed->second != o.seed) {
        refuse("--seed", std::to_string(seed->second), std::to_string(o.seed));
    }
}

// The epoch a model file was saved after, or -1 if it cannot be read.
long saved_epoch(const std::string& path) {
    try {
        ModelMetadata meta;
        load_model<float>(path, &meta);
        const auto epoch = meta.integers.find("epoch");
        return epoch == meta.integers.end() ? -1 : static_cast<long>(epoch->second);
    } catch (const deepcnn::error&) {
        return -1;
    }
}

// A resumed run ends by testing the best model so far, model.dcnn in --out. Resuming into another --out than the
// checkpoint's, that file is brought over from beside the checkpoint. Its epoch may be later than the checkpoint's
// best (a kill between writing model.dcnn and the checkpoint): the resumed run repeats that epoch bit for bit and
// writes the same model again.
void bring_best_model(const Options& o, int best_epoch, const std::string& model_path) {
    struct stat info {};
    if (::stat(model_path.c_str(), &info) == 0) return;
    const std::string beside = detail::parent_directory(o.resume) + "/model.dcnn";
    if (saved_epoch(beside) < best_epoch) {
        throw data_error(o.resume + ": the best model so far (epoch " + std::to_string(best_epoch) + ") is neither " +
                         model_path + " nor " + beside + "; resume into the checkpoint's own directory");
    }
    write_file_atomically(model_path, read_file_bounded(beside, std::uint64_t(1) << 40, "model file"));
}

int run(const Options& o, int argc, char** argv) {
    const auto run_start = Clock::now();
    install_signal_handlers();
    create_output_directory(o.out);
    const DirectoryLock lock(o.out);  // one run at a time in --out, until this run ends
    claim_output_directory(o);
    const std::string model_path = o.out + "/model.dcnn", checkpoint_path = o.out + "/checkpoint.dcnn";

    // Data: read, count, select, split, normalise.
    Fer2013Options read_options;
    read_options.skip_bad_rows = o.skip_bad_rows;
    read_options.max_rows = static_cast<std::size_t>(o.max_rows);
    read_options.cancel = &stop_signal;
    std::cout << "Reading " << printable(o.data) << " ..." << std::flush;
    const auto read_start = Clock::now();
    const Fer2013Dataset data = read_fer2013(o.data, read_options);
    std::cout << " " << data.size() << " rows in "
              << format_seconds(std::chrono::duration<double>(Clock::now() - read_start).count()) << "\n";
    if (data.skipped_rows > 0) {
        std::cout << "Skipped " << data.skipped_rows << " malformed rows (--skip-bad-rows), for example:\n";
        for (const auto& message : data.skip_messages) std::cout << "  " << printable(message) << "\n";
    }
    // Where rows are missing, say why when --max-rows is the cause (it keeps the first rows, in file order).
    const std::string row_limit = o.max_rows > 0 && data.size() == static_cast<std::size_t>(o.max_rows)
                                      ? " among the first " + std::to_string(o.max_rows) +
                                            " rows (--max-rows keeps rows in file order)"
                                      : "";
    if (data.empty()) {
        throw data_error(o.data + ": no data rows" +
                         (data.skipped_rows > 0 ? " (all " + std::to_string(data.skipped_rows) +
                                                      " were malformed and skipped)"
                                                : " after the header"));
    }
    const std::vector<ClassCount> counts = count_emotions(data);
    std::cout << "\n" << format_class_table(counts) << "\n";
    ClassSelection selection;
    try {
        selection = select_classes(o.classes, counts);
    } catch (const config_error& e) {  // the data lacks what --classes asks for: a data error, naming the file
        throw data_error(o.data + ": " + e.what() + row_limit);
    }
    if (selection.size() < 2) {
        throw data_error(o.data + ": only one class (" + selection.names.front() + ") has rows" + row_limit +
                         "; a classifier needs at least 2");
    }
    std::cout << "Classes:";
    for (int k = 0; k < selection.size(); ++k) std::cout << " " << k << "=" << selection.names[static_cast<std::size_t>(k)];
    std::cout << "\n";

    UsageSplits<float> splits = o.tutorial ? split_stratified<float>(data, selection, 0.1, o.seed)
                                           : split_by_usage<float>(data, selection);
    LabeledImages<float>& test = o.tutorial ? splits.validation : splits.test;
    const std::string test_name = o.tutorial ? "the tutorial's 10% validation split" : "PrivateTest";
    if (splits.train.size() == 0) throw data_error(o.data + ": no training rows for the selected classes" + row_limit);
    if (splits.validation.size() == 0) {
        throw data_error(o.data + ": no validation (PublicTest) rows for the selected classes" + row_limit);
    }
    if (test.size() == 0) throw data_error(o.data + ": no test (PrivateTest) rows for the selected classes" + row_limit);
    for (int k = 0; k < selection.size(); ++k) {
        if (std::count(splits.train.labels.begin(), splits.train.labels.end(), k) == 0) {
            std::cerr << "fer_train: warning: class " << selection.names[static_cast<std::size_t>(k)]
                      << " has no training rows" << row_limit << "; the model cannot learn it\n";
        }
    }
    std::cout << "Split: train " << splits.train.size() << ", validation " << splits.validation.size() << ", test "
              << test.size() << (o.tutorial ? " (tutorial: random stratified 90/10, test = validation)" : "") << "\n";

    fer::ModelInfo info;
    info.classes = selection.names;
    info.emotions = selection.emotions;
    info.net = o.net;
    info.flip_averaging = o.tta;
    info.normalization = fit_normalization(splits.train.images);
    normalize(splits.train.images, info.normalization);
    normalize(splits.validation.images, info.normalization);
    if (!o.tutorial) normalize(splits.test.images, info.normalization);

    // Model, optimizer, schedule; or all of them from a checkpoint.
    Sequential<float> model = fer::make_net(o.net, selection.size(), o.seed);
    model.set_cancel_flag(&stop_signal);
    std::unique_ptr<Optimizer<float>> optimizer = make_optimizer(o);
    std::unique_ptr<LrSchedule> schedule = make_schedule(o);
    Rng data_rng(o.seed * 0x9E3779B97F4A7C15ULL + 12345);
    // With --average, validation, model.dcnn and the test use the moving average of the weights.
    std::unique_ptr<WeightAverage<float>> average;
    if (o.average > 0.0) average = std::make_unique<WeightAverage<float>>(o.average);
    TrainingState state;
    if (!o.resume.empty()) {
        ModelMetadata meta;
        SavedOptimizer<float> saved;
        model = load_model<float>(o.resume, &meta, &saved);
        model.set_cancel_flag(&stop_signal);
        const fer::ModelInfo saved_info = fer::read_model_info(meta, static_cast<int>(model.output_shape().per_sample()), o.resume);
        if (saved_info.classes != info.classes || saved_info.net != info.net) {
            throw data_error(o.resume + ": checkpoint of net '" + saved_info.net + "' with other classes; resume with the "
                             "arguments of the original run");
        }
        if (saved.type != optimizer->type()) {
            throw data_error(o.resume + ": checkpoint holds " + (saved.type.empty() ? "no" : saved.type) +
                             " optimizer state, this run uses " + optimizer->type());
        }
        optimizer->set_state(saved.state);
        if (WeightAverage<float>::stored_in(saved.state) != (o.average > 0.0)) {
            throw data_error(o.resume + ": checkpoint " + (o.average > 0.0 ? "holds no" : "holds a") +
                             " weight average, this run " + (o.average > 0.0 ? "uses" : "does not use") +
                             " one; resume with the arguments of the original run");
        }
        if (average) average->restore(saved.state, model, o.resume);
        check_resumed_settings(meta, o);
        state = load_training_state(meta, data_rng, *schedule, o.resume);
        if (state.best_epoch > 0) bring_best_model(o, state.best_epoch, model_path);
        std::cout << "Resuming from " << printable(o.resume) << " after " << state.epochs_done << " epochs"
                  << (state.step_in_epoch ? " and " + std::to_string(state.step_in_epoch) + " steps" : "") << "\n";
    }
    if (o.threads > 0) model.set_threads(o.threads);
    std::cout << "\n" << model.summary();
    std::cout << "Recipe: net " << o.net << ", " << o.epochs << " epochs, batch " << o.batch << ", " << optimizer->type()
              << " lr " << o.lr << ", schedule " << o.schedule << ", augmentation " << (o.augment ? "on" : "off")
              << ", flip averaging " << (o.tta ? "on" : "off") << ", weight average ";
    if (average) std::cout << o.average;
    else std::cout << "off";
    std::cout << ", seed " << o.seed << ", threads "
              << model.threads() << "\n" << std::endl;
    // A checkpoint (weights and two Adam moments) being written beside the last one, and the model; the files this
    // run replaces give their space back.
    check_free_space(o.out, 8.0 * double(model.parameter_count()) * 4.0 + 1e6 -
                                double(existing_bytes(o.out, {"model.dcnn", "checkpoint.dcnn"})));

    SoftmaxCrossEntropy<float> loss;
    const AugmentOptions augment_options = o.tutorial ? tutorial_augmentation() : default_augmentation();
    const int N = splits.train.size();
    const int steps = (N + o.batch - 1) / o.batch;
    std::vector<std::size_t> order(static_cast<std::size_t>(N));
    Tensor<float> batch_images, augmented;
    std::vector<int> batch_labels;
    Progress progress(::isatty(STDERR_FILENO) != 0);
    const int patience = o.tutorial ? 11 : 0;

    // Divergence stops training before anything is saved, so model.dcnn keeps the best model so far.
    auto diverged = [&](int epoch, const std::string& what) {
        return error("training diverged at epoch " + std::to_string(epoch) + what +
                     (state.best_epoch > 0 ? "; the best model so far (epoch " + std::to_string(state.best_epoch) +
                                                 ") is kept in " + model_path
                                           : "; no model was saved") +
                     " (try a lower --lr)");
    };
    auto save_checkpoint = [&]() {
        ModelMetadata meta;
        fer::store_model_info(info, meta);
        store_training_state(state, data_rng, *schedule, meta);
        if (average) {
            OptimizerState<float> with_average = optimizer->state();
            average->store(with_average);
            optimizer->set_state(std::move(with_average));
        }
        meta.numbers["train.lr"] = o.lr;
        meta.integers["train.batch"] = static_cast<std::uint64_t>(o.batch);
        meta.integers["train.seed"] = o.seed;
        save_model(checkpoint_path, model, meta, optimizer.get());
    };

    for (int epoch = state.epochs_done; epoch < o.epochs; ++epoch) {
        if (patience > 0 && state.best_epoch > 0 && epoch - state.best_epoch >= patience) {
            std::cout << "Early stopping: no validation improvement for " << patience << " epochs\n";
            break;
        }
        // The epoch's order is drawn from the generator's state at the epoch start, also when resuming mid-epoch.
        const Rng::State resume_rng = data_rng.state();
        if (state.step_in_epoch == 0) state.epoch_start_rng = data_rng.state();
        data_rng.set_state(state.epoch_start_rng);
        std::iota(order.begin(), order.end(), std::size_t(0));
        data_rng.shuffle(order.begin(), order.end());
        if (state.step_in_epoch > 0) data_rng.set_state(resume_rng);

        auto epoch_clock = Clock::now();
        // Resumed after the epoch's last step (interrupted during validation): the rate that step used, for history.
        if (state.step_in_epoch >= steps) optimizer->set_learning_rate(schedule->rate(epoch + double(steps - 1) / steps));
        for (int step = state.step_in_epoch; step < steps; ++step) {
            const std::size_t first = static_cast<std::size_t>(step) * static_cast<std::size_t>(o.batch);
            const std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(o.batch), order.size() - first);
            gather_batch(splits.train, order, first, count, batch_images, batch_labels);
            if (o.augment) augment_batch(batch_images, augmented, augment_options, data_rng);
            const Tensor<float>& inputs = o.augment ? augmented : batch_images;
            optimizer->set_learning_rate(schedule->rate(epoch + double(step) / steps));
            model.set_timing(o.profile);  // training steps only, not the evaluations
            const StepResult result = model.train_step(inputs, batch_labels, loss, *optimizer);
            model.set_timing(false);
            if (average) average->update(model);
            if (!std::isfinite(result.loss) || !first_non_finite(model).empty()) {
                const std::string where = first_non_finite(model);
                throw diverged(epoch + 1, ", step " + std::to_string(step + 1) + ": loss " + std::to_string(result.loss) +
                                              (where.empty() ? "" : ", first non-finite value in " + where));
            }
            state.epoch_loss_sum += result.loss * result.count;
            state.epoch_correct += result.correct;
            state.epoch_seen += result.count;
            state.step_in_epoch = step + 1;
            const double elapsed = state.epoch_seconds + std::chrono::duration<double>(Clock::now() - epoch_clock).count();
            const double rate = state.epoch_seen / std::max(elapsed, 1e-9);
            progress.update(epoch + 1, o.epochs, step + 1, steps, state.epoch_loss_sum / state.epoch_seen,
                            double(state.epoch_correct) / state.epoch_seen, rate, (N - state.epoch_seen) / rate);
            if (stop_signal.load() != 0 && step + 1 < steps) {
                state.epoch_seconds = elapsed;
                state.train_seconds += std::chrono::duration<double>(Clock::now() - epoch_clock).count();
                save_checkpoint();
                progress.clear();
                std::cerr << "\nInterrupted at epoch " << epoch + 1 << ", step " << step + 1 << "; checkpoint written.\n"
                          << "Resume with the same arguments plus: --resume " << printable(checkpoint_path) << "\n";
                return stop_exit_code();
            }
        }
        const double train_time = state.epoch_seconds + std::chrono::duration<double>(Clock::now() - epoch_clock).count();
        state.train_seconds += std::chrono::duration<double>(Clock::now() - epoch_clock).count();
        progress.clear();

        const auto val_clock = Clock::now();
        if (average) average->swap_with(model);
        SplitResult val;
        try {
            val = evaluate_split(model, splits.validation, o.tta);
        } catch (const cancelled&) {  // the epoch's steps are done: the checkpoint resumes at its validation
            if (average) average->swap_with(model);
            state.epoch_seconds = train_time;
            save_checkpoint();
            std::cerr << "\nInterrupted at epoch " << epoch + 1 << ", during validation; checkpoint written.\n"
                      << "Resume with the same arguments plus: --resume " << printable(checkpoint_path) << "\n";
            return stop_exit_code();
        }
        if (!std::isfinite(val.loss)) throw diverged(epoch + 1, ": validation loss " + std::to_string(val.loss));
        EpochRecord record;
        record.epoch = epoch + 1;
        record.train_loss = state.epoch_loss_sum / state.epoch_seen;
        record.train_accuracy = double(state.epoch_correct) / state.epoch_seen;
        record.val_loss = val.loss;
        record.val_accuracy = val.accuracy;
        record.learning_rate = optimizer->learning_rate();
        record.images_per_second = state.epoch_seen / std::max(train_time, 1e-9);
        record.seconds = train_time + std::chrono::duration<double>(Clock::now() - val_clock).count();
        state.history.push_back(record);
        schedule->end_epoch(val.accuracy);

        const bool improved = val.accuracy > state.best_val_accuracy;
        std::printf("epoch %3d/%d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  lr %.2e  %.0f img/s  %s%s\n",
                    epoch + 1, o.epochs, record.train_loss, record.train_accuracy, record.val_loss, record.val_accuracy,
                    record.learning_rate, record.images_per_second, format_seconds(record.seconds).c_str(),
                    improved ? "  *best" : "");
        std::fflush(stdout);
        state.epochs_done = epoch + 1;
        state.step_in_epoch = 0;
        state.epoch_loss_sum = state.epoch_seconds = 0.0;
        state.epoch_correct = state.epoch_seen = 0;
        if (improved) {
            state.best_val_accuracy = val.accuracy;
            state.best_epoch = epoch + 1;
            ModelMetadata meta;
            fer::store_model_info(info, meta);
            meta.integers["epoch"] = static_cast<std::uint64_t>(epoch + 1);
            save_model(model_path, model, meta);
        }
        if (average) average->swap_with(model);
        save_checkpoint();
        write_history_csv(o.out + "/history.csv", state.history);
        write_file_atomically(o.out + "/curves.svg", curves_svg(state.history, "fer_train: " + o.net + " net"));
        if (stop_signal.load() != 0) {
            std::cerr << "Interrupted after epoch " << epoch + 1 << "; checkpoint written.\n"
                      << "Resume with the same arguments plus: --resume " << printable(checkpoint_path) << "\n";
            return stop_exit_code();
        }
    }

    // The model selected on validation, evaluated once on the test split.
    ModelMetadata best_meta;
    Sequential<float> best = load_model<float>(model_path, &best_meta);
    fer::save_fer_onnx(o.out + "/model.onnx", best, best_meta);  // docs/onnx.md
    best.set_cancel_flag(&stop_signal);
    if (o.threads > 0) best.set_threads(o.threads);
    const SplitResult result = evaluate_split(best, test, o.tta);
    const ConfusionMatrix cm = confusion_matrix(test.labels, result.predicted, selection.size());
    std::cout << "\nBest epoch " << state.best_epoch << " (validation accuracy " << state.best_val_accuracy << ")\n";
    std::cout << "Test (" << test_name << ", " << test.size() << " images" << (o.tta ? ", flip-averaged" : "")
              << "):\n" << format_evaluation(cm, selection.names) << "\n";
    if (o.profile)
        std::cout << format_layer_times(model.timings()) << "Kernels by layer (--profile):\n" << model.kernel_plans() << "\n";

    RunReport report;
    report.classes = selection.names;
    report.split_sizes = {{"train", splits.train.size()}, {"validation", splits.validation.size()}, {"test", test.size()}};
    report.test_confusion = cm;
    report.test_loss = result.loss;
    report.epochs = state.epochs_done;
    report.best_epoch = state.best_epoch;
    report.best_val_accuracy = state.best_val_accuracy;
    report.train_seconds = state.train_seconds;
    report.images_per_second = state.train_seconds > 0 ? double(state.epochs_done) * N / state.train_seconds : NAN;
    report.wall_seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
    report.command_line = command_line_of(argc, argv);
    report.seed = o.seed;
    report.settings = {{"net", o.net},
                       {"data", o.data},
                       {"test_split", test_name},
                       {"optimizer", optimizer->type()},
                       {"learning_rate", std::to_string(o.lr)},
                       {"schedule", o.schedule},
                       {"batch", std::to_string(o.batch)},
                       {"augmentation", o.augment ? "on" : "off"},
                       {"flip_averaging", o.tta ? "on" : "off"},
                       {"weight_average", o.average > 0.0 ? std::to_string(o.average) : "off"},
                       {"threads", std::to_string(best.threads())}};
    write_report_json(o.out + "/report.json", report);
    write_file_atomically(o.out + "/confusion.svg", confusion_svg(cm, selection.names, "Confusion matrix, " + test_name));
    const std::vector<Prediction> shown = predictions_to_show(test, result, info.normalization, 36);
    const std::string grid_title = "Test predictions (" + test_name + ")";
    write_file_atomically(o.out + "/predictions.svg", predictions_svg(shown, selection.names, 6, grid_title));
    write_file_atomically(o.out + "/predictions.png", predictions_png(shown, selection.names, 6, grid_title));
    write_model_svg(o.out + "/model.svg", model, "fer_train: " + o.net + " net");
    std::cout << "Wrote model.dcnn, checkpoint.dcnn, history.csv, report.json, curves.svg, confusion.svg, "
              << "predictions.svg, predictions.png and model.svg in " << printable(o.out) << "/ (run took "
              << format_seconds(report.wall_seconds) << ")\n";
    return fer::exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    try {
        options = parse_options(argc, argv);
    } catch (const fer::usage_error& e) {
        std::cerr << "fer_train: " << printable(e.what()) << "\n" << usage_text;
        return fer::exit_usage;
    } catch (const deepcnn::config_error& e) {
        std::cerr << "fer_train: " << printable(e.what()) << "\n" << usage_text;
        return fer::exit_usage;
    }
    int code = fer::exit_data_error;
    try {
        code = run(options, argc, argv);
    } catch (const deepcnn::cancelled& e) {  // a stop signal before training started, or during the final test
        std::cerr << "\nfer_train: " << printable(e.what()) << "; stopped by signal " << stop_signal.load()
                  << " (the files written so far are whole; no training step was lost)\n";
        code = stop_exit_code();
    } catch (const deepcnn::config_error& e) {
        std::cerr << "fer_train: " << printable(e.what()) << "\n";
        code = fer::exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "fer_train: error: " << printable(e.what()) << "\n";
        code = fer::exit_data_error;
    }
    const std::string lost = fer::standard_output_error();
    if (!lost.empty()) {
        std::cerr << "fer_train: error: cannot write standard output: " << lost << "\n";
        if (code == fer::exit_ok) code = fer::exit_data_error;
    }
    return code;
}
