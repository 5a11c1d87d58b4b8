// tests/kernels/test_conv2d_fast.cpp: the fast convolution kernels (kernels/conv2d_fast.hpp) against the
// plain-loop references on odd sizes, stride 2, valid / same / explicit padding, one input channel, many
// channels (backward-data as a forward convolution), batches smaller than the pool; Winograd and the broadcast
// kernel on the shapes they take; many threads against one (bit-identical); and the Conv2D layer on its fast
// path against the reference.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/kernels.hpp>
#include <deepcnn/kernels/conv2d_ref.hpp>
#include <deepcnn/layers/conv2d.hpp>
#include <deepcnn/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "isa_passes.hpp"

using namespace deepcnn;

namespace {

struct Case {
    int N, C, H, W, K, KH, KW, stride;
    Padding padding;
};

std::string describe(const Case& c) {
    return "N " + std::to_string(c.N) + " C " + std::to_string(c.C) + " " + std::to_string(c.H) + "x" +
           std::to_string(c.W) + " K " + std::to_string(c.K) + " window " + std::to_string(c.KH) + "x" +
           std::to_string(c.KW) + " stride " + std::to_string(c.stride) + " padding " + c.padding.str();
}

std::vector<float> random_values(std::size_t count, Rng& rng) {
    std::vector<float> v(count);
    for (auto& e : v) e = static_cast<float>(rng.uniform(-1.0, 1.0));
    return v;
}

// Largest |a - b| relative to the largest |b|.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0, scale = 1e-30;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(b[i])));
    }
    return diff / scale;
}

struct Results {
    std::vector<float> y, dx, dweight, dbias;
};

Results run_fast(const ConvGeometry& g, int N, const std::vector<float>& x, const std::vector<float>& w,
                 const std::vector<float>& b, const std::vector<float>& dy, int threads) {
    ThreadPool pool(threads);
    // NaN-filled workspace and outputs: every value read must have been written first.
    std::vector<float> workspace(kernels::conv2d_fast_workspace_size<float>(g, threads), std::numeric_limits<float>::quiet_NaN());
    Results r;
    r.y.assign(dy.size(), std::numeric_limits<float>::quiet_NaN());
    r.dx.assign(x.size(), std::numeric_limits<float>::quiet_NaN());
    r.dweight.assign(w.size(), std::numeric_limits<float>::quiet_NaN());
    r.dbias.assign(b.size(), std::numeric_limits<float>::quiet_NaN());
    kernels::conv2d_forward_fast(g, N, x.data(), w.data(), b.data(), r.y.data(), workspace.data(), &pool);
    kernels::conv2d_backward_data_fast(g, N, dy.data(), w.data(), r.dx.data(), workspace.data(), &pool);
    kernels::conv2d_backward_weights_fast(g, N, x.data(), dy.data(), r.dweight.data(), r.dbias.data(), workspace.data(), &pool);
    return r;
}

void check_case(const Case& c) {
    INFO(describe(c));
    const ConvGeometry g = make_conv_geometry(c.C, c.H, c.W, c.K, c.KH, c.KW, c.stride, c.stride, c.padding);
    Rng rng(static_cast<std::uint64_t>(c.N * 1000003 + c.C * 1009 + c.H * 31 + c.K));
    const auto x = random_values(static_cast<std::size_t>(c.N) * c.C * c.H * c.W, rng);
    const auto w = random_values(static_cast<std::size_t>(c.K) * g.patch_size(), rng);
    const auto b = random_values(static_cast<std::size_t>(c.K), rng);
    const auto dy = random_values(static_cast<std::size_t>(c.N) * c.K * g.out_pixels(), rng);

    Results ref;
    ref.y.resize(dy.size());
    ref.dx.resize(x.size());
    ref.dweight.resize(w.size());
    ref.dbias.resize(b.size());
    conv2d_forward_ref(g, c.N, x.data(), w.data(), b.data(), ref.y.data());
    conv2d_backward_data_ref(g, c.N, dy.data(), w.data(), ref.dx.data());
    conv2d_backward_weights_ref(g, c.N, x.data(), dy.data(), ref.dweight.data(), ref.dbias.data());

    for_each_isa([&](Isa) {
        const Results one = run_fast(g, c.N, x, w, b, dy, 1);
        const double tolerance = 1e-5;
        CHECK(relative_error(one.y, ref.y) < tolerance);
        CHECK(relative_error(one.dx, ref.dx) < tolerance);
        CHECK(relative_error(one.dweight, ref.dweight) < tolerance);
        CHECK(relative_error(one.dbias, ref.dbias) < tolerance);

        for (int threads : {2, 3}) {
            INFO("threads " << threads);
            const Results many = run_fast(g, c.N, x, w, b, dy, threads);
            CHECK(many.y == one.y);
            CHECK(many.dx == one.dx);
            CHECK(many.dweight == one.dweight);
            CHECK(many.dbias == one.dbias);
        }
    });
}

}  // namespace

