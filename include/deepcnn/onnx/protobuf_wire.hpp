// deepcnn/onnx/protobuf_wire.hpp: the protobuf wire format, just what ONNX files need: WireWriter appends
// varint, fixed32 / fixed64 and length-delimited fields; WireReader walks the fields of one message with every read
// bounds-checked, and throws serialization_error naming the source, the field being read and its byte offset.
// Knows nothing about ONNX's messages (onnx/onnx_proto.hpp does).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "../error.hpp"

namespace deepcnn {
namespace protobuf {

// The wire types of a field's tag (3 and 4, the deprecated groups, are refused by the reader).
enum class WireType : std::uint32_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

// Appends fields to a message's bytes. A nested message is encoded on its own writer and added with message().
class WireWriter {
public:
    void varint_field(std::uint32_t field, std::uint64_t value) {
        tag(field, WireType::varint);
        varint(value);
    }
    // int64 / int32 fields: negative values are written as 10-byte two's complement varints, as protobuf does.
    void int_field(std::uint32_t field, std::int64_t value) { varint_field(field, static_cast<std::uint64_t>(value)); }
    void float_field(std::uint32_t field, float value) {
        tag(field, WireType::fixed32);
        std::uint32_t bits = 0;
        std::memcpy(&bits, &value, sizeof bits);
        fixed(bits, 4);
    }
    void bytes_field(std::uint32_t field, const std::string& bytes) { bytes_field(field, bytes.data(), bytes.size()); }
    void bytes_field(std::uint32_t field, const char* data, std::size_t size) {
        tag(field, WireType::length_delimited);
        varint(size);
        bytes_.append(data, size);
    }
    void message(std::uint32_t field, const WireWriter& nested) { bytes_field(field, nested.bytes_); }
    // A packed repeated int64 field (one length-delimited run of varints).
    template <class Container>
    void packed_ints(std::uint32_t field, const Container& values) {
        WireWriter run;
        for (auto v : values) run.varint(static_cast<std::uint64_t>(static_cast<std::int64_t>(v)));
        bytes_field(field, run.bytes_);
    }

    const std::string& bytes() const { return bytes_; }
    std::string take() { return std::move(bytes_); }

private:
    void tag(std::uint32_t field, WireType type) {
        varint((static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint32_t>(type));
    }
    void varint(std::uint64_t value) {
        while (value >= 0x80) {
            bytes_.push_back(static_cast<char>((value & 0x7f) | 0x80));
            value >>= 7;
        }
        bytes_.push_back(static_cast<char>(value));
    }
    void fixed(std::uint64_t bits, int count) {
        for (int i = 0; i < count; ++i) bytes_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
    }

    std::string bytes_;
};

// One field as the reader found it: its number, wire type and where it starts in the file.
struct Field {
    std::uint32_t number = 0;
    WireType type = WireType::varint;
    std::size_t offset = 0;  // byte offset of the tag in the whole file
};

// Nesting deeper than this is refused (ONNX's messages nest about 8 deep; a hostile file could nest thousands).
constexpr int max_nesting_depth = 32;

// Reads the fields of one message: [begin, end) of the whole file's bytes. Every read is bounds-checked; errors are
// serialization_error "SOURCE: byte OFFSET: MESSAGE.FIELD: WHAT".
class WireReader {
public:
    WireReader(std::string source, const char* data, std::size_t size, std::string message)
        : WireReader(std::move(source), data, 0, size, std::move(message), 0) {}

    // The next field's tag, or false at the end of the message. Refuses field 0, group wire types and a tag past
    // the end.
    bool next(Field& field) {
        if (pos_ == end_) return false;
        field.offset = pos_;
        current_ = "tag";
        const std::uint64_t tag = varint_raw();
        const std::uint64_t number = tag >> 3;
        const std::uint32_t type = static_cast<std::uint32_t>(tag & 7);
        if (number == 0 || number > 0x1fffffff) fail_at(field.offset, "bad field number " + std::to_string(number));
        if (type != 0 && type != 1 && type != 2 && type != 5) {
            fail_at(field.offset, "unsupported wire type " + std::to_string(type) + " in field " + std::to_string(number));
        }
        field.number = static_cast<std::uint32_t>(number);
        field.type = static_cast<WireType>(type);
        return true;
    }

