// deepcnn/train/memory_estimate.hpp: the memory a training run will still allocate once its data is loaded (the
// optimizer's and the weight average's copies of the parameters, a batch's activations and gradients, an evaluation
// batch's activations, every layer's kernel scratch for the thread count), what this process may still allocate
// (MemAvailable, the cgroup's memory.max, RLIMIT_AS / RLIMIT_DATA), and the check that refuses a run that cannot
// fit before it allocates (a huge batch or thread count used to end in the kernel's OOM killer, with no message).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#if __has_include(<sys/resource.h>)
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "../error.hpp"

namespace deepcnn {

// Bytes, by what holds them.
struct MemoryEstimate {
    double parameters = 0;   // values, gradients, optimizer moments, weight average, best weights, a checkpoint image
    double activations = 0;  // a training batch's outputs, gradients and caches, and its augmented copy
    double evaluation = 0;   // an evaluation batch's outputs (eval mode keeps no gradients)
    double workspace = 0;    // the layers' kernel scratch for the thread count
    double total() const { return parameters + activations + evaluation + workspace; }
};

// What the Trainer will allocate for `model` training on batches of `batch` with `parameter_copies` copies of the
// parameters beyond the values (gradient, optimizer moments, average, best weights, checkpoint buffer) and predicting
// in batches of `evaluation_batch`. Per layer, training keeps its output, the output's gradient and a cache as large
// as its input (BatchNorm's normalised input, a convolution's input copy, MaxPool's indices); a conservative bound.
template <class Model>
MemoryEstimate estimate_training_memory(Model& model, int batch, int evaluation_batch, int parameter_copies) {
    using Scalar = typename Model::scalar_type;
    MemoryEstimate e;
    e.parameters = double(model.parameter_count()) * sizeof(Scalar) * (1 + parameter_copies);
    double per_sample_training = 0, per_sample_evaluation = 0;
    double input_elements = 0;
    for (std::size_t i = 0; i < model.size(); ++i) {
        const auto& layer = model.layer(i);
        const double in = double(layer.input_shape().per_sample());
        const double out = double(layer.output_shape(layer.input_shape()).per_sample());
        if (i == 0) input_elements = in;
        per_sample_training += 2 * out + in;
        per_sample_evaluation += out;
        e.workspace += double(layer.workspace_bytes(model.threads()));
    }
    per_sample_training += 2 * input_elements;  // the fetched batch and its augmented copy
    e.activations = per_sample_training * sizeof(Scalar) * batch;
    e.evaluation = (per_sample_evaluation + 2 * input_elements) * sizeof(Scalar) * evaluation_batch;
    return e;
}

namespace detail {

// The first number after "key" on a line of `path` that starts with it (/proc/meminfo: "MemAvailable: 123 kB").
inline double number_after(const std::string& path, const std::string& key) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, key.size(), key) != 0) continue;
        std::istringstream fields(line.substr(key.size()));
        double value = -1;
        if (fields >> value) return value;
    }
    return -1;
}

inline double first_number_in(const std::string& path) {
    std::ifstream in(path);
    double value = -1;
    return in >> value ? value : -1;
}

}  // namespace detail

// What this process may still allocate, and which limit says so.
struct AvailableMemory {
    double bytes = std::numeric_limits<double>::infinity();
    std::string limit = "no limit known";
};

// The smallest of: the system's MemAvailable (/proc/meminfo; else sysconf's available pages), the cgroup's
// memory.max less memory.current (cgroup v2), and RLIMIT_AS / RLIMIT_DATA less what the process holds already.
inline AvailableMemory available_memory() {
    AvailableMemory result;
    const auto consider = [&](double bytes, const std::string& limit) {
        if (bytes >= 0 && bytes < result.bytes) result = {bytes, limit};
    };
    const double kb_available = detail::number_after("/proc/meminfo", "MemAvailable:");
    if (kb_available >= 0) consider(kb_available * 1024, "MemAvailable in /proc/meminfo");
#if __has_include(<sys/resource.h>)
#ifdef _SC_AVPHYS_PAGES
    if (kb_available < 0) consider(double(::sysconf(_SC_AVPHYS_PAGES)) * double(::sysconf(_SC_PAGESIZE)), "available pages");
#endif
    const double cgroup_max = detail::first_number_in("/sys/fs/cgroup/memory.max");  // "max" reads as none
    const double cgroup_current = detail::first_number_in("/sys/fs/cgroup/memory.current");
    if (cgroup_max >= 0 && cgroup_current >= 0) consider(std::max(0.0, cgroup_max - cgroup_current), "the cgroup's memory.max");
    const double kb_virtual = detail::number_after("/proc/self/status", "VmSize:");
    const double kb_data = detail::number_after("/proc/self/status", "VmData:");
    struct rlimit limit {};
    if (::getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && kb_virtual >= 0)
        consider(std::max(0.0, double(limit.rlim_cur) - kb_virtual * 1024), "RLIMIT_AS (ulimit -v)");
    if (::getrlimit(RLIMIT_DATA, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && kb_data >= 0)
        consider(std::max(0.0, double(limit.rlim_cur) - kb_data * 1024), "RLIMIT_DATA (ulimit -d)");
#endif
    return result;
}

// "1.23 GB", "45.6 MB".
inline std::string format_bytes(double bytes) {
    char text[32];
    if (bytes >= 1e9) std::snprintf(text, sizeof text, "%.2f GB", bytes / 1e9);
    else std::snprintf(text, sizeof text, "%.1f MB", bytes / 1e6);
    return text;
}

// Throws config_error if `estimate` exceeds `available`, naming both, their parts and the limit:
// "training needs about 9.87 GB (parameters 0.10 GB, a batch of 4096: 9.5 GB, ...) but 3.10 GB is available
// (MemAvailable in /proc/meminfo); use a smaller batch or fewer threads".
inline void check_memory_fits(const MemoryEstimate& estimate, int batch, int evaluation_batch, int threads,
                              const AvailableMemory& available) {
    if (estimate.total() <= available.bytes) return;
    throw config_error("training needs about " + format_bytes(estimate.total()) + " (parameters and optimizer state " +
                       format_bytes(estimate.parameters) + ", a batch of " + std::to_string(batch) + ": " +
                       format_bytes(estimate.activations) + ", an evaluation batch of " +
                       std::to_string(evaluation_batch) + ": " + format_bytes(estimate.evaluation) +
                       ", kernel scratch for " + std::to_string(threads) + " threads: " +
                       format_bytes(estimate.workspace) + ") but " + format_bytes(available.bytes) + " is available (" +
                       available.limit + "); use a smaller batch or fewer threads");
}

}  // namespace deepcnn
