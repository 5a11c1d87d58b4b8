// deepcnn/report/json.hpp: a small streaming JSON writer (objects, arrays, strings, numbers, booleans, null),
// enough for report.json and fer_predict --json. No parser. The report's own layout is in run_report.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "../error.hpp"

namespace deepcnn {

// `text` as a quoted JSON string: '"' and '\\' escaped, control characters as \n, \t, \r, \b, \f or \u00XX, valid
// UTF-8 passed through, and each byte of invalid UTF-8 (stray continuation bytes, overlong forms, surrogates,
// truncated sequences) replaced by \ufffd, so the output is always valid JSON.
inline std::string json_quote(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                default:
                    if (c < 0x20) {
                        char buf[8];
                        std::snprintf(buf, sizeof buf, "\\u%04x", c);
                        out += buf;
                    } else {
                        out += static_cast<char>(c);
                    }
            }
            ++i;
            continue;
        }
        // Multi-byte UTF-8: the lead byte fixes the length and the allowed range of the second byte (RFC 3629).
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        }
        bool valid = len != 0 && i + len <= n;
        for (std::size_t j = 1; valid && j < len; ++j) {
            const unsigned char b = static_cast<unsigned char>(text[i + j]);
            const unsigned char min = j == 1 ? lo : 0x80, max = j == 1 ? hi : 0xBF;
            valid = b >= min && b <= max;
        }
        if (valid) {
            out.append(text, i, len);
            i += len;
        } else {
            out += "\\ufffd";
            ++i;
        }
    }
    out += '"';
    return out;
}

// A finite number in the shortest form that reads back to the same double ("0.1", "3", "1e-05"); "null" for
// NaN and infinities, which JSON cannot represent.
inline std::string json_number(double value) {
    if (!std::isfinite(value)) return "null";
    char buf[40];
    for (int precision = 15; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, value);
        if (std::strtod(buf, nullptr) == value) break;
    }
    return buf;
}

// Writes one JSON value into a string, pretty-printed with `indent` spaces per level (0: all on one line).
// Inside an object call key() before each value; inside an array call values directly. Misuse (a value without
// a key in an object, a key in an array, unbalanced ends, str() before the value is complete) throws error.
//
//   JsonWriter json;
//   json.begin_object().key("accuracy").value(0.8).key("classes").begin_array().value("happiness").end_array()
//       .end_object();
//   std::string text = json.str();
class JsonWriter {
public:
    explicit JsonWriter(int indent = 2) : indent_(indent < 0 ? 0 : indent) {}

    JsonWriter& begin_object() { return open('{', Frame::object); }
    JsonWriter& end_object() { return close('}', Frame::object); }
    JsonWriter& begin_array() { return open('[', Frame::array); }
    // An array written on one line, "[1, 2, 3]", whatever the indent (and so is everything nested in it).
    JsonWriter& begin_inline_array() { return open('[', Frame::array, true); }
    JsonWriter& end_array() { return close(']', Frame::array); }

    // The key of the next member of the current object.
    JsonWriter& key(const std::string& name) {
        if (stack_.empty() || stack_.back().kind != Frame::object) fail("key(\"" + name + "\") outside an object");
        if (stack_.back().key_pending) fail("key(\"" + name + "\") after another key without a value");
        separate();
        out_ += json_quote(name);
        out_ += indent_ > 0 ? ": " : ":";
        stack_.back().key_pending = true;
        return *this;
    }

    JsonWriter& value(const std::string& text) { return raw(json_quote(text)); }
    JsonWriter& value(const char* text) { return raw(json_quote(text)); }
    JsonWriter& value(bool flag) { return raw(flag ? "true" : "false"); }
    // Floating point: see json_number (non-finite values become null).
    template <class T, std::enable_if_t<std::is_floating_point<T>::value, int> = 0>
    JsonWriter& value(T number) {
        return raw(json_number(static_cast<double>(number)));
    }
    // Integers are written exactly.
    template <class T, std::enable_if_t<std::is_integral<T>::value && !std::is_same<T, bool>::value, int> = 0>
    JsonWriter& value(T number) {
        return raw(std::to_string(number));
    }
    JsonWriter& null() { return raw("null"); }

    // key(name).value(v) in one call.
    template <class T>
    JsonWriter& field(const std::string& name, const T& v) {
        key(name);
        return value(v);
    }
    // An inline array of values (numbers, strings, booleans) as the next value.
    template <class T>
    JsonWriter& array(const std::vector<T>& values) {
        begin_inline_array();
        for (const T& v : values) value(v);
        return end_array();
    }

    // The finished document followed by a newline; throws error while containers are still open or before any
    // value.
    std::string str() const {
        if (!stack_.empty()) throw error("JsonWriter::str: " + std::to_string(stack_.size()) + " unclosed container(s)");
        if (!done_) throw error("JsonWriter::str: no value written");
        return out_ + "\n";
    }

private:
    struct Frame {
        enum Kind { object, array } kind;
        bool one_line = false;
        bool empty = true;
        bool key_pending = false;
    };

    [[noreturn]] static void fail(const std::string& what) { throw error("JsonWriter: " + what); }

    bool one_line() const { return indent_ == 0 || (!stack_.empty() && stack_.back().one_line); }
    void newline() {
        if (one_line()) return;
        out_ += '\n';
        out_.append(stack_.size() * static_cast<std::size_t>(indent_), ' ');
    }
    // Comma and line break before a new member or element.
    void separate() {
        Frame& f = stack_.back();
        if (!f.empty) out_ += (indent_ > 0 && f.one_line) ? ", " : ",";
        f.empty = false;
        newline();
    }
    // Position for a value: after its key in an object, after a separator in an array, or at top level.
    void before_value() {
        if (stack_.empty()) {
            if (done_) fail("a second top-level value");
            return;
        }
        Frame& f = stack_.back();
        if (f.kind == Frame::object) {
            if (!f.key_pending) fail("value in an object without a key");
            f.key_pending = false;
        } else {
            separate();
        }
    }
    JsonWriter& raw(const std::string& token) {
        before_value();
        out_ += token;
        if (stack_.empty()) done_ = true;
        return *this;
    }
    JsonWriter& open(char bracket, Frame::Kind kind, bool one_line_frame = false) {
        before_value();
        out_ += bracket;
        Frame f{kind};
        f.one_line = one_line_frame || one_line();
        stack_.push_back(f);
        return *this;
    }
    JsonWriter& close(char bracket, Frame::Kind kind) {
        if (stack_.empty() || stack_.back().kind != kind) {
            fail(std::string("'") + bracket + "' does not match the open container");
        }
        if (stack_.back().key_pending) fail(std::string("'") + bracket + "' after a key without a value");
        const bool was_empty = stack_.back().empty;
        const bool was_one_line = stack_.back().one_line;
        stack_.pop_back();
        if (!was_empty && !was_one_line) newline();
        out_ += bracket;
        if (stack_.empty()) done_ = true;
        return *this;
    }

    int indent_;
    std::string out_;
    std::vector<Frame> stack_;
    bool done_ = false;
};

}  // namespace deepcnn