TEST_CASE("fast convolution kernels match the references", "[kernels][conv2d]") {
    const Case cases[] = {
        {2, 3, 7, 7, 5, 3, 3, 1, Padding::same()},
        {3, 1, 12, 12, 7, 5, 5, 1, Padding::same()},        // one input channel (the first layer)
        {2, 1, 13, 9, 20, 3, 3, 1, Padding::valid()},
        {2, 3, 9, 10, 5, 3, 3, 2, Padding::same()},         // stride 2, odd sizes
        {2, 5, 11, 11, 6, 5, 5, 2, Padding::valid()},
        {2, 4, 8, 7, 9, 3, 2, 1, Padding::explicit_pad(1, 0)},
        {1, 3, 6, 6, 4, 3, 3, 1, Padding::explicit_pad(3, 3)},  // padding wider than the window
        {2, 26, 10, 9, 30, 3, 3, 1, Padding::same()},       // C >= 24: backward-data as a forward convolution
        {2, 32, 7, 5, 17, 5, 3, 1, Padding::valid()},
        {1, 40, 13, 13, 33, 3, 3, 1, Padding::same()},      // batch 1: split by pixels
        {3, 24, 6, 6, 20, 1, 1, 1, Padding::valid()},
        {2, 30, 9, 9, 12, 3, 3, 2, Padding::same()},
        {1, 2, 40, 40, 8, 5, 5, 1, Padding::same()},        // several KC and panel blocks per image
        {3, 1, 13, 11, 7, 3, 3, 1, Padding::same()},        // direct backward-weights: odd widths, a partial block
        {2, 1, 9, 14, 13, 5, 5, 1, Padding::valid()},
        {2, 3, 16, 16, 10, 3, 3, 1, Padding::same()},       // ... whole 8-pixel vectors per row, 3 channels
        {2, 3, 10, 10, 9, 3, 3, 1, Padding::explicit_pad(1, 1)},
        {2, 16, 24, 24, 20, 3, 3, 1, Padding::same()},      // transposed packing: whole 8-pixel runs per row
        {1, 9, 13, 20, 11, 3, 3, 1, Padding::same()},       // runs of 8, 8 and 4 per row; KC blocks split runs
        {2, 7, 17, 33, 12, 5, 5, 2, Padding::same()},       // stride 2: no runs, gathers only
        {2, 1, 20, 45, 6, 3, 3, 1, Padding::same()},        // direct first-layer forward: 32 + 8 + 5 per row
        {1, 1, 48, 48, 9, 5, 5, 1, Padding::same()},        // ... batch 1: filters split between threads
        {2, 1, 11, 50, 20, 5, 5, 1, Padding::same()},       // ... 32 + 8 + 8 + 2 per row; 20 filters
    };
    for (const Case& c : cases) check_case(c);
}

