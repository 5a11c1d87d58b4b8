// deepcnn/data/resample.hpp: resize_plane(), resampling of one grey image plane to another size, separably
// per axis: area averaging (exact box-filter coverage) where an axis shrinks, bilinear interpolation of pixel
// centres where it grows, a copy where it keeps its size. No I/O: io/image.hpp decodes files.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../error.hpp"

namespace deepcnn {

namespace detail {

// One output sample of one axis: the weighted sum of `count` consecutive input samples from `first`.
struct AxisTap {
    int first = 0;
    int count = 0;
    std::size_t weights = 0;  // offset of the weights in AxisPlan::weights
};

struct AxisPlan {
    std::vector<AxisTap> taps;    // one per output sample
    std::vector<double> weights;  // concatenated, each tap's weights sum to 1
};

// Area averaging: output sample o covers input [o * in / out, (o + 1) * in / out); each input pixel weighs by
// the length of its overlap. Bilinear: output centre o + 0.5 maps to input position (o + 0.5) * in / out - 0.5,
// clamped to [0, in - 1].
inline AxisPlan plan_axis(int in, int out) {
    AxisPlan plan;
    plan.taps.resize(static_cast<std::size_t>(out));
    const double scale = static_cast<double>(in) / static_cast<double>(out);
    for (int o = 0; o < out; ++o) {
        AxisTap& tap = plan.taps[static_cast<std::size_t>(o)];
        tap.weights = plan.weights.size();
        if (in == out) {
            tap.first = o;
            tap.count = 1;
            plan.weights.push_back(1.0);
        } else if (in > out) {
            const double lo = o * scale, hi = (o + 1) * scale;
            tap.first = static_cast<int>(lo);
            const int last = std::min(in - 1, static_cast<int>(std::ceil(hi)) - 1);
            tap.count = last - tap.first + 1;
            double total = 0.0;
            for (int i = tap.first; i <= last; ++i) {
                const double overlap = std::max(0.0, std::min(hi, i + 1.0) - std::max(lo, static_cast<double>(i)));
                plan.weights.push_back(overlap);
                total += overlap;
            }
            for (int k = 0; k < tap.count; ++k) plan.weights[tap.weights + static_cast<std::size_t>(k)] /= total;
        } else {
            const double pos = std::clamp((o + 0.5) * scale - 0.5, 0.0, static_cast<double>(in - 1));
            tap.first = std::min(static_cast<int>(pos), in - 1);
            const double frac = pos - tap.first;
            if (tap.first + 1 < in && frac > 0.0) {
                tap.count = 2;
                plan.weights.push_back(1.0 - frac);
                plan.weights.push_back(frac);
            } else {
                tap.count = 1;
                plan.weights.push_back(1.0);
            }
        }
    }
    return plan;
}

}  // namespace detail

// out (out_h x out_w, row-major, resized) = `in` (in_h x in_w, row-major) resampled: area averaging on an
// axis that shrinks, bilinear on one that grows. A constant image stays constant; the same size is a copy.
// Throws shape_error for a non-positive size or an `in` of the wrong length.
inline void resize_plane(const std::vector<float>& in, int in_h, int in_w, std::vector<float>& out, int out_h,
                         int out_w) {
    if (in_h <= 0 || in_w <= 0 || out_h <= 0 || out_w <= 0) {
        throw shape_error("resize_plane: sizes must be positive, got " + std::to_string(in_h) + "x" +
                          std::to_string(in_w) + " -> " + std::to_string(out_h) + "x" + std::to_string(out_w));
    }
    if (in.size() != static_cast<std::size_t>(in_h) * static_cast<std::size_t>(in_w)) {
        throw shape_error("resize_plane: a " + std::to_string(in_h) + "x" + std::to_string(in_w) + " image has " +
                          std::to_string(static_cast<std::size_t>(in_h) * static_cast<std::size_t>(in_w)) +
                          " pixels, got " + std::to_string(in.size()));
    }
    const detail::AxisPlan columns = detail::plan_axis(in_w, out_w);
    const detail::AxisPlan rows = detail::plan_axis(in_h, out_h);

    // Pass 1: every input row resampled horizontally to (in_h, out_w).
    std::vector<double> wide(static_cast<std::size_t>(in_h) * static_cast<std::size_t>(out_w));
    for (int y = 0; y < in_h; ++y) {
        const float* src = in.data() + static_cast<std::size_t>(y) * in_w;
        for (int x = 0; x < out_w; ++x) {
            const detail::AxisTap& tap = columns.taps[static_cast<std::size_t>(x)];
            double sum = 0.0;
            for (int k = 0; k < tap.count; ++k) sum += columns.weights[tap.weights + k] * src[tap.first + k];
            wide[static_cast<std::size_t>(y) * out_w + x] = sum;
        }
    }
    // Pass 2: vertically to (out_h, out_w).
    out.assign(static_cast<std::size_t>(out_h) * static_cast<std::size_t>(out_w), 0.0F);
    for (int y = 0; y < out_h; ++y) {
        const detail::AxisTap& tap = rows.taps[static_cast<std::size_t>(y)];
        for (int x = 0; x < out_w; ++x) {
            double sum = 0.0;
            for (int k = 0; k < tap.count; ++k) {
                sum += rows.weights[tap.weights + k] * wide[static_cast<std::size_t>(tap.first + k) * out_w + x];
            }
            out[static_cast<std::size_t>(y) * out_w + x] = static_cast<float>(sum);
        }
    }
}

}  // namespace deepcnn
