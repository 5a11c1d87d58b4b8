// tests/kernels/test_conv2d_mobile.cpp: the fast paths of residual and mobile nets, each variant forced by name on
// every instruction set against the plain _ref kernels, on odd shapes (batch 1 and more, channels that are not
// multiples of 8 or 16, odd sizes, padding 0, 1 and 2, stride 1 and 2), and bit-identical on 1, 2 and 3 threads and
// (forward) with the weights prepared once (ConvArgs::prepared_weight):
// the convolution plan's "pointwise" variants (1x1 windows, kernels/conv2d_pointwise.hpp) and "broadcast_stride2"
// (3x3 at stride 2, kernels/conv2d_broadcast.hpp), the grouped plan's
// "depthwise3x3_lanes", "depthwise3x3" and "rows" (kernels/grouped_conv2d_plan.hpp); and which variant each plan
// picks for them.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/kernels.hpp>
#include <deepcnn/kernels/conv2d_ref.hpp>
#include <deepcnn/kernels/grouped_conv2d.hpp>
#include <deepcnn/layers/conv2d.hpp>
#include <deepcnn/random.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "isa_passes.hpp"

using namespace deepcnn;

namespace {

struct MobileCase {
    int N, C, H, W, K, window, stride;
    Padding padding;
    int groups;  // 1: a plain convolution; C: depthwise
};

std::string describe(const MobileCase& c) {
    return "N " + std::to_string(c.N) + " C " + std::to_string(c.C) + " " + std::to_string(c.H) + "x" +
           std::to_string(c.W) + " K " + std::to_string(c.K) + " window " + std::to_string(c.window) + " stride " +
           std::to_string(c.stride) + " padding " + c.padding.str() + " groups " + std::to_string(c.groups);
}

std::vector<float> random_floats(std::size_t count, Rng& rng) {
    std::vector<float> v(count);
    for (auto& e : v) e = static_cast<float>(rng.uniform(-1.0, 1.0));
    return v;
}

double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0, scale = 1e-30;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(b[i])));
    }
    return diff / scale;
}

// One case's operands and its _ref results for all three directions.
struct MobileOperands {
    ConvGeometry g;
    std::vector<float> x, w, b, dy;
    std::vector<float> y_ref, dx_ref, dw_ref, db_ref;
    explicit MobileOperands(const MobileCase& c) {
        g = make_conv_geometry(c.C, c.H, c.W, c.K, c.window, c.window, c.stride, c.stride, c.padding);
        Rng rng(static_cast<std::uint64_t>(c.N * 7919 + c.C * 131 + c.H * 17 + c.W + c.stride));
        x = random_floats(static_cast<std::size_t>(c.N) * c.C * c.H * c.W, rng);
        w = random_floats(static_cast<std::size_t>(c.K) * (c.C / c.groups) * c.window * c.window, rng);
        b = random_floats(static_cast<std::size_t>(c.K), rng);
        dy = random_floats(static_cast<std::size_t>(c.N) * c.K * g.out_pixels(), rng);
        y_ref.resize(dy.size()), dx_ref.resize(x.size()), dw_ref.resize(w.size()), db_ref.resize(b.size());
        if (c.groups == 1) {
            conv2d_forward_ref(g, c.N, x.data(), w.data(), b.data(), y_ref.data());
            conv2d_backward_data_ref(g, c.N, dy.data(), w.data(), dx_ref.data());
            conv2d_backward_weights_ref(g, c.N, x.data(), dy.data(), dw_ref.data(), db_ref.data());
        } else {
            grouped_conv2d_forward_ref(g, c.groups, c.N, x.data(), w.data(), b.data(), y_ref.data());
            grouped_conv2d_backward_data_ref(g, c.groups, c.N, dy.data(), w.data(), dx_ref.data());
            grouped_conv2d_backward_weights_ref(g, c.groups, c.N, x.data(), dy.data(), dw_ref.data(), db_ref.data());
        }
    }
};

struct MobileOutputs {
    std::vector<float> out, dbias;
};

