// deepcnn/kernels/conv2d_plan.hpp: the one place that decides which convolution kernel runs. For each direction
// an ordered list of named variants, each with `applies` (the variant computes this convolution correctly),
// `pays` (it is the one to run here, by the measurements cited at each predicate) and `run`; a call runs the
// first variant in its list that applies and pays. The last variant of every list applies everywhere. Lists in
// the SIMD passes hold every variant (for float; the transposed Winograd ones with AVX2's 6x16 tile only); the
// portable pass and double hold the GEMM variants only.
// conv2d_run forces a variant by name (tests, benchmarks); conv2d_plan names the ones a shape runs;
// conv2d_forward_prepare prepares a forward variant's weights once (ConvArgs::prepared_weight: inference).
//
//   forward           direct, broadcast, broadcast_stride2, winograd_transposed, winograd, pointwise, implicit_gemm
//   backward-data     broadcast_flipped, broadcast_stride2, winograd_transposed_flipped, winograd_flipped, pointwise,
//                     implicit_gemm_flipped, gemm_col2im
//   backward-weights  broadcast, winograd, direct, pointwise, implicit_gemm
//
// Every variant assigns its outputs, splits its work over the pool without splitting a sum, and uses the
// workspace laid out by conv2d_fast_workspace_size (one size for all the variants of a shape). A forward with
// ConvArgs::relu (inference, model/inference_plan.hpp) gets max(y, 0): direct, broadcast, winograd and
// implicit_gemm apply it as they store y; after the others conv2d_run makes one pass over y.

#ifndef DEEPCNN_ISA_NS
#error "kernels/conv2d_plan.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {

// Scalars of workspace the convolution's variants need with `threads` threads (one set per thread, plus the
// flipped or transformed weights shared by the threads).
template <class Scalar>
std::size_t conv2d_fast_workspace_size(const ConvGeometry& g, int threads) {
    return detail::conv2d_fast_shared_scalars(g) +
           static_cast<std::size_t>(std::max(threads, 1)) *
               detail::conv2d_fast_thread_scalars(g, gemm_workspace_size<Scalar>()) +
           16;
}

template <class Scalar>
struct ConvVariant {
    const char* name;
    bool (*applies)(const ConvGeometry& g, int N, int threads);
    bool (*pays)(const ConvGeometry& g, int N, int threads);
    void (*run)(const ConvGeometry& g, const ConvArgs<Scalar>& a);
    // A forward variant that applies ConvArgs::relu in its output's epilogue; conv2d_run follows the others with a
    // pass of the ReLU over y.
    bool fuses_relu = false;
    // A forward variant that prepares its weights (transforms or packs them) on every call, and reads them prepared
    // once instead from ConvArgs::prepared_weight: the scalars they take, and the preparation (all the filters).
    std::size_t (*prepared_scalars)(const ConvGeometry& g) = nullptr;
    void (*prepare)(const ConvGeometry& g, const Scalar* weight, Scalar* prepared) = nullptr;
};

namespace detail {

inline int pool_threads(ThreadPool* pool) { return pool ? pool->size() : 1; }

// y (N, K, OH, OW) = max(y, 0) (0 for NaN, as the ReLU layer), the threads splitting the output planes: the ReLU
// folded into a forward variant that does not apply it itself.
template <class Scalar>
void relu_output(const ConvGeometry& g, int N, Scalar* y, ThreadPool* pool) {
    const int planes = N * g.K, threads = pool_threads(pool);
    const std::size_t plane = static_cast<std::size_t>(g.OH) * g.OW;
    pool_run(pool, threads, [&](int t) {
        int p0 = 0, p1 = 0;
        split_range(planes, threads, t, 1, p0, p1);
        Scalar* out = y + p0 * plane;
        const std::size_t count = (p1 - p0) * plane;
        for (std::size_t i = 0; i < count; ++i) out[i] = out[i] > Scalar(0) ? out[i] : Scalar(0);
    });
}
inline bool always(const ConvGeometry&, int, int) { return true; }

// The per-thread and shared parts of the workspace.
template <class Scalar>
std::size_t conv_thread_scalars(const ConvGeometry& g) {
    return conv2d_fast_thread_scalars(g, gemm_workspace_size<Scalar>());
}

// ---- forward

// Implicit GEMM: y = weight (K, R) x im2col(x_n) from the padded image, + bias; by images, or pixels (or filters) at
// batch 1; the weights packed once, in the shared workspace, where that pays.
template <class Scalar>
void forward_implicit_gemm(const ConvGeometry& g, const ConvArgs<Scalar>& a) {
    conv2d_forward_batch(g, a.N, a.x, a.weight, a.bias, a.y, a.workspace + conv2d_fast_shared_scalars(g),
                         conv_thread_scalars<Scalar>(g), a.pool, a.relu, a.workspace);
}

#if DEEPCNN_ISA_AVX2
// Direct: the first layer (one input channel), whose GEMM would have a reduction of only KH * KW.
inline bool forward_direct_applies(const ConvGeometry& g, int, int) { return forward_direct(g); }
inline void forward_direct_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    forward_direct_batch(g, a.N, a.x, a.weight, a.bias, a.y, a.workspace + conv2d_fast_shared_scalars(g),
                         conv_thread_scalars<float>(g), a.pool, a.relu);
}

