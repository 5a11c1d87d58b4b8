// deepcnn/error.hpp: the exception types every part of the library throws, and printable(), which escapes the
// control characters of text taken from files or command lines before it goes into a message.
// Messages say what failed, expected vs actual, and where (file:line, or "layer N (Type)").
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

namespace deepcnn {

// Base of all deepcnn errors.
class error : public std::runtime_error {
public:
    explicit error(const std::string& what) : std::runtime_error(what) {}
};

// A tensor or layer shape does not fit: "layer 5 (Dense): expected input 4608, got 4096".
class shape_error : public error {
public:
    using error::error;
};

// Input data is malformed: "fer2013.csv:1042: expected 2304 pixels, got 2303".
class data_error : public error {
public:
    using error::error;
};

// A file cannot be opened, read or written.
class io_error : public error {
public:
    using error::error;
};

// A model or checkpoint file is corrupt, truncated, of another version or does not match.
class serialization_error : public error {
public:
    using error::error;
};

// An argument is outside its documented range (a learning rate <= 0, a dropout rate of 1, ...).
class config_error : public error {
public:
    using error::error;
};

// A long operation (reading a file, evaluating a model) stopped because its caller's cancellation flag was set
// (see cancellation.hpp): not a fault of the input.
class cancelled : public error {
public:
    using error::error;
};

// `text` with every control character (bytes 0x00-0x1F and 0x7F: newlines, ESC sequences that retitle or
// redraw a terminal, BEL) written as \n, \r, \t or \xHH, so that a file name or a field of a data file cannot
// inject terminal escapes or fake lines into a message. Other bytes (UTF-8) pass, and so do backslashes: the text
// is for reading, not for parsing back, and a message escaped twice (the library's, then a program's) stays as is.
inline std::string printable(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (byte < 0x20 || byte == 0x7F) {
            char escaped[5];
            std::snprintf(escaped, sizeof escaped, "\\x%02X", static_cast<unsigned>(byte));
            out += escaped;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace deepcnn