    // Reads the value of `field` (just returned by next) as the type named by the `what` label (for errors).
    std::uint64_t varint(const Field& field, const char* what) {
        expect(field, WireType::varint, what);
        return varint_raw();
    }
    std::int64_t int64(const Field& field, const char* what) { return static_cast<std::int64_t>(varint(field, what)); }
    // An int32 field: values outside int32 are refused.
    std::int32_t int32(const Field& field, const char* what) {
        const std::int64_t value = int64(field, what);
        if (value < INT32_MIN || value > INT32_MAX) fail_at(field.offset, std::to_string(value) + " is not an int32");
        return static_cast<std::int32_t>(value);
    }
    float float32(const Field& field, const char* what) {
        expect(field, WireType::fixed32, what);
        const std::uint32_t bits = static_cast<std::uint32_t>(fixed_raw(4));
        float value = 0.0f;
        std::memcpy(&value, &bits, sizeof value);
        return value;
    }
    // A length-delimited field's bytes, as [data, data + size) of the file.
    void bytes(const Field& field, const char* what, const char*& data, std::size_t& size) {
        expect(field, WireType::length_delimited, what);
        const std::uint64_t length = varint_raw();
        if (length > end_ - pos_) {
            fail_at(field.offset, "length " + std::to_string(length) + " runs past the end of its message (" +
                                      std::to_string(end_ - pos_) + " bytes left)");
        }
        data = data_ + pos_;
        size = static_cast<std::size_t>(length);
        pos_ += size;
    }
    std::string string(const Field& field, const char* what) {
        const char* data = nullptr;
        std::size_t size = 0;
        bytes(field, what, data, size);
        return std::string(data, size);
    }
    // A reader over the nested message in `field`, named `message` in errors; refuses nesting deeper than
    // max_nesting_depth.
    WireReader nested(const Field& field, const char* what, std::string message) {
        const char* data = nullptr;
        std::size_t size = 0;
        bytes(field, what, data, size);
        if (depth_ + 1 > max_nesting_depth) {
            fail_at(field.offset, "messages nested deeper than " + std::to_string(max_nesting_depth));
        }
        const std::size_t begin = static_cast<std::size_t>(data - data_);
        return WireReader(source_, data_, begin, begin + size, std::move(message), depth_ + 1);
    }
    // A repeated numeric field, packed (one length-delimited run) or not (one value per field): calls
    // add(value) for each; `fixed32` says the element is a 4-byte float rather than a varint.
    template <class Add>
    void repeated_varints(const Field& field, const char* what, Add&& add) {
        if (field.type == WireType::varint) {
            add(varint(field, what));
            return;
        }
        WireReader run = nested(field, what, message_);
        run.current_ = what;
        while (run.pos_ < run.end_) add(run.varint_raw());
    }
    template <class Add>
    void repeated_floats(const Field& field, const char* what, Add&& add) {
        if (field.type == WireType::fixed32) {
            add(float32(field, what));
            return;
        }
        WireReader run = nested(field, what, message_);
        run.current_ = what;
        if ((run.end_ - run.pos_) % 4 != 0) fail_at(field.offset, "packed floats of " +
                                                       std::to_string(run.end_ - run.pos_) + " bytes (not a multiple of 4)");
        while (run.pos_ < run.end_) {
            const std::uint32_t bits = static_cast<std::uint32_t>(run.fixed_raw(4));
            float value = 0.0f;
            std::memcpy(&value, &bits, sizeof value);
            add(value);
        }
    }
    // Skips a field this reader does not use.
    void skip(const Field& field) {
        current_ = "unknown field " + std::to_string(field.number);
        switch (field.type) {
            case WireType::varint: varint_raw(); return;
            case WireType::fixed64: fixed_raw(8); return;
            case WireType::fixed32: fixed_raw(4); return;
            case WireType::length_delimited: {
                const char* data = nullptr;
                std::size_t size = 0;
                bytes(field, current_.c_str(), data, size);
                return;
            }
        }
    }

    // Throws serialization_error about the field at `offset`.
    [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
        throw serialization_error(source_ + ": byte " + std::to_string(offset) + ": " + message_ + "." + current_ +
                                  ": " + what);
    }
    const std::string& source() const { return source_; }
    int depth() const { return depth_; }

private:
    WireReader(std::string source, const char* data, std::size_t begin, std::size_t end, std::string message,
               int depth)
        : source_(std::move(source)), data_(data), pos_(begin), end_(end), message_(std::move(message)), depth_(depth) {}

    void expect(const Field& field, WireType type, const char* what) {
        current_ = what;
        if (field.type != type) {
            fail_at(field.offset, "wire type " + std::to_string(static_cast<std::uint32_t>(field.type)) +
                                      ", expected " + std::to_string(static_cast<std::uint32_t>(type)));
        }
    }
    std::uint64_t varint_raw() {
        const std::size_t start = pos_;
        std::uint64_t value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ == end_) fail_at(start, "varint runs past the end of its message");
            const auto byte = static_cast<std::uint8_t>(data_[pos_++]);
            value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
            if ((byte & 0x80) == 0) return value;
        }
        fail_at(start, "varint longer than 10 bytes");
    }
    std::uint64_t fixed_raw(int count) {
        if (end_ - pos_ < static_cast<std::size_t>(count)) {
            fail_at(pos_, std::to_string(count) + "-byte value runs past the end of its message");
        }
        std::uint64_t bits = 0;
        for (int i = 0; i < count; ++i) bits |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(data_[pos_++])) << (8 * i);
        return bits;
    }

    std::string source_;
    const char* data_;
    std::size_t pos_;
    std::size_t end_;
    std::string message_;
    std::string current_ = "tag";
    int depth_;
};

}  // namespace protobuf
}  // namespace deepcnn