TEST_CASE("Winograd F(2x2, 3x3) convolution matches the references", "[kernels][conv2d][winograd]") {
    // 3x3 stride-1 shapes with C >= 16 and at least 144 tiles: forward and backward-weights by Winograd
    // (backward-weights below 4 images split by tile rows on images of 576 tiles and up with fewer than 128
    // filters, otherwise by filters; below one image per thread the forward splits the filters, or with fewer than
    // a quarter of an image's tiles the tile rows); backward-data too when K >= 16 (and C >= 24).
    const Case cases[] = {
        {4, 16, 12, 12, 8, 3, 3, 1, Padding::same()},        // 6 tile columns: one partial 8-tile vector per row
        {5, 17, 13, 9, 19, 3, 3, 1, Padding::same()},        // odd rows and columns: half tiles at the edges
        {2, 24, 35, 21, 24, 3, 3, 1, Padding::same()},       // 18 tile columns: two whole vectors and a partial
        {8, 20, 10, 11, 16, 3, 3, 1, Padding::valid()},      // no padding
        {5, 32, 9, 8, 30, 3, 3, 1, Padding::explicit_pad(2, 2)},  // padding 2: output larger than input
        {1, 40, 24, 24, 33, 3, 3, 1, Padding::same()},       // batch 1, 33 filters for 144 tiles: tile rows split
        {1, 16, 24, 24, 40, 3, 3, 1, Padding::same()},       // batch 1, 40 filters: filters split between threads
        {1, 17, 25, 23, 19, 3, 3, 1, Padding::same()},       // ... 19 filters for 156 tiles, odd sizes: tile rows
        {9, 16, 12, 12, 24, 3, 3, 1, Padding::same()},       // 4 images per chunk (on one thread: 4, 4, 1)
        {2, 16, 48, 48, 16, 3, 3, 1, Padding::same()},       // one 576-tile image per chunk; backward-weights by
                                                             // tile rows, image by image
        {1, 16, 64, 64, 8, 3, 3, 1, Padding::same()},        // 1024 tiles: the GEMM's second block of columns
        {3, 16, 18, 18, 21, 3, 3, 1, Padding::same()},       // fewer images than parts: backward-weights by
                                                             // filters; forward chunks of 2 images then 1
        {1, 16, 48, 48, 128, 3, 3, 1, Padding::same()},      // 128 filters: backward-weights by filters
        {2, 16, 49, 47, 24, 3, 3, 1, Padding::same()},       // backward-weights by rows: 25 tile rows, 12 + 13
        {1, 16, 2, 1200, 16, 3, 3, 1, Padding::same()},      // ... one tile row of 600 tiles: the second part empty
        {5, 32, 9, 8, 16, 3, 3, 1, Padding::explicit_pad(2, 2)},  // backward-weights' operands packed by the
        {8, 16, 10, 11, 8, 3, 3, 1, Padding::valid()},            // transforms (C % 16, K % 8): padding 2; none
    };
    for (const Case& c : cases) {
        const ConvGeometry g = make_conv_geometry(c.C, c.H, c.W, c.K, c.KH, c.KW, c.stride, c.stride, c.padding);
        FOR_EACH_SIMD_PASS(CHECK(P::detail::winograd_pays(g, c.N)););
        check_case(c);
    }
    const Case few_tiles_many_filters{1, 16, 12, 12, 256, 3, 3, 1, Padding::same()};
    FOR_EACH_SIMD_PASS(
    const auto by_rows = [](int H, int W, int K, int N) {
        return P::detail::winograd_weights_by_rows(make_conv_geometry(16, H, W, K, 3, 3, 1, 1, Padding::same()), N);
    };
    CHECK(by_rows(48, 48, 16, 2));
    CHECK(by_rows(49, 47, 24, 2));
    CHECK(by_rows(2, 1200, 16, 1));
    CHECK_FALSE(by_rows(48, 48, 16, 4));
    CHECK_FALSE(by_rows(48, 48, 128, 1));
    CHECK_FALSE(by_rows(18, 18, 21, 3));
    // Backward-weights' transforms write the GEMM's operands packed with channels in multiples of 16 and filters
    // in multiples of 8, with either micro-tile; the cases above take both paths, and with the 6-row tile (AVX2
    // alone) filters that fill a last panel partly (8, 16, 40, 128), several KC blocks of tiles (1024 tiles) and
    // the filter split in multiples of 24 (128 filters at batch 1).
    const auto geometry = [](int C, int K) { return make_conv_geometry(C, 24, 24, K, 3, 3, 1, 1, Padding::same()); };
    CHECK(P::detail::winograd_weights_prepacked(geometry(32, 16)));
    CHECK(P::detail::winograd_weights_prepacked(geometry(16, 40)));
    CHECK_FALSE(P::detail::winograd_weights_prepacked(geometry(24, 16)));
    CHECK_FALSE(P::detail::winograd_weights_prepacked(geometry(32, 30)));
    CHECK(P::detail::winograd_weights_filter_unit(geometry(32, 16)) == (P::GemmBlocking::MR == 6 ? 24 : P::GemmBlocking::MR));
    CHECK(P::detail::winograd_weights_filter_unit(geometry(32, 30)) == P::GemmBlocking::MR);
    // Backward-weights by Winograd on fewer tiles with 128 filters or more, where the forward takes it only with
    // whole panels of filters (winograd_transposes).
    const ConvGeometry few = make_conv_geometry(16, 12, 12, 256, 3, 3, 1, 1, Padding::same());
    CHECK(P::detail::winograd_pays(few, 1) == P::detail::winograd_transposes(few, 1, 1));
    CHECK(P::detail::winograd_weights_pays(few, 1));
    CHECK(P::detail::winograd_weights_pays(make_conv_geometry(16, 12, 12, 128, 3, 3, 1, 1, Padding::same()), 1));
    CHECK_FALSE(P::detail::winograd_weights_pays(make_conv_geometry(16, 12, 12, 64, 3, 3, 1, 1, Padding::same()), 1));
    );
    check_case(few_tiles_many_filters);
    // Not on a batch of too few tiles, nor on images over 64 x 64 outputs (the workspace would grow with them).
    FOR_EACH_SIMD_PASS(
        CHECK_FALSE(P::detail::winograd_pays(make_conv_geometry(16, 12, 12, 8, 3, 3, 1, 1, Padding::same()), 3));
        CHECK_FALSE(P::detail::winograd_pays(make_conv_geometry(16, 10, 10, 64, 3, 3, 1, 1, Padding::same()), 1));
        CHECK_FALSE(P::detail::winograd_applies(make_conv_geometry(16, 66, 64, 8, 3, 3, 1, 1, Padding::same())));
        CHECK(P::detail::winograd_applies(make_conv_geometry(16, 64, 64, 8, 3, 3, 1, 1, Padding::same()))););
}