// Runs variant `name` of direction d on `threads` threads, outputs and workspace NaN-filled first (every value
// read must have been written). With `prepared` (a forward), the weights prepared once are passed and the raw
// weights are NaN where the variant prepares any (it must read the prepared ones only).
MobileOutputs run_mobile_variant(const MobileCase& c, const MobileOperands& o, ConvDirection d, const std::string& name,
                                 int threads, bool prepared = false) {
    ThreadPool pool(threads);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    MobileOutputs r;
    r.out.assign(d == ConvDirection::forward ? o.dy.size() : d == ConvDirection::backward_data ? o.x.size()
                                                                                               : o.w.size(),
                 nan);
    r.dbias.assign(o.b.size(), nan);
    std::vector<float> workspace(c.groups == 1 ? kernels::conv2d_fast_workspace_size<float>(o.g, threads) : 0, nan);
    ConvArgs<float> a;
    a.N = c.N, a.x = o.x.data(), a.weight = o.w.data(), a.bias = o.b.data(), a.dy = o.dy.data();
    a.y = r.out.data(), a.dx = r.out.data(), a.dweight = r.out.data(), a.dbias = r.dbias.data();
    a.workspace = workspace.data(), a.pool = &pool;
    std::vector<float> prepared_weight, nan_weight(o.w.size(), nan);
    if (prepared) {
        prepared_weight.assign(kernels::conv2d_forward_prepared_size<float>(name.c_str(), o.g), nan);
        kernels::conv2d_forward_prepare<float>(name.c_str(), o.g, o.w.data(), prepared_weight.data());
        if (!prepared_weight.empty()) a.prepared_weight = prepared_weight.data(), a.weight = nan_weight.data();
    }
    if (c.groups == 1) {
        kernels::conv2d_run(d, name.c_str(), o.g, a);
    } else {
        kernels::grouped_conv2d_run(d, name.c_str(), o.g, c.groups, a);
    }
    return r;
}

const std::vector<ConvDirection> all_directions = {ConvDirection::forward, ConvDirection::backward_data,
                                                   ConvDirection::backward_weights};

// Each direction of variant `name` (all three unless given): against the _ref, and the same bits on 1, 2 and 3
// threads.
void check_mobile_variant(const MobileCase& c, const std::string& name,
                          const std::vector<ConvDirection>& directions = all_directions) {
    INFO(describe(c) << ", variant " << name);
    const MobileOperands o(c);
    for (const ConvDirection d : directions) {
        INFO(conv_direction_name(d));
        const MobileOutputs one = run_mobile_variant(c, o, d, name, 1);
        const std::vector<float>& want =
            d == ConvDirection::forward ? o.y_ref : d == ConvDirection::backward_data ? o.dx_ref : o.dw_ref;
        CHECK(relative_difference(one.out, want) < 1e-5);
        if (d == ConvDirection::backward_weights) CHECK(relative_difference(one.dbias, o.db_ref) < 1e-5);
        for (int threads : {1, 2}) {
            INFO("weights prepared once, threads " << threads);
            if (d == ConvDirection::forward && c.groups == 1)
                CHECK(run_mobile_variant(c, o, d, name, threads, true).out == one.out);
        }
        for (int threads : {2, 3}) {
            INFO("threads " << threads);
            const MobileOutputs many = run_mobile_variant(c, o, d, name, threads);
            CHECK(many.out == one.out);
            if (d == ConvDirection::backward_weights) CHECK(many.dbias == one.dbias);
        }
    }
}

}  // namespace

TEST_CASE("the pointwise (1x1) convolution variants match the references on every instruction set",
          "[kernels][conv2d][plan][pointwise]") {
    const MobileCase cases[] = {
        {1, 5, 7, 9, 11, 1, 1, Padding::valid(), 1},   {3, 19, 9, 7, 13, 1, 1, Padding::same(), 1},
        {3, 19, 9, 7, 13, 1, 2, Padding::same(), 1},   {2, 40, 13, 11, 24, 1, 2, Padding::valid(), 1},
        {1, 33, 6, 5, 17, 1, 2, Padding::same(), 1},   {1, 70, 12, 12, 130, 1, 1, Padding::same(), 1},
    };
    for_each_isa([&](Isa) {
        for (const MobileCase& c : cases) {
            check_mobile_variant(c, "pointwise");
            const ConvGeometry g = MobileOperands(c).g;
            for (int threads : {1, 2}) {
                const ConvPlan plan = kernels::conv2d_plan<float>(g, c.N, threads);
                CHECK(std::string(plan.forward) == "pointwise");
                CHECK(std::string(plan.backward_data) == "pointwise");
                CHECK(std::string(plan.backward_weights) == "pointwise");
            }
        }
        // Padding around a 1x1 window: the pointwise variant does not apply.
        const ConvGeometry padded = make_conv_geometry(4, 5, 5, 3, 1, 1, 1, 1, Padding::explicit_pad(1, 1));
        CHECK_THROWS_WITH(kernels::conv2d_run(ConvDirection::forward, "pointwise", padded, ConvArgs<float>{}),
                          Catch::Contains("variant 'pointwise' does not apply"));
        CHECK(std::string(kernels::conv2d_plan<float>(padded, 2, 1).forward) != "pointwise");
    });
    // Double runs the portable pass, which has the pointwise variants too.
    CHECK(std::string(kernels::conv2d_plan<double>(make_conv_geometry(8, 6, 6, 8, 1, 1, 2, 2, Padding::same()), 4, 1)
                          .forward) == "pointwise");
}

