// deepcnn/kernels/grouped_conv2d_plan.hpp: the grouped convolution's ordered variant lists (Conv2D::with_groups), in
// the style of conv2d_plan.hpp: for each direction, named variants with `applies`, `pays` and `run`; a call runs the
// first that applies and pays (by the measurements cited below). The last, "rows"
// (grouped_conv2d.hpp's portable row loops), applies everywhere. The SIMD passes hold "depthwise3x3_lanes" and
// "depthwise3x3" for float.
//
//   forward, backward-data, backward-weights   depthwise3x3_lanes, depthwise3x3, rows
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
    bool (*pays)(const ConvGeometry& g, int groups);
    void (*run)(const ConvGeometry& g, int groups, const ConvArgs<Scalar>& a);
};

namespace detail {

inline bool grouped_always(const ConvGeometry&, int) { return true; }

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

// Depthwise 3x3 with the channels in the lanes (depthwise_lanes.hpp): backward-weights wherever it applies, forward
// and backward-data where depthwise_lanes_pays. MEASUREMENT_PLACEHOLDER
inline bool depthwise_lanes_pays(const ConvGeometry& g, int groups) { return depthwise_lanes_applies(g, groups); }
inline void grouped_forward_lanes(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_lanes_forward(g, a.N, a.x, a.weight, a.bias, a.y, a.pool);
}
inline void grouped_backward_data_lanes(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_lanes_backward_data(g, a.N, a.dy, a.weight, a.dx, a.pool);
}
inline void grouped_backward_weights_lanes(const ConvGeometry& g, int, const ConvArgs<float>& a) {
    depthwise_lanes_backward_weights(g, a.N, a.x, a.dy, a.dweight, a.dbias, a.pool);
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
        list.push_back({"depthwise3x3_lanes", depthwise_lanes_applies,
                        d == ConvDirection::backward_weights ? depthwise_lanes_applies : depthwise_lanes_pays,
                        d == ConvDirection::forward         ? grouped_forward_lanes
                        : d == ConvDirection::backward_data ? grouped_backward_data_lanes
                                                            : grouped_backward_weights_lanes});
        list.push_back({"depthwise3x3", depthwise3x3_applies, depthwise3x3_applies,
                        d == ConvDirection::forward         ? grouped_forward_depthwise
                        : d == ConvDirection::backward_data ? grouped_backward_data_depthwise
                                                            : grouped_backward_weights_depthwise});
    }
#endif
    list.push_back({"rows", grouped_always, grouped_always,
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
const GroupedConvVariant<Scalar>& grouped_chosen_variant(ConvDirection d, const ConvGeometry& g, int groups) {
    const auto& list = grouped_variant_list<Scalar>(d);
    for (const GroupedConvVariant<Scalar>& v : list)
        if (v.applies(g, groups) && v.pays(g, groups)) return v;
    return list.back();
}
}  // namespace detail

// The variant each direction runs (for any batch and thread count: the choice depends on the shape only).
template <class Scalar>
ConvPlan grouped_conv2d_plan(const ConvGeometry& g, int groups, int N, int threads, Isa isa) {
    ConvPlan plan;
    plan.isa = isa;
    plan.N = N;
    plan.threads = threads;
    plan.forward = detail::grouped_chosen_variant<Scalar>(ConvDirection::forward, g, groups).name;
    plan.backward_data = detail::grouped_chosen_variant<Scalar>(ConvDirection::backward_data, g, groups).name;
    plan.backward_weights = detail::grouped_chosen_variant<Scalar>(ConvDirection::backward_weights, g, groups).name;
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
    detail::grouped_chosen_variant<Scalar>(d, g, groups).run(g, groups, a);
}

}  // namespace DEEPCNN_ISA_NS
}  // namespace deepcnn
