// deepcnn/data/augment.hpp: seeded, deterministic image augmentation for training. Each image gets one
// random affine warp (horizontal flip, rotation, shift, zoom, shear, like Keras' ImageDataGenerator) applied
// with bilinear sampling and nearest-edge filling (Keras' fill_mode='nearest'), then optionally one erased rectangle
// (random erasing); batches are written into a preallocated tensor. Also the plain horizontal flip and whole-pixel
// shift that test-time augmentation's views are made of (train/evaluation.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>

#include "../error.hpp"
#include "../random.hpp"
#include "../tensor.hpp"

namespace deepcnn {

// Ranges of the random transform; every range is symmetric around "no change". All zero: the identity.
struct AugmentOptions {
    double flip_probability = 0.0;  // chance of a horizontal mirror, 0..1
    double max_rotation_deg = 0.0;  // rotation uniform in [-r, r] degrees
    double max_shift = 0.0;         // shift uniform in [-s, s] x width (x) and x height (y), each axis drawn apart
    double max_zoom = 0.0;          // scale uniform in [1 - z, 1 + z] per axis (Keras' zoom_range), z < 1
    double max_shear_deg = 0.0;     // shear angle uniform in [-s, s] degrees (Keras' shear_range is in degrees)
    // Random erasing (Zhong et al. 2017; torchvision's RandomErasing): after the warp, with this probability one
    // rectangle of every channel is set to erase_value. Its area is uniform in [erase_min_area, erase_max_area] of
    // the image, its aspect ratio (height / width) log-uniform in [1 / erase_max_aspect, erase_max_aspect], its
    // position uniform over the places where it fits (a side longer than the image is cut to the image's).
    double erase_probability = 0.0;
    double erase_min_area = 0.02;
    double erase_max_area = 0.33;
    double erase_max_aspect = 3.3;
    double erase_value = 0.0;       // 0: the mean of images normalised to zero mean

    // Throws config_error for a negative range, a probability outside [0, 1], max_zoom >= 1, or erasing areas
    // outside 0 < min <= max <= 1 or an aspect bound below 1.
    void validate() const {
        if (!(flip_probability >= 0.0 && flip_probability <= 1.0)) {
            throw config_error("augmentation: expected flip probability in [0, 1], got " +
                               std::to_string(flip_probability));
        }
        if (!(max_rotation_deg >= 0.0 && max_shift >= 0.0 && max_zoom >= 0.0 && max_shear_deg >= 0.0)) {
            throw config_error("augmentation: ranges must be >= 0 (rotation " + std::to_string(max_rotation_deg) +
                               ", shift " + std::to_string(max_shift) + ", zoom " + std::to_string(max_zoom) +
                               ", shear " + std::to_string(max_shear_deg) + ")");
        }
        if (!(max_zoom < 1.0)) {
            throw config_error("augmentation: expected zoom range < 1, got " + std::to_string(max_zoom));
        }
        if (!(erase_probability >= 0.0 && erase_probability <= 1.0)) {
            throw config_error("augmentation: expected erasing probability in [0, 1], got " +
                               std::to_string(erase_probability));
        }
        if (!(erase_min_area > 0.0 && erase_min_area <= erase_max_area && erase_max_area <= 1.0)) {
            throw config_error("augmentation: expected erasing areas 0 < min <= max <= 1, got " +
                               std::to_string(erase_min_area) + " and " + std::to_string(erase_max_area));
        }
        if (!(erase_max_aspect >= 1.0 && std::isfinite(erase_max_aspect)) || !std::isfinite(erase_value)) {
            throw config_error("augmentation: expected an erasing aspect bound >= 1 and a finite fill, got " +
                               std::to_string(erase_max_aspect) + " and " + std::to_string(erase_value));
        }
    }
};

// The tutorial's ImageDataGenerator: rotation_range=15, width/height_shift_range=0.15, zoom_range=0.15,
// shear_range=0.15 (degrees, as Keras reads it) and horizontal_flip=True.
inline AugmentOptions tutorial_augmentation() { return AugmentOptions{0.5, 15.0, 0.15, 0.15, 0.15}; }

// A milder flip / shift / rotate / scale recipe for the default training run.
inline AugmentOptions default_augmentation() { return AugmentOptions{0.5, 10.0, 0.1, 0.1, 0.0}; }

// Where each output pixel samples the input: x_in = xx * x + xy * y + x0, y_in = yx * x + yy * y + y0
// (x the column, y the row, in pixel units).
struct AffineMap {
    double xx = 1.0, xy = 0.0, x0 = 0.0;
    double yx = 0.0, yy = 1.0, y0 = 0.0;

