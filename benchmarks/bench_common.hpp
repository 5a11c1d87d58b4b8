// benchmarks/bench_common.hpp: what the benchmarks share: the FMA peak of this machine measured in the running
// binary (an FMA loop on 1..n threads), the convolution layer shapes of the seed and fer nets, and the two nets
// built with Sequential from examples/fer_nets.hpp.
#pragma once

#include <benchmark/benchmark.h>
#include <deepcnn/deepcnn.hpp>

#include "../examples/fer_nets.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace bench {

// CPU seconds used by the calling thread: on a shared machine, the time it actually ran.
inline double thread_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// GFLOP/s of one thread running independent FMA chains for about `seconds` of its own CPU time (10 accumulators,
// 8 lanes each), so that time spent descheduled by other tenants does not count.
inline double fma_loop_gflops(double seconds) {
    const long iterations = 1L << 22;
    double flops = 0.0, elapsed = 0.0;
    const double start = thread_cpu_seconds();
    float sink = 0.0f;
    while (elapsed < seconds) {
#if defined(__AVX2__) && defined(__FMA__)
        const __m256 m = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
        __m256 a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b, a8 = b, a9 = b;
        for (long i = 0; i < iterations; ++i) {
            a0 = _mm256_fmadd_ps(a0, m, b);
            a1 = _mm256_fmadd_ps(a1, m, b);
            a2 = _mm256_fmadd_ps(a2, m, b);
            a3 = _mm256_fmadd_ps(a3, m, b);
            a4 = _mm256_fmadd_ps(a4, m, b);
            a5 = _mm256_fmadd_ps(a5, m, b);
            a6 = _mm256_fmadd_ps(a6, m, b);
            a7 = _mm256_fmadd_ps(a7, m, b);
            a8 = _mm256_fmadd_ps(a8, m, b);
            a9 = _mm256_fmadd_ps(a9, m, b);
        }
        const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                       _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)),
                                                     _mm256_add_ps(a8, a9)));
        sink += _mm256_cvtss_f32(s);
        flops += 10.0 * 8 * 2 * iterations;
#else
        float a[16];
        for (float& v : a) v = 1e-7f;
        for (long i = 0; i < iterations; ++i)
            for (float& v : a) v = v * 0.999999f + 1e-7f;
        for (float v : a) sink += v;
        flops += 16.0 * 2 * iterations;
#endif
        elapsed = thread_cpu_seconds() - start;
    }
    benchmark::DoNotOptimize(sink);
    return flops / elapsed / 1e9;
}

// The machine's FMA peak in GFLOP/s with `threads` threads running the loop at once (best of 3 tries): the sum of
// the threads' rates over their CPU time, i.e. threads x the per-core peak when each gets a core.
inline double fma_peak_gflops(int threads) {
    static std::vector<double> cache(64, 0.0);
    if (threads < 1) threads = 1;
    if (cache[static_cast<std::size_t>(threads)] > 0) return cache[static_cast<std::size_t>(threads)];
    double best = 0.0;
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::vector<double> rates(static_cast<std::size_t>(threads));
        std::vector<std::thread> workers;
        for (int t = 1; t < threads; ++t)
            workers.emplace_back([&rates, t] { rates[static_cast<std::size_t>(t)] = fma_loop_gflops(0.1); });
        rates[0] = fma_loop_gflops(0.1);
        for (auto& w : workers) w.join();
        double total = 0.0;
        for (double r : rates) total += r;
        best = std::max(best, total);
    }
    cache[static_cast<std::size_t>(threads)] = best;
    return best;
}

// One convolution layer of a net: input C x H x W, K filters of KS x KS, stride 1, 'same' padding.
struct ConvShape {
    std::string net;
    std::string name;
    int C, H, W, K, KS;
    deepcnn::ConvGeometry geometry() const {
        return deepcnn::make_conv_geometry(C, H, W, K, KS, KS, 1, 1, deepcnn::Padding::same());
    }
    // "seed/conv2_64x48x48_k64_5x5"
    std::string label() const {
        return net + "/" + name + "_" + std::to_string(C) + "x" + std::to_string(H) + "x" + std::to_string(W) + "_k" +
               std::to_string(K) + "_" + std::to_string(KS) + "x" + std::to_string(KS);
    }
};

inline std::vector<ConvShape> conv_shapes() {
    return {
        {"seed", "conv1", 1, 48, 48, 64, 5},     {"seed", "conv2", 64, 48, 48, 64, 5},
        {"seed", "conv3", 64, 24, 24, 128, 3},   {"seed", "conv4", 128, 24, 24, 128, 3},
        {"seed", "conv5", 128, 12, 12, 256, 3},  {"seed", "conv6", 256, 12, 12, 256, 3},
        {"fer", "conv1", 1, 48, 48, 32, 3},      {"fer", "conv2", 32, 48, 48, 32, 3},
        {"fer", "conv3", 32, 24, 24, 64, 3},     {"fer", "conv4", 64, 24, 24, 64, 3},
        {"fer", "conv5", 64, 12, 12, 128, 3},    {"fer", "conv6", 128, 12, 12, 128, 3},
    };
}

using Model = fer::Model;

// The two nets fer_train builds (examples/fer_nets.hpp), for 3 classes.
inline Model make_net(const std::string& name, std::uint64_t seed) { return fer::make_net(name, 3, seed); }

}  // namespace bench
