// benchmarks/layer_times.cpp: where a training step's time goes, layer by layer. Trains the seed and fer nets on
// a fixed random batch, timing every layer's forward and backward with Sequential::set_timing, on each thread
// count asked for; prints a Markdown table per net of the mean milliseconds per step of each pass, the ratio of the
// first thread count's time to the others', then the optimizer, the whole step and the kernel variant each
// convolution ran (kernels/conv2d_plan.hpp). With --infer, the same for predict (eval mode, BatchNorm folded and
// ReLU fused as predict runs them; the folded layers show no time): where an inference's time goes.
// Usage: layer_times [--nets seed,fer] [--threads 1,2] [--batch 64] [--steps 20] [--infer]
#include <deepcnn/deepcnn.hpp>

#include "../examples/fer_nets.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

namespace {

struct Options {
    std::vector<std::string> nets = {"seed", "fer"};
    std::vector<int> threads = {1, 2};
    int batch = 64;
    int steps = 20;
    bool infer = false;  // time predict instead of train_step
};

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> items;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');)
        if (!item.empty()) items.push_back(item);
    return items;
}

int positive(const std::string& flag, const std::string& text) {
    char* end = nullptr;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || value <= 0 || value > 100000) {
        throw deepcnn::config_error(flag + " takes a positive integer, got '" + text + "'");
    }
    return static_cast<int>(value);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::printf("usage: layer_times [--nets seed,fer] [--threads 1,2] [--batch 64] [--steps 20] [--infer]\n");
            std::exit(0);
        }
        if (flag == "--infer") {
            o.infer = true;
            continue;
        }
        if (i + 1 >= argc) throw deepcnn::config_error("unknown option or missing value: " + flag);
        const std::string value = argv[++i];
        if (flag == "--nets") {
            o.nets = split_list(value);
        } else if (flag == "--threads") {
            o.threads.clear();
            for (const auto& t : split_list(value)) o.threads.push_back(positive(flag, t));
        } else if (flag == "--batch") {
            o.batch = positive(flag, value);
        } else if (flag == "--steps") {
            o.steps = positive(flag, value);
        } else {
            throw deepcnn::config_error("unknown option: " + flag);
        }
    }
    if (o.nets.empty() || o.threads.empty()) throw deepcnn::config_error("--nets and --threads must not be empty");
    return o;
}

// One net on one thread count: the timings of `steps` training steps (or predicts) after 3 untimed ones (which grow
// every buffer), and the mean wall time of a whole step.
struct Run {
    deepcnn::ModelTimings timings;
    double step_seconds = 0.0;
    std::string kernel_plans;  // the model's kernel_plans() after the run
};

// Either kind of net (fer::make_net may build a Sequential or a Graph).
template <class Model>
Run time_model(Model& model, int threads, const Options& o) {
    model.set_threads(threads);
    deepcnn::Tensor<float> x(deepcnn::Shape(o.batch, 1, 48, 48));
    std::vector<int> labels(static_cast<std::size_t>(o.batch));
    deepcnn::Rng rng(5);
    for (auto& v : x) v = static_cast<float>(rng.uniform());
    for (auto& l : labels) l = static_cast<int>(rng.below(3));
    deepcnn::SoftmaxCrossEntropy<float> loss;
    deepcnn::Adam<float> optimizer(1e-3);
    const auto step = [&] {
        if (o.infer) {
            model.predict(x, o.batch);
        } else {
            model.train_step(x, labels, loss, optimizer);
        }
    };
    for (int i = 0; i < 3; ++i) step();
    model.set_timing(true);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < o.steps; ++i) step();
    Run run;
    run.step_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / o.steps;
    run.timings = model.timings();
    run.kernel_plans = model.kernel_plans();
    return run;
}

Run time_net(const std::string& net, int threads, const Options& o) {
    fer::AnyNet model = fer::make_net(net, 3, 1);
    return std::visit([&](auto& m) { return time_model(m, threads, o); }, model);
}

