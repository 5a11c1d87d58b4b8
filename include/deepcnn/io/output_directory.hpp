// deepcnn/io/output_directory.hpp: what a program needs before it writes results into a directory:
// create_output_directory (parents included, and nothing left behind when that fails), DirectoryLock (one writer at
// a time, and a message naming the holder otherwise) and existing_bytes (what replacing files gives back, for a
// free-space check), claim_output_directory (an earlier run's files are refused or removed) and check_free_space.
// POSIX only (mkdir, flock, gethostname).
#pragma once

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../error.hpp"
#include "atomic_file.hpp"

namespace deepcnn {

// Creates `dir` and any missing parents (mode 0777 & ~umask). Throws io_error naming the directory if it cannot;
// the directories this call created are then removed again (a 5000-character path used to leave thousands of
// nested directories behind before failing with "File name too long"). A path longer than PATH_MAX, or with a
// component longer than NAME_MAX, is refused before anything is created.
inline void create_output_directory(const std::string& dir) {
    const auto fail = [&](const std::string& why) {
        return io_error(printable(dir) + ": cannot create output directory (" + why + ")");
    };
    if (dir.empty()) throw fail("empty path");
    if (dir.size() >= PATH_MAX) throw fail(detail::errno_text(ENAMETOOLONG));
    std::size_t component_start = 0;
    for (std::size_t i = 0; i <= dir.size(); ++i) {
        if (i == dir.size() || dir[i] == '/') {
            if (i - component_start > NAME_MAX) throw fail(detail::errno_text(ENAMETOOLONG));
            component_start = i + 1;
        }
    }
    std::vector<std::string> created;
    for (std::size_t i = 0; i <= dir.size(); ++i) {
        if (i != dir.size() && (dir[i] != '/' || i == 0)) continue;
        const std::string partial = dir.substr(0, i);
        if (::mkdir(partial.c_str(), 0777) == 0) {
            created.push_back(partial);
        } else if (errno != EEXIST) {
            const int code = errno;
            for (auto it = created.rbegin(); it != created.rend(); ++it) ::rmdir(it->c_str());
            throw fail(detail::errno_text(code));
        }
    }
    struct stat info {};
    if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) throw io_error(printable(dir) + ": not a directory");
    if (::access(dir.c_str(), W_OK) != 0) throw io_error(printable(dir) + ": output directory is not writable");
}

// An exclusive advisory lock (flock) on DIR/.deepcnn.lock, held until destruction (or the process's death: the
// kernel releases it, so a killed run never leaves a stale lock). The file holds "pid PID on host HOST" of the
// holder, which the error of a second locker quotes. The lock file itself stays (removing it would race).
class DirectoryLock {
public:
    // Throws io_error "DIR is in use by another run (pid 123 on host h); ..." if another process holds it, or if the
    // lock file cannot be created (opened without following a symlink).
    explicit DirectoryLock(const std::string& dir) : path_(dir + "/.deepcnn.lock") {
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd_ < 0) throw io_error("cannot create the lock file " + printable(path_) + ": " + detail::errno_text(errno));
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int code = errno;
            std::string holder(200, '\0');
            const ssize_t got = ::pread(fd_, &holder[0], holder.size(), 0);
            holder.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
            while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
            ::close(fd_);
            fd_ = -1;
            if (code != EWOULDBLOCK) throw io_error("cannot lock " + printable(path_) + ": " + detail::errno_text(code));
            throw io_error(printable(dir) + " is in use by another run (" +
                           (holder.empty() ? std::string("holder unknown") : printable(holder)) +
                           "); wait for it to finish or choose another output directory");
        }
        char host[256] = {};
        ::gethostname(host, sizeof host - 1);
        const std::string holder = "pid " + std::to_string(::getpid()) + " on host " + host + "\n";
        if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, holder.data(), holder.size(), 0) < 0) {
            // The lock is held; only the note on who holds it is missing. Not worth failing the run for.
        }
    }
    ~DirectoryLock() {
        if (fd_ >= 0) ::close(fd_);
    }
    DirectoryLock(const DirectoryLock&) = delete;
    DirectoryLock& operator=(const DirectoryLock&) = delete;

private:
    std::string path_;
    int fd_ = -1;
};

// The total size of those of `dir`/`names` that exist as regular files: the space that writing new versions of them
// gives back, for a free-space check that must not count them as needed twice.
inline std::uint64_t existing_bytes(const std::string& dir, const std::vector<std::string>& names) {
    std::uint64_t total = 0;
    for (const std::string& name : names) {
        struct stat info {};
        if (::lstat((dir + "/" + name).c_str(), &info) == 0 && S_ISREG(info.st_mode)) {
            total += static_cast<std::uint64_t>(info.st_size);
        }
    }
    return total;
}

// Makes `dir` ready for a new run that writes `result_files` there: refuses (io_error) a directory holding any of
// them, an earlier run's, unless `resuming` continues it or `overwrite` replaces it; with `overwrite` they are
// removed first, so that none of the earlier run's files is left beside the new run's. Call it holding the
// directory's DirectoryLock.
inline void claim_output_directory(const std::string& dir, const std::vector<std::string>& result_files,
                                   bool overwrite, bool resuming) {
    std::string found;
    for (const std::string& name : result_files) {
        const std::string path = dir + "/" + name;
        struct stat info {};
        if (::lstat(path.c_str(), &info) != 0) continue;
        if (overwrite) {
            if (::unlink(path.c_str()) != 0) {
                throw io_error(printable(path) + ": cannot remove (" + detail::errno_text(errno) + ")");
            }
        } else if (found.empty()) {
            found = name;
        }
    }
    if (!found.empty() && !resuming) {
        // --resume is offered where the run leaves a checkpoint (fer_train's, not fine_tune's)
        bool resumable = false;
        for (const std::string& name : result_files) resumable = resumable || name == "checkpoint.dcnn";
        throw io_error(printable(dir) + " holds an earlier run (" + found + "); " +
                       (resumable ? "continue it with --resume " + printable(dir) + "/checkpoint.dcnn, " : std::string()) +
                       "replace it with --overwrite, or choose another --out");
    }
}

// Throws io_error if the file system holding `dir` has less than `needed_bytes` free for this user ("DIR: only 1.2 MB
// free, a checkpoint and model need about 9.8 MB"); says nothing where statvfs cannot tell.
inline void check_free_space(const std::string& dir, double needed_bytes) {
    struct statvfs fs {};
    if (::statvfs(dir.c_str(), &fs) != 0) return;
    const double available = double(fs.f_bavail) * double(fs.f_frsize);
    if (available >= needed_bytes) return;
    char text[160];
    std::snprintf(text, sizeof text, ": only %g MB free, a checkpoint and model need about %g MB", available / 1e6,
                  needed_bytes / 1e6);
    throw io_error(printable(dir) + text);
}

}  // namespace deepcnn
