// deepcnn/report/svg.hpp: SvgDocument, a small writer of standalone SVG 1.1 files (rectangles, lines, polylines,
// circles, text, embedded images), plus colours and XML escaping. What to draw is plots.hpp's business.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace deepcnn {

// `text` with &, <, >, " and ' escaped for XML text and attribute values; control characters that XML 1.0 forbids
// (all below 0x20 except tab, newline and carriage return) become '?'.
inline std::string xml_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        const unsigned char c = static_cast<unsigned char>(ch);
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += (c < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') ? '?' : ch;
        }
    }
    return out;
}

// An 8-bit sRGB colour.
struct Rgb {
    std::uint8_t r = 0, g = 0, b = 0;

    // "#rrggbb"
    std::string hex() const {
        char buf[8];
        std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
        return buf;
    }
    // Perceived lightness in [0, 1] (Rec. 709 luma of the gamma-encoded values), to choose black or white text.
    double luma() const { return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255.0; }
};

// Linear interpolation between two colours, t in [0, 1].
inline Rgb mix(const Rgb& a, const Rgb& b, double t) {
    t = std::min(1.0, std::max(0.0, t));
    auto channel = [t](std::uint8_t x, std::uint8_t y) {
        return static_cast<std::uint8_t>(std::lround(x + (y - x) * t));
    };
    return Rgb{channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b)};
}

// The sequential "Blues" colour map (ColorBrewer, as matplotlib's), t in [0, 1] from near-white to dark blue.
inline Rgb blues(double t) {
    static const Rgb stops[] = {{247, 251, 255}, {222, 235, 247}, {198, 219, 239}, {158, 202, 225}, {107, 174, 214},
                                {66, 146, 198},  {33, 113, 181},  {8, 81, 156},    {8, 48, 107}};
    constexpr int last = 8;
    if (!(t > 0)) return stops[0];
    if (t >= 1) return stops[last];
    const double x = t * last;
    const int i = static_cast<int>(x);
    return mix(stops[i], stops[i + 1], x - i);
}

// Text placement and look. `anchor` is "start", "middle" or "end"; `rotate` turns the text by that many degrees
// (clockwise) about its anchor point (x, y), which is on the baseline.
struct TextStyle {
    double size = 12;
    std::string anchor = "start";
    std::string fill = "#222222";
    bool bold = false;
    double rotate = 0;
};

// A rough width of `text` in the sans-serif fonts SVG viewers use (DejaVu Sans, Arial, Helvetica), for layout:
// 0.6 em per character, 0.65 em bold. UTF-8 continuation bytes are not counted. Generous on purpose: better a
// little space to spare than a clipped label.
inline double estimate_text_width(const std::string& text, double size, bool bold = false) {
    std::size_t chars = 0;
    for (char ch : text) {
        if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++chars;
    }
    return static_cast<double>(chars) * size * (bold ? 0.65 : 0.6);
}

// A standalone SVG picture of width x height user units (pixels), drawn in call order (later on top).
class SvgDocument {
public:
    // A blank picture on a `background` fill ("none" for transparent).
    SvgDocument(double width, double height, const std::string& background = "#ffffff")
        : width_(width), height_(height) {
        if (background != "none") rect(0, 0, width, height, background);
    }

    double width() const { return width_; }
    double height() const { return height_; }

    // The document's <title> (shown as a tooltip and read by screen readers).
    void set_title(const std::string& title) { title_ = title; }

    // A rectangle with corner (x, y); `stroke` "none" draws no outline; `rx` rounds the corners.
    void rect(double x, double y, double w, double h, const std::string& fill, const std::string& stroke = "none",
              double stroke_width = 1, double rx = 0) {
        body_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
                 "\" fill=\"" + xml_escape(fill) + "\"";
        if (stroke != "none") body_ += " stroke=\"" + xml_escape(stroke) + "\" stroke-width=\"" + num(stroke_width) + "\"";
        if (rx > 0) body_ += " rx=\"" + num(rx) + "\"";
        body_ += "/>\n";
    }

