// benchmarks/bench_training_step.cpp: whole-net throughput of fer_train's seed and fer nets (Sequential<float>) and
// its resnet (a Graph<float>): a training step (forward, fused softmax cross-entropy, backward, Adam update) in
// images/s at batch 64 and 32, inference (predict: BatchNorm folded into the convolutions, ReLU fused;
// model/inference_plan.hpp) in images/s at batch 64 and batch-1 inference latency (the time per iteration); and the
// same inference with folding off (infer_unfolded), every layer run as in forward, and at batch 1 with the folded
// convolutions preparing their weights on every call (infer_unprepared: set_prepared_weights(false)). 1 and 2
// threads (set_threads).
// peak_RSS_MB is the process's peak resident memory so far: run one benchmark per process (--benchmark_filter) for
// a per-net figure.
#include <benchmark/benchmark.h>

#include <deepcnn/deepcnn.hpp>

#include "../examples/fer_nets.hpp"

#include <sys/resource.h>

#include <string>
#include <variant>
#include <vector>

namespace {

double peak_rss_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;
}

struct Batch {
    deepcnn::Tensor<float> x;
    std::vector<int> labels;
    explicit Batch(int n) : x(deepcnn::Shape(n, 1, 48, 48)), labels(static_cast<std::size_t>(n)) {
        deepcnn::Rng rng(5);
        for (auto& v : x) v = static_cast<float>(rng.uniform());
        for (auto& l : labels) l = static_cast<int>(rng.uniform() * 3) % 3;
    }
};

void bm_train(benchmark::State& state, std::string net, int batch, int threads) {
    fer::AnyNet any = fer::make_net(net, 3, 1);
    double forward_flops = 0.0;
    std::visit(
        [&](auto& model) {
            model.set_threads(threads);
            Batch data(batch);
            deepcnn::SoftmaxCrossEntropy<float> loss;
            deepcnn::Adam<float> optimizer(1e-3);
            model.train_step(data.x, data.labels, loss, optimizer);  // grows every buffer once
            for (auto _ : state) benchmark::DoNotOptimize(model.train_step(data.x, data.labels, loss, optimizer).loss);
            forward_flops = double(model.forward_flops());
        },
        any);
    state.counters["images/s"] = benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GFLOP/s"] = benchmark::Counter(3.0 * forward_flops * batch,
                                                   benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
    state.counters["peak_RSS_MB"] = peak_rss_mb();
}

void bm_infer(benchmark::State& state, std::string net, int batch, int threads, bool folding, bool prepared) {
    fer::AnyNet any = fer::make_net(net, 3, 1);
    std::visit(
        [&](auto& model) {
            model.set_threads(threads);
            model.set_folding(folding);
            model.set_prepared_weights(prepared);
            Batch data(batch);
            model.predict(data.x, batch);
            for (auto _ : state) benchmark::DoNotOptimize(model.predict(data.x, batch).data());
        },
        any);
    state.counters["images/s"] = benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["peak_RSS_MB"] = peak_rss_mb();
}

}  // namespace

int main(int argc, char** argv) {
    for (const std::string net : {"seed", "fer", "resnet"})
        for (int threads : {1, 2}) {
            const std::string t = "/threads:" + std::to_string(threads);
            for (int batch : {64, 32}) {
                benchmark::RegisterBenchmark((net + "/train/batch:" + std::to_string(batch) + t).c_str(), bm_train, net,
                                             batch, threads)
                    ->UseRealTime()
                    ->Unit(benchmark::kMillisecond);
            }
            for (const bool folding : {true, false})
                for (int batch : {64, 1})
                    benchmark::RegisterBenchmark(
                        (net + (folding ? "/infer/batch:" : "/infer_unfolded/batch:") + std::to_string(batch) + t)
                            .c_str(),
                        bm_infer, net, batch, threads, folding, true)
                        ->UseRealTime()
                        ->Unit(benchmark::kMillisecond);
            benchmark::RegisterBenchmark((net + "/infer_unprepared/batch:1" + t).c_str(), bm_infer, net, 1, threads,
                                         true, false)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
        }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