// Broadcast: 5x5 windows; 3x3 where Winograd does not pay, or where the broadcast kernel beats it
// (broadcast_forward_pays).
inline bool forward_broadcast_applies(const ConvGeometry& g, int, int) { return broadcast_conv_applies(g); }
inline bool forward_broadcast_pays(const ConvGeometry& g, int N, int) { return broadcast_forward_pays(g, N); }
inline void forward_broadcast_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    broadcast_conv(g, a.N, a.x, a.weight, false, a.bias, a.y, a.workspace,
                   a.workspace + conv2d_fast_shared_scalars(g), conv_thread_scalars<float>(g), a.pool, a.relu,
                   a.prepared_weight);
}
// Its weights packed once: all the filter blocks (K/16, C*KH*KW, 16).
inline std::size_t forward_broadcast_prepared_scalars(const ConvGeometry& g) {
    return static_cast<std::size_t>(g.K) * g.patch_size();
}
inline void forward_broadcast_prepare(const ConvGeometry& g, const float* weight, float* prepared) {
    pack_broadcast_blocks(g, weight, false, prepared, 0, g.K / broadcast_filter_block);
}

// Broadcast at stride 2 (3x3 windows, filters in blocks of 16; conv2d_broadcast.hpp), where a row has at least
// broadcast_stride2_min_row output pixels. Against the implicit GEMM on bench_conv2d's resnet/down* layers (CPU time
// on 1 thread, batch 64 / batch 1, Intel Xeon family 6 model 207 with AVX-512, load average about 10):
// down2 (24-pixel rows) 1.40x / 1.36x, down3 (12) 1.43x / 1.03x, down4 (6) 0.90x / 0.81x.
constexpr int broadcast_stride2_min_row = 12;
inline bool forward_broadcast_stride2_applies(const ConvGeometry& g, int, int) { return broadcast_stride2_applies(g); }
inline bool forward_broadcast_stride2_pays(const ConvGeometry& g, int, int) {
    return broadcast_stride2_applies(g) && g.OW >= broadcast_stride2_min_row;
}
inline void forward_broadcast_stride2_run(const ConvGeometry& g, const ConvArgs<float>& a) { forward_broadcast_run(g, a); }

// Winograd with the tiles as the GEMM's rows (winograd_transposed.hpp): fewer than 144 tiles per thread
// (winograd_transposes).
inline bool forward_winograd_transposed_applies(const ConvGeometry& g, int N, int threads) {
    return winograd_transposed_applies(g, N, threads);
}
inline bool forward_winograd_transposed_pays(const ConvGeometry& g, int N, int threads) {
    return winograd_transposes(g, N, threads);
}
inline void forward_winograd_transposed_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    winograd_forward_transposed(g, a.N, a.x, a.weight, false, a.workspace + conv2d_fast_flipped_scalars(g), a.bias,
                                a.y, a.workspace + conv2d_fast_shared_scalars(g), conv_thread_scalars<float>(g), a.pool,
                                a.prepared_weight);
}
// Its weights transformed once: the 16 operands U_xi^T of all the filters.
inline std::size_t forward_winograd_transposed_prepared_scalars(const ConvGeometry& g) {
    return 16 * static_cast<std::size_t>(winograd_transposed_weights_stride(g));
}
inline void forward_winograd_transposed_prepare(const ConvGeometry& g, const float* weight, float* prepared) {
    winograd_transform_weights_transposed(g, weight, false, prepared, 0, g.K);
}

