// benchmarks/bench_conv2d.cpp: every convolution layer of the seed and fer nets at batch 64 and 1: forward,
// backward-data and backward-weights with the fast kernels (kernels/conv2d_fast.hpp, 1 and 2 threads), the
// im2col + Eigen portable path (kernels/conv2d.hpp) and the plain-loop _ref (batch 1 only: it is slow); and the
// depthwise 3x3 convolutions of mobile nets (64 channels 24x24, 128 channels 12x12, stride 1 and 2) with the
// grouped convolution's plan (kernels/grouped_conv2d_plan.hpp; 1 and 2 threads) and its _ref; and the 1x1 and
// stride-2 layers of a small ResNet / MobileNet (bench_common.hpp's residual_shapes).
// Before timing, each variant is checked against the _ref on the first images (SkipWithError on mismatch).
// "fast" runs the variant the plan picks (kernels/conv2d_plan.hpp; its name is the benchmark's label); with
// --variants, every other variant that applies is timed too, forced by name ("fast:winograd", ...). The
// instruction set is the CPU's best unless DEEPCNN_ISA says otherwise; fma_peak's label names it.
// Counters: FLOP/s = 2 * K*OH*OW*(C/groups)*KH*KW * N per iteration (the same count for all three directions), and
// peak% = that rate over the FMA peak measured by this binary on as many threads; on 1 thread both by CPU time
// (robust to other tenants descheduling us), on more threads by wall time (meaningful on a quiet machine only).
#include <benchmark/benchmark.h>

#include <deepcnn/kernels/conv2d.hpp>
#include <deepcnn/kernels/kernels.hpp>
#include <deepcnn/kernels/conv2d_ref.hpp>
#include <deepcnn/kernels/grouped_conv2d.hpp>

#include "bench_common.hpp"

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using deepcnn::ConvGeometry;

enum class Direction { forward, backward_data, backward_weights };
enum class Impl { fast, eigen, ref };

const char* name(Direction d) {
    switch (d) {
        case Direction::forward: return "forward";
        case Direction::backward_data: return "backward_data";
        case Direction::backward_weights: return "backward_weights";
    }
    return "?";
}
const char* name(Impl i) {
    switch (i) {
        case Impl::fast: return "fast";
        case Impl::eigen: return "im2col_eigen";
        case Impl::ref: return "ref";
    }
    return "?";
}

deepcnn::ConvDirection conv_direction(Direction d) {
    return d == Direction::forward         ? deepcnn::ConvDirection::forward
           : d == Direction::backward_data ? deepcnn::ConvDirection::backward_data
                                           : deepcnn::ConvDirection::backward_weights;
}

// Inputs and outputs of one layer at one batch size, filled with fixed pseudo-random values.
// Buffers aligned as the library's tensors are (Tensor's storage uses Eigen::aligned_allocator: 64 bytes with
// AVX-512), so that the kernels run on the same alignment here as under the layers.
using Floats = std::vector<float, Eigen::aligned_allocator<float>>;

// Resizes v to n values uniform in [-1, 1) drawn from rng.
void fill(Floats& v, std::size_t n, deepcnn::Rng& rng) {
    v.resize(n);
    for (auto& e : v) e = static_cast<float>(rng.uniform(-1.0, 1.0));
}

