// deepcnn/error.hpp: the exception types every part of the library throws.
// Messages say what failed, expected vs actual, and where (file:line, or "layer N (Type)").
#pragma once

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

}  // namespace deepcnn