    bool is_identity() const { return xx == 1.0 && xy == 0.0 && x0 == 0.0 && yx == 0.0 && yy == 1.0 && y0 == 0.0; }
};

// Draws one transform for an H x W image. Always takes exactly 7 numbers from `rng` (flip, angle, shift x,
// shift y, zoom x, zoom y, shear), whatever the ranges, so the stream does not depend on the options.
// About the image centre: in = centre + Rotation * Shear * Zoom * (out' - centre) + shift, where out' is the
// output position, mirrored horizontally when the flip is drawn.
inline AffineMap draw_affine_map(const AugmentOptions& options, int H, int W, Rng& rng) {
    constexpr double deg = 3.14159265358979323846 / 180.0;
    const bool flip = rng.uniform() < options.flip_probability;
    const double angle = rng.uniform(-options.max_rotation_deg, options.max_rotation_deg) * deg;
    const double shift_x = rng.uniform(-options.max_shift, options.max_shift) * W;
    const double shift_y = rng.uniform(-options.max_shift, options.max_shift) * H;
    const double zoom_x = rng.uniform(1.0 - options.max_zoom, 1.0 + options.max_zoom);
    const double zoom_y = rng.uniform(1.0 - options.max_zoom, 1.0 + options.max_zoom);
    const double shear = rng.uniform(-options.max_shear_deg, options.max_shear_deg) * deg;

    // M = Rotation [c -s; s c] * Shear [1 -sin(shear); 0 cos(shear)] * Zoom [zx 0; 0 zy].
    const double c = std::cos(angle), s = std::sin(angle);
    const double sh01 = -std::sin(shear), sh11 = std::cos(shear);
    const double m00 = c * zoom_x;
    const double m01 = (c * sh01 - s * sh11) * zoom_y;
    const double m10 = s * zoom_x;
    const double m11 = (s * sh01 + c * sh11) * zoom_y;

    const double cx = 0.5 * (W - 1), cy = 0.5 * (H - 1);
    // The flip replaces x by (W - 1) - x = 2 cx - x before M is applied.
    const double fx = flip ? -1.0 : 1.0;
    const double ox = flip ? cx : -cx;  // x' - cx = fx * x + ox
    AffineMap map;
    map.xx = m00 * fx;
    map.xy = m01;
    map.x0 = m00 * ox - m01 * cy + cx + shift_x;
    map.yx = m10 * fx;
    map.yy = m11;
    map.y0 = m10 * ox - m11 * cy + cy + shift_y;
    return map;
}

// out = in warped by `map`: bilinear sampling, positions outside the image clamped to the nearest edge pixel.
// One H x W plane; `in` and `out` must not overlap.
template <class Scalar>
void warp_affine(const Scalar* in, Scalar* out, int H, int W, const AffineMap& map) {
    if (map.is_identity()) {
        std::memcpy(out, in, static_cast<std::size_t>(H) * static_cast<std::size_t>(W) * sizeof(Scalar));
        return;
    }
    const double max_x = W - 1, max_y = H - 1;
    for (int y = 0; y < H; ++y) {
        for (int x = 0; x < W; ++x) {
            const double sx = std::clamp(map.xx * x + map.xy * y + map.x0, 0.0, max_x);
            const double sy = std::clamp(map.yx * x + map.yy * y + map.y0, 0.0, max_y);
            const int x0 = static_cast<int>(sx), y0 = static_cast<int>(sy);
            const int x1 = std::min(x0 + 1, W - 1), y1 = std::min(y0 + 1, H - 1);
            const auto ax = static_cast<Scalar>(sx - x0), ay = static_cast<Scalar>(sy - y0);
            const Scalar* row0 = in + static_cast<std::size_t>(y0) * W;
            const Scalar* row1 = in + static_cast<std::size_t>(y1) * W;
            const Scalar top = row0[x0] + ax * (row0[x1] - row0[x0]);
            const Scalar bottom = row1[x0] + ax * (row1[x1] - row1[x0]);
            out[static_cast<std::size_t>(y) * W + x] = top + ay * (bottom - top);
        }
    }
}

// The rectangle random erasing sets: rows [top, top + height), columns [left, left + width); height 0: none.
struct EraseBox {
    int top = 0, left = 0, height = 0, width = 0;
};

// Draws the erased rectangle of an H x W image. Takes exactly 5 numbers from `rng` (whether to erase, area, aspect,
// top, left) when options.erase_probability > 0 and none otherwise, so runs without erasing keep the stream of
// earlier versions.
inline EraseBox draw_erase_box(const AugmentOptions& options, int H, int W, Rng& rng) {
    if (options.erase_probability <= 0.0) return {};
    const bool erase = rng.uniform() < options.erase_probability;
    const double area = rng.uniform(options.erase_min_area, options.erase_max_area) * H * W;
    const double log_aspect = std::log(options.erase_max_aspect);
    const double aspect = std::exp(rng.uniform(-log_aspect, log_aspect));
    const double u_top = rng.uniform(), u_left = rng.uniform();
    if (!erase) return {};
    EraseBox box;
    box.height = std::clamp(static_cast<int>(std::lround(std::sqrt(area * aspect))), 1, H);
    box.width = std::clamp(static_cast<int>(std::lround(std::sqrt(area / aspect))), 1, W);
    box.top = std::min(static_cast<int>(u_top * (H - box.height + 1)), H - box.height);
    box.left = std::min(static_cast<int>(u_left * (W - box.width + 1)), W - box.width);
    return box;
}

// One random transform (drawn by draw_affine_map) applied to every channel of a C x H x W sample, then the
// rectangle of draw_erase_box set to options.erase_value in every channel.
template <class Scalar>
void augment_sample(const Scalar* in, Scalar* out, int C, int H, int W, const AugmentOptions& options, Rng& rng) {
    const AffineMap map = draw_affine_map(options, H, W, rng);
    const EraseBox box = draw_erase_box(options, H, W, rng);
    const std::size_t plane = static_cast<std::size_t>(H) * static_cast<std::size_t>(W);
    for (int c = 0; c < C; ++c) {
        Scalar* out_plane = out + c * plane;
        warp_affine(in + c * plane, out_plane, H, W, map);
        for (int y = box.top; y < box.top + box.height; ++y) {
            Scalar* row = out_plane + static_cast<std::size_t>(y) * W + box.left;
            std::fill_n(row, box.width, static_cast<Scalar>(options.erase_value));
        }
    }
}

// out (resized to in's shape; no allocation once it has held a batch this large) = each sample of `in`
// augmented with its own transform, drawn in sample order from `rng`: the same seed gives the same batch.
// `in` and `out` must be different tensors. Throws config_error for invalid options.
template <class Scalar>
void augment_batch(const Tensor<Scalar>& in, Tensor<Scalar>& out, const AugmentOptions& options, Rng& rng) {
    options.validate();
    if (&in == &out) throw config_error("augment_batch: input and output must be different tensors");
    out.resize(in.shape());
    for (int n = 0; n < in.n(); ++n) augment_sample(in.sample(n), out.sample(n), in.c(), in.h(), in.w(), options, rng);
}

// out (resized to in's shape) = every sample of `in` mirrored left-right: out(n, c, h, w) = in(n, c, h, W-1-w).
// For test-time flip averaging. `in` and `out` must be different tensors.
template <class Scalar>
void flip_horizontal(const Tensor<Scalar>& in, Tensor<Scalar>& out) {
    if (&in == &out) throw config_error("flip_horizontal: input and output must be different tensors");
    out.resize(in.shape());
    const int W = in.w();
    const std::size_t rows = static_cast<std::size_t>(in.n()) * in.c() * in.h();
    for (std::size_t r = 0; r < rows; ++r) {
        const Scalar* src = in.data() + r * W;
        Scalar* dst = out.data() + r * W;
        for (int x = 0; x < W; ++x) dst[x] = src[W - 1 - x];
    }
}

// out = in moved `dy` pixels down and `dx` pixels right (negative: up, left), every channel; the pixels uncovered
// repeat the nearest edge pixel, as the training shifts' nearest-edge filling does.
template <class Scalar>
void shift_images(const Tensor<Scalar>& in, int dy, int dx, Tensor<Scalar>& out) {
    if (&in == &out) throw config_error("shift_images: input and output must be different tensors");
    out.resize(in.shape());
    const int H = in.h(), W = in.w();
    const std::size_t planes = static_cast<std::size_t>(in.n()) * in.c();
    for (std::size_t p = 0; p < planes; ++p) {
        const Scalar* src = in.data() + p * H * W;
        Scalar* dst = out.data() + p * H * W;
        for (int y = 0; y < H; ++y) {
            const Scalar* src_row = src + static_cast<std::size_t>(std::clamp(y - dy, 0, H - 1)) * W;
            for (int x = 0; x < W; ++x) dst[y * W + x] = src_row[std::clamp(x - dx, 0, W - 1)];
        }
    }
}

}  // namespace deepcnn
