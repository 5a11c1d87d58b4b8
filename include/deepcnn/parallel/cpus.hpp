// deepcnn/parallel/cpus.hpp: how many CPUs this process may run on (its affinity mask, which a container or taskset
// narrows), to size thread pools and to bound a thread count a user asks for.
#pragma once

#include <algorithm>
#include <thread>

#if __has_include(<sched.h>) && defined(__linux__)
#include <sched.h>
#define DEEPCNN_HAS_AFFINITY 1
#endif

namespace deepcnn {

// The CPUs in this process's affinity mask (Linux), else std::thread::hardware_concurrency(); at least 1.
inline int usable_cpus() {
#ifdef DEEPCNN_HAS_AFFINITY
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace deepcnn
