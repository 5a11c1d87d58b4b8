// deepcnn/io/line_reader.hpp: LineReader, a streaming reader of text lines from a plain or gzip-compressed
// file. Decompression and plain reads are delegated to zlib (gzopen / gzread read uncompressed files too);
// this header owns buffering, line splitting (LF, CRLF and CR-only line ends) and line numbering, and polls the
// caller's cancellation flag once per buffer refill.
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

#include "../cancellation.hpp"
#include "../error.hpp"

namespace deepcnn {

class LineReader {
public:
    // Longest line accepted, terminator excluded; a longer one throws data_error (a binary file, most likely).
    static constexpr std::size_t default_max_line = std::size_t(1) << 20;

    // Opens `path` (plain or .gz, detected from the content); throws io_error naming the path if it cannot.
    // With `cancel`, every refill (at most 1 MiB of text, or more only for a line that long) first throws
    // cancelled if the flag is set, so that a huge file of blank lines still stops promptly.
    explicit LineReader(const std::string& path, std::size_t max_line = default_max_line,
                        const CancelFlag* cancel = nullptr)
        : path_(path), max_line_(max_line), cancel_(cancel), buffer_(initial_capacity) {
        errno = 0;
        file_ = gzopen(path.c_str(), "rb");
        if (file_ == nullptr) {
            const int err = errno;
            throw_if_cancelled(cancel_, ("opening " + path).c_str());  // a FIFO without writer, interrupted
            throw io_error("cannot open " + path + ": " + (err != 0 ? std::strerror(err) : "out of memory"));
        }
        gzbuffer(file_, 1U << 18);
    }
    ~LineReader() {
        if (file_ != nullptr) gzclose(file_);
    }
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // Stores the next line, without its terminator ("\n", "\r\n" or a lone "\r"), in `line` and returns true;
    // returns false at the end of the input. A last line without a terminator is still returned. The view stays
    // valid until the next call. Throws io_error on a read error (a truncated or corrupt .gz), data_error on an
    // over-long line and cancelled when the flag is set.
    bool next(std::string_view& line) {
        std::size_t scan_from = begin_;
        for (;;) {
            const std::size_t stop = find_terminator(scan_from);
            if (stop != end_) {
                const char terminator = buffer_[stop];
                if (terminator == '\r' && stop + 1 == end_ && !eof_) {  // "\r" or "\r\n": the next byte decides
                    scan_from = stop - begin_;
                    refill();
                    scan_from += begin_;
                    continue;
                }
                if (stop - begin_ > max_line_) throw_too_long();
                emit(line, stop);
                begin_ = stop + 1;
                if (terminator == '\r' && begin_ < end_ && buffer_[begin_] == '\n') ++begin_;
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
            scan_from += begin_;
        }
    }

    // 1-based number of the line last returned by next() (0 before the first call).
    std::size_t line_number() const { return line_number_; }
    const std::string& path() const { return path_; }

private:
    static constexpr std::size_t initial_capacity = std::size_t(1) << 20;

    // The first "\n" or "\r" in [from, end_), or end_.
    std::size_t find_terminator(std::size_t from) const {
        const char* const first = buffer_.data() + from;
        const std::size_t size = end_ - from;
        const void* newline = std::memchr(first, '\n', size);
        const std::size_t until = newline ? static_cast<std::size_t>(static_cast<const char*>(newline) - first) : size;
        const void* carriage_return = std::memchr(first, '\r', until);
        if (carriage_return) return from + static_cast<std::size_t>(static_cast<const char*>(carriage_return) - first);
        return from + until;
    }

    void emit(std::string_view& line, std::size_t stop) {
        line = std::string_view(buffer_.data() + begin_, stop - begin_);
        ++line_number_;
    }

    // Moves the unread bytes to the front, grows the buffer if it is full, and reads more.
    void refill() {
        throw_if_cancelled(cancel_, ("reading " + path_).c_str());
        if (begin_ > 0) {
            std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
        const std::size_t want = std::min<std::size_t>(buffer_.size() - end_, INT_MAX);
        const int got = gzread(file_, buffer_.data() + end_, static_cast<unsigned>(want));
        if (got < 0) {
            throw_if_cancelled(cancel_, ("reading " + path_).c_str());  // the signal interrupted the read (EINTR)
            throw_read_error();
        }
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
    const CancelFlag* cancel_;
    gzFile file_ = nullptr;
    std::vector<char> buffer_;
    std::size_t begin_ = 0;  // first unread byte
    std::size_t end_ = 0;    // one past the last byte read
    bool eof_ = false;
    std::size_t line_number_ = 0;
};

}  // namespace deepcnn
