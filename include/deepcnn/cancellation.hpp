// deepcnn/cancellation.hpp: the hook by which a caller stops the library's long loops (reading a CSV, predicting,
// evaluating) within a fraction of a second: a flag the caller owns (a signal handler sets it) and the loops poll.
// The library holds no global: each reader or model is given the flag's address, or none.
#pragma once

#include <atomic>
#include <string>

#include "error.hpp"

namespace deepcnn {

// Non-zero asks every loop that polls it to stop; the value is the caller's (fer_train stores the signal number).
using CancelFlag = std::atomic<int>;

// Throws cancelled("interrupted while WHAT") if `flag` is given and set.
inline void throw_if_cancelled(const CancelFlag* flag, const char* what) {
    if (flag != nullptr && flag->load(std::memory_order_relaxed) != 0) {
        throw cancelled(std::string("interrupted while ") + what);
    }
}

}  // namespace deepcnn