struct Buffers {
    ConvGeometry g;
    int N;
    Floats x, w, b, y, dy, dx, dw, db, workspace;
    Buffers(const ConvGeometry& geometry, int batch, int threads) : g(geometry), N(batch) {
        deepcnn::Rng rng(17);
        fill(x, static_cast<std::size_t>(N) * g.C * g.H * g.W, rng);
        fill(w, static_cast<std::size_t>(g.K) * g.patch_size(), rng);
        fill(b, static_cast<std::size_t>(g.K), rng);
        fill(dy, static_cast<std::size_t>(N) * g.K * g.out_pixels(), rng);
        y.resize(dy.size());
        dx.resize(x.size());
        dw.resize(w.size());
        db.resize(b.size());
        workspace.resize(std::max(deepcnn::kernels::conv2d_fast_workspace_size<float>(g, threads), deepcnn::conv2d_workspace_size(g)));
    }
    // Runs one direction (the fast kernels: the plan's variant, or `variant` where given); returns its output.
    const Floats& run(Direction d, Impl impl, deepcnn::ThreadPool* pool, const std::string& variant = "") {
        float* ws = workspace.data();
        if (impl == Impl::fast && !variant.empty()) {
            deepcnn::ConvArgs<float> a;
            a.N = N, a.x = x.data(), a.weight = w.data(), a.bias = b.data(), a.y = y.data(), a.dy = dy.data();
            a.dx = dx.data(), a.dweight = dw.data(), a.dbias = db.data(), a.workspace = ws, a.pool = pool;
            deepcnn::kernels::conv2d_run(conv_direction(d), variant.c_str(), g, a);
            return d == Direction::forward ? y : d == Direction::backward_data ? dx : dw;
        }
        switch (d) {
            case Direction::forward:
                if (impl == Impl::fast) deepcnn::kernels::conv2d_forward_fast(g, N, x.data(), w.data(), b.data(), y.data(), ws, pool);
                if (impl == Impl::eigen) deepcnn::conv2d_forward(g, N, x.data(), w.data(), b.data(), y.data(), ws);
                if (impl == Impl::ref) deepcnn::conv2d_forward_ref(g, N, x.data(), w.data(), b.data(), y.data());
                return y;
            case Direction::backward_data:
                if (impl == Impl::fast) deepcnn::kernels::conv2d_backward_data_fast(g, N, dy.data(), w.data(), dx.data(), ws, pool);
                if (impl == Impl::eigen) deepcnn::conv2d_backward_data(g, N, dy.data(), w.data(), dx.data(), ws);
                if (impl == Impl::ref) deepcnn::conv2d_backward_data_ref(g, N, dy.data(), w.data(), dx.data());
                return dx;
            case Direction::backward_weights:
                if (impl == Impl::fast)
                    deepcnn::kernels::conv2d_backward_weights_fast(g, N, x.data(), dy.data(), dw.data(), db.data(), ws, pool);
                if (impl == Impl::eigen)
                    deepcnn::conv2d_backward_weights(g, N, x.data(), dy.data(), dw.data(), db.data(), ws);
                if (impl == Impl::ref)
                    deepcnn::conv2d_backward_weights_ref(g, N, x.data(), dy.data(), dw.data(), db.data());
                return dw;
        }
        return y;
    }
};

// The _ref output on the first min(N, 2) images, computed once per (layer, direction, images).
const Floats& reference(const bench::ConvShape& shape, Direction d, int images) {
    static std::map<std::string, std::unique_ptr<Buffers>> cache;
    const std::string key = shape.label() + name(d) + std::to_string(images);
    auto& entry = cache[key];
    if (!entry) {
        entry = std::make_unique<Buffers>(shape.geometry(), images, 1);
        entry->run(d, Impl::ref, nullptr);
    }
    return d == Direction::forward ? entry->y : d == Direction::backward_data ? entry->dx : entry->dw;
}

// Largest |a - b| over the largest |b|.
double relative_error(const Floats& a, const Floats& b) {
    double diff = 0, scale = 1e-30;
    for (std::size_t i = 0; i < b.size(); ++i) {
        diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(b[i])));
    }
    return diff / scale;
}

// Times `run` (which returns a pointer to its output) per iteration and sets the FLOP/s and peak% counters for
// `flops` per iteration: on 1 thread by the thread's CPU time, on more by wall time.
template <class Run>
void time_and_count(benchmark::State& state, int threads, double flops, Run&& run) {
    double seconds = 0.0;
    for (auto _ : state) {
        const auto start = std::chrono::steady_clock::now();
        const double cpu_start = bench::thread_cpu_seconds();
        benchmark::DoNotOptimize(run());
        benchmark::ClobberMemory();
        seconds += threads == 1 ? bench::thread_cpu_seconds() - cpu_start
                                : std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                  benchmark::Counter::OneK::kIs1000);
    const double peak = bench::fma_peak_gflops(threads) * 1e9;
    state.counters["peak%"] = 100.0 * flops * double(state.iterations()) / seconds / peak;
}

void bm_conv(benchmark::State& state, bench::ConvShape shape, Direction d, Impl impl, int batch, int threads,
             std::string variant) {
    const ConvGeometry g = shape.geometry();
    deepcnn::ThreadPool pool(threads);
    deepcnn::ThreadPool* p = threads > 1 ? &pool : nullptr;
    if (impl == Impl::fast) {
        const deepcnn::ConvPlan plan = deepcnn::kernels::conv2d_plan<float>(g, batch, threads);
        state.SetLabel(variant.empty() ? plan.variant(conv_direction(d)) : variant);
    }
    {
        const int images = std::min(batch, 2);
        Buffers check(g, images, threads);
        const double error = relative_error(check.run(d, impl, p, variant), reference(shape, d, images));
        if (error > 1e-4) {
            state.SkipWithError(("differs from the _ref: relative error " + std::to_string(error)).c_str());
            return;
        }
    }
    Buffers buffers(g, batch, threads);
    time_and_count(state, threads, 2.0 * g.macs() * batch, [&] { return buffers.run(d, impl, p, variant).data(); });
}

