// deepcnn/io/atomic_file.hpp: write_file_atomically, so that a crash or a full disk never leaves a half-written
// model, report or picture. POSIX only: creates PATH.tmp exclusively (never through a symlink), fsyncs it, renames
// it over PATH, fsyncs the directory.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "../error.hpp"

namespace deepcnn {

namespace detail {

inline std::string errno_text(int code) { return std::strerror(code); }

// Closes a descriptor on scope exit unless released.
class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }
    // Closes now and reports close's errno (0 on success): on NFS and some file systems a write error shows up
    // only here.
    int close_now() {
        const int fd = fd_;
        fd_ = -1;
        return ::close(fd) == 0 ? 0 : errno;
    }

private:
    int fd_;
};

// The directory part of `path` ("." when there is none, "/" for a file in the root).
inline std::string parent_directory(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

}  // namespace detail

// Replaces the file at `path` with exactly `size` bytes from `data`, atomically: readers see the old file or the new
// one, never a mixture, and after return the new contents survive a power cut.
// Steps: remove a stale PATH.tmp (unlink removes a symlink itself, never its target), create PATH.tmp with
// O_CREAT | O_EXCL | O_NOFOLLOW (mode 0666 & ~umask), so that in a directory others can write to, a symlink or a
// file planted under that name makes the write fail instead of redirecting it; write all bytes (retrying short
// writes and EINTR), fsync, close, rename(PATH.tmp, PATH) (which replaces a symlink at PATH by the new regular
// file), then fsync the containing directory so the rename is durable.
// On any failure PATH.tmp is removed, PATH is left as it was, and io_error names the path and the system error:
// "cannot write 'out/model.dcnn.tmp': No space left on device". Concurrent writers of one PATH must be serialised by
// the caller (they share PATH.tmp).
inline void write_file_atomically(const std::string& path, const void* data, std::size_t size) {
    if (path.empty()) throw io_error("write_file_atomically: empty path");
    const std::string tmp = path + ".tmp";
    auto fail = [&](const std::string& what, int code) {
        ::unlink(tmp.c_str());
        throw io_error(what + ": " + detail::errno_text(code));
    };

    if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) {
        throw io_error("cannot remove the stale '" + tmp + "': " + detail::errno_text(errno));
    }
    detail::FileDescriptor file(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
    if (file.get() < 0) throw io_error("cannot create '" + tmp + "': " + detail::errno_text(errno));

    const char* bytes = static_cast<const char*>(data);
    std::size_t written = 0;
    while (written < size) {
        const ssize_t n = ::write(file.get(), bytes + written, size - written);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("cannot write '" + tmp + "'", errno);
        }
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(file.get()) != 0) fail("cannot flush '" + tmp + "' to disk", errno);
    if (const int code = file.close_now()) fail("cannot close '" + tmp + "'", code);

    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename '" + tmp + "' to '" + path + "'", errno);

    // The new directory entry is only durable once the directory itself is synced. Some file systems refuse to
    // fsync a directory (EINVAL); the file is in place by then, so only real I/O errors are reported.
    const std::string dir = detail::parent_directory(path);
    detail::FileDescriptor dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0) throw io_error("cannot open directory '" + dir + "' of '" + path + "': " +
                                         detail::errno_text(errno));
    if (::fsync(dir_fd.get()) != 0 && errno != EINVAL && errno != EROFS) {
        throw io_error("cannot flush directory '" + dir + "' of '" + path + "': " + detail::errno_text(errno));
    }
}

// The same for a string of bytes (text or binary).
inline void write_file_atomically(const std::string& path, const std::string& bytes) {
    write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace deepcnn
