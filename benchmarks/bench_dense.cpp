// benchmarks/bench_dense.cpp: the Dense layers of the fer net (4608 -> 256) and the seed net (9216 -> 128) at
// batches 1 to 64, forward (Y = X W^T) and backward-data (dX = dY W), as matrix-vector products (kernels/gemv.hpp)
// and as the packed GEMM (kernels/gemm.hpp), on 1 and 2 threads: the measurement behind Dense's choice between them
// (layers/dense.hpp, gemv_max_batch). Before timing, each is checked against gemv_ref / gemv_transposed_ref
// (SkipWithError on mismatch). GFLOP/s = 2 * N * units * features per iteration. The instruction set is the CPU's
// best unless DEEPCNN_ISA says otherwise.
#include <benchmark/benchmark.h>

#include <deepcnn/kernels/kernels.hpp>
#include <deepcnn/random.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace {

enum class Impl { gemv, gemm };

struct DenseShape {
    const char* net;
    int features, units;
};

// One direction of one layer at one batch: y = x W^T (forward) or y = x W (backward-data).
struct Problem {
    int N, units, features;
    bool backward;
    std::vector<float> w, x, y;
    Problem(int n, const DenseShape& s, bool backward_data)
        : N(n), units(s.units), features(s.features), backward(backward_data),
          w(static_cast<std::size_t>(s.units) * s.features), x(static_cast<std::size_t>(n) * in()),
          y(static_cast<std::size_t>(n) * out()) {
        deepcnn::Rng rng(3);
        for (auto& v : w) v = static_cast<float>(rng.uniform(-1, 1));
        for (auto& v : x) v = static_cast<float>(rng.uniform(-1, 1));
    }
    int in() const { return backward ? units : features; }
    int out() const { return backward ? features : units; }

    void run(Impl impl, deepcnn::ThreadPool* pool, std::vector<float>& workspace) {
        const int U = units, F = features;
        if (impl == Impl::gemv) {
            if (backward) {
                deepcnn::kernels::gemv_transposed(pool, N, U, F, w.data(), x.data(), y.data());
            } else {
                deepcnn::kernels::gemv(pool, N, U, F, w.data(), x.data(), y.data());
            }
        } else if (backward) {
            deepcnn::kernels::gemm_parallel(pool, N, F, U, deepcnn::StridedMatrix<float>{x.data(), U, 1},
                                            deepcnn::StridedMatrix<float>{w.data(), F, 1}, y.data(), F, false,
                                            workspace.data());
        } else {
            deepcnn::kernels::gemm_parallel(pool, N, U, F, deepcnn::StridedMatrix<float>{x.data(), F, 1},
                                            deepcnn::StridedMatrix<float>{w.data(), 1, F}, y.data(), U, false,
                                            workspace.data());
        }
    }
    // The largest difference from the _ref over y's first row, relative to the row's largest reference value.
    double error_against_ref() const {
        std::vector<float> ref(static_cast<std::size_t>(out()));
        if (backward) {
            deepcnn::gemv_transposed_ref(1, units, features, w.data(), x.data(), ref.data());
        } else {
            deepcnn::gemv_ref(1, units, features, w.data(), x.data(), ref.data());
        }
        double worst = 0, scale = 1e-30;
        for (std::size_t i = 0; i < ref.size(); ++i) {
            worst = std::max(worst, std::abs(double(y[i]) - double(ref[i])));
            scale = std::max(scale, std::abs(double(ref[i])));
        }
        return worst / scale;
    }
};

void bm_dense(benchmark::State& state, DenseShape shape, bool backward, Impl impl, int batch, int threads) {
    Problem p(batch, shape, backward);
    deepcnn::ThreadPool pool(threads);
    std::vector<float> workspace(static_cast<std::size_t>(threads) * deepcnn::kernels::gemm_workspace_size<float>());
    p.run(impl, &pool, workspace);
    if (p.error_against_ref() > 1e-4) {
        state.SkipWithError("disagrees with the _ref");
        return;
    }
    for (auto _ : state) {
        p.run(impl, &pool, workspace);
        benchmark::DoNotOptimize(p.y.data());
    }
    state.counters["GFLOP/s"] = benchmark::Counter(2.0 * batch * shape.units * shape.features,
                                                   benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::OneK::kIs1000);
}

}  // namespace

int main(int argc, char** argv) {
    for (const DenseShape shape : {DenseShape{"fer", 4608, 256}, DenseShape{"seed", 9216, 128}})
        for (const bool backward : {false, true})
            for (const int threads : {1, 2})
                for (const int batch : {1, 2, 3, 4, 6, 8, 12, 16, 32, 64})
                    for (const Impl impl : {Impl::gemv, Impl::gemm}) {
                        const std::string name = std::string(shape.net) + "/" +
                                                 (backward ? "backward_data/" : "forward/") +
                                                 (impl == Impl::gemv ? "gemv" : "gemm") + "/batch:" +
                                                 std::to_string(batch) + "/threads:" + std::to_string(threads);
                        benchmark::RegisterBenchmark(name.c_str(), bm_dense, shape, backward, impl, batch, threads)
                            ->UseRealTime()
                            ->Unit(benchmark::kMicrosecond);
                    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