// Winograd F(2x2, 3x3): 3x3 stride 1 on enough tiles (winograd_pays).
inline bool forward_winograd_applies(const ConvGeometry& g, int, int) { return winograd_applies(g); }
inline bool forward_winograd_pays(const ConvGeometry& g, int N, int) { return winograd_pays(g, N); }
inline void forward_winograd_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    winograd_forward(g, a.N, a.x, a.weight, false, a.workspace + conv2d_fast_flipped_scalars(g), a.bias, a.y,
                     a.workspace + conv2d_fast_shared_scalars(g), conv_thread_scalars<float>(g), a.pool, a.relu,
                     a.prepared_weight);
}
// Its weights transformed once: the 16 operands U_xi of all the filters.
inline std::size_t forward_winograd_prepared_scalars(const ConvGeometry& g) { return winograd_weight_scalars(g); }
inline void forward_winograd_prepare(const ConvGeometry& g, const float* weight, float* prepared) {
    winograd_transform_weights(g, weight, false, prepared, 0, g.K);
}
#endif

// Pointwise (conv2d_pointwise.hpp): 1x1 windows without padding, any stride, as plain GEMMs on the planes. Against
// the implicit GEMM (its padded copy and im2col packer) on the 1x1 layers of bench_conv2d (resnet/proj*,
// mobile/pw*; batch 64 and 1, 1 thread, CPU time, Intel Xeon family 6 model 207): see docs/performance.md, "1x1 and
// stride 2"; faster in 23 of 24 entries (the other 0.97x, within noise), so it pays wherever it applies.
inline bool pointwise_variant_applies(const ConvGeometry& g, int, int) { return pointwise_applies(g); }
template <class Scalar>
void forward_pointwise_run(const ConvGeometry& g, const ConvArgs<Scalar>& a) {
    pointwise_forward(g, a.N, a.x, a.weight, a.bias, a.y, a.workspace, a.workspace + conv2d_fast_shared_scalars(g),
                      conv_thread_scalars<Scalar>(g), a.pool);
}
template <class Scalar>
void backward_data_pointwise_run(const ConvGeometry& g, const ConvArgs<Scalar>& a) {
    pointwise_backward_data(g, a.N, a.dy, a.weight, a.dx, a.workspace, a.workspace + conv2d_fast_shared_scalars(g),
                            conv_thread_scalars<Scalar>(g), a.pool);
}
template <class Scalar>
void backward_weights_pointwise_run(const ConvGeometry& g, const ConvArgs<Scalar>& a) {
    pointwise_backward_weights(g, a.N, a.x, a.dy, a.dweight, a.dbias, a.workspace + conv2d_fast_shared_scalars(g),
                               conv_thread_scalars<Scalar>(g), a.pool);
}

// ---- backward-data

// Where dx is a forward convolution of dy with the flipped weights (stride 1, C >= 4 MR), `t` its geometry.
inline bool flipped_applies(const ConvGeometry& g, ConvGeometry& t) { return backward_data_as_forward(g, t); }

// Implicit GEMM of dy with a flipped copy of the weights (C, K, KH, KW), which the threads write by channels (at
// batch 1 the copy is a noticeable part of the layer).
inline bool backward_data_implicit_gemm_applies(const ConvGeometry& g, int, int) {
    ConvGeometry t;
    return flipped_applies(g, t);
}
template <class Scalar>
void backward_data_implicit_gemm_run(const ConvGeometry& g, const ConvArgs<Scalar>& a) {
    ConvGeometry t;
    flipped_applies(g, t);
    const int KK = g.KH * g.KW, threads = pool_threads(a.pool);
    Scalar* flipped = a.workspace;
    pool_run(a.pool, threads, [&](int tid) {
        int c0 = 0, c1 = 0;
        split_range(g.C, threads, tid, 1, c0, c1);
        for (int c = c0; c < c1; ++c)
            for (int k = 0; k < g.K; ++k) {
                const Scalar* src = a.weight + (static_cast<std::size_t>(k) * g.C + c) * KK;
                Scalar* dst = flipped + (static_cast<std::size_t>(c) * g.K + k) * KK;
                for (int i = 0; i < KK; ++i) dst[KK - 1 - i] = src[i];
            }
    });
    conv2d_forward_batch(t, a.N, a.dy, flipped, static_cast<const Scalar*>(nullptr), a.dx,
                         a.workspace + conv2d_fast_shared_scalars(g), conv_thread_scalars<Scalar>(g), a.pool);
}

