// tests/io/temp_files.hpp: a scratch directory per test case (removed at the end) and helpers that write
// plain and gzip files into it, for the io and data tests.
#pragma once

#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <unistd.h>

namespace deepcnn_test {

class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("deepcnn_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    // The path of `name` inside the directory.
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path);
}

inline void write_gzip(const std::string& path, const std::string& content) {
    gzFile file = gzopen(path.c_str(), "wb9");
    if (file == nullptr) throw std::runtime_error("cannot write " + path);
    const int written = gzwrite(file, content.data(), static_cast<unsigned>(content.size()));
    gzclose(file);
    if (written != static_cast<int>(content.size())) throw std::runtime_error("cannot write " + path);
}

}  // namespace deepcnn_test
