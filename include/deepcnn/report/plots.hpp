// deepcnn/report/plots.hpp: the report pictures: curves.svg (loss and accuracy per epoch), confusion.svg (heat
// map), predictions.svg / predictions.png (a captioned grid of test faces). Each function returns the file's
// bytes; write them with write_file_atomically. Drawing primitives are svg.hpp's and raster.hpp's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "history.hpp"
#include "metrics.hpp"
#include "png.hpp"
#include "raster.hpp"
#include "svg.hpp"
#include "../tensor.hpp"

namespace deepcnn {

namespace detail {

// Colours shared by the pictures.
inline const char* train_colour() { return "#1f77b4"; }       // blue
inline const char* validation_colour() { return "#e8710a"; }  // orange
inline const char* axis_colour() { return "#444444"; }
inline const char* grid_colour() { return "#e6e6e6"; }
inline const char* text_colour() { return "#222222"; }
inline const char* muted_colour() { return "#666666"; }
inline Rgb correct_rgb() { return Rgb{26, 127, 55}; }   // green
inline Rgb mistake_rgb() { return Rgb{214, 39, 40}; }   // red

// An axis range rounded outwards to a "nice" step (1, 2, 2.5 or 5 times a power of ten) with its ticks.
struct NiceAxis {
    double lo = 0;
    double hi = 1;
    double step = 0.2;
    int decimals = 1;  // enough to tell the tick labels apart
    std::vector<double> ticks;
};

// About `target` intervals covering [lo, hi], with a step of at least `min_step`.
inline NiceAxis nice_axis(double lo, double hi, int target, double min_step = 0) {
    if (!std::isfinite(lo) || !std::isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (hi < lo) std::swap(lo, hi);
    if (hi - lo < 1e-12) {
        const double pad = std::max(std::fabs(lo) * 0.05, 0.05);
        lo -= pad;
        hi += pad;
    }
    const double raw = (hi - lo) / std::max(1, target);
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double norm = raw / magnitude;
    double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * magnitude;
    step = std::max(step, min_step);
    NiceAxis axis;
    axis.step = step;
    axis.lo = std::floor(lo / step + 1e-9) * step;
    axis.hi = std::ceil(hi / step - 1e-9) * step;
    const double digits = -std::floor(std::log10(step) + 1e-9);
    axis.decimals = static_cast<int>(std::max(0.0, digits + (std::fabs(step / std::pow(10.0, -digits) - 2.5) < 1e-6 ? 1 : 0)));
    for (int i = 0; axis.lo + i * step <= axis.hi + step * 1e-6; ++i) axis.ticks.push_back(axis.lo + i * step);
    return axis;
}

// One line of a line chart: values per epoch (NaN = not measured, drawn as a gap).
struct Series {
    std::string name;
    std::string colour;
    std::vector<double> values;
};

// A line chart of `series` against `epochs` in the box (x, y, w, h) (the plotting area; labels go outside it).
// `percent` shows the y values (fractions) as percentages; `mark_epoch` > 0 draws a dashed vertical line there.
inline void draw_epoch_chart(SvgDocument& svg, double x, double y, double w, double h, const std::string& title,
                             const std::string& y_label, const std::vector<int>& epochs,
                             const std::vector<Series>& series, bool percent, int mark_epoch) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const Series& s : series) {
        for (double v : s.values) {
            if (std::isfinite(v)) {
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
        }
    }
    if (!std::isfinite(lo)) {
        lo = 0;
        hi = 1;
    }
    NiceAxis y_axis = nice_axis(lo, hi, 5);
    if (percent) {
        y_axis = nice_axis(std::max(0.0, lo), std::min(1.0, hi), 5);
        y_axis.decimals = std::max(0, y_axis.decimals - 2);
    }
    int first = epochs.empty() ? 1 : epochs.front(), last = first;
    for (int e : epochs) {
        first = std::min(first, e);
        last = std::max(last, e);
    }
    const NiceAxis x_axis = nice_axis(first, last, std::min(10, std::max(1, last - first)), 1.0);
    // Lines span the whole width (a single epoch sits in the middle); ticks are those inside the range.
    const double x_lo = last > first ? first : first - 0.5, x_hi = last > first ? last : last + 0.5;
    auto px = [&](double e) { return x + (e - x_lo) / (x_hi - x_lo) * w; };
    auto py = [&](double v) { return y + h - (v - y_axis.lo) / (y_axis.hi - y_axis.lo) * h; };

    TextStyle title_style;
    title_style.size = 14;
    title_style.bold = true;
    title_style.anchor = "middle";
    svg.text(x + w / 2, y - 10, title, title_style);

    TextStyle tick_style;
    tick_style.size = 11;
    tick_style.fill = muted_colour();
    tick_style.anchor = "end";
    double widest_tick = 0;
    for (double t : y_axis.ticks) {
        const double yy = py(t);
        svg.line(x, yy, x + w, yy, grid_colour(), 1);
        const std::string label = percent ? fixed(100 * t, y_axis.decimals) + "%" : fixed(t, y_axis.decimals);
        widest_tick = std::max(widest_tick, estimate_text_width(label, tick_style.size));
        svg.text(x - 6, yy + 4, label, tick_style);
    }
    tick_style.anchor = "middle";
    for (double t : x_axis.ticks) {
        if (t < x_lo - 1e-9 || t > x_hi + 1e-9) continue;
        const double xx = px(t);
        svg.line(xx, y + h, xx, y + h + 4, axis_colour(), 1);
        svg.text(xx, y + h + 17, fixed(t, 0), tick_style);
    }
    svg.line(x, y + h, x + w, y + h, axis_colour(), 1);
    svg.line(x, y, x, y + h, axis_colour(), 1);

    TextStyle label_style;
    label_style.size = 12;
    label_style.anchor = "middle";
    svg.text(x + w / 2, y + h + 36, "epoch", label_style);
    label_style.rotate = -90;
    const double label_x = x - 6 - widest_tick - 10;
    svg.text(label_x, y + h / 2, y_label, label_style);

    if (mark_epoch > 0) svg.line(px(mark_epoch), y, px(mark_epoch), y + h, "#999999", 1, "4 3");

    const bool markers = epochs.size() <= 40;
    for (const Series& s : series) {
        std::vector<std::pair<double, double>> run;
        auto flush = [&] {
            svg.polyline(run, s.colour, 2.2);
            run.clear();
        };
        for (std::size_t i = 0; i < epochs.size() && i < s.values.size(); ++i) {
            if (std::isfinite(s.values[i])) {
                run.emplace_back(px(epochs[i]), py(s.values[i]));
            } else {
                flush();
            }
        }
        flush();
        if (markers) {
            for (std::size_t i = 0; i < epochs.size() && i < s.values.size(); ++i) {
                if (std::isfinite(s.values[i])) svg.circle(px(epochs[i]), py(s.values[i]), 3, s.colour, "#ffffff", 1);
            }
        }
    }
}

// A legend entry: a short line in `colour` (dashed if `dash`) followed by `label`; returns the x after it.
inline double draw_legend_entry(SvgDocument& svg, double x, double y, const std::string& colour,
                                const std::string& label, const std::string& dash = "") {
    svg.line(x, y - 4, x + 24, y - 4, colour, dash.empty() ? 2.5 : 1.5, dash);
    TextStyle style;
    style.size = 12;
    svg.text(x + 30, y, label, style);
    return x + 30 + estimate_text_width(label, style.size) + 22;
}

}  // namespace detail

// curves.svg: two panels side by side, loss per epoch (left) and accuracy per epoch (right), each with the
// training and validation lines (NaN figures are left out), a shared legend, and a dashed line at the epoch of
// best validation accuracy. 900 x 380 pixels. An empty history draws empty axes.
inline std::string curves_svg(const std::vector<EpochRecord>& history,
                              const std::string& title = "Training curves") {
    const double width = 900, height = 380;
    SvgDocument svg(width, height);
    svg.set_title(title);

    std::vector<int> epochs;
    detail::Series train_loss{"train", detail::train_colour(), {}}, val_loss{"validation", detail::validation_colour(), {}};
    detail::Series train_acc = train_loss, val_acc = val_loss;
    int best_epoch = 0;
    double best = -1;
    for (const EpochRecord& r : history) {
        epochs.push_back(r.epoch);
        train_loss.values.push_back(r.train_loss);
        val_loss.values.push_back(r.val_loss);
        train_acc.values.push_back(r.train_accuracy);
        val_acc.values.push_back(r.val_accuracy);
        if (std::isfinite(r.val_accuracy) && r.val_accuracy > best) {
            best = r.val_accuracy;
            best_epoch = r.epoch;
        }
    }

    TextStyle title_style;
    title_style.size = 18;
    title_style.bold = true;
    title_style.anchor = "middle";
    svg.text(width / 2, 28, title, title_style);

    // Legend centred under the title.
    const std::string best_label =
        best_epoch > 0 ? "best validation: " + detail::fixed(100 * best, 1) + "% at epoch " +
                             std::to_string(best_epoch)
                       : std::string();
    double legend_w = 30 + estimate_text_width("train", 12) + 22 + 30 + estimate_text_width("validation", 12);
    if (best_epoch > 0) legend_w += 22 + 30 + estimate_text_width(best_label, 12);
    double lx = (width - legend_w) / 2;
    lx = detail::draw_legend_entry(svg, lx, 52, detail::train_colour(), "train");
    lx = detail::draw_legend_entry(svg, lx, 52, detail::validation_colour(), "validation");
    if (best_epoch > 0) detail::draw_legend_entry(svg, lx, 52, "#999999", best_label, "4 3");

    const double top = 92, plot_h = 230, plot_w = 350;
    detail::draw_epoch_chart(svg, 85, top, plot_w, plot_h, "Loss", "cross-entropy loss", epochs,
                             {train_loss, val_loss}, false, best_epoch);
    detail::draw_epoch_chart(svg, 530, top, plot_w, plot_h, "Accuracy", "accuracy", epochs, {train_acc, val_acc},
                             true, best_epoch);
    if (history.empty()) {
        TextStyle note;
        note.anchor = "middle";
        note.fill = detail::muted_colour();
        svg.text(85 + plot_w / 2, top + plot_h / 2, "no epochs recorded", note);
        svg.text(530 + plot_w / 2, top + plot_h / 2, "no epochs recorded", note);
    }
    return svg.str();
}

// confusion.svg: the confusion matrix as a heat map, rows = true class, columns = predicted class, each cell
// holding its count and its share of the row (the row-normalised %, which also sets the colour, so classes of
// different sizes compare), the support of each row to its right, a colour scale, and `title` followed by the
// overall accuracy. `names` holds one name per class or is empty ("0", "1", ...); shape_error otherwise.
inline std::string confusion_svg(const ConfusionMatrix& cm, const std::vector<std::string>& names = {},
                                 const std::string& title = "Confusion matrix") {
    const int k = cm.num_classes();
    if (k < 1) throw shape_error("confusion_svg: empty confusion matrix (0 classes)");
    const std::vector<std::string> labels = detail::class_labels(names, k, "confusion_svg");
    const double label_size = 13;
    const double cell = std::max(64.0, std::min(110.0, 560.0 / k));
    double label_w = 0;
    for (const std::string& l : labels) label_w = std::max(label_w, estimate_text_width(l, label_size));

    double grid_x = 20 + 16 + 12 + label_w + 10;  // margin, "true" axis title, gap, row labels, gap
    const double grid_y = 78;
    const double grid = cell * k;
    const bool rotate_columns = label_w > cell - 8;
    const double column_labels_h = rotate_columns ? label_w * 0.6 + 14 : 20;
    std::int64_t max_support = 0;
    for (int t = 0; t < k; ++t) max_support = std::max(max_support, cm.true_total(t));
    const double support_w = estimate_text_width("n = " + std::to_string(max_support), 11);
    double bar_x = grid_x + grid + 10 + support_w + 18;
    const double bar_w = 16;
    const double content_w = bar_x + bar_w + 8 + estimate_text_width("100%", 11) + 8 + 16 + 16;
    const double height = grid_y + grid + column_labels_h + 42;

    const std::string full_title = title + ": accuracy " + detail::fixed(100 * cm.accuracy(), 2) + "% (" +
                                   std::to_string(cm.correct()) + " / " + std::to_string(cm.total()) + ")";
    const double width = std::max(content_w, estimate_text_width(full_title, 17, true) + 40);
    // Centre the matrix under a title wider than it.
    grid_x += (width - content_w) / 2;
    bar_x += (width - content_w) / 2;
    const double true_x = grid_x - (label_w + 10 + 12 + 16) + 12;
    SvgDocument svg(width, height);
    svg.set_title(full_title);

    TextStyle title_style;
    title_style.size = 17;
    title_style.bold = true;
    title_style.anchor = "middle";
    svg.text(width / 2, 30, full_title, title_style);
    TextStyle sub_style;
    sub_style.size = 12;
    sub_style.anchor = "middle";
    sub_style.fill = detail::muted_colour();
    svg.text(width / 2, 50, "rows: true class, columns: predicted class; colour and % are shares of the row", sub_style);

    for (int t = 0; t < k; ++t) {
        const double row_total = static_cast<double>(cm.true_total(t));
        for (int p = 0; p < k; ++p) {
            const double share = row_total > 0 ? static_cast<double>(cm.count(t, p)) / row_total : 0.0;
            const Rgb fill = blues(share);
            const double cx = grid_x + p * cell, cy = grid_y + t * cell;
            svg.rect(cx, cy, cell, cell, fill.hex(), "#ffffff", 1);
            TextStyle count_style;
            count_style.anchor = "middle";
            count_style.size = cell >= 80 ? 17 : 15;
            count_style.bold = true;
            count_style.fill = fill.luma() < 0.55 ? "#ffffff" : detail::text_colour();
            svg.text(cx + cell / 2, cy + cell / 2 - 2, std::to_string(cm.count(t, p)), count_style);
            TextStyle share_style = count_style;
            share_style.bold = false;
            share_style.size = cell >= 80 ? 12 : 11;
            svg.text(cx + cell / 2, cy + cell / 2 + 15, detail::fixed(100 * share, 1) + "%", share_style);
        }
        // Support to the right of the row.
        TextStyle support_style;
        support_style.size = 11;
        support_style.fill = detail::muted_colour();
        svg.text(grid_x + grid + 10, grid_y + t * cell + cell / 2 + 4, "n = " + std::to_string(cm.true_total(t)),
                 support_style);
    }
    svg.rect(grid_x, grid_y, grid, grid, "none", "#888888", 1);
    // Diagonal outline: the correct predictions.
    for (int c = 0; c < k; ++c) {
        svg.rect(grid_x + c * cell + 1.5, grid_y + c * cell + 1.5, cell - 3, cell - 3, "none", "#e8710a", 2);
    }

    TextStyle row_style;
    row_style.size = label_size;
    row_style.anchor = "end";
    for (int t = 0; t < k; ++t) {
        svg.text(grid_x - 10, grid_y + t * cell + cell / 2 + 4.5, labels[static_cast<std::size_t>(t)], row_style);
    }
    TextStyle column_style;
    column_style.size = label_size;
    for (int p = 0; p < k; ++p) {
        const double cx = grid_x + p * cell + cell / 2;
        if (rotate_columns) {
            column_style.anchor = "end";
            column_style.rotate = -45;
            svg.text(cx + 4, grid_y + grid + 14, labels[static_cast<std::size_t>(p)], column_style);
        } else {
            column_style.anchor = "middle";
            svg.text(cx, grid_y + grid + 18, labels[static_cast<std::size_t>(p)], column_style);
        }
    }

    TextStyle axis_style;
    axis_style.size = 14;
    axis_style.bold = true;
    axis_style.anchor = "middle";
    svg.text(grid_x + grid / 2, grid_y + grid + column_labels_h + 24, "predicted", axis_style);
    axis_style.rotate = -90;
    svg.text(true_x, grid_y + grid / 2, "true", axis_style);

    // Colour scale: 0% at the bottom, 100% at the top, in 50 bands.
    const int bands = 50;
    for (int i = 0; i < bands; ++i) {
        const double t0 = static_cast<double>(i) / bands;
        const double band_h = grid / bands;
        svg.rect(bar_x, grid_y + grid - (i + 1) * band_h, bar_w, band_h + 0.5, blues(t0 + 0.5 / bands).hex());
    }
    svg.rect(bar_x, grid_y, bar_w, grid, "none", "#888888", 1);
    TextStyle bar_style;
    bar_style.size = 11;
    bar_style.fill = detail::muted_colour();
    for (int i = 0; i <= 4; ++i) {
        const double yy = grid_y + grid - grid * i / 4.0;
        svg.line(bar_x + bar_w, yy, bar_x + bar_w + 4, yy, "#888888", 1);
        svg.text(bar_x + bar_w + 7, yy + 4, std::to_string(25 * i) + "%", bar_style);
    }
    bar_style.anchor = "middle";
    bar_style.rotate = 90;
    svg.text(bar_x + bar_w + 8 + estimate_text_width("100%", 11) + 12, grid_y + grid / 2, "share of true class",
             bar_style);
    return svg.str();
}

// One test image and what the model said about it.
struct Prediction {
    std::vector<std::uint8_t> pixels;  // grey 0..255, width * height, rows top to bottom
    int width = 48;
    int height = 48;
    int true_label = 0;
    int predicted_label = 0;
    double probability = NAN;  // the model's probability of predicted_label (NaN: not shown)
};

// Grey pixels 0..255 from `count` values of an image, mapping [lo, hi] linearly to [0, 255] and clamping: pass
// lo = 0, hi = 1 for pixels scaled to [0, 1], or lo = -mean / std, hi = (1 - mean) / std for normalised ones.
template <class Scalar>
std::vector<std::uint8_t> grey_pixels(const Scalar* values, std::size_t count, double lo = 0, double hi = 1) {
    std::vector<std::uint8_t> out(count);
    const double scale = hi != lo ? 255.0 / (hi - lo) : 0.0;
    for (std::size_t i = 0; i < count; ++i) {
        const double v = (static_cast<double>(values[i]) - lo) * scale;
        out[i] = static_cast<std::uint8_t>(std::lround(std::min(255.0, std::max(0.0, std::isfinite(v) ? v : 0.0))));
    }
    return out;
}

// `count` indices spread evenly over [0, total) (all of them when count >= total), a deterministic sample of a
// test set for the predictions grid.
inline std::vector<std::size_t> spread_indices(std::size_t total, std::size_t count) {
    std::vector<std::size_t> out;
    if (count >= total) {
        for (std::size_t i = 0; i < total; ++i) out.push_back(i);
        return out;
    }
    for (std::size_t i = 0; i < count; ++i) out.push_back(i * total / count);
    return out;
}

// Up to `count` grey images (N, 1, H, W) spread evenly over a set (spread_indices), each with its label, the class a
// classifier predicted and that class's probability (`probabilities` (N, K, 1, 1)), for predictions_svg / _png;
// [lo, hi] maps to black and white as in grey_pixels.
template <class Scalar>
std::vector<Prediction> sample_predictions(const Tensor<Scalar>& images, const std::vector<int>& labels,
                                           const std::vector<int>& predicted, const Tensor<Scalar>& probabilities,
                                           std::size_t count, double lo = 0, double hi = 1) {
    std::vector<Prediction> items;
    for (const std::size_t i : spread_indices(static_cast<std::size_t>(images.n()), count)) {
        const int n = static_cast<int>(i);
        Prediction p;
        p.pixels = grey_pixels(images.sample(n), images.shape().per_sample(), lo, hi);
        p.width = images.w();
        p.height = images.h();
        p.true_label = labels[i];
        p.predicted_label = predicted[i];
        p.probability = probabilities.sample(n)[p.predicted_label];
        items.push_back(std::move(p));
    }
    return items;
}

namespace detail {

inline std::string label_name(const std::vector<std::string>& names, int label) {
    if (label >= 0 && static_cast<std::size_t>(label) < names.size()) return names[static_cast<std::size_t>(label)];
    return std::to_string(label);
}

// Throws unless every item's pixels match its size and (with names) its labels name a class.
inline void check_predictions(const std::vector<Prediction>& items, const std::vector<std::string>& names,
                              int columns, const char* caller) {
    if (columns < 1) throw config_error(std::string(caller) + ": columns must be >= 1, got " + std::to_string(columns));
    for (std::size_t i = 0; i < items.size(); ++i) {
        const Prediction& it = items[i];
        if (it.width < 1 || it.height < 1 ||
            it.pixels.size() != static_cast<std::size_t>(it.width) * static_cast<std::size_t>(it.height)) {
            throw shape_error(std::string(caller) + ": image " + std::to_string(i) + " is " + std::to_string(it.width) +
                              "x" + std::to_string(it.height) + " but has " + std::to_string(it.pixels.size()) +
                              " pixels");
        }
        for (int label : {it.true_label, it.predicted_label}) {
            if (label < 0 || (!names.empty() && static_cast<std::size_t>(label) >= names.size())) {
                throw data_error(std::string(caller) + ": image " + std::to_string(i) + ": label " +
                                 std::to_string(label) + " is not one of the " + std::to_string(names.size()) +
                                 " classes");
            }
        }
    }
}

inline std::string prediction_caption(const std::vector<std::string>& names, const Prediction& it) {
    return label_name(names, it.predicted_label) + " / " + label_name(names, it.true_label);
}

inline int count_correct(const std::vector<Prediction>& items) {
    int n = 0;
    for (const Prediction& it : items) n += it.predicted_label == it.true_label ? 1 : 0;
    return n;
}

}  // namespace detail

// predictions.svg: the images in a grid of `columns`, each enlarged `scale` times (48x48 faces: 96x96) and
// embedded as a PNG data URI, framed and captioned "predicted / true" in green when right and in red when wrong,
// with a second line "✓ 87%" or "✗ 87%" (mark and predicted probability). Title with the count of correct ones.
// Throws shape_error for pixels that do not match an image's size, data_error for a label that names no class.
inline std::string predictions_svg(const std::vector<Prediction>& items, const std::vector<std::string>& names,
                                   int columns = 6, const std::string& title = "Test predictions", int scale = 2) {
    detail::check_predictions(items, names, columns, "predictions_svg");
    scale = std::max(1, scale);
    const double caption_size = 12;
    double img_w = 0, img_h = 0, caption_w = 0;
    for (const Prediction& it : items) {
        img_w = std::max(img_w, static_cast<double>(it.width * scale));
        img_h = std::max(img_h, static_cast<double>(it.height * scale));
        caption_w = std::max(caption_w, estimate_text_width(detail::prediction_caption(names, it), caption_size));
    }
    const double cell_w = std::max({img_w + 16, caption_w + 12, 110.0});
    const double cell_h = img_h + 12 + 2 * 16 + 10;
    const int n = static_cast<int>(items.size());
    const int cols = std::max(1, std::min(columns, n));
    const int rows = (n + cols - 1) / cols;
    const int correct = detail::count_correct(items);
    const std::string full_title = title + ": " + std::to_string(correct) + " of " + std::to_string(n) + " correct";
    const double margin = 20, grid_y = 82;
    const double width = std::max(margin * 2 + cols * cell_w, estimate_text_width(full_title, 18, true) + 40);
    const double height = grid_y + rows * cell_h + 10;
    const double grid_x = (width - cols * cell_w) / 2;

    SvgDocument svg(width, height);
    svg.set_title(full_title);
    TextStyle title_style;
    title_style.size = 18;
    title_style.bold = true;
    title_style.anchor = "middle";
    svg.text(width / 2, 30, full_title, title_style);

    // Legend: what the caption and colours mean.
    const std::string green = detail::correct_rgb().hex(), red = detail::mistake_rgb().hex();
    TextStyle legend_style;
    legend_style.size = 12;
    const std::string l1 = "caption: predicted / true, probability of the prediction", l2 = "right", l3 = "wrong";
    const double legend_w = estimate_text_width(l1, 12) + 24 + 18 + estimate_text_width(l2, 12) + 18 + 18 +
                            estimate_text_width(l3, 12);
    double lx = (width - legend_w) / 2;
    legend_style.fill = detail::muted_colour();
    svg.text(lx, 58, l1, legend_style);
    lx += estimate_text_width(l1, 12) + 24;
    svg.rect(lx, 48, 12, 12, "none", green, 3);
    legend_style.fill = green;
    svg.text(lx + 18, 58, l2, legend_style);
    lx += 18 + estimate_text_width(l2, 12) + 18;
    svg.rect(lx, 48, 12, 12, "none", red, 3);
    legend_style.fill = red;
    svg.text(lx + 18, 58, l3, legend_style);

    for (int i = 0; i < n; ++i) {
        const Prediction& it = items[static_cast<std::size_t>(i)];
        const bool right = it.predicted_label == it.true_label;
        const std::string colour = right ? green : red;
        const double cx = grid_x + (i % cols) * cell_w, cy = grid_y + (i / cols) * cell_h;
        const double w = it.width * scale, h = it.height * scale;
        const double ix = cx + (cell_w - w) / 2, iy = cy + 4;
        svg.image(ix, iy, w, h, png_data_uri(encode_png(it.pixels.data(), it.width, it.height, 1)));
        svg.rect(ix - 2, iy - 2, w + 4, h + 4, "none", colour, 3);
        TextStyle caption;
        caption.size = caption_size;
        caption.anchor = "middle";
        caption.fill = colour;
        caption.bold = !right;
        svg.text(cx + cell_w / 2, iy + img_h + 20, detail::prediction_caption(names, it), caption);
        caption.bold = false;
        caption.size = 11;
        std::string second = right ? "\u2713" : "\u2717";
        if (std::isfinite(it.probability)) second += " " + detail::fixed(100 * it.probability, 0) + "%";
        svg.text(cx + cell_w / 2, iy + img_h + 36, second, caption);
    }
    return svg.str();
}

// predictions.png: the same grid as predictions_svg as a raster picture (for viewers without SVG), text in a
// built-in bitmap font: title, then per face a coloured frame, "predicted / true" and "87%" (plus "wrong" for
// mistakes). Same checks and exceptions as predictions_svg.
inline std::string predictions_png(const std::vector<Prediction>& items, const std::vector<std::string>& names,
                                   int columns = 6, const std::string& title = "Test predictions", int scale = 2) {
    detail::check_predictions(items, names, columns, "predictions_png");
    scale = std::max(1, scale);
    const double text_scale = 1.5, title_scale = 2.5;
    int img_w = 0, img_h = 0;
    double caption_w = 0;
    for (const Prediction& it : items) {
        img_w = std::max(img_w, it.width * scale);
        img_h = std::max(img_h, it.height * scale);
        caption_w = std::max(caption_w, RgbCanvas::text_width(detail::prediction_caption(names, it), text_scale));
    }
    const int cell_w = static_cast<int>(std::ceil(std::max({img_w + 16.0, caption_w + 24, 110.0})));
    const int cell_h = img_h + 12 + 2 * 16 + 8;
    const int n = static_cast<int>(items.size());
    const int cols = std::max(1, std::min(columns, n));
    const int rows = (n + cols - 1) / cols;
    const int correct = detail::count_correct(items);
    const std::string full_title = title + ": " + std::to_string(correct) + " of " + std::to_string(n) +
                                   " correct (predicted / true)";
    const int margin = 16, grid_y = 56;
    const int width = std::max(margin * 2 + cols * cell_w,
                               static_cast<int>(RgbCanvas::text_width(full_title, title_scale)) + 2 * margin);
    const int height = grid_y + rows * cell_h + 8;
    const int grid_x = (width - cols * cell_w) / 2;

    RgbCanvas canvas(width, height);
    const Rgb ink{34, 34, 34};
    canvas.text((width - RgbCanvas::text_width(full_title, title_scale)) / 2, 18, full_title, ink, title_scale);
    for (int i = 0; i < n; ++i) {
        const Prediction& it = items[static_cast<std::size_t>(i)];
        const bool right = it.predicted_label == it.true_label;
        const Rgb colour = right ? detail::correct_rgb() : detail::mistake_rgb();
        const int cx = grid_x + (i % cols) * cell_w, cy = grid_y + (i / cols) * cell_h;
        const int w = it.width * scale, h = it.height * scale;
        const int ix = cx + (cell_w - w) / 2, iy = cy + 4;
        canvas.draw_grey(ix, iy, it.pixels.data(), it.width, it.height, scale);
        canvas.frame(ix - 3, iy - 3, w + 6, h + 6, 3, colour);
        const std::string caption = detail::prediction_caption(names, it);
        canvas.text(cx + (cell_w - RgbCanvas::text_width(caption, text_scale)) / 2, iy + img_h + 10, caption, colour,
                    text_scale);
        std::string second = std::isfinite(it.probability) ? detail::fixed(100 * it.probability, 0) + "%" : "";
        if (!right) second += second.empty() ? "wrong" : "  wrong";
        canvas.text(cx + (cell_w - RgbCanvas::text_width(second, text_scale)) / 2, iy + img_h + 26, second, colour,
                    text_scale);
    }
    return canvas.png();
}

}  // namespace deepcnn