// Per image dcol (R, P) = weight^T (R, K) x dy_n (K, P), then dx_n = col2im(dcol); threads split the images, or,
// with fewer images than threads, each image's channels: channel c's dcol rows [c KH KW, (c + 1) KH KW) scatter into
// dx's plane c alone, and a share starts on a whole panel of GEMM rows (MR). Each dcol element sums its K terms in the
// same order either way (gemm_packed), so the split changes no bit.
// weight^T is packed once, in the shared workspace, where that pays (SharedA: packing it for every image, by single
// scalars, took more time than the arithmetic on down4 of bench_conv2d at batch 64).
template <class Scalar>
void backward_data_gemm_col2im_run(const ConvGeometry& g, const ConvArgs<Scalar>& a) {
    const int R = g.patch_size(), P = g.out_pixels(), threads = pool_threads(a.pool), window = g.KH * g.KW;
    const std::size_t per_thread = conv_thread_scalars<Scalar>(g);
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const SharedA<Scalar> weight_t(R, g.K, StridedMatrix<Scalar>{a.weight, 1, R}, a.workspace, a.N, threads);
    const bool by_channels = a.N < threads;
    int channel_unit = 1;  // the fewest channels whose rows fill whole panels of MR
    while (channel_unit * window % GemmBlocking::MR != 0) ++channel_unit;
    pool_run(a.pool, threads, [&](int tid) {
        Scalar* dcol = a.workspace + conv2d_fast_shared_scalars(g) + static_cast<std::size_t>(tid) * per_thread;
        Scalar* gemm_ws = dcol + per_thread - gemm_workspace_size<Scalar>();
        int n0 = 0, n1 = a.N, c0 = 0, c1 = g.C;
        if (by_channels) {
            split_range(g.C, threads, tid, channel_unit, c0, c1);
        } else {
            split_range(a.N, threads, tid, 1, n0, n1);
        }
        if (c0 >= c1) return;
        for (int n = n0; n < n1; ++n) {
            weight_t.rows(c0 * window, [&](const auto& pack_a) {
                const Scalar* dy_n = a.dy + static_cast<std::size_t>(n) * g.K * P;
                gemm_packed((c1 - c0) * window, P, g.K, pack_a, StridedPackB<Scalar>{{dy_n, P, 1}}, dcol, P, false,
                            gemm_ws);
            });
            col2im(g, dcol, a.dx + n * in_size, c0, c1);
        }
    });
}

#if DEEPCNN_ISA_AVX2
// Broadcast on the flipped convolution (the weights packed flipped), where it pays as a forward.
inline bool backward_data_broadcast_applies(const ConvGeometry& g, int, int) {
    ConvGeometry t;
    return flipped_applies(g, t) && broadcast_conv_applies(t);
}
inline bool backward_data_broadcast_pays(const ConvGeometry& g, int N, int) {
    ConvGeometry t;
    return flipped_applies(g, t) && broadcast_conv_pays(t, N);
}
inline void backward_data_broadcast_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    ConvGeometry t;
    flipped_applies(g, t);
    broadcast_conv(t, a.N, a.dy, a.weight, true, nullptr, a.dx, a.workspace,
                   a.workspace + conv2d_fast_shared_scalars(g), conv_thread_scalars<float>(g), a.pool);
}

// Broadcast at stride 2 (3x3 windows, channels in blocks of 16; conv2d_broadcast.hpp): each dx phase a stride-1
// convolution of dy with its part of the window; where a phase of a dx row (every other pixel) holds at least
// broadcast_stride2_min_row pixels. Against gemm_col2im, as the forward above: down2 (12-pixel phases) 1.81x /
// 1.67x, down3 (12) 1.34x / 1.19x, down4 (6) 1.15x / 0.74x.
inline bool backward_data_broadcast_stride2_applies(const ConvGeometry& g, int, int) {
    return broadcast_stride2_data_applies(g);
}
inline bool backward_data_broadcast_stride2_pays(const ConvGeometry& g, int, int) {
    return broadcast_stride2_data_applies(g) && g.W / 2 >= broadcast_stride2_min_row;
}
inline void backward_data_broadcast_stride2_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    broadcast_stride2_backward_data(g, a.N, a.dy, a.weight, a.dx, a.workspace,
                                    a.workspace + conv2d_fast_shared_scalars(g), conv_thread_scalars<float>(g), a.pool);
}