TEST_CASE("the stride-2 3x3 convolution variants match the references on every instruction set",
          "[kernels][conv2d][plan][stride2]") {
    // Forward: filters in blocks of 16 and at least 16 channels; backward-data: channels in blocks of 16 and at least
    // 16 filters. Odd sizes, padding 0 to 2, one and several tiles per row (and per phase of a dx row).
    const MobileCase cases[] = {
        {2, 16, 9, 11, 32, 3, 2, Padding::same(), 1},  {1, 20, 13, 7, 16, 3, 2, Padding::explicit_pad(1, 1), 1},
        {3, 17, 8, 8, 48, 3, 2, Padding::valid(), 1},  {1, 32, 24, 24, 64, 3, 2, Padding::same(), 1},
        {2, 16, 12, 31, 32, 3, 2, Padding::explicit_pad(2, 0), 1},
        {2, 32, 13, 27, 20, 3, 2, Padding::explicit_pad(1, 2), 1},
    };
    for_each_isa([&](Isa isa) {
        for (const MobileCase& c : cases) {
            const ConvGeometry g = MobileOperands(c).g;
            const ConvPlan plan = kernels::conv2d_plan<float>(g, c.N, 1);
            if (isa == Isa::portable) {
                CHECK(std::string(plan.forward) == "implicit_gemm");
                CHECK(std::string(plan.backward_data) == "gemm_col2im");
                continue;
            }
            std::vector<ConvDirection> directions;
            const bool forward = c.K % 16 == 0 && c.C >= 16, backward_data = c.C % 16 == 0 && c.K >= 16;
            if (forward) directions.push_back(ConvDirection::forward);
            if (backward_data) directions.push_back(ConvDirection::backward_data);
            check_mobile_variant(c, "broadcast_stride2", directions);
            // The plan takes it where rows (forward) or phases of dx rows (backward-data) hold 12 pixels or more.
            CHECK((std::string(plan.forward) == "broadcast_stride2") == (forward && g.OW >= 12));
            CHECK((std::string(plan.backward_data) == "broadcast_stride2") == (backward_data && g.W / 2 >= 12));
        }
        // 24 filters and 8 channels: neither direction applies.
        for (const MobileCase& c : {MobileCase{1, 16, 9, 9, 24, 3, 2, Padding::same(), 1},
                                    MobileCase{1, 8, 9, 9, 16, 3, 2, Padding::same(), 1}}) {
            const ConvGeometry g = MobileOperands(c).g;
            CHECK(std::string(kernels::conv2d_plan<float>(g, c.N, 1).forward) != "broadcast_stride2");
            if (isa == Isa::portable) continue;
            CHECK_THROWS_WITH(kernels::conv2d_run(ConvDirection::forward, "broadcast_stride2", g, ConvArgs<float>{}),
                              Catch::Contains("variant 'broadcast_stride2' does not apply"));
        }
        const ConvGeometry eight = MobileOperands(MobileCase{1, 8, 9, 9, 16, 3, 2, Padding::same(), 1}).g;
        if (isa != Isa::portable)
            CHECK_THROWS_WITH(
                kernels::conv2d_run(ConvDirection::backward_data, "broadcast_stride2", eight, ConvArgs<float>{}),
                Catch::Contains("variant 'broadcast_stride2' does not apply"));
    });
}