TEST_CASE("Winograd on few tiles, the tiles as the GEMM's rows, matches the references",
          "[kernels][conv2d][winograd]") {
    // 36-143 tiles with filters in whole 16-wide panels, at least 64 (winograd_transposes, the AVX2 tile): the
    // forward, and the backward-data where the input channels are such too. The threads split the filters in
    // panels (64 filters on 3 threads: 16, 16, 32). Last: one image of 144 tiles with 32 filters, which 2 and 3
    // threads split by tile rows and compute transposed, 1 thread in winograd_forward's orientation (run_fast's
    // many-threads check compares them bit for bit).
    const Case cases[] = {
        {1, 16, 12, 12, 64, 3, 3, 1, Padding::same()},      // one 12x12 image: 36 tiles, six whole panels
        {1, 64, 12, 12, 128, 3, 3, 1, Padding::same()},     // ... backward-data too (64 input channels)
        {2, 17, 13, 9, 80, 3, 3, 1, Padding::same()},       // 2 x 35 tiles: vectors across panels, half tiles
        {3, 24, 10, 10, 64, 3, 3, 1, Padding::valid()},     // 3 x 16 tiles, no padding
        {2, 32, 9, 8, 64, 3, 3, 1, Padding::explicit_pad(2, 2)},  // padding 2: 2 x 30 tiles
        {1, 16, 4, 36, 64, 3, 3, 1, Padding::same()},       // 18 tile columns: a whole vector and a partial
        {1, 16, 6, 34, 64, 3, 3, 1, Padding::same()},       // 17 tile columns: row 1's first vector in 3 panels
        {3, 64, 7, 7, 96, 3, 3, 1, Padding::same()},        // 3 x 16 tiles, backward-data too; 96 filters
        {1, 208, 12, 12, 64, 3, 3, 1, Padding::same()},     // 208 channels: two KC blocks of the GEMM
        {1, 24, 24, 23, 32, 3, 3, 1, Padding::same()},      // 12 x 12 tiles, 32 filters: tile rows split
    };
    for (const Case& c : cases) {
        const ConvGeometry g = make_conv_geometry(c.C, c.H, c.W, c.K, c.KH, c.KW, c.stride, c.stride, c.padding);
        if (best_supported_isa() >= Isa::avx2) {
            INFO(describe(c));
            CHECK(isa_avx2::detail::winograd_pays(g, c.N));
            CHECK(isa_avx2::detail::winograd_transposes(g, c.N, 2));
            CHECK(isa_avx2::detail::winograd_transposes(g, c.N, 1) == (c.K >= 64));
        }
        check_case(c);
    }
    // Batch-size invariance: an image's outputs are the same alone (36 tiles, transposed) as in a batch of 4 (144
    // tiles, winograd_forward), the GEMMs summing the channels in the same order either way. (With the 8x48 tile
    // of AVX-512 the image alone takes the broadcast kernel, so this runs the AVX2 pass.)
    const ConvGeometry g = make_conv_geometry(208, 12, 12, 64, 3, 3, 1, 1, Padding::same());
    if (best_supported_isa() < Isa::avx2) return;
    ScopedIsa avx2(Isa::avx2);
    REQUIRE(isa_avx2::detail::winograd_transposes(g, 1, 1));
    Rng rng(7);
    const auto x = random_values(static_cast<std::size_t>(4) * g.C * g.H * g.W, rng);
    const auto w = random_values(static_cast<std::size_t>(g.K) * g.patch_size(), rng);
    const auto b = random_values(static_cast<std::size_t>(g.K), rng);
    const std::size_t out_size = static_cast<std::size_t>(g.K) * g.out_pixels();
    std::vector<float> workspace(kernels::conv2d_fast_workspace_size<float>(g, 1));
    std::vector<float> batch(4 * out_size), alone(out_size);
    kernels::conv2d_forward_fast(g, 4, x.data(), w.data(), b.data(), batch.data(), workspace.data(), nullptr);
    kernels::conv2d_forward_fast(g, 1, x.data() + 3 * static_cast<std::size_t>(g.C) * g.H * g.W, w.data(), b.data(),
                        alone.data(), workspace.data(), nullptr);
    CHECK(std::equal(alone.begin(), alone.end(), batch.begin() + 3 * out_size));
}

