// deepcnn/io/binary.hpp: little-endian binary encoding for model files: ByteWriter appends fields to a buffer,
// ByteReader reads them back with bounds checks, throwing serialization_error that names the source and offset.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "../error.hpp"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "deepcnn model files are little-endian; big-endian hosts are not supported"
#endif

namespace deepcnn {

class ByteWriter {
public:
    template <class T>
    void put(T value) {
        static_assert(std::is_arithmetic<T>::value, "put() takes numbers");
        const auto* bytes = reinterpret_cast<const char*>(&value);
        buffer_.append(bytes, sizeof(T));
    }
    // u32 length, then the bytes.
    void put_string(const std::string& text) {
        put<std::uint32_t>(static_cast<std::uint32_t>(text.size()));
        buffer_.append(text);
    }
    template <class T>
    void put_array(const T* values, std::size_t count) {
        buffer_.append(reinterpret_cast<const char*>(values), count * sizeof(T));
    }
    const std::string& bytes() const { return buffer_; }
    std::string& bytes() { return buffer_; }

private:
    std::string buffer_;
};

class ByteReader {
public:
    // Reads bytes [data, data + size); `source` names the file in error messages.
    ByteReader(const char* data, std::size_t size, std::string source, std::size_t base_offset = 0)
        : data_(data), size_(size), source_(std::move(source)), base_(base_offset) {}

    template <class T>
    T get(const char* what) {
        static_assert(std::is_arithmetic<T>::value, "get() reads numbers");
        need(sizeof(T), what);
        T value;
        std::memcpy(&value, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return value;
    }
    std::string get_string(const char* what) {
        const auto length = get<std::uint32_t>(what);
        need(length, what);
        std::string text(data_ + pos_, length);
        pos_ += length;
        return text;
    }
    template <class T>
    void get_array(T* out, std::size_t count, const char* what) {
        if (count > remaining() / sizeof(T)) fail(std::string("truncated while reading ") + what);
        if (count == 0) return;  // `out` may be null (an empty tensor); memcpy must not see it
        std::memcpy(out, data_ + pos_, count * sizeof(T));
        pos_ += count * sizeof(T);
    }
    // A count of items each at least `min_item_bytes` long; rejects counts the remaining bytes cannot hold.
    std::uint32_t get_count(const char* what, std::size_t min_item_bytes) {
        const auto count = get<std::uint32_t>(what);
        if (min_item_bytes > 0 && count > remaining() / min_item_bytes) {
            fail(std::string("implausible ") + what + " " + std::to_string(count));
        }
        return count;
    }
    std::size_t remaining() const { return size_ - pos_; }
    std::size_t position() const { return base_ + pos_; }
    [[noreturn]] void fail(const std::string& message) const {
        throw serialization_error(source_ + ": " + message + " (at byte " + std::to_string(position()) + ")");
    }

private:
    void need(std::size_t bytes, const char* what) const {
        if (bytes > remaining()) fail(std::string("truncated while reading ") + what);
    }

    const char* data_;
    std::size_t size_;
    std::string source_;
    std::size_t base_;
    std::size_t pos_ = 0;
};

}  // namespace deepcnn
