// tools/peers/onednn_conv.cpp: times oneDNN's convolution primitives (forward_training, backward-data,
// backward-weights with bias) on the layer shapes given on the command line, for tools/compare-peers. Layouts are
// oneDNN's choice (format tag any); reorders are not timed. Threads: OMP_NUM_THREADS (Debian's build uses OpenMP).
// Usage: onednn_conv BATCH NAME:C:H:W:K:KS[:STRIDE[:GROUPS]] [...]  ('same' padding split as TensorFlow does, the
// extra row and column at the end, as deepcnn's Padding::same(); GROUPS == C is a depthwise convolution).
// Prints CSV: layer,direction,batch,ms,gflops,cpu_ms,cpu_gflops: median wall time and median process CPU time
// (the fair single-thread figure on a shared machine, where wall time includes time spent descheduled).
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

memory filled(const memory::desc& md, const engine& eng, std::mt19937& rng) {
    memory m(md, eng);
    float* p = static_cast<float*>(m.get_data_handle());
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (std::size_t i = 0; i < md.get_size() / sizeof(float); ++i) p[i] = u(rng);
    return m;
}

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct Timing {
    double wall_ms, cpu_ms;
};

// Median wall and CPU milliseconds of `run` over at least 5 runs and 0.5 s, after 2 warm-up runs.
Timing median_ms(const std::function<void()>& run) {
    run();
    run();
    std::vector<double> wall, cpu;
    double total = 0.0;
    while (wall.size() < 5 || total < 0.5) {
        const double c0 = cpu_seconds();
        const auto start = std::chrono::steady_clock::now();
        run();
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        cpu.push_back((cpu_seconds() - c0) * 1e3);
        wall.push_back(s * 1e3);
        total += s;
    }
    std::sort(wall.begin(), wall.end());
    std::sort(cpu.begin(), cpu.end());
    return {wall[wall.size() / 2], cpu[cpu.size() / 2]};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s BATCH NAME:C:H:W:K:KS [...]\n", argv[0]);
        return 2;
    }
    const int N = std::atoi(argv[1]);
    engine eng(engine::kind::cpu, 0);
    stream s(eng);
    std::mt19937 rng(1);
    std::printf("layer,direction,batch,ms,gflops,cpu_ms,cpu_gflops\n");
    for (int a = 2; a < argc; ++a) {
        std::string spec = argv[a];
        std::replace(spec.begin(), spec.end(), ':', ' ');
        std::istringstream in(spec);
        std::string name;
        int C = 0, H = 0, W = 0, K = 0, KS = 0, S = 1, G = 1;
        in >> name >> C >> H >> W >> K >> KS;
        if (!(in >> S)) S = 1;
        if (!(in >> G)) G = 1;
        const int OH = (H + S - 1) / S, OW = (W + S - 1) / S;
        const int pad_h = std::max(0, (OH - 1) * S + KS - H), pad_w = std::max(0, (OW - 1) * S + KS - W);
        const memory::dims src{N, C, H, W}, bia{K}, dst{N, K, OH, OW};
        const memory::dims wei = G == 1 ? memory::dims{K, C, KS, KS} : memory::dims{G, K / G, C / G, KS, KS};
        const memory::dims strides{S, S}, pl{pad_h / 2, pad_w / 2}, pr{pad_h - pad_h / 2, pad_w - pad_w / 2};
        const memory::desc src_md(src, dt::f32, tag::any), wei_md(wei, dt::f32, tag::any),
            bia_md(bia, dt::f32, tag::any), dst_md(dst, dt::f32, tag::any);

        const convolution_forward::primitive_desc fwd_pd(
            convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src_md, wei_md,
                                      bia_md, dst_md, strides, pl, pr),
            eng);
        const convolution_backward_data::primitive_desc bwd_data_pd(
            convolution_backward_data::desc(algorithm::convolution_direct, src_md, wei_md, dst_md, strides, pl, pr), eng,
            fwd_pd);
        const convolution_backward_weights::primitive_desc bwd_weights_pd(
            convolution_backward_weights::desc(algorithm::convolution_direct, src_md, wei_md, bia_md, dst_md, strides,
                                               pl, pr),
            eng, fwd_pd);

        memory x = filled(fwd_pd.src_desc(), eng, rng), w = filled(fwd_pd.weights_desc(), eng, rng),
               b = filled(fwd_pd.bias_desc(), eng, rng), y(fwd_pd.dst_desc(), eng);
        memory dx(bwd_data_pd.diff_src_desc(), eng), w_bd = filled(bwd_data_pd.weights_desc(), eng, rng),
            dy_bd = filled(bwd_data_pd.diff_dst_desc(), eng, rng);
        memory x_bw = filled(bwd_weights_pd.src_desc(), eng, rng), dy_bw = filled(bwd_weights_pd.diff_dst_desc(), eng, rng),
               dw(bwd_weights_pd.diff_weights_desc(), eng), db(bwd_weights_pd.diff_bias_desc(), eng);

        convolution_forward fwd(fwd_pd);
        convolution_backward_data bwd_data(bwd_data_pd);
        convolution_backward_weights bwd_weights(bwd_weights_pd);
        const double flops = 2.0 * N * K * OH * OW * double(C / G) * KS * KS;
        const std::unordered_map<int, memory> fwd_args{
            {DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, y}};
        const std::unordered_map<int, memory> bd_args{
            {DNNL_ARG_DIFF_DST, dy_bd}, {DNNL_ARG_WEIGHTS, w_bd}, {DNNL_ARG_DIFF_SRC, dx}};
        const std::unordered_map<int, memory> bw_args{
            {DNNL_ARG_SRC, x_bw}, {DNNL_ARG_DIFF_DST, dy_bw}, {DNNL_ARG_DIFF_WEIGHTS, dw}, {DNNL_ARG_DIFF_BIAS, db}};
        const struct {
            const char* direction;
            std::function<void()> run;
        } runs[] = {
            {"forward", [&] { fwd.execute(s, fwd_args); s.wait(); }},
            {"backward_data", [&] { bwd_data.execute(s, bd_args); s.wait(); }},
            {"backward_weights", [&] { bwd_weights.execute(s, bw_args); s.wait(); }},
        };
        for (const auto& r : runs) {
            const Timing t = median_ms(r.run);
            std::printf("%s,%s,%d,%.4f,%.2f,%.4f,%.2f\n", name.c_str(), r.direction, N, t.wall_ms,
                        flops / (t.wall_ms * 1e-3) / 1e9, t.cpu_ms, flops / (t.cpu_ms * 1e-3) / 1e9);
            std::fflush(stdout);
        }
    }
    return 0;
}