TEST_CASE("the broadcast kernels match the references", "[kernels][conv2d][broadcast]") {
    // Stride-1 shapes with filters in blocks of 16 and C >= 16: 5x5 forward and backward-weights by broadcast (an
    // odd C leaves backward-weights' last work item of a filter block one channel); 3x3 forward where Winograd does
    // not pay (too few tiles). Both skip the terms that read padding rows and columns. Backward-data too when C is
    // a multiple of 16 and at least 32 (it is then a forward convolution with C filters).
    struct BroadcastCase {
        Case shape;
        bool backward_data;  // whether backward-data takes the kernel too
    };
    const BroadcastCase cases[] = {
        {{2, 16, 12, 12, 16, 5, 5, 1, Padding::same()}, false},             // whole tiles of 12 (or 6) pixels
        {{3, 17, 9, 13, 32, 5, 5, 1, Padding::same()}, false},              // a partial tile per row, odd C
        {{1, 32, 10, 7, 48, 5, 5, 1, Padding::valid()}, true},              // 3 outputs per row; batch 1: blocks split
        {{2, 48, 11, 11, 16, 5, 5, 1, Padding::explicit_pad(1, 2)}, true},  // padding 1 x 2, 4 x 3 for dx
        {{1, 64, 20, 20, 64, 5, 5, 1, Padding::same()}, true},              // several filter blocks, batch 1
        {{3, 32, 6, 6, 32, 5, 5, 1, Padding::explicit_pad(4, 4)}, true},    // padding as wide as the window
        {{2, 16, 3, 3, 16, 5, 5, 1, Padding::explicit_pad(2, 2)}, false},   // every pixel reads padding
        {{1, 32, 12, 12, 32, 3, 3, 1, Padding::same()}, true},              // the 12x12 layers at batch 1
        {{1, 16, 13, 13, 16, 3, 3, 1, Padding::same()}, false},             // a partial last tile: no right skip
        {{2, 48, 12, 12, 16, 3, 3, 1, Padding::explicit_pad(1, 2)}, true},  // left padding wider than KW / 2
        {{1, 32, 5, 24, 32, 3, 3, 1, Padding::valid()}, true},              // no padding; dx padded 2 x 2
        {{1, 16, 4, 6, 16, 3, 3, 1, Padding::explicit_pad(2, 1)}, false},   // padding 2 rows high: 1 kernel row
        {{1, 17, 12, 12, 16, 3, 3, 1, Padding::same()}, false},             // odd C, forward 3x3
        {{3, 19, 7, 9, 32, 3, 3, 1, Padding::explicit_pad(1, 2)}, false},   // odd C, 2 blocks, 3 images
        {{1, 16, 12, 12, 48, 5, 5, 1, Padding::same()}, false},             // 3 blocks, batch 1, 5x5 in place
    };
    for (const BroadcastCase& c : cases) {
        const Case& s = c.shape;
        const ConvGeometry g = make_conv_geometry(s.C, s.H, s.W, s.K, s.KH, s.KW, s.stride, s.stride, s.padding);
        FOR_EACH_SIMD_PASS(
            CHECK(P::detail::broadcast_conv_pays(g, s.N));
            CHECK(P::detail::broadcast_weights_pays(g, s.N) == (s.KW == 5));
            ConvGeometry t;
            CHECK((P::detail::backward_data_as_forward(g, t) && P::detail::broadcast_conv_pays(t, s.N)) ==
                  c.backward_data););
        check_case(s);
    }
    FOR_EACH_SIMD_PASS(
    // Not with filters outside blocks of 16, fewer than 16 channels, stride 2 or other windows; 3x3 not where
    // Winograd pays.
    CHECK_FALSE(P::detail::broadcast_conv_applies(make_conv_geometry(16, 12, 12, 24, 5, 5, 1, 1, Padding::same())));
    CHECK_FALSE(P::detail::broadcast_conv_applies(make_conv_geometry(8, 12, 12, 16, 5, 5, 1, 1, Padding::same())));
    CHECK_FALSE(P::detail::broadcast_conv_applies(make_conv_geometry(16, 12, 12, 16, 5, 5, 2, 2, Padding::same())));
    CHECK_FALSE(P::detail::broadcast_conv_applies(make_conv_geometry(16, 12, 12, 16, 7, 7, 1, 1, Padding::same())));
    CHECK_FALSE(P::detail::broadcast_conv_applies(make_conv_geometry(16, 12, 12, 16, 3, 5, 1, 1, Padding::same())));
    CHECK(P::detail::broadcast_conv_pays(make_conv_geometry(16, 12, 12, 16, 3, 3, 1, 1, Padding::same()), 3));
    CHECK_FALSE(P::detail::broadcast_conv_pays(make_conv_geometry(16, 12, 12, 16, 3, 3, 1, 1, Padding::same()), 4));
    CHECK_FALSE(P::detail::broadcast_conv_pays(make_conv_geometry(16, 24, 24, 16, 3, 3, 1, 1, Padding::same()), 1));
    // Rows of whole tiles (12 pixels with AVX-512, 6 with AVX2) with a padding of KW / 2 on either side are read in
    // place, as the 12x12 and 48x48 cases above are; not with wider padding or a partial tile.
    CHECK(P::detail::broadcast_reads_only_image(make_conv_geometry(32, 12, 12, 32, 3, 3, 1, 1, Padding::same())));
    CHECK(P::detail::broadcast_reads_only_image(make_conv_geometry(16, 12, 12, 16, 5, 5, 1, 1, Padding::same())));
    CHECK(P::detail::broadcast_reads_only_image(make_conv_geometry(16, 48, 48, 32, 3, 3, 1, 1, Padding::same())));
    CHECK_FALSE(P::detail::broadcast_reads_only_image(
        make_conv_geometry(48, 12, 12, 16, 3, 3, 1, 1, Padding::explicit_pad(1, 2))));
    CHECK_FALSE(P::detail::broadcast_reads_only_image(make_conv_geometry(16, 13, 13, 16, 3, 3, 1, 1, Padding::same())));
    CHECK_FALSE(P::detail::broadcast_reads_only_image(make_conv_geometry(16, 20, 20, 16, 3, 3, 1, 1, Padding::same())));
    );
}