TEST_CASE("the depthwise 3x3 variants match the grouped references on every instruction set",
          "[kernels][conv2d][plan][groups]") {
    const MobileCase depthwise[] = {
        {1, 5, 7, 9, 5, 3, 1, Padding::same(), 5},       {3, 19, 9, 7, 19, 3, 2, Padding::same(), 19},
        {2, 17, 13, 11, 17, 3, 2, Padding::same(), 17}, {1, 3, 24, 24, 3, 3, 1, Padding::valid(), 3},
        {2, 6, 11, 13, 6, 3, 1, Padding::explicit_pad(2, 2), 6},
        {2, 7, 10, 35, 7, 3, 2, Padding::explicit_pad(1, 2), 7},
        {1, 4, 1, 1, 4, 3, 1, Padding::same(), 4},
    };
    for_each_isa([&](Isa isa) {
        for (const MobileCase& c : depthwise) {
            check_mobile_variant(c, "rows");
            const ConvGeometry g = MobileOperands(c).g;
            const ConvPlan plan = kernels::grouped_conv2d_plan<float>(g, c.groups, c.N, 2);
            if (isa == Isa::portable) {
                CHECK(std::string(plan.forward) == "rows");
                CHECK_THROWS_WITH(kernels::grouped_conv2d_run(ConvDirection::forward, "depthwise3x3", g, c.groups,
                                                              ConvArgs<float>{}),
                                  "no grouped convolution forward variant named 'depthwise3x3'");
            } else {
                check_mobile_variant(c, "depthwise3x3");
                check_mobile_variant(c, "depthwise3x3_lanes");
                // The flat planes: at stride 1 where output rows are as wide as input rows.
                if (c.stride == 1 && g.OW == g.W) {
                    check_mobile_variant(c, "depthwise3x3_flat");
                } else {
                    CHECK_THROWS_WITH(kernels::grouped_conv2d_run(ConvDirection::forward, "depthwise3x3_flat", g,
                                                                  c.groups, ConvArgs<float>{}),
                                      Catch::Contains("variant 'depthwise3x3_flat' does not apply"));
                }
                // The shuffles at stride 2: where the padding above and left is at most 1.
                const bool stride2 = c.stride == 2 && g.pad_top <= 1 && g.pad_left <= 1;
                if (stride2) {
                    check_mobile_variant(c, "depthwise3x3_stride2");
                } else {
                    CHECK_THROWS_WITH(kernels::grouped_conv2d_run(ConvDirection::forward, "depthwise3x3_stride2", g,
                                                                  c.groups, ConvArgs<float>{}),
                                      Catch::Contains("variant 'depthwise3x3_stride2' does not apply"));
                }
                // Small batches: the flat planes where they apply, the permutes at stride 2, else the lanes variant,
                // but for backward-data on rows wider than 16 at stride 1.
                const bool flat = c.stride == 1 && g.OW == g.W;
                CHECK(std::string(plan.forward) ==
                      (flat ? "depthwise3x3_flat" : stride2 ? "depthwise3x3_stride2" : "depthwise3x3_lanes"));
                CHECK(std::string(plan.backward_data) ==
                      (flat                          ? "depthwise3x3_flat"
                       : stride2                     ? "depthwise3x3_stride2"
                       : g.W <= 16 || c.stride == 2 ? "depthwise3x3_lanes"
                                                    : "depthwise3x3"));
                // (backward-weights at stride 2: but, with AVX2, for one image on rows of at most 7 outputs)
                CHECK(std::string(plan.backward_weights) ==
                      (flat ? "depthwise3x3_flat"
                       : stride2 && (isa == Isa::avx512 || c.N > 1 || g.OW > 7) ? "depthwise3x3_stride2"
                                                                                : "depthwise3x3_lanes"));
            }
        }
        // Channels in whole and partial lane blocks (8 and 16 lanes), padding 0 to 2 at stride 2, odd sizes: the
        // lanes variant, whose register tiles along a row (4 pixels with AVX-512, 2 with AVX2) leave tails here.
        const MobileCase lanes_cases[] = {
            {2, 16, 9, 9, 16, 3, 1, Padding::same(), 16},      {1, 24, 12, 12, 24, 3, 2, Padding::same(), 24},
            {3, 33, 7, 13, 33, 3, 2, Padding::explicit_pad(2, 0), 33},
            {2, 8, 11, 6, 8, 3, 2, Padding::valid(), 8},       {1, 40, 5, 5, 40, 3, 1, Padding::explicit_pad(0, 2), 40},
        };
        if (isa != Isa::portable)
            for (const MobileCase& c : lanes_cases) check_mobile_variant(c, "depthwise3x3_lanes");
        // The flat planes: rows narrower than a vector (several rows per vector), planes of 1 to 512 vectors (4096
        // pixels: the most with AVX2), 24 channels (a pass of 16 channels for backward-weights, then 8), rows 1 and 2
        // pixels wide, two rows of padding above and below (the output two rows taller than the input).
        const MobileCase flat_cases[] = {
            {2, 4, 5, 3, 4, 3, 1, Padding::same(), 4},      {1, 6, 2, 17, 6, 3, 1, Padding::same(), 6},
            {2, 5, 48, 48, 5, 3, 1, Padding::same(), 5},    {1, 3, 64, 64, 3, 3, 1, Padding::same(), 3},
            {3, 24, 12, 12, 24, 3, 1, Padding::same(), 24}, {2, 3, 7, 1, 3, 3, 1, Padding::same(), 3},
            {1, 2, 9, 2, 2, 3, 1, Padding::same(), 2},      {2, 5, 6, 10, 5, 3, 1, Padding::explicit_pad(2, 1), 5},
        };
        if (isa != Isa::portable)
            for (const MobileCase& c : flat_cases) check_mobile_variant(c, "depthwise3x3_flat");
        // The shuffles at stride 2 (L = 16 lanes with AVX-512, 8 with AVX2): two output rows a vector (rows of at
        // most L / 2 - 1 outputs: 3 and 7) and one (4, 8), chunks of L - 1 outputs along rows of 15 to 24 (inputs 29
        // to 48 wide), padding 0 and 1 above and left, planes of one pixel or one row or column, odd rows of pairs
        // (the last vector one row), 24 channels (a pass of 16 for backward-weights, then 8).
        const MobileCase stride2_cases[] = {
            {2, 3, 6, 6, 3, 3, 2, Padding::same(), 3},       {1, 2, 7, 5, 2, 3, 2, Padding::explicit_pad(1, 1), 2},
            {2, 3, 9, 8, 3, 3, 2, Padding::same(), 3},
            {2, 3, 14, 14, 3, 3, 2, Padding::same(), 3},     {1, 4, 15, 15, 4, 3, 2, Padding::explicit_pad(1, 1), 4},
            {2, 5, 16, 16, 5, 3, 2, Padding::valid(), 5},    {1, 3, 30, 29, 3, 3, 2, Padding::same(), 3},
            {2, 2, 31, 31, 2, 3, 2, Padding::explicit_pad(1, 1), 2},
            {1, 3, 33, 33, 3, 3, 2, Padding::valid(), 3},    {2, 4, 48, 48, 4, 3, 2, Padding::same(), 4},
            {1, 2, 1, 1, 2, 3, 2, Padding::explicit_pad(1, 1), 2},
            {2, 3, 1, 40, 3, 3, 2, Padding::explicit_pad(1, 1), 3},
            {1, 3, 21, 2, 3, 3, 2, Padding::same(), 3},      {3, 24, 12, 12, 24, 3, 2, Padding::same(), 24},
            {2, 5, 11, 9, 5, 3, 2, Padding::explicit_pad(1, 0), 5},
            {1, 3, 13, 12, 3, 3, 2, Padding::explicit_pad(0, 1), 3},
        };
        if (isa != Isa::portable)
            for (const MobileCase& c : stride2_cases) check_mobile_variant(c, "depthwise3x3_stride2");
        // bench_conv2d's layers at batch 64 and 1 (grouped_conv2d_plan.hpp cites the measurements behind the choice).
        if (isa != Isa::portable) {
            const ConvGeometry g24 = make_conv_geometry(64, 24, 24, 64, 3, 3, 1, 1, Padding::same());
            const ConvGeometry g24s2 = make_conv_geometry(64, 24, 24, 64, 3, 3, 2, 2, Padding::same());
            const ConvGeometry g12 = make_conv_geometry(128, 12, 12, 128, 3, 3, 1, 1, Padding::same());
            const ConvPlan big24 = kernels::grouped_conv2d_plan<float>(g24, 64, 64, 1);
            const ConvPlan one24 = kernels::grouped_conv2d_plan<float>(g24, 64, 1, 1);
            const ConvPlan big24s2 = kernels::grouped_conv2d_plan<float>(g24s2, 64, 64, 1);
            const ConvPlan one24s2 = kernels::grouped_conv2d_plan<float>(g24s2, 64, 1, 1);
            const ConvPlan big12 = kernels::grouped_conv2d_plan<float>(g12, 128, 64, 1);
            const ConvPlan one12 = kernels::grouped_conv2d_plan<float>(g12, 128, 1, 1);
            for (const ConvPlan& p : {big24, one24, big12, one12}) {
                CHECK(std::string(p.forward) == "depthwise3x3_flat");
                CHECK(std::string(p.backward_data) == "depthwise3x3_flat");
            }
            for (const ConvPlan& p : {big24, one24, big12, one12})
                CHECK(std::string(p.backward_weights) == "depthwise3x3_flat");
            for (const ConvPlan& p : {big24s2, one24s2}) {
                CHECK(std::string(p.forward) == "depthwise3x3_stride2");
                CHECK(std::string(p.backward_data) == "depthwise3x3_stride2");
                CHECK(std::string(p.backward_weights) == "depthwise3x3_stride2");
            }
            const ConvGeometry g12s2 = make_conv_geometry(128, 12, 12, 128, 3, 3, 2, 2, Padding::same());
            CHECK(std::string(kernels::grouped_conv2d_plan<float>(g12s2, 128, 64, 1).backward_weights) ==
                  "depthwise3x3_stride2");
            CHECK(std::string(kernels::grouped_conv2d_plan<float>(g12s2, 128, 1, 1).backward_weights) ==
                  (isa == Isa::avx512 ? "depthwise3x3_stride2" : "depthwise3x3_lanes"));
        }
        // A plane too large for the flat and lanes variants' stack copies (100x100 at stride 1) takes the per-plane
        // kernel.
        const ConvGeometry large = make_conv_geometry(16, 100, 100, 16, 3, 3, 1, 1, Padding::same());
        if (isa != Isa::portable) {
            CHECK(std::string(kernels::grouped_conv2d_plan<float>(large, 16, 1, 1).forward) == "depthwise3x3");
            for (const char* name : {"depthwise3x3_lanes", "depthwise3x3_flat"})
                CHECK_THROWS_WITH(kernels::grouped_conv2d_run(ConvDirection::forward, name, large, 16,
                                                              ConvArgs<float>{}),
                                  Catch::Contains(std::string("variant '") + name + "' does not apply"));
        }
        // Two groups of two channels, and a depthwise 5x5: the row loops.
        const MobileCase grouped{2, 4, 7, 7, 4, 3, 1, Padding::same(), 2}, wide{1, 3, 9, 9, 3, 5, 1, Padding::same(), 3};
        check_mobile_variant(grouped, "rows");
        check_mobile_variant(wide, "rows");
        CHECK(std::string(kernels::grouped_conv2d_plan<float>(MobileOperands(grouped).g, 2, 2, 1).forward) == "rows");
        CHECK(std::string(kernels::grouped_conv2d_plan<float>(MobileOperands(wide).g, 3, 1, 1).forward) == "rows");
        if (isa != Isa::portable) {
            CHECK_THROWS_WITH(kernels::grouped_conv2d_run(ConvDirection::backward_data, "depthwise3x3",
                                                          MobileOperands(grouped).g, 2, ConvArgs<float>{}),
                              Catch::Contains("variant 'depthwise3x3' does not apply"));
        }
        CHECK(kernels::grouped_conv2d_variant_names<float>(ConvDirection::forward).back() == "rows");
    });
    // Double: the row loops only.
    CHECK(kernels::grouped_conv2d_variant_names<double>(ConvDirection::backward_weights) ==
          std::vector<std::string>{"rows"});
}

TEST_CASE("a depthwise Conv2D names its kernel and matches the reference", "[layers][conv2d][groups][plan]") {
    RUN_ON_EACH_ISA();
    Conv2D<float> layer(12, 3);
    layer.with_groups(12).with_stride(2);
    Rng rng(5);
    layer.build(Shape(2, 12, 9, 9), rng);
    CHECK(layer.kernel_plan().find("not run yet") == 0);
    Tensor<float> x(Shape(2, 12, 9, 9));
    for (float& e : x) e = static_cast<float>(rng.uniform(-1.0, 1.0));
    const Tensor<float> y = layer.forward(x);
    std::vector<float> want(static_cast<std::size_t>(y.end() - y.begin()));
    grouped_conv2d_forward_ref(layer.geometry(), 12, 2, x.data(), layer.weight().data(), layer.bias().data(),
                               want.data());
    CHECK(relative_difference(std::vector<float>(y.begin(), y.end()), want) < 1e-5);
    const std::string expected = each_isa == Isa::portable ? "forward rows" : "forward depthwise3x3_stride2";
    CHECK(layer.kernel_plan().find(expected) != std::string::npos);
    CHECK(layer.kernel_plan().find("(12 groups)") != std::string::npos);
}