// Winograd on the flipped convolution, the weight transform reading the weights flipped (no flipped copy);
// transposed where the forward would be (winograd_transposes on the flipped geometry).
inline bool backward_data_winograd_transposed_applies(const ConvGeometry& g, int N, int threads) {
    ConvGeometry t;
    return flipped_applies(g, t) && winograd_transposed_applies(t, N, threads);
}
inline bool backward_data_winograd_transposed_pays(const ConvGeometry& g, int N, int threads) {
    ConvGeometry t;
    return flipped_applies(g, t) && winograd_transposes(t, N, threads);
}
inline void backward_data_winograd_transposed_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    ConvGeometry t;
    flipped_applies(g, t);
    winograd_forward_transposed(t, a.N, a.dy, a.weight, true, a.workspace + conv2d_fast_flipped_scalars(g), nullptr,
                                a.dx, a.workspace + conv2d_fast_shared_scalars(g), conv_thread_scalars<float>(g),
                                a.pool);
}
inline bool backward_data_winograd_applies(const ConvGeometry& g, int, int) {
    ConvGeometry t;
    return flipped_applies(g, t) && winograd_applies(t);
}
inline bool backward_data_winograd_pays(const ConvGeometry& g, int N, int) {
    ConvGeometry t;
    return flipped_applies(g, t) && winograd_pays(t, N);
}
inline void backward_data_winograd_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    ConvGeometry t;
    flipped_applies(g, t);
    winograd_forward(t, a.N, a.dy, a.weight, true, a.workspace + conv2d_fast_flipped_scalars(g), nullptr, a.dx,
                     a.workspace + conv2d_fast_shared_scalars(g), conv_thread_scalars<float>(g), a.pool);
}
#endif

// ---- backward-weights

// Implicit GEMM: dweight (K, R) = sum_n dy_n (K, P) x im2col(x_n)^T, the im2col read transposed from the padded
// image. Threads split dweight by patch rows (when R holds two panels per thread) or by filters, each summing
// every image in order; thread 0 sums the bias.
template <class Scalar>
void backward_weights_implicit_gemm_run(const ConvGeometry& g, const ConvArgs<Scalar>& a) {
    const int R = g.patch_size(), P = g.out_pixels(), threads = pool_threads(a.pool);
    const std::size_t per_thread = conv_thread_scalars<Scalar>(g);
    const PaddedLayout l = padded_layout(g);
    const std::size_t xp_scalars = (l.size + 15) / 16 * 16;
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const std::size_t out_size = static_cast<std::size_t>(g.K) * P;
    const bool by_rows = R >= 2 * GemmBlocking::NR * threads;
    pool_run(a.pool, threads, [&](int t) {
        Scalar* xp = a.workspace + conv2d_fast_flipped_scalars(g) + static_cast<std::size_t>(t) * per_thread;
        Scalar* gemm_ws = xp + xp_scalars;
        int begin = 0, end = 0;
        split_range(by_rows ? R : g.K, threads, t, by_rows ? GemmBlocking::NR : GemmBlocking::MR, begin, end);
        if (begin < end) {
            const int k0 = by_rows ? 0 : begin, k1 = by_rows ? g.K : end;
            const int r0 = by_rows ? begin : 0, r1 = by_rows ? end : R;
            for (int n = 0; n < a.N; ++n) {
                pad_image(g, l, a.x + n * in_size, xp);
                gemm_packed(k1 - k0, r1 - r0, P,
                            StridedPackA<Scalar>{{a.dy + n * out_size + static_cast<std::size_t>(k0) * P, P, 1}},
                            Im2colTransposedPackB<Scalar>{&g, l, xp, r0},
                            a.dweight + static_cast<std::size_t>(k0) * R + r0, R, n > 0, gemm_ws);
            }
        }
        if (t == 0 && a.dbias) sum_bias(g, a.N, a.dy, a.dbias);
    });
}

#if DEEPCNN_ISA_AVX2
// Winograd: the gradient of the transformed weights summed in fixed parts (winograd_weights_pays).
inline bool backward_weights_winograd_applies(const ConvGeometry& g, int, int) { return winograd_applies(g); }
inline bool backward_weights_winograd_pays(const ConvGeometry& g, int N, int) { return winograd_weights_pays(g, N); }
inline void backward_weights_winograd_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    winograd_backward_weights(g, a.N, a.x, a.dy, a.dweight, a.workspace + conv2d_fast_flipped_scalars(g),
                              a.workspace + conv2d_fast_shared_scalars(g), conv_thread_scalars<float>(g), a.pool);
    if (a.dbias) sum_bias(g, a.N, a.dy, a.dbias);
}