// A depthwise 3x3 convolution ('same' padding) at one stride, and its buffers at one batch size.
struct DepthwiseShape {
    int C, H, W, stride;
    ConvGeometry geometry() const {
        return deepcnn::make_conv_geometry(C, H, W, C, 3, 3, stride, stride, deepcnn::Padding::same());
    }
    // "depthwise/64x24x24s2_3x3"
    std::string label() const {
        return "depthwise/" + std::to_string(C) + "x" + std::to_string(H) + "x" + std::to_string(W) + "s" +
               std::to_string(stride) + "_3x3";
    }
};

struct DepthwiseBuffers {
    ConvGeometry g;
    int N;
    Floats x, w, b, y, dy, dx, dw, db;
    DepthwiseBuffers(const ConvGeometry& geometry, int batch) : g(geometry), N(batch) {
        deepcnn::Rng rng(19);
        fill(x, static_cast<std::size_t>(N) * g.C * g.H * g.W, rng);
        fill(w, static_cast<std::size_t>(g.K) * g.KH * g.KW, rng);
        fill(b, static_cast<std::size_t>(g.K), rng);
        fill(dy, static_cast<std::size_t>(N) * g.K * g.out_pixels(), rng);
        y.resize(dy.size());
        dx.resize(x.size());
        dw.resize(w.size());
        db.resize(b.size());
    }
    // Runs one direction with the grouped plan's choice (fast, no variant), its variant `variant` (fast), or the
    // _ref; returns its output.
    const Floats& run(Direction d, Impl impl, deepcnn::ThreadPool* pool, const std::string& variant = "") {
        const deepcnn::ConvDirection cd = conv_direction(d);
        if (impl == Impl::fast) {
            deepcnn::ConvArgs<float> a;
            a.N = N, a.x = x.data(), a.weight = w.data(), a.bias = b.data(), a.y = y.data(), a.dy = dy.data();
            a.dx = dx.data(), a.dweight = dw.data(), a.dbias = db.data(), a.pool = pool;
            if (variant.empty()) {
                deepcnn::kernels::grouped_conv2d_fast(cd, g, g.C, a);
            } else {
                deepcnn::kernels::grouped_conv2d_run(cd, variant.c_str(), g, g.C, a);
            }
        } else if (d == Direction::forward) {
            deepcnn::grouped_conv2d_forward_ref(g, g.C, N, x.data(), w.data(), b.data(), y.data());
        } else if (d == Direction::backward_data) {
            deepcnn::grouped_conv2d_backward_data_ref(g, g.C, N, dy.data(), w.data(), dx.data());
        } else {
            deepcnn::grouped_conv2d_backward_weights_ref(g, g.C, N, x.data(), dy.data(), dw.data(), db.data());
        }
        return d == Direction::forward ? y : d == Direction::backward_data ? dx : dw;
    }
};

void bm_depthwise(benchmark::State& state, DepthwiseShape shape, Direction d, Impl impl, int batch, int threads,
                  std::string variant) {
    const ConvGeometry g = shape.geometry();
    deepcnn::ThreadPool pool(threads);
    deepcnn::ThreadPool* p = threads > 1 ? &pool : nullptr;
    if (impl == Impl::fast) {
        const deepcnn::ConvPlan plan = deepcnn::kernels::grouped_conv2d_plan<float>(g, g.C, batch, threads);
        state.SetLabel(variant.empty() ? plan.variant(conv_direction(d)) : variant);
    }
    {
        const int images = std::min(batch, 2);
        DepthwiseBuffers check(g, images), reference(g, images);
        const double error = relative_error(check.run(d, impl, p, variant), reference.run(d, Impl::ref, nullptr));
        if (error > 1e-5) {
            state.SkipWithError(("differs from the _ref: relative error " + std::to_string(error)).c_str());
            return;
        }
    }
    DepthwiseBuffers buffers(g, batch);
    time_and_count(state, threads, 2.0 * g.macs() / g.C * batch,
                   [&] { return buffers.run(d, impl, p, variant).data(); });
}

// Whether variant v of direction d applies to the shape at this batch and thread count: a forced run on a
// small batch of zeros throws config_error where it does not.
bool variant_applies(const ConvGeometry& g, deepcnn::ConvDirection d, const std::string& v, int batch, int threads) {
    Buffers probe(g, batch, threads);
    deepcnn::ThreadPool pool(threads);
    try {
        deepcnn::ConvArgs<float> a;
        a.N = batch, a.x = probe.x.data(), a.weight = probe.w.data(), a.bias = probe.b.data(), a.y = probe.y.data();
        a.dy = probe.dy.data(), a.dx = probe.dx.data(), a.dweight = probe.dw.data(), a.dbias = probe.db.data();
        a.workspace = probe.workspace.data(), a.pool = threads > 1 ? &pool : nullptr;
        deepcnn::kernels::conv2d_run(d, v.c_str(), g, a);
        return true;
    } catch (const deepcnn::config_error&) {
        return false;
    }
}

