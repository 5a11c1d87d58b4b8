// tests/data/test_augment.cpp: augmentation is deterministic for a seed, the identity when every range is 0,
// flips exactly, fills from the nearest edge, stays within the input's range, erases one rectangle of the asked
// sizes where asked (and draws nothing more where not), and rejects bad options. Test-time augmentation: shifted
// copies repeat the edge, and predictions average exactly the views asked for.
#include <catch2/catch.hpp>

#include <deepcnn/data/augment.hpp>
#include <deepcnn/train/data_source.hpp>
#include <deepcnn/train/evaluation.hpp>

#include "test_nets.hpp"

#include <algorithm>
#include <vector>

using namespace deepcnn;

namespace {

// A batch of distinct, non-symmetric images: value depends on sample, channel, row and column.
Tensor<float> test_batch(int N = 4, int C = 1, int H = 48, int W = 48) {
    Tensor<float> x(Shape(N, C, H, W));
    for (int n = 0; n < N; ++n)
        for (int c = 0; c < C; ++c)
            for (int h = 0; h < H; ++h)
                for (int w = 0; w < W; ++w) x(n, c, h, w) = static_cast<float>((n * 13 + c * 5 + h * 3 + w * w) % 101);
    return x;
}

bool same(const Tensor<float>& a, const Tensor<float>& b) {
    return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

TEST_CASE("augment_batch with every range 0 is the identity", "[data][augment]") {
    const Tensor<float> x = test_batch(3, 2);
    Tensor<float> y;
    Rng rng(1);
    augment_batch(x, y, AugmentOptions{}, rng);
    CHECK(same(x, y));
}

TEST_CASE("augment_batch is deterministic for a seed and differs across seeds", "[data][augment]") {
    const Tensor<float> x = test_batch();
    Tensor<float> a, b, c;
    Rng rng_a(123), rng_b(123), rng_c(124);
    augment_batch(x, a, tutorial_augmentation(), rng_a);
    augment_batch(x, b, tutorial_augmentation(), rng_b);
    augment_batch(x, c, tutorial_augmentation(), rng_c);
    CHECK(same(a, b));
    CHECK_FALSE(same(a, c));
    CHECK_FALSE(same(a, x));
    CHECK(rng_a.state() == rng_b.state());

    // Every output is a convex combination of input pixels of the same plane.
    const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
    for (float v : a) {
        REQUIRE(v >= *lo - 1e-4f);
        REQUIRE(v <= *hi + 1e-4f);
    }
}

TEST_CASE("draw_affine_map always takes 7 numbers from the generator", "[data][augment]") {
    Rng used(9), reference(9);
    draw_affine_map(AugmentOptions{}, 48, 48, used);
    for (int i = 0; i < 7; ++i) reference.uniform();
    CHECK(used.state() == reference.state());
    draw_affine_map(tutorial_augmentation(), 48, 48, used);
    for (int i = 0; i < 7; ++i) reference.uniform();
    CHECK(used.state() == reference.state());
}

TEST_CASE("a certain flip mirrors every plane exactly, as flip_horizontal does", "[data][augment]") {
    const Tensor<float> x = test_batch(2, 3, 5, 7);
    AugmentOptions flip_only;
    flip_only.flip_probability = 1.0;
    Tensor<float> y, z;
    Rng rng(5);
    augment_batch(x, y, flip_only, rng);
    flip_horizontal(x, z);
    for (int n = 0; n < 2; ++n)
        for (int c = 0; c < 3; ++c)
            for (int h = 0; h < 5; ++h)
                for (int w = 0; w < 7; ++w) {
                    REQUIRE(y(n, c, h, w) == x(n, c, h, 6 - w));
                    REQUIRE(z(n, c, h, w) == x(n, c, h, 6 - w));
                }
    Tensor<float> back;
    flip_horizontal(z, back);
    CHECK(same(back, x));
}

TEST_CASE("warp_affine samples bilinearly and fills from the nearest edge", "[data][augment]") {
    // 3 x 4 plane, value = 10 * row + column.
    std::vector<float> in(12), out(12);
    for (int i = 0; i < 12; ++i) in[static_cast<std::size_t>(i)] = static_cast<float>(10 * (i / 4) + i % 4);

    AffineMap shift_right;  // out(x, y) = in(x - 1, y): the left column repeats the edge
    shift_right.x0 = -1.0;
    warp_affine(in.data(), out.data(), 3, 4, shift_right);
    CHECK(out == std::vector<float>{0, 0, 1, 2, 10, 10, 11, 12, 20, 20, 21, 22});

    AffineMap half_down;  // out(x, y) = in(x, y + 0.5): the bottom row clamps to the last row
    half_down.y0 = 0.5;
    warp_affine(in.data(), out.data(), 3, 4, half_down);
    CHECK(out == std::vector<float>{5, 6, 7, 8, 15, 16, 17, 18, 20, 21, 22, 23});
}

TEST_CASE("augmentation options are validated", "[data][augment]") {
    const Tensor<float> x = test_batch(1);
    Tensor<float> y;
    Rng rng(1);
    AugmentOptions bad;
    bad.flip_probability = 1.5;
    CHECK_THROWS_AS(augment_batch(x, y, bad, rng), config_error);
    bad = AugmentOptions{};
    bad.max_rotation_deg = -1.0;
    CHECK_THROWS_AS(augment_batch(x, y, bad, rng), config_error);
    bad = AugmentOptions{};
    bad.max_zoom = 1.0;
    CHECK_THROWS_AS(augment_batch(x, y, bad, rng), config_error);
    bad = AugmentOptions{};
    bad.erase_probability = -0.5;
    CHECK_THROWS_AS(augment_batch(x, y, bad, rng), config_error);
    bad = AugmentOptions{};
    bad.erase_min_area = 0.5;
    bad.erase_max_area = 0.4;
    CHECK_THROWS_MATCHES(augment_batch(x, y, bad, rng), config_error,
                         Catch::Message("augmentation: expected erasing areas 0 < min <= max <= 1, got 0.500000 and 0.400000"));
    bad = AugmentOptions{};
    bad.erase_max_area = 1.5;
    CHECK_THROWS_AS(augment_batch(x, y, bad, rng), config_error);
    bad = AugmentOptions{};
    bad.erase_max_aspect = 0.5;
    CHECK_THROWS_AS(augment_batch(x, y, bad, rng), config_error);
    Tensor<float> z = test_batch(1);
    CHECK_THROWS_AS(augment_batch(z, z, AugmentOptions{}, rng), config_error);
}

TEST_CASE("random erasing sets one rectangle of the asked area and aspect in every channel", "[data][augment]") {
    const int N = 300, C = 2, H = 48, W = 40;
    const Tensor<float> x = test_batch(N, C, H, W);
    AugmentOptions erase_only;
    erase_only.erase_probability = 1.0;
    erase_only.erase_value = -7.0;  // not a value of test_batch
    Tensor<float> y;
    Rng rng(17);
    augment_batch(x, y, erase_only, rng);
    int min_top = H, max_top = 0, min_left = W, max_left = 0;
    for (int n = 0; n < N; ++n) {
        INFO("sample " << n);
        int top = H, bottom = -1, left = W, right = -1, erased = 0;
        for (int h = 0; h < H; ++h)
            for (int w = 0; w < W; ++w) {
                if (y(n, 0, h, w) != -7.0f) continue;
                ++erased;
                top = std::min(top, h), bottom = std::max(bottom, h), left = std::min(left, w), right = std::max(right, w);
            }
        REQUIRE(erased > 0);
        const int height = bottom - top + 1, width = right - left + 1;
        REQUIRE(erased == height * width);  // one rectangle
        // Area within [0.02, 0.33] of the image and aspect within [1 / 3.3, 3.3], up to the rounding of each side
        // and the cut of a side longer than the image.
        CHECK(double(height + 1) * (width + 1) >= 0.02 * H * W);
        CHECK(double(height - 1) * (width - 1) <= 0.33 * H * W);
        if (height < H && width < W) {
            CHECK(double(height) / (width + 1) <= 3.3);
            CHECK(double(width) / (height + 1) <= 3.3);
        }
        min_top = std::min(min_top, top), max_top = std::max(max_top, bottom);
        min_left = std::min(min_left, left), max_left = std::max(max_left, right);
        for (int c = 0; c < C; ++c)
            for (int h = 0; h < H; ++h)
                for (int w = 0; w < W; ++w) {
                    const bool inside = h >= top && h <= bottom && w >= left && w <= right;
                    REQUIRE(y(n, c, h, w) == (inside ? -7.0f : x(n, c, h, w)));
                }
    }
    // The rectangles reach every border over 300 draws.
    CHECK(min_top == 0);
    CHECK(max_top == H - 1);
    CHECK(min_left == 0);
    CHECK(max_left == W - 1);
}

TEST_CASE("random erasing draws 5 numbers per image when asked and none otherwise", "[data][augment]") {
    const Tensor<float> x = test_batch(200, 1, 24, 24);
    AugmentOptions half = default_augmentation();
    half.erase_probability = 0.5;
    Rng used(9), reference(9);
    Tensor<float> y;
    augment_batch(x, y, half, used);
    for (int i = 0; i < 200 * (7 + 5); ++i) reference.uniform();
    CHECK(used.state() == reference.state());

    // About half the images hold an erased rectangle (erase_value 0), found as a 2x2 block of zeros: test_batch's
    // zeros have non-zero neighbours.
    int erased = 0;
    for (int n = 0; n < 200; ++n) {
        bool found = false;
        for (int h = 0; h + 1 < 24 && !found; ++h)
            for (int w = 0; w + 1 < 24 && !found; ++w)
                found = y(n, 0, h, w) == 0.0f && y(n, 0, h + 1, w) == 0.0f && y(n, 0, h, w + 1) == 0.0f &&
                        y(n, 0, h + 1, w + 1) == 0.0f;
        erased += found;
    }
    CHECK(erased > 70);
    CHECK(erased < 130);

    Rng plain(9), plain_reference(9);
    augment_batch(x, y, default_augmentation(), plain);
    for (int i = 0; i < 200 * 7; ++i) plain_reference.uniform();
    CHECK(plain.state() == plain_reference.state());
}

TEST_CASE("augment_batch reuses the output allocation", "[data][augment]") {
    const Tensor<float> x = test_batch(8);
    Tensor<float> y;
    Rng rng(3);
    augment_batch(x, y, default_augmentation(), rng);
    const float* storage = y.data();
    augment_batch(x, y, default_augmentation(), rng);
    CHECK(y.data() == storage);
}

TEST_CASE("shift_images moves every plane and repeats the nearest edge pixel", "[data][augment][tta]") {
    const Tensor<float> x = test_batch(2, 2, 3, 4);
    Tensor<float> out;
    shift_images(x, 1, -2, out);  // one row down, two columns left
    REQUIRE(out.shape() == x.shape());
    for (int n = 0; n < 2; ++n)
        for (int c = 0; c < 2; ++c)
            for (int h = 0; h < 3; ++h)
                for (int w = 0; w < 4; ++w) REQUIRE(out(n, c, h, w) == x(n, c, std::max(h - 1, 0), std::min(w + 2, 3)));
    REQUIRE(out(1, 1, 0, 3) == x(1, 1, 0, 3));  // the corner: the top row repeated, the last column repeated
    shift_images(x, 0, 0, out);
    REQUIRE(same(out, x));
    REQUIRE_THROWS_AS(shift_images(out, 1, 1, out), config_error);
}

TEST_CASE("test-time augmentation averages the image, its shifted copies and their mirrors", "[data][augment][tta]") {
    Sequential<float> model = deepcnn_test::small_chain(7);
    model.eval();
    const Tensor<float> images = test_batch(5, 1, 8, 8);
    // Every view built by hand, without shift_images or flip_horizontal.
    auto view = [&](int dy, int dx, bool mirrored) {
        Tensor<float> v(images.shape());
        for (int n = 0; n < images.n(); ++n)
            for (int h = 0; h < 8; ++h)
                for (int w = 0; w < 8; ++w) {
                    const int source_w = std::clamp(w - dx, 0, 7);
                    v(n, 0, h, mirrored ? 7 - w : w) = images(n, 0, std::clamp(h - dy, 0, 7), source_w);
                }
        return model.predict(v);
    };
    SECTION("no shift: the same bits as the flip-only overload") {
        for (const bool flip : {false, true}) {
            const Tensor<float> a = predict_probabilities(model, images, TestTimeAugmentation{flip, 0});
            REQUIRE(same(a, predict_probabilities(model, images, flip)));
        }
        REQUIRE(same(predict_probabilities(model, images, TestTimeAugmentation{}), model.predict(images)));
    }
    SECTION("shifts of 2 pixels, with and without the flip: the mean of 10 or 5 views") {
        const int moves[5][2] = {{0, 0}, {2, 0}, {-2, 0}, {0, 2}, {0, -2}};
        for (const bool flip : {false, true}) {
            const TestTimeAugmentation tta{flip, 2};
            REQUIRE(tta.views() == (flip ? 10 : 5));
            Tensor<float> expected(model.predict(images).shape(), 0.0f);
            for (const auto& move : moves)
                for (const bool mirrored : {false, true}) {
                    if (mirrored && !flip) continue;
                    const Tensor<float> p = view(move[0], move[1], mirrored);
                    for (std::size_t i = 0; i < p.size(); ++i) expected[i] += p[i] / float(tta.views());
                }
            const Tensor<float> got = predict_probabilities(model, images, tta, 2);
            REQUIRE(got.shape() == expected.shape());
            for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == Approx(expected[i]).margin(1e-6));
            // The views differ, so the average is not any one of them.
            const Tensor<float> plain = model.predict(images);
            REQUIRE(!std::equal(got.begin(), got.end(), plain.begin()));
        }
    }
    SECTION("evaluate_classifier scores the averaged probabilities") {
        std::vector<int> labels = {0, 1, 2, 0, 1};
        TensorSource<float> source(images, labels);
        const TestTimeAugmentation tta{true, 3};
        const ClassifierEvaluation<float> evaluated = evaluate_classifier(model, source, tta, 2);
        const Tensor<float> p = predict_probabilities(model, images, tta, 2);
        REQUIRE(same(evaluated.probabilities, p));
        REQUIRE(evaluated.predicted == argmax_rows(p));
    }
    SECTION("a shift outside the image is refused") {
        REQUIRE_THROWS_WITH(predict_probabilities(model, images, TestTimeAugmentation{true, 8}),
                            Catch::Contains("expected a shift of 0 to 7 pixels for 8x8 images, got 8"));
        REQUIRE_THROWS_AS(predict_probabilities(model, images, TestTimeAugmentation{false, -1}), config_error);
    }
}
