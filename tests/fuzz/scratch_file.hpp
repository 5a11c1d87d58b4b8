// tests/fuzz/scratch_file.hpp: the one scratch file a fuzz target process writes its inputs to (for readers that
// take paths), in $TMPDIR (or /tmp), named after the target and the pid, removed at exit.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace deepcnn_fuzz {

// The path of this process's scratch file, "DIR/deepcnn_fuzz_STEM_PID.EXTENSION"; the first call fixes it.
inline const std::string& scratch_path(const char* stem = "", const char* extension = "") {
    static const std::string path = [&] {
        const char* dir = std::getenv("TMPDIR");
        std::string p = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/deepcnn_fuzz_" + stem + "_" +
                        std::to_string(::getpid()) + "." + extension;
        std::atexit([] { std::remove(scratch_path().c_str()); });
        return p;
    }();
    return path;
}

}  // namespace deepcnn_fuzz