// Broadcast: where one block's dy fits the thread's GEMM block; it pays on 5x5 windows, and on 3x3 where the
// forward's beats Winograd (broadcast_weights_pays); threads split the bias by filters.
inline bool backward_weights_broadcast_applies(const ConvGeometry& g, int, int) { return broadcast_weights_applies(g); }
inline bool backward_weights_broadcast_pays(const ConvGeometry& g, int N, int) { return broadcast_weights_pays(g, N); }
inline void backward_weights_broadcast_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    broadcast_backward_weights(g, a.N, a.x, a.dy, a.dweight, a.workspace, a.workspace + conv2d_fast_flipped_scalars(g),
                               conv_thread_scalars<float>(g), a.pool);
    if (a.dbias) {
        const int threads = pool_threads(a.pool);
        pool_run(a.pool, threads, [&](int t) {
            int k0 = 0, k1 = 0;
            split_range(g.K, threads, t, 1, k0, k1);
            sum_bias(g, a.N, a.dy, a.dbias, k0, k1);
        });
    }
}

// Direct: the first layer (a small patch). Threads split the filters (in the kernel's blocks); each sums every
// image in order into 8-lane partial sums of the weight and bias gradients (in its GEMM block), reduced lane by
// lane at the end.
inline bool backward_weights_direct_applies(const ConvGeometry& g, int, int) { return backward_weights_direct(g); }
inline void backward_weights_direct_run(const ConvGeometry& g, const ConvArgs<float>& a) {
    const int R = g.patch_size(), P = g.out_pixels(), threads = pool_threads(a.pool);
    const std::size_t per_thread = conv_thread_scalars<float>(g);
    const PaddedLayout l = padded_layout(g);
    const std::size_t xp_scalars = (l.size + 15) / 16 * 16;
    const std::size_t in_size = static_cast<std::size_t>(g.C) * g.H * g.W;
    const std::size_t out_size = static_cast<std::size_t>(g.K) * P;
    const int block = g.KW == 3 ? direct_filter_block<3>() : direct_filter_block<5>();
    pool_run(a.pool, threads, [&](int t) {
        float* xp = a.workspace + conv2d_fast_flipped_scalars(g) + static_cast<std::size_t>(t) * per_thread;
        float* acc = xp + xp_scalars;
        int begin = 0, end = 0;
        split_range(g.K, threads, t, block, begin, end);
        if (begin == end) return;
        const std::size_t acc_scalars = static_cast<std::size_t>(end - begin) * (R + 1) * 8;
        std::fill(acc, acc + acc_scalars, 0.0f);
        float* bias_acc = acc + static_cast<std::size_t>(end - begin) * R * 8;
        for (int n = 0; n < a.N; ++n) {
            pad_image(g, l, a.x + n * in_size, xp);
            if (g.KW == 3) {
                backward_weights_direct_image<3, direct_filter_block<3>()>(g, l, xp, a.dy + n * out_size, begin, end,
                                                                           acc, bias_acc);
            } else {
                backward_weights_direct_image<5, direct_filter_block<5>()>(g, l, xp, a.dy + n * out_size, begin, end,
                                                                           acc, bias_acc);
            }
        }
        for (int k = begin; k < end; ++k) {
            for (int r = 0; r < R; ++r)
                a.dweight[static_cast<std::size_t>(k) * R + r] =
                    sum_lanes8(acc + (static_cast<std::size_t>(k - begin) * R + r) * 8);
            if (a.dbias) a.dbias[k] = sum_lanes8(bias_acc + static_cast<std::size_t>(k - begin) * 8);
        }
    });
}
#endif

// The transposed Winograd variants are written for the 6x16 tile (AVX2's; AVX-512's 8x48 has no such list entry).
constexpr bool winograd_transposed_tile = GemmBlocking::MR == 6;

// The hand-vectorised variants exist for float in the SIMD passes.
template <class Scalar>
constexpr bool simd_variants() {
    return DEEPCNN_ISA_AVX2 && std::is_same<Scalar, float>::value;
}

}  // namespace detail