    // A straight line; `dash` is an SVG stroke-dasharray such as "4 3" (empty: solid).
    void line(double x1, double y1, double x2, double y2, const std::string& stroke, double stroke_width = 1,
              const std::string& dash = "") {
        body_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
                 "\" stroke=\"" + xml_escape(stroke) + "\" stroke-width=\"" + num(stroke_width) + "\"" +
                 dash_attr(dash) + "/>\n";
    }

    // An open path through `points` (x, y); nothing for fewer than two points.
    void polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke,
                  double stroke_width = 1, const std::string& dash = "") {
        if (points.size() < 2) return;
        body_ += "<polyline points=\"";
        for (std::size_t i = 0; i < points.size(); ++i) {
            if (i > 0) body_ += ' ';
            body_ += num(points[i].first) + "," + num(points[i].second);
        }
        body_ += "\" fill=\"none\" stroke=\"" + xml_escape(stroke) + "\" stroke-width=\"" + num(stroke_width) +
                 "\" stroke-linejoin=\"round\" stroke-linecap=\"round\"" + dash_attr(dash) + "/>\n";
    }

    void circle(double cx, double cy, double r, const std::string& fill, const std::string& stroke = "none",
                double stroke_width = 1) {
        body_ += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(r) + "\" fill=\"" +
                 xml_escape(fill) + "\"";
        if (stroke != "none") body_ += " stroke=\"" + xml_escape(stroke) + "\" stroke-width=\"" + num(stroke_width) + "\"";
        body_ += "/>\n";
    }

    // One line of text with its baseline at y (see TextStyle); the text is escaped.
    void text(double x, double y, const std::string& content, const TextStyle& style = TextStyle()) {
        body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(style.size) + "\"";
        if (style.anchor != "start") body_ += " text-anchor=\"" + xml_escape(style.anchor) + "\"";
        if (style.fill != "#000000") body_ += " fill=\"" + xml_escape(style.fill) + "\"";
        if (style.bold) body_ += " font-weight=\"bold\"";
        if (style.rotate != 0) {
            body_ += " transform=\"rotate(" + num(style.rotate) + " " + num(x) + " " + num(y) + ")\"";
        }
        body_ += ">" + xml_escape(content) + "</text>\n";
    }

    // An image (typically a data: URI from png_data_uri) scaled into the box; `pixelated` keeps pixels sharp
    // when enlarged instead of smoothing them.
    void image(double x, double y, double w, double h, const std::string& href, bool pixelated = true) {
        body_ += "<image x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) +
                 "\" preserveAspectRatio=\"none\"";
        if (pixelated) body_ += " image-rendering=\"optimizeSpeed\" style=\"image-rendering:pixelated\"";
        body_ += " xlink:href=\"" + xml_escape(href) + "\"/>\n";
    }

    // The complete file: XML declaration, <svg> root with size and viewBox, a default sans-serif font, the title,
    // then everything drawn.
    std::string str() const {
        std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" version=\"1.1\" "
               "width=\"" + num(width_) + "\" height=\"" + num(height_) + "\" viewBox=\"0 0 " + num(width_) + " " +
               num(height_) + "\" font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\">\n";
        if (!title_.empty()) out += "<title>" + xml_escape(title_) + "</title>\n";
        out += body_;
        out += "</svg>\n";
        return out;
    }

    // A coordinate or length with at most 2 decimals and no trailing zeros ("12", "3.5", "-0.25").
    static std::string num(double v) {
        if (!std::isfinite(v)) return "0";
        char buf[48];
        std::snprintf(buf, sizeof buf, "%.2f", v);
        std::string s = buf;
        while (!s.empty() && s.back() == '0') s.pop_back();
        if (!s.empty() && s.back() == '.') s.pop_back();
        if (s == "-0") s = "0";
        return s;
    }

private:
    static std::string dash_attr(const std::string& dash) {
        return dash.empty() ? std::string() : " stroke-dasharray=\"" + xml_escape(dash) + "\"";
    }

    double width_;
    double height_;
    std::string title_;
    std::string body_;
};

}  // namespace deepcnn
