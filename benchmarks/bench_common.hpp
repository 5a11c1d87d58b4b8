// benchmarks/bench_common.hpp: what the benchmarks share: the FMA peak of this machine measured in the running
// binary (an FMA loop on 1..n threads) and the convolution layer shapes of the seed, fer and residual nets.
#pragma once

#include <benchmark/benchmark.h>
#include <deepcnn/deepcnn.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace bench {

// CPU seconds used by the calling thread: on a shared machine, the time it actually ran.
inline double thread_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Ten independent FMA chains of `iterations` steps on vectors of the instruction set the kernels run (16 lanes with
// AVX-512, 8 with AVX2; compiled for it with a target attribute, as the kernels' passes are, so that a default-flags
// build measures the same peak as a -march=native one); the FLOPs done. The chains start from different values:
// identical ones were merged into one by the compiler, which then measured one FMA's latency instead of the
// throughput.
#if defined(__x86_64__) || defined(__i386__)
#define BENCH_FMA_CHAINS(Vec, lanes, splat, fma, first)                                                        \
    const Vec m = splat(0.999999f), b = splat(1e-7f);                                                          \
    Vec a0 = splat(1e-7f), a1 = splat(2e-7f), a2 = splat(3e-7f), a3 = splat(4e-7f), a4 = splat(5e-7f);         \
    Vec a5 = splat(6e-7f), a6 = splat(7e-7f), a7 = splat(8e-7f), a8 = splat(9e-7f), a9 = splat(1e-6f);         \
    for (long i = 0; i < iterations; ++i) {                                                                    \
        a0 = fma(a0, m, b), a1 = fma(a1, m, b), a2 = fma(a2, m, b), a3 = fma(a3, m, b), a4 = fma(a4, m, b);   \
        a5 = fma(a5, m, b), a6 = fma(a6, m, b), a7 = fma(a7, m, b), a8 = fma(a8, m, b), a9 = fma(a9, m, b);   \
    }                                                                                                          \
    sink += first(a0) + first(a1) + first(a2) + first(a3) + first(a4) + first(a5) + first(a6) + first(a7) +   \
            first(a8) + first(a9);                                                                             \
    return 10.0 * lanes * 2 * iterations;

__attribute__((target("avx512f"))) inline double fma_chains_avx512(long iterations, float& sink) {
    BENCH_FMA_CHAINS(__m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_cvtss_f32)
}
__attribute__((target("avx2,fma"))) inline double fma_chains_avx2(long iterations, float& sink) {
    BENCH_FMA_CHAINS(__m256, 8, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_cvtss_f32)
}
#undef BENCH_FMA_CHAINS
#endif

inline double fma_chains_portable(long iterations, float& sink) {
    float a[16];
    for (int j = 0; j < 16; ++j) a[j] = 1e-7f * float(j + 1);
    for (long i = 0; i < iterations; ++i)
        for (float& v : a) v = v * 0.999999f + 1e-7f;
    for (float v : a) sink += v;
    return 16.0 * 2 * iterations;
}

// GFLOP/s of one thread running the FMA chains for about `seconds` of its own CPU time, so that time spent
// descheduled by other tenants does not count.
inline double fma_loop_gflops(double seconds) {
    const long iterations = 1L << 22;
    const deepcnn::Isa isa = deepcnn::active_isa();
    double flops = 0.0, elapsed = 0.0;
    const double start = thread_cpu_seconds();
    float sink = 0.0f;
    while (elapsed < seconds) {
#if defined(__x86_64__) || defined(__i386__)
        if (isa == deepcnn::Isa::avx512) {
            flops += fma_chains_avx512(iterations, sink);
        } else if (isa == deepcnn::Isa::avx2) {
            flops += fma_chains_avx2(iterations, sink);
        } else {
            flops += fma_chains_portable(iterations, sink);
        }
#else
        (void)isa;
        flops += fma_chains_portable(iterations, sink);
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

// One convolution layer of a net: input C x H x W, K filters of KS x KS, 'same' padding, stride 1 unless given.
struct ConvShape {
    std::string net;
    std::string name;
    int C, H, W, K, KS;
    int stride = 1;
    deepcnn::ConvGeometry geometry() const {
        return deepcnn::make_conv_geometry(C, H, W, K, KS, KS, stride, stride, deepcnn::Padding::same());
    }
    // "seed/conv2_64x48x48_k64_5x5", "resnet/down_64x24x24_k128_3x3_s2"
    std::string label() const {
        return net + "/" + name + "_" + std::to_string(C) + "x" + std::to_string(H) + "x" + std::to_string(W) + "_k" +
               std::to_string(K) + "_" + std::to_string(KS) + "x" + std::to_string(KS) +
               (stride == 1 ? "" : "_s" + std::to_string(stride));
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

// The 1x1 and stride-2 convolutions of a small ResNet / MobileNet on 48x48 inputs: a stage's strided 3x3 and its
// 1x1 projection shortcut, and 1x1 (pointwise) layers at stride 1; and the 6x6 3x3 layers of fer_train's resnet
// (its last stage, after a 2x2 pool: rows shorter than the broadcast kernel's 12-pixel tile).
inline std::vector<ConvShape> residual_shapes() {
    return {
        {"resnet", "down2", 32, 48, 48, 64, 3, 2},  {"resnet", "proj2", 32, 48, 48, 64, 1, 2},
        {"resnet", "down3", 64, 24, 24, 128, 3, 2}, {"resnet", "proj3", 64, 24, 24, 128, 1, 2},
        {"resnet", "down4", 128, 12, 12, 256, 3, 2}, {"resnet", "s4conv1", 128, 6, 6, 256, 3},
        {"resnet", "s4conv2", 256, 6, 6, 256, 3},
        {"mobile", "pw24", 64, 24, 24, 128, 1},     {"mobile", "pw12", 128, 12, 12, 128, 1},
    };
}

}  // namespace bench
