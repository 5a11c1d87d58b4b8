// deepcnn/io/read_file.hpp: FileReader, a reader of a file's bytes whose caller bounds what is read before reading
// it: the size of a regular file is known up front (a 20 GB sparse file is refused without reading it), and a pipe
// or device (/dev/zero) is read only up to the bound. A directory is refused at open, naming the path.
// POSIX only (open, fstat, read).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "../error.hpp"
#include "atomic_file.hpp"

namespace deepcnn {

class FileReader {
public:
    // Opens `path` for reading; throws io_error "cannot open PATH: REASON" (a directory: "Is a directory").
    explicit FileReader(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        if (fd_.get() < 0) throw io_error("cannot open " + path + ": " + detail::errno_text(errno));
        struct stat info {};
        if (::fstat(fd_.get(), &info) != 0) throw io_error("cannot open " + path + ": " + detail::errno_text(errno));
        if (S_ISDIR(info.st_mode)) throw io_error("cannot open " + path + ": " + detail::errno_text(EISDIR));
        if (S_ISREG(info.st_mode)) regular_size_ = static_cast<std::int64_t>(info.st_size);
    }

    // The file's size if it is a regular file, -1 otherwise (a pipe, a device), whose size is known only by reading.
    std::int64_t regular_size() const { return regular_size_; }
    const std::string& path() const { return path_; }

    // Appends up to `count` more bytes to `out`, fewer only at the end of the file; returns how many. `out` grows
    // as data arrives, so the memory used follows what the file holds, not `count`. Throws io_error
    // "cannot read PATH: REASON".
    std::uint64_t read_up_to(std::string& out, std::uint64_t count) {
        constexpr std::uint64_t chunk = std::uint64_t(1) << 20;
        std::uint64_t total = 0;
        while (total < count) {
            const std::size_t want = static_cast<std::size_t>(std::min(chunk, count - total));
            const std::size_t old_size = out.size();
            out.resize(old_size + want);
            const ssize_t got = ::read(fd_.get(), &out[old_size], want);
            if (got < 0) {
                out.resize(old_size);
                if (errno == EINTR) continue;
                throw io_error("cannot read " + path_ + ": " + detail::errno_text(errno));
            }
            out.resize(old_size + static_cast<std::size_t>(got));
            if (got == 0) break;
            total += static_cast<std::uint64_t>(got);
        }
        return total;
    }

private:
    std::string path_;
    detail::FileDescriptor fd_;
    std::int64_t regular_size_ = -1;
};

// The whole of `path`, refused with data_error "PATH: WHAT larger than MAX bytes" past `max_bytes` (checked from the
// size of a regular file before reading; a pipe or device is read up to one byte past the bound).
inline std::string read_file_bounded(const std::string& path, std::uint64_t max_bytes, const char* what) {
    FileReader file(path);
    const auto too_large = [&] {
        return data_error(path + ": " + what + " larger than " + std::to_string(max_bytes) + " bytes");
    };
    if (file.regular_size() > 0 && static_cast<std::uint64_t>(file.regular_size()) > max_bytes) throw too_large();
    std::string bytes;
    file.read_up_to(bytes, max_bytes + 1);
    if (bytes.size() > max_bytes) throw too_large();
    return bytes;
}

}  // namespace deepcnn