// The ordered variants of one direction for Scalar in this pass.
template <class Scalar>
std::vector<ConvVariant<Scalar>> conv2d_variants(ConvDirection d) {
    using namespace detail;
    std::vector<ConvVariant<Scalar>> list;
    switch (d) {
        case ConvDirection::forward:
#if DEEPCNN_ISA_AVX2
            if constexpr (simd_variants<Scalar>()) {
                list.push_back({"direct", forward_direct_applies, forward_direct_applies, forward_direct_run, true});
                list.push_back({"broadcast", forward_broadcast_applies, forward_broadcast_pays, forward_broadcast_run,
                                true, forward_broadcast_prepared_scalars, forward_broadcast_prepare});
                list.push_back({"broadcast_stride2", forward_broadcast_stride2_applies, forward_broadcast_stride2_pays,
                                forward_broadcast_stride2_run, true, forward_broadcast_prepared_scalars,
                                forward_broadcast_prepare});
                if (winograd_transposed_tile)
                    list.push_back({"winograd_transposed", forward_winograd_transposed_applies,
                                    forward_winograd_transposed_pays, forward_winograd_transposed_run, false,
                                    forward_winograd_transposed_prepared_scalars,
                                    forward_winograd_transposed_prepare});
                list.push_back({"winograd", forward_winograd_applies, forward_winograd_pays, forward_winograd_run, true,
                                forward_winograd_prepared_scalars, forward_winograd_prepare});
            }
#endif
            list.push_back({"pointwise", pointwise_variant_applies, pointwise_variant_applies,
                            forward_pointwise_run<Scalar>});
            list.push_back({"implicit_gemm", always, always, forward_implicit_gemm<Scalar>, true});
            break;
        case ConvDirection::backward_data:
#if DEEPCNN_ISA_AVX2
            if constexpr (simd_variants<Scalar>()) {
                list.push_back({"broadcast_flipped", backward_data_broadcast_applies, backward_data_broadcast_pays,
                                backward_data_broadcast_run});
                list.push_back({"broadcast_stride2", backward_data_broadcast_stride2_applies,
                                backward_data_broadcast_stride2_pays, backward_data_broadcast_stride2_run});
                if (winograd_transposed_tile)
                    list.push_back({"winograd_transposed_flipped", backward_data_winograd_transposed_applies,
                                    backward_data_winograd_transposed_pays, backward_data_winograd_transposed_run});
                list.push_back({"winograd_flipped", backward_data_winograd_applies, backward_data_winograd_pays,
                                backward_data_winograd_run});
            }
#endif
            list.push_back({"pointwise", pointwise_variant_applies, pointwise_variant_applies,
                            backward_data_pointwise_run<Scalar>});
            list.push_back({"implicit_gemm_flipped", backward_data_implicit_gemm_applies,
                            backward_data_implicit_gemm_applies, backward_data_implicit_gemm_run<Scalar>});
            list.push_back({"gemm_col2im", always, always, backward_data_gemm_col2im_run<Scalar>});
            break;
        case ConvDirection::backward_weights:
#if DEEPCNN_ISA_AVX2
            if constexpr (simd_variants<Scalar>()) {
                list.push_back({"broadcast", backward_weights_broadcast_applies, backward_weights_broadcast_pays,
                                backward_weights_broadcast_run});
                list.push_back({"winograd", backward_weights_winograd_applies, backward_weights_winograd_pays,
                                backward_weights_winograd_run});
                list.push_back({"direct", backward_weights_direct_applies, backward_weights_direct_applies,
                                backward_weights_direct_run});
            }
#endif
            list.push_back({"pointwise", pointwise_variant_applies, pointwise_variant_applies,
                            backward_weights_pointwise_run<Scalar>});
            list.push_back({"implicit_gemm", always, always, backward_weights_implicit_gemm_run<Scalar>});
            break;
    }
    return list;
}

// Their names, in order.
template <class Scalar>
std::vector<std::string> conv2d_variant_names(ConvDirection d) {
    std::vector<std::string> names;
    for (const ConvVariant<Scalar>& v : conv2d_variants<Scalar>(d)) names.push_back(v.name);
    return names;
}

namespace detail {
// The three lists, built once per process.
template <class Scalar>
const std::vector<ConvVariant<Scalar>>& variant_list(ConvDirection d) {
    static const std::vector<ConvVariant<Scalar>> lists[3] = {conv2d_variants<Scalar>(ConvDirection::forward),
                                                              conv2d_variants<Scalar>(ConvDirection::backward_data),
                                                              conv2d_variants<Scalar>(ConvDirection::backward_weights)};
    return lists[static_cast<int>(d)];
}

// The variant `name` of direction d; throws config_error where this pass has none.
template <class Scalar>
const ConvVariant<Scalar>& named_variant(ConvDirection d, const char* name) {
    for (const ConvVariant<Scalar>& v : variant_list<Scalar>(d))
        if (std::strcmp(name, v.name) == 0) return v;
    throw config_error(std::string("no convolution ") + conv_direction_name(d) + " variant named '" + name + "'");
}

// The first variant of the list that applies and pays (the last one always does).
template <class Scalar>
const ConvVariant<Scalar>& chosen_variant(ConvDirection d, const ConvGeometry& g, int N, int threads) {
    const auto& list = variant_list<Scalar>(d);
    for (const ConvVariant<Scalar>& v : list)
        if (v.applies(g, N, threads) && v.pays(g, N, threads)) return v;
    return list.back();
}
}  // namespace detail

