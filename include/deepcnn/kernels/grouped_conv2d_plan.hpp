// deepcnn/kernels/grouped_conv2d_plan.hpp: the grouped convolution's ordered variant lists (Conv2D::with_groups), in
// the style of conv2d_plan.hpp: for each direction, named variants with `applies`, `pays` and `run`; a call runs the
// first that applies and pays (by the measurements cited below). The last, "rows"
// (grouped_conv2d.hpp's portable row loops), applies everywhere. The SIMD passes hold "depthwise3x3_flat",
// "depthwise3x3_stride2", "depthwise3x3_lanes" and "depthwise3x3" for float.
//
//   forward, backward-data, backward-weights   depthwise3x3_flat, depthwise3x3_stride2, depthwise3x3_lanes,
//                                              depthwise3x3, rows
//
// grouped_conv2d_run forces a variant by name (tests, benchmarks); grouped_conv2d_plan names the ones a shape runs.
// No variant takes a workspace or allocates; every variant's result is the same on any thread count.

#ifndef DEEPCNN_ISA_NS
#error "kernels/grouped_conv2d_plan.hpp is compiled once per instruction set: include <deepcnn/kernels/kernels.hpp>"
#endif

namespace deepcnn {
namespace DEEPCNN_ISA_NS {

template <class Scalar>
struct GroupedConvVariant {
    const char* name;
    bool (*applies)(const ConvGeometry& g, int groups);
    bool (*pays)(const ConvGeometry& g, int groups, int N);
    void (*run)(const ConvGeometry& g, int groups, const ConvArgs<Scalar>& a);
};

namespace detail {

inline bool grouped_always(const ConvGeometry&, int) { return true; }
inline bool grouped_always_pays(const ConvGeometry&, int, int) { return true; }

template <class Scalar>
void grouped_forward_rows(const ConvGeometry& g, int groups, const ConvArgs<Scalar>& a) {
    grouped_conv2d_forward(g, groups, a.N, a.x, a.weight, a.bias, a.y, a.pool);
}
template <class Scalar>
void grouped_backward_data_rows(const ConvGeometry& g, int groups, const ConvArgs<Scalar>& a) {
    grouped_conv2d_backward_data(g, groups, a.N, a.dy, a.weight, a.dx, a.pool);
}
template <class Scalar>
void grouped_backward_weights_rows(const ConvGeometry& g, int groups, const ConvArgs<Scalar>& a) {
    grouped_conv2d_backward_weights(g, groups, a.N, a.x, a.dy, a.dweight, a.dbias, a.pool);
}

#if DEEPCNN_ISA_AVX2
// Depthwise 3x3 (depthwise_conv2d.hpp): against the row loops on bench_conv2d's depthwise layers (64 channels 24x24
// and 128 channels 12x12, stride 1 and 2, batch 64 and 1, 1 thread, CPU time) it is 2.4-7x as fast in every entry
// (docs/performance.md, "Grouped and depthwise"), so it runs wherever it applies.
inline void grouped_forward_depthwise(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise3x3_forward(g, a.N, a.x, a.weight, a.bias, a.y, a.pool);
}
inline void grouped_backward_data_depthwise(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise3x3_backward_data(g, a.N, a.dy, a.weight, a.dx, a.pool);
}
inline void grouped_backward_weights_depthwise(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise3x3_backward_weights(g, a.N, a.x, a.dy, a.dweight, a.dbias, a.pool);
}

// Depthwise 3x3 with the channels in the lanes (depthwise_lanes.hpp), against depthwise3x3 on bench_conv2d's
// depthwise layers (64 channels 24x24, 128 channels 12x12, stride 1 and 2; CPU time on 1 thread, batch 64 / batch 1;
// Intel Xeon family 6 model 207, AVX-512, load average 6-9):
//   backward-weights  1.27-3.52x in every entry: it runs wherever it applies.
//   forward           stride 2: 1.06-1.95x; stride 1: 1.35-1.38x at batch 1, 0.80-0.81x at batch 64, where the batch
//                     (x and y: 19 and 9 MB) streams from memory: it runs at stride 2, or where x and y take at most
//                     depthwise_lanes_batch_bytes.
//   backward-data     12x12: 1.03-1.25x; 24x24: stride 1 0.78-0.86x, stride 2 1.35x at batch 1, 0.88x at batch 64
//                     (a 24-pixel row fills 1.5 of depthwise3x3's vectors, a 12-pixel row three quarters of one): it
//                     runs where dx rows are at most depthwise_lanes_narrow_width wide, or at stride 2 where dy and dx
//                     take at most depthwise_lanes_batch_bytes.
constexpr double depthwise_lanes_batch_bytes = 1 << 20;
constexpr int depthwise_lanes_narrow_width = 16;
inline double depthwise_batch_bytes(const ConvGeometry& g, int N) {
    return 4.0 * N * g.C * (static_cast<double>(g.H) * g.W + static_cast<double>(g.OH) * g.OW);
}
inline bool depthwise_lanes_forward_pays(const ConvGeometry& g, int groups, int N) {
    return depthwise_lanes_applies(g, groups) &&
           (g.stride_h == 2 || depthwise_batch_bytes(g, N) <= depthwise_lanes_batch_bytes);
}
inline bool depthwise_lanes_backward_data_pays(const ConvGeometry& g, int groups, int N) {
    return depthwise_lanes_applies(g, groups) &&
           (g.W <= depthwise_lanes_narrow_width ||
            (g.stride_h == 2 && depthwise_batch_bytes(g, N) <= depthwise_lanes_batch_bytes));
}
inline bool depthwise_lanes_backward_weights_pays(const ConvGeometry& g, int groups, int) {
    return depthwise_lanes_applies(g, groups);
}
inline bool depthwise3x3_pays(const ConvGeometry& g, int groups, int) { return depthwise3x3_applies(g, groups); }
inline void grouped_forward_lanes(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_lanes_forward(g, a.N, a.x, a.weight, a.bias, a.y, a.pool);
}
inline void grouped_backward_data_lanes(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_lanes_backward_data(g, a.N, a.dy, a.weight, a.dx, a.pool);
}
inline void grouped_backward_weights_lanes(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_lanes_backward_weights(g, a.N, a.x, a.dy, a.dweight, a.dbias, a.pool);
}

// Depthwise 3x3 on flat planes (depthwise_flat.hpp, stride 1 with 'same' rows), against the better of
// depthwise3x3_lanes and depthwise3x3 on bench_conv2d's depthwise layers at stride 1 (64 channels 24x24, 128
// channels 12x12; 1 thread, batch 64 / batch 1, best of 4 rounds; AMD EPYC Zen 4, family 25 model 17):
//   forward           24x24 1.39x / 1.24x, 12x12 1.25x / 1.09x
//   backward-data     24x24 1.35x / 1.34x, 12x12 1.27x / 1.17x
//   backward-weights  24x24 1.09x / 1.43x, 12x12 1.54x / 0.94x
// Its whole-vector reads on AVX-512 and backward-weights in place since then measured 1.00-2.01x those figures on
// the same layers (performance.md); backward-weights at batch 1 on the 12x12 layer, where depthwise3x3_lanes ran,
// is now 1.20x depthwise3x3_lanes there (AVX2: 1.13-1.29x). So it runs wherever it applies.
inline bool depthwise_flat_pays(const ConvGeometry& g, int groups, int) { return depthwise_flat_applies(g, groups); }
inline void grouped_forward_flat(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_flat_forward(g, a.N, a.x, a.weight, a.bias, a.y, a.pool);
}
inline void grouped_backward_data_flat(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_flat_backward_data(g, a.N, a.dy, a.weight, a.dx, a.pool);
}
inline void grouped_backward_weights_flat(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_flat_backward_weights(g, a.N, a.x, a.dy, a.dweight, a.dbias, a.pool);
}
#endif

#if DEEPCNN_ISA_AVX2
// Depthwise 3x3 at stride 2 from the NCHW planes by shuffles (depthwise_stride2.hpp), against the better of
// depthwise3x3_lanes and depthwise3x3 on bench_conv2d's stride-2 depthwise layers (1 thread, batch 64 / batch 1,
// best of 3 rounds; AMD EPYC Zen 4, family 25 model 17; AVX2: the same CPU with DEEPCNN_ISA=avx2):
//   forward           64 channels 24x24 AVX-512 2.46x / 2.02x, AVX2 1.14x / 1.33x; 128 channels 12x12 AVX-512
//                     1.80x / 1.46x, AVX2 1.32x / 1.26x: it runs wherever it applies
//   backward-data     24x24 AVX-512 2.03x / 1.78x, AVX2 1.93x / 1.66x; 12x12 1.77x / 1.63x, 1.41x / 1.37x: so
//   backward-weights  24x24 AVX-512 2.15x / 1.51x, AVX2 0.98x / 1.09x; 12x12 AVX-512 1.36x / 0.75x, AVX2 1.18x /
//                     0.86x: with AVX2, one image on rows of at most depthwise_stride2_narrow_row outputs stays with
//                     the lanes variant (its lanes are channels: it needs no lane totals at the end). With AVX-512 the
//                     stride-2 variant runs there too since its sums stay in registers to the end: 1.29x the lanes
//                     variant on the 12x12 layer at batch 1 (AVX2 0.96x).
constexpr int depthwise_stride2_narrow_row = 7;
inline bool depthwise_stride2_pays(const ConvGeometry& g, int groups, int) {
    return depthwise_stride2_applies(g, groups);
}
inline bool depthwise_stride2_backward_weights_pays(const ConvGeometry& g, int groups, int N) {
    return depthwise_stride2_applies(g, groups) &&
           (DEEPCNN_ISA_AVX512 || N > 1 || g.OW > depthwise_stride2_narrow_row);
}
inline void grouped_forward_stride2(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_stride2_forward(g, a.N, a.x, a.weight, a.bias, a.y, a.pool);
}
inline void grouped_backward_data_stride2(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_stride2_backward_data(g, a.N, a.dy, a.weight, a.dx, a.pool);
}
inline void grouped_backward_weights_stride2(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_stride2_backward_weights(g, a.N, a.x, a.dy, a.dweight, a.dbias, a.pool);
}
#endif

}  // namespace detail

// The ordered variants of one direction for Scalar in this pass.
template <class Scalar>
std::vector<GroupedConvVariant<Scalar>> grouped_conv2d_variants(ConvDirection d) {
    using namespace detail;
    std::vector<GroupedConvVariant<Scalar>> list;
#if DEEPCNN_ISA_AVX2
    if constexpr (simd_variants<Scalar>()) {
        list.push_back({"depthwise3x3_flat", depthwise_flat_applies, depthwise_flat_pays,
                        d == ConvDirection::forward         ? grouped_forward_flat
                        : d == ConvDirection::backward_data ? grouped_backward_data_flat
                                                            : grouped_backward_weights_flat});
        list.push_back({"depthwise3x3_stride2", depthwise_stride2_applies,
                        d == ConvDirection::backward_weights ? depthwise_stride2_backward_weights_pays
                                                             : depthwise_stride2_pays,
                        d == ConvDirection::forward         ? grouped_forward_stride2
                        : d == ConvDirection::backward_data ? grouped_backward_data_stride2
                                                            : grouped_backward_weights_stride2});
        list.push_back({"depthwise3x3_lanes", depthwise_lanes_applies,
                        d == ConvDirection::forward         ? depthwise_lanes_forward_pays
                        : d == ConvDirection::backward_data ? depthwise_lanes_backward_data_pays
                                                            : depthwise_lanes_backward_weights_pays,
                        d == ConvDirection::forward         ? grouped_forward_lanes
                        : d == ConvDirection::backward_data ? grouped_backward_data_lanes
                                                            : grouped_backward_weights_lanes});
        list.push_back({"depthwise3x3", depthwise3x3_applies, depthwise3x3_pays,
                        d == ConvDirection::forward         ? grouped_forward_depthwise
                        : d == ConvDirection::backward_data ? grouped_backward_data_depthwise
                                                            : grouped_backward_weights_depthwise});
    }
#endif
    list.push_back({"rows", grouped_always, grouped_always_pays,
                    d == ConvDirection::forward         ? grouped_forward_rows<Scalar>
                    : d == ConvDirection::backward_data ? grouped_backward_data_rows<Scalar>
                                                        : grouped_backward_weights_rows<Scalar>});
    return list;
}

template <class Scalar>
std::vector<std::string> grouped_conv2d_variant_names(ConvDirection d) {
    std::vector<std::string> names;
    for (const GroupedConvVariant<Scalar>& v : grouped_conv2d_variants<Scalar>(d)) names.push_back(v.name);
    return names;
}

namespace detail {
template <class Scalar>
const std::vector<GroupedConvVariant<Scalar>>& grouped_variant_list(ConvDirection d) {
    static const std::vector<GroupedConvVariant<Scalar>> lists[3] = {
        grouped_conv2d_variants<Scalar>(ConvDirection::forward),
        grouped_conv2d_variants<Scalar>(ConvDirection::backward_data),
        grouped_conv2d_variants<Scalar>(ConvDirection::backward_weights)};
    return lists[static_cast<int>(d)];
}

template <class Scalar>
const GroupedConvVariant<Scalar>& grouped_chosen_variant(ConvDirection d, const ConvGeometry& g, int groups, int N) {
    const auto& list = grouped_variant_list<Scalar>(d);
    for (const GroupedConvVariant<Scalar>& v : list)
        if (v.applies(g, groups) && v.pays(g, groups, N)) return v;
    return list.back();
}
}  // namespace detail

// The variant each direction runs (for any thread count: the choice depends on the shape and the batch).
template <class Scalar>
ConvPlan grouped_conv2d_plan(const ConvGeometry& g, int groups, int N, int threads, Isa isa) {
    ConvPlan plan;
    plan.isa = isa;
    plan.N = N;
    plan.threads = threads;
    plan.forward = detail::grouped_chosen_variant<Scalar>(ConvDirection::forward, g, groups, N).name;
    plan.backward_data = detail::grouped_chosen_variant<Scalar>(ConvDirection::backward_data, g, groups, N).name;
    plan.backward_weights = detail::grouped_chosen_variant<Scalar>(ConvDirection::backward_weights, g, groups, N).name;
    return plan;
}

// Runs direction d's variant `name` (throws config_error where there is no such variant in this pass, or where it
// does not apply).
template <class Scalar>
void grouped_conv2d_run(ConvDirection d, const char* name, const ConvGeometry& g, int groups,
                        const ConvArgs<Scalar>& a) {
    for (const GroupedConvVariant<Scalar>& v : detail::grouped_variant_list<Scalar>(d)) {
        if (std::strcmp(name, v.name) != 0) continue;
        if (!v.applies(g, groups)) {
            throw config_error(std::string("grouped convolution ") + conv_direction_name(d) + " variant '" + name +
                               "' does not apply to " + conv_geometry_str(g) + ", " + std::to_string(groups) +
                               " groups");
        }
        v.run(g, groups, a);
        return;
    }
    throw config_error(std::string("no grouped convolution ") + conv_direction_name(d) + " variant named '" + name +
                       "'");
}

// Runs direction d's first variant that applies.
template <class Scalar>
void grouped_conv2d_fast(ConvDirection d, const ConvGeometry& g, int groups, const ConvArgs<Scalar>& a) {
    detail::grouped_chosen_variant<Scalar>(d, g, groups, a.N).run(g, groups, a);
}

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