void print_table(const std::string& net, const Options& o, const std::vector<Run>& runs) {
    const char* what = o.infer ? "inference (predict)" : "training step";
    std::printf("\n### %s, batch %d: mean ms per %s (%d steps)\n\n| layer |", net.c_str(), o.batch, what, o.steps);
    const int passes = o.infer ? 1 : 2;  // an inference has no backward
    for (int pass = 0; pass < passes; ++pass) {
        for (int t : o.threads) std::printf(" %s %dt |", pass == 0 ? "forward" : "backward", t);
        for (std::size_t k = 1; k < o.threads.size(); ++k) std::printf(" %dt/%dt |", o.threads[k], o.threads[0]);
    }
    std::printf("\n|---|");
    for (int pass = 0; pass < passes; ++pass)
        for (std::size_t k = 0; k < 2 * o.threads.size() - 1; ++k) std::printf("---:|");
    std::printf("\n");
    const auto row = [&](const std::string& name, const std::vector<double>& forward,
                         const std::vector<double>& backward) {
        std::printf("| %s |", name.c_str());
        for (const auto* ms : {&forward, &backward}) {
            if (o.infer && ms == &backward) break;
            for (double v : *ms) std::printf(" %.2f |", v);
            for (std::size_t k = 1; k < ms->size(); ++k) std::printf(" %.2fx |", (*ms)[k] > 0 ? (*ms)[0] / (*ms)[k] : 0.0);
        }
        std::printf("\n");
    };
    const auto& first = runs[0].timings.layers;
    for (std::size_t i = 0; i < first.size(); ++i) {
        if (first[i].forward_calls == 0 && first[i].backward_calls == 0) continue;  // fused, or the final Softmax
        std::vector<double> forward, backward;
        for (const Run& r : runs) {
            forward.push_back(1e3 * r.timings.layers[i].forward_seconds / o.steps);
            backward.push_back(1e3 * r.timings.layers[i].backward_seconds / o.steps);
        }
        row(first[i].name, forward, backward);
    }
    std::vector<double> optimizer, step;
    for (const Run& r : runs) {
        optimizer.push_back(1e3 * r.timings.optimizer_seconds / o.steps);
        step.push_back(1e3 * r.step_seconds);
    }
    std::printf("\n| | ");
    for (int t : o.threads) std::printf("%dt | ", t);
    for (std::size_t k = 1; k < o.threads.size(); ++k) std::printf("%dt/%dt | ", o.threads[k], o.threads[0]);
    std::printf("\n|---|");
    for (std::size_t k = 0; k < 2 * o.threads.size() - 1; ++k) std::printf("---:|");
    std::printf("\n");
    for (const auto& [name, ms] : {std::pair<const char*, const std::vector<double>*>{"optimizer (Adam)", &optimizer},
                                   {o.infer ? "whole inference" : "whole training step", &step}}) {
        if (o.infer && ms == &optimizer) continue;
        std::printf("| %s |", name);
        for (double v : *ms) std::printf(" %.2f |", v);
        for (std::size_t k = 1; k < ms->size(); ++k) std::printf(" %.2fx |", (*ms)[0] / (*ms)[k]);
        std::printf("\n");
    }
    std::printf("| images/s |");
    for (double v : step) std::printf(" %.1f |", o.batch / (v / 1e3));
    for (std::size_t k = 1; k < step.size(); ++k) std::printf(" |");
    std::printf("\n");
    for (std::size_t k = 0; k < runs.size(); ++k)
        std::printf("\nKernels on %d thread(s), instruction set %s:\n%s", o.threads[k], deepcnn::isa_name(deepcnn::active_isa()),
                    runs[k].kernel_plans.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options o = parse(argc, argv);
        for (const std::string& net : o.nets) {
            std::vector<Run> runs;
            for (int threads : o.threads) runs.push_back(time_net(net, threads, o));
            print_table(net, o, runs);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "layer_times: %s\n", e.what());
        return 1;
    }
}