TEST_CASE("Conv2D on its fast path matches the reference and is bit-identical on many threads",
          "[kernels][conv2d][layers]") {
    Rng rng(3);
    Conv2D<float> single(12, 3), multi(12, 3);
    Rng init_a(5), init_b(5);
    single.build(Shape(1, 6, 10, 11), init_a);
    multi.build(Shape(1, 6, 10, 11), init_b);
    ThreadPool pool(3);
    multi.set_thread_pool(&pool);
    Tensor<float> x(Shape(4, 6, 10, 11));
    for (auto& v : x) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    const Tensor<float> y1 = single.forward(x), y3 = multi.forward(x);
    Tensor<float> dy(y1.shape());
    for (auto& v : dy) v = static_cast<float>(rng.uniform(-1.0, 1.0));
    const Tensor<float> dx1 = single.backward(dy), dx3 = multi.backward(dy);
    CHECK(std::equal(y1.begin(), y1.end(), y3.begin()));
    CHECK(std::equal(dx1.begin(), dx1.end(), dx3.begin()));
    CHECK(std::equal(single.params()[0].grad->begin(), single.params()[0].grad->end(), multi.params()[0].grad->begin()));

    std::vector<float> ref(y1.size());
    conv2d_forward_ref(single.geometry(), 4, x.data(), single.weight().data(), single.bias().data(), ref.data());
    CHECK(relative_error(std::vector<float>(y1.begin(), y1.end()), ref) < 1e-5);
}