// The variant each direction runs for N images on `threads` threads.
template <class Scalar>
ConvPlan conv2d_plan(const ConvGeometry& g, int N, int threads, Isa isa) {
    ConvPlan plan;
    plan.isa = isa;
    plan.N = N;
    plan.threads = threads;
    plan.forward = detail::chosen_variant<Scalar>(ConvDirection::forward, g, N, threads).name;
    plan.backward_data = detail::chosen_variant<Scalar>(ConvDirection::backward_data, g, N, threads).name;
    plan.backward_weights = detail::chosen_variant<Scalar>(ConvDirection::backward_weights, g, N, threads).name;
    return plan;
}

// Runs the variant `name` of direction d (a forward with a.relu: then the ReLU), allocating nothing (throws
// config_error naming the variant and the geometry where there is no such variant in this pass, or where it does
// not apply).
template <class Scalar>
void conv2d_run(ConvDirection d, const char* name, const ConvGeometry& g, const ConvArgs<Scalar>& a) {
    const ConvVariant<Scalar>& v = detail::named_variant<Scalar>(d, name);
    if (!v.applies(g, a.N, detail::pool_threads(a.pool))) {
        throw config_error(std::string("convolution ") + conv_direction_name(d) + " variant '" + name +
                           "' does not apply to " + conv_geometry_str(g));
    }
    v.run(g, a);
    if (d == ConvDirection::forward && a.relu && !v.fuses_relu) detail::relu_output(g, a.N, a.y, a.pool);
}

// Scalars of the weights the forward variant `name` prepares per call (ConvArgs::prepared_weight), 0 where it
// prepares none (throws config_error where there is no such variant in this pass).
template <class Scalar>
std::size_t conv2d_forward_prepared_size(const char* name, const ConvGeometry& g) {
    const ConvVariant<Scalar>& v = detail::named_variant<Scalar>(ConvDirection::forward, name);
    return v.prepared_scalars ? v.prepared_scalars(g) : 0;
}
// Writes weight (K, C, KH, KW) prepared for the forward variant `name` into `prepared`
// (conv2d_forward_prepared_size scalars), as the variant prepares them on each call; nothing where it prepares none.
template <class Scalar>
void conv2d_forward_prepare(const char* name, const ConvGeometry& g, const Scalar* weight, Scalar* prepared) {
    const ConvVariant<Scalar>& v = detail::named_variant<Scalar>(ConvDirection::forward, name);
    if (v.prepare) v.prepare(g, weight, prepared);
}

// The three directions, each running the variant its list chooses.
template <class Scalar>
void conv2d_forward_fast(const ConvGeometry& g, int N, const Scalar* x, const Scalar* weight, const Scalar* bias,
                         Scalar* y, Scalar* workspace, ThreadPool* pool) {
    ConvArgs<Scalar> a;
    a.N = N, a.x = x, a.weight = weight, a.bias = bias, a.y = y, a.workspace = workspace, a.pool = pool;
    detail::chosen_variant<Scalar>(ConvDirection::forward, g, N, detail::pool_threads(pool)).run(g, a);
}
template <class Scalar>
void conv2d_backward_data_fast(const ConvGeometry& g, int N, const Scalar* dy, const Scalar* weight, Scalar* dx,
                               Scalar* workspace, ThreadPool* pool) {
    ConvArgs<Scalar> a;
    a.N = N, a.dy = dy, a.weight = weight, a.dx = dx, a.workspace = workspace, a.pool = pool;
    detail::chosen_variant<Scalar>(ConvDirection::backward_data, g, N, detail::pool_threads(pool)).run(g, a);
}
template <class Scalar>
void conv2d_backward_weights_fast(const ConvGeometry& g, int N, const Scalar* x, const Scalar* dy, Scalar* dweight,
                                  Scalar* dbias, Scalar* workspace, ThreadPool* pool) {
    ConvArgs<Scalar> a;
    a.N = N, a.x = x, a.dy = dy, a.dweight = dweight, a.dbias = dbias, a.workspace = workspace, a.pool = pool;
    detail::chosen_variant<Scalar>(ConvDirection::backward_weights, g, N, detail::pool_threads(pool)).run(g, a);
}

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
