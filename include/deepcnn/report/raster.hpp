// deepcnn/report/raster.hpp: RgbCanvas, a tiny RGB raster for PNG pictures: filled rectangles, enlarged grey images
// and anti-aliased text in stb_easy_font's built-in bitmap font (ASCII). PNG encoding is png.hpp's.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wcast-align"
#endif
#if __has_include(<stb_easy_font.h>)
#include <stb_easy_font.h>
#else
#include <stb/stb_easy_font.h>
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "../error.hpp"
#include "png.hpp"
#include "svg.hpp"

namespace deepcnn {

// A width x height RGB picture, rows top to bottom, initially filled with one colour.
class RgbCanvas {
public:
    RgbCanvas(int width, int height, const Rgb& background = Rgb{255, 255, 255}) : width_(width), height_(height) {
        if (width < 1 || height < 1) {
            throw config_error("RgbCanvas: bad size " + std::to_string(width) + "x" + std::to_string(height));
        }
        pixels_.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
        for (std::size_t i = 0; i < pixels_.size(); i += 3) {
            pixels_[i] = background.r;
            pixels_[i + 1] = background.g;
            pixels_[i + 2] = background.b;
        }
    }

    int width() const { return width_; }
    int height() const { return height_; }
    const std::vector<std::uint8_t>& pixels() const { return pixels_; }

    // Blends `colour` over pixel (x, y) with opacity `alpha` in [0, 1]; outside the canvas does nothing.
    void blend(int x, int y, const Rgb& colour, double alpha) {
        if (x < 0 || y < 0 || x >= width_ || y >= height_ || alpha <= 0) return;
        alpha = std::min(alpha, 1.0);
        std::uint8_t* p = &pixels_[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) +
                                    static_cast<std::size_t>(x)) * 3];
        const Rgb mixed = mix(Rgb{p[0], p[1], p[2]}, colour, alpha);
        p[0] = mixed.r;
        p[1] = mixed.g;
        p[2] = mixed.b;
    }

    // Fills the pixels [x, x + w) x [y, y + h), clipped to the canvas.
    void fill_rect(int x, int y, int w, int h, const Rgb& colour) {
        for (int yy = std::max(0, y); yy < std::min(height_, y + h); ++yy) {
            for (int xx = std::max(0, x); xx < std::min(width_, x + w); ++xx) blend(xx, yy, colour, 1.0);
        }
    }

    // A `thickness`-pixel frame just inside the box [x, x + w) x [y, y + h).
    void frame(int x, int y, int w, int h, int thickness, const Rgb& colour) {
        fill_rect(x, y, w, thickness, colour);
        fill_rect(x, y + h - thickness, w, thickness, colour);
        fill_rect(x, y, thickness, h, colour);
        fill_rect(x + w - thickness, y, thickness, h, colour);
    }

    // Draws a grey image (`grey` holds w * h bytes, rows top to bottom) with its top-left corner at (x, y), each
    // pixel enlarged to a `scale` x `scale` block.
    void draw_grey(int x, int y, const std::uint8_t* grey, int w, int h, int scale) {
        for (int r = 0; r < h; ++r) {
            for (int c = 0; c < w; ++c) {
                const std::uint8_t v = grey[static_cast<std::size_t>(r) * static_cast<std::size_t>(w) +
                                            static_cast<std::size_t>(c)];
                fill_rect(x + c * scale, y + r * scale, scale, scale, Rgb{v, v, v});
            }
        }
    }

    // Width in pixels of `text` drawn at `scale` (stb_easy_font glyphs are about 6 x 7 units at scale 1).
    static double text_width(const std::string& text, double scale) {
        std::vector<char> buf = printable(text);
        return stb_easy_font_width(buf.data()) * scale;
    }
    // Height of the capital letters at `scale`.
    static double cap_height(double scale) { return 7 * scale; }

    // Draws one line of ASCII text with the top of its capitals at (x, y), glyphs scaled by `scale` (fractional
    // scales are anti-aliased by exact pixel coverage). Characters outside ASCII 32..126 are drawn as '?'.
    void text(double x, double y, const std::string& text, const Rgb& colour, double scale) {
        std::vector<char> buf = printable(text);
        // stb_easy_font emits quads of 4 vertices, 16 bytes each (x, y, z floats + RGBA); ~270 bytes a character.
        std::vector<float> vertices(buf.size() * 128 + 64);
        const int quads = stb_easy_font_print(0, 0, buf.data(), nullptr, vertices.data(),
                                              static_cast<int>(vertices.size() * sizeof(float)));
        // Coverage of each pixel, so that overlapping segments do not darken twice.
        const int w = static_cast<int>(std::ceil(text_width(text, scale))) + 2;
        const int h = static_cast<int>(std::ceil(12 * scale)) + 2;
        const int x0 = static_cast<int>(std::floor(x)), y0 = static_cast<int>(std::floor(y));
        const double fx = x - x0, fy = y - y0;
        std::vector<double> coverage(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), 0.0);
        for (int q = 0; q < quads; ++q) {
            const float* v = &vertices[static_cast<std::size_t>(q) * 16];  // 4 vertices x 4 floats
            const double qx0 = fx + v[0] * scale, qy0 = fy + v[1] * scale;
            const double qx1 = fx + v[8] * scale, qy1 = fy + v[9] * scale;  // the opposite corner (vertex 2)
            for (int py = std::max(0, static_cast<int>(qy0)); py < std::min(h, static_cast<int>(std::ceil(qy1)));
                 ++py) {
                const double cy = std::min<double>(py + 1, qy1) - std::max<double>(py, qy0);
                for (int px = std::max(0, static_cast<int>(qx0));
                     px < std::min(w, static_cast<int>(std::ceil(qx1))); ++px) {
                    const double cx = std::min<double>(px + 1, qx1) - std::max<double>(px, qx0);
                    double& c = coverage[static_cast<std::size_t>(py) * static_cast<std::size_t>(w) +
                                         static_cast<std::size_t>(px)];
                    c = std::min(1.0, c + cx * cy);
                }
            }
        }
        for (int py = 0; py < h; ++py) {
            for (int px = 0; px < w; ++px) {
                blend(x0 + px, y0 + py, colour,
                      coverage[static_cast<std::size_t>(py) * static_cast<std::size_t>(w) +
                               static_cast<std::size_t>(px)]);
            }
        }
    }

    // The canvas as PNG file bytes.
    std::string png() const { return encode_png(pixels_.data(), width_, height_, 3); }

private:
    // A NUL-terminated copy with newlines and non-ASCII bytes replaced, as stb_easy_font indexes its glyph table
    // by character code.
    static std::vector<char> printable(const std::string& text) {
        std::vector<char> buf;
        buf.reserve(text.size() + 1);
        for (char ch : text) buf.push_back(ch >= 32 && ch <= 126 ? ch : '?');
        buf.push_back('\0');
        return buf;
    }

    int width_;
    int height_;
    std::vector<std::uint8_t> pixels_;
};

}  // namespace deepcnn
