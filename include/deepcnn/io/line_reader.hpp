// deepcnn/io/line_reader.hpp: LineReader, a streaming reader of text lines from a plain or gzip-compressed
// file. Decompression and plain reads are delegated to zlib (gzopen / gzread read uncompressed files too);
// this header owns buffering, line splitting and line numbering.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "../error.hpp"

namespace deepcnn {

class LineReader {
public:
    // Longest line accepted, terminator excluded; a longer one throws data_error (a binary file, most likely).
    static constexpr std::size_t default_max_line = std::size_t(1) << 20;

    // Opens `path` (plain or .gz, detected from the content); throws io_error naming the path if it cannot.
    explicit LineReader(const std::string& path, std::size_t max_line = default_max_line)
        : path_(path), max_line_(max_line), buffer_(initial_capacity) {
        errno = 0;
        file_ = gzopen(path.c_str(), "rb");
        if (file_ == nullptr) {
            const int err = errno;
            throw io_error("cannot open " + path + ": " + (err != 0 ? std::strerror(err) : "out of memory"));
        }
        gzbuffer(file_, 1U << 18);
    }
    ~LineReader() {
        if (file_ != nullptr) gzclose(file_);
    }
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // Stores the next line, without its "\n" or "\r\n", in `line` and returns true; returns false at the end
    // of the input. A last line without a terminator is still returned. The view stays valid until the next
    // call. Throws io_error on a read error (a truncated or corrupt .gz) and data_error on an over-long line.
    bool next(std::string_view& line) {
        std::size_t scan_from = begin_;
        for (;;) {
            const void* found =
                end_ > scan_from ? std::memchr(buffer_.data() + scan_from, '\n', end_ - scan_from) : nullptr;
            if (found != nullptr) {
                const std::size_t newline = static_cast<std::size_t>(static_cast<const char*>(found) - buffer_.data());
                if (newline - begin_ > max_line_) throw_too_long();
                emit(line, newline);
                begin_ = newline + 1;
                return true;
            }
            if (eof_) {
                if (begin_ == end_) return false;
                emit(line, end_);
                begin_ = end_;
                return true;
            }
            if (end_ - begin_ > max_line_) throw_too_long();
            scan_from = end_ - begin_;
            refill();
        }
    }

    // 1-based number of the line last returned by next() (0 before the first call).
    std::size_t line_number() const { return line_number_; }
    const std::string& path() const { return path_; }

private:
    static constexpr std::size_t initial_capacity = std::size_t(1) << 20;

    void emit(std::string_view& line, std::size_t stop) {
        std::size_t length = stop - begin_;
        if (length > 0 && buffer_[begin_ + length - 1] == '\r') --length;
        line = std::string_view(buffer_.data() + begin_, length);
        ++line_number_;
    }

    // Moves the unread bytes to the front, grows the buffer if it is full, and reads more.
    void refill() {
        if (begin_ > 0) {
            std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
        const std::size_t want = std::min<std::size_t>(buffer_.size() - end_, INT_MAX);
        const int got = gzread(file_, buffer_.data() + end_, static_cast<unsigned>(want));
        if (got < 0) throw_read_error();
        if (got == 0) {
            int code = Z_OK;
            gzerror(file_, &code);
            if (code != Z_OK) throw_read_error();
            eof_ = true;
        }
        end_ += static_cast<std::size_t>(got);
    }

    [[noreturn]] void throw_too_long() const {
        throw data_error(path_ + ":" + std::to_string(line_number_ + 1) + ": line longer than " +
                         std::to_string(max_line_) + " bytes");
    }

    [[noreturn]] void throw_read_error() {
        int code = Z_OK;
        const char* message = gzerror(file_, &code);
        std::string reason = message != nullptr ? message : "unknown error";
        if (code == Z_ERRNO) reason = std::strerror(errno);
        throw io_error("cannot read " + path_ + ": " + reason);
    }

    std::string path_;
    std::size_t max_line_;
    gzFile file_ = nullptr;
    std::vector<char> buffer_;
    std::size_t begin_ = 0;  // first unread byte
    std::size_t end_ = 0;    // one past the last byte read
    bool eof_ = false;
    std::size_t line_number_ = 0;
};

}  // namespace deepcnn