// The same for a variant of the grouped plan on a depthwise shape.
bool grouped_variant_applies(const ConvGeometry& g, Direction d, const std::string& v) {
    DepthwiseBuffers probe(g, 1);
    try {
        probe.run(d, Impl::fast, nullptr, v);
        return true;
    } catch (const deepcnn::config_error&) {
        return false;
    }
}

void bm_fma_peak(benchmark::State& state) {
    const int threads = static_cast<int>(state.range(0));
    double gflops = 0.0;
    for (auto _ : state) gflops = bench::fma_peak_gflops(threads);
    state.counters["GFLOP/s"] = gflops;
    state.SetLabel(std::string("kernels: ") + deepcnn::isa_name(deepcnn::active_isa()));
}

}  // namespace

int main(int argc, char** argv) {
    bool variants = false;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) != "--variants") continue;
        variants = true;
        for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
        --argc;
        break;
    }
    benchmark::RegisterBenchmark("fma_peak", bm_fma_peak)->Arg(1)->Arg(2)->Iterations(1)->UseRealTime();
    std::vector<bench::ConvShape> shapes = bench::conv_shapes();
    for (const bench::ConvShape& shape : bench::residual_shapes()) shapes.push_back(shape);
    for (const auto& shape : shapes)
        for (Direction d : {Direction::forward, Direction::backward_data, Direction::backward_weights})
            for (int batch : {64, 1}) {
                auto add = [&](Impl impl, int threads, const std::string& variant = "") {
                    const std::string label = shape.label() + "/" + name(d) + "/" + name(impl) +
                                              (variant.empty() ? "" : ":" + variant) + "/batch:" +
                                              std::to_string(batch) + "/threads:" + std::to_string(threads);
                    auto* b =
                        benchmark::RegisterBenchmark(label.c_str(), bm_conv, shape, d, impl, batch, threads, variant);
                    b->UseRealTime()->Unit(benchmark::kMillisecond);
                    if (impl == Impl::ref) b->Iterations(1);
                };
                add(Impl::fast, 1);
                add(Impl::fast, 2);
                if (variants)
                    for (const std::string& v : deepcnn::kernels::conv2d_variant_names<float>(conv_direction(d)))
                        for (int threads : {1, 2}) {
                            const deepcnn::ConvPlan plan = deepcnn::kernels::conv2d_plan<float>(shape.geometry(), batch, threads);
                            if (v != plan.variant(conv_direction(d)) &&
                                variant_applies(shape.geometry(), conv_direction(d), v, batch, threads))
                                add(Impl::fast, threads, v);
                        }
                add(Impl::eigen, 1);
                if (batch == 1) add(Impl::ref, 1);
            }
    for (const DepthwiseShape& shape : {DepthwiseShape{64, 24, 24, 1}, DepthwiseShape{64, 24, 24, 2},
                                        DepthwiseShape{128, 12, 12, 1}, DepthwiseShape{128, 12, 12, 2}})
        for (Direction d : {Direction::forward, Direction::backward_data, Direction::backward_weights})
            for (int batch : {64, 1}) {
                auto add = [&](Impl impl, int threads, const std::string& variant = "") {
                    const std::string label = shape.label() + "/" + name(d) + "/" + name(impl) +
                                              (variant.empty() ? "" : ":" + variant) + "/batch:" +
                                              std::to_string(batch) + "/threads:" + std::to_string(threads);
                    auto* b = benchmark::RegisterBenchmark(label.c_str(), bm_depthwise, shape, d, impl, batch,
                                                           threads, variant);
                    b->UseRealTime()->Unit(benchmark::kMicrosecond);
                    if (impl == Impl::ref) b->Iterations(3);
                };
                add(Impl::fast, 1);
                add(Impl::fast, 2);
                if (variants) {
                    const ConvGeometry g = shape.geometry();
                    const std::string chosen =
                        deepcnn::kernels::grouped_conv2d_plan<float>(g, g.C, batch, 1).variant(conv_direction(d));
                    for (const std::string& v :
                         deepcnn::kernels::grouped_conv2d_variant_names<float>(conv_direction(d)))
                        if (v != chosen && grouped_variant_applies(g, d, v))
                            for (int threads : {1, 2}) add(Impl::fast, threads, v);
                }
                if (batch == 1) add(Impl::ref, 1);
            }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