TEST_CASE("every variant of the convolution's plan, forced by name, matches the references",
          "[kernels][conv2d][plan]") {
    // Shapes that between them give every variant of every pass a case it applies to: the first layer (one channel,
    // 3x3 and 5x5), 3x3 layers of few and many tiles, whole 16-wide panels of filters, 5x5 with filter blocks of 16,
    // stride 2 (channels and filters in blocks of 16 or not), a 1x1 window, and single images of few filter blocks
    // (the broadcast kernel then splits the rows between the threads; on 12-pixel rows it reads the image unpadded),
    // and channels that do not fill the broadcast backward-weights' rows of channels; rows of half a broadcast tile
    // (6 pixels with AVX-512, 3 with AVX2: two rows per tile), an odd number of them, and rows shorter still; stride
    // 2 with output rows of 8 pixels and more and an odd width (the im2col packers' even-element runs), and batches
    // of two images per thread and more (the weights then packed once per call, SharedA).
    const Case cases[] = {
        {2, 1, 12, 12, 16, 3, 3, 1, Padding::same()},   {1, 1, 10, 11, 16, 5, 5, 1, Padding::same()},
        {2, 32, 12, 12, 32, 3, 3, 1, Padding::same()},  {1, 64, 12, 12, 64, 3, 3, 1, Padding::same()},
        {2, 32, 13, 11, 48, 5, 5, 1, Padding::same()},  {2, 24, 9, 9, 20, 3, 3, 2, Padding::same()},
        {3, 40, 6, 6, 24, 1, 1, 1, Padding::valid()},   {1, 48, 24, 24, 32, 3, 3, 1, Padding::same()},
        {2, 32, 11, 9, 32, 3, 3, 2, Padding::same()},   {1, 32, 12, 12, 32, 3, 3, 1, Padding::same()},
        {1, 16, 48, 48, 32, 3, 3, 1, Padding::same()},  {2, 18, 10, 14, 16, 3, 3, 1, Padding::same()},
        {1, 32, 6, 6, 64, 3, 3, 1, Padding::same()},    {2, 16, 5, 6, 48, 3, 3, 1, Padding::same()},
        {1, 24, 7, 3, 32, 3, 3, 1, Padding::same()},    {1, 16, 6, 6, 32, 5, 5, 1, Padding::same()},
        {3, 20, 19, 21, 24, 3, 3, 2, Padding::same()},  {4, 16, 12, 12, 32, 3, 3, 2, Padding::same()},
    };
    for_each_isa([&](Isa isa) {
        for (const ConvDirection d :
             {ConvDirection::forward, ConvDirection::backward_data, ConvDirection::backward_weights}) {
            for (const std::string& name : kernels::conv2d_variant_names<float>(d)) {
                INFO(conv_direction_name(d) << " variant " << name);
                int applied = 0;
                for (const Case& c : cases) {
                    INFO(describe(c));
                    const ConvGeometry g =
                        make_conv_geometry(c.C, c.H, c.W, c.K, c.KH, c.KW, c.stride, c.stride, c.padding);
                    Rng rng(11);
                    const auto x = random_values(static_cast<std::size_t>(c.N) * c.C * c.H * c.W, rng);
                    const auto w = random_values(static_cast<std::size_t>(c.K) * g.patch_size(), rng);
                    const auto b = random_values(static_cast<std::size_t>(c.K), rng);
                    const auto dy = random_values(static_cast<std::size_t>(c.N) * c.K * g.out_pixels(), rng);
                    std::vector<float> got, want;
                    ConvArgs<float> a;
                    a.N = c.N, a.x = x.data(), a.weight = w.data(), a.bias = b.data(), a.dy = dy.data();
                    std::vector<float> dbias(b.size()), dbias_ref(b.size());
                    if (d == ConvDirection::forward) {
                        got.assign(dy.size(), std::numeric_limits<float>::quiet_NaN());
                        want.resize(dy.size());
                        a.y = got.data();
                        conv2d_forward_ref(g, c.N, x.data(), w.data(), b.data(), want.data());
                    } else if (d == ConvDirection::backward_data) {
                        got.assign(x.size(), std::numeric_limits<float>::quiet_NaN());
                        want.resize(x.size());
                        a.dx = got.data();
                        conv2d_backward_data_ref(g, c.N, dy.data(), w.data(), want.data());
                    } else {
                        got.assign(w.size(), std::numeric_limits<float>::quiet_NaN());
                        want.resize(w.size());
                        a.dweight = got.data(), a.dbias = dbias.data();
                        conv2d_backward_weights_ref(g, c.N, x.data(), dy.data(), want.data(), dbias_ref.data());
                    }
                    std::vector<float> one_thread;  // the variant's result on 1 thread: 2 give the same bits
                    for (int threads : {1, 2}) {
                        ThreadPool pool(threads);
                        std::vector<float> workspace(kernels::conv2d_fast_workspace_size<float>(g, threads),
                                                     std::numeric_limits<float>::quiet_NaN());
                        a.pool = &pool, a.workspace = workspace.data();
                        try {
                            kernels::conv2d_run(d, name.c_str(), g, a);
                        } catch (const config_error& e) {
                            CHECK(std::string(e.what()).find("does not apply") != std::string::npos);
                            break;
                        }
                        ++applied;
                        CHECK(relative_error(got, want) < 1e-5);
                        if (threads == 1) {
                            one_thread = got;
                        } else {
                            CHECK(std::memcmp(got.data(), one_thread.data(), got.size() * sizeof(float)) == 0);
                        }
                        if (d == ConvDirection::forward) {  // the ReLU folded in: max(y, 0) of the same y, bit for bit
                            std::vector<float> fused(got.size(), std::numeric_limits<float>::quiet_NaN()), clipped;
                            for (float v : got) clipped.push_back(v > 0.0f ? v : 0.0f);
                            ConvArgs<float> r = a;
                            r.y = fused.data(), r.relu = true;
                            kernels::conv2d_run(d, name.c_str(), g, r);
                            CHECK(std::memcmp(fused.data(), clipped.data(), fused.size() * sizeof(float)) == 0);
                        }
                        if (d == ConvDirection::backward_weights) CHECK(relative_error(dbias, dbias_ref) < 1e-5);
                    }
                }
                // Each variant ran somewhere (on 1 and 2 threads); the last of each list applies everywhere.
                CHECK(applied >= 2);
                (void)isa;
            }
        }
        CHECK_THROWS_WITH(kernels::conv2d_run(ConvDirection::forward, "no_such_variant",
                                              make_conv_geometry(1, 4, 4, 1, 3, 3, 1, 1, Padding::same()),
                                              ConvArgs<float>{}),
                          "no convolution forward variant named 'no_such_variant'");
    });
}

TEST_CASE("the plan names the variants the FER layers run, on each instruction set", "[kernels][conv2d][plan]") {
    // fer conv1 (the first layer) and a 3x3 layer on 24x24 images of 32 channels, at batch 64.
    const ConvGeometry first = make_conv_geometry(1, 48, 48, 32, 3, 3, 1, 1, Padding::same());
    const ConvGeometry middle = make_conv_geometry(32, 24, 24, 64, 3, 3, 1, 1, Padding::same());
    // fer conv2: 32 channels on 48x48 images, where the broadcast kernel beats Winograd with AVX-512.
    const ConvGeometry wide = make_conv_geometry(32, 48, 48, 32, 3, 3, 1, 1, Padding::same());
    for_each_isa([&](Isa isa) {
        const ConvPlan wide_plan = kernels::conv2d_plan<float>(wide, 64, 1);
        if (isa == Isa::avx512) {
            CHECK(std::string(wide_plan.forward) == "broadcast");
            CHECK(std::string(wide_plan.backward_data) == "broadcast_flipped");
            CHECK(std::string(wide_plan.backward_weights) == "broadcast");
            CHECK(std::string(kernels::conv2d_plan<float>(wide, 1, 1).backward_weights) == "winograd");
        } else if (isa == Isa::avx2) {
            CHECK(std::string(wide_plan.forward) == "winograd");
            CHECK(std::string(wide_plan.backward_data) == "winograd_flipped");
            CHECK(std::string(wide_plan.backward_weights) == "winograd");
        }
        const ConvPlan a = kernels::conv2d_plan<float>(first, 64, 1), b = kernels::conv2d_plan<float>(middle, 64, 1);
        CHECK(a.isa == isa);
        if (isa == Isa::portable) {
            CHECK(std::string(a.forward) == "implicit_gemm");
            CHECK(std::string(b.backward_data) == "implicit_gemm_flipped");
        } else {
            CHECK(std::string(a.forward) == "direct");
            CHECK(std::string(a.backward_weights) == "direct");
            CHECK(std::string(b.forward) == "winograd");
            CHECK(std::string(b.backward_data) == "winograd_flipped");
            CHECK(std::string(b.backward_weights) == "winograd");
        }
        // On a single image, the 24x24 layer's forward takes the broadcast kernel with AVX-512 (64 filters), on any
        // thread count; with 128 filters it keeps Winograd.
        const ConvGeometry seed_middle = make_conv_geometry(64, 24, 24, 128, 3, 3, 1, 1, Padding::same());
        for (int threads : {1, 2}) {
            const ConvPlan single = kernels::conv2d_plan<float>(middle, 1, threads);
            if (isa == Isa::avx512) {
                CHECK(std::string(single.forward) == "broadcast");
                CHECK(std::string(single.backward_data) == "winograd_flipped");
            } else if (isa == Isa::avx2) {
                CHECK(std::string(single.forward) == "winograd");
            }
            if (isa != Isa::portable) {
                CHECK(std::string(kernels::conv2d_plan<float>(seed_middle, 1, threads).forward) == "winograd");
            }
        }
        CHECK(b.str().find(isa_name(isa)) == 0);
    });
    // A double always runs the portable pass.
    CHECK(kernels::conv2d_plan<double>(middle, 64, 1).isa == Isa::portable);
}
