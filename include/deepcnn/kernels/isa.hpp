// deepcnn/kernels/isa.hpp: which instruction set the kernels run on, decided once per process at run time.
//
// The kernels are compiled for every instruction set in one translation unit (kernels/isa_kernels.hpp): the
// portable pass with the compiler's own flags, and on x86-64 with GCC or Clang an AVX2 + FMA pass and an
// AVX-512 pass under target pragmas. active_isa() picks the best one the CPU has, the first time a kernel runs;
// the environment variable DEEPCNN_ISA=portable|avx2|avx512 asks for a lower one (tests, benchmarks), and
// set_isa() changes it from code. A program built with default flags therefore runs the same kernels as one
// built with -march=native.
#pragma once

#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

// Whether this compiler and target can build the AVX2 and AVX-512 passes: x86-64, GCC or Clang (their target
// pragmas and __builtin_cpu_supports), and not DEEPCNN_PORTABLE (which keeps only the portable kernels).
#if !defined(DEEPCNN_PORTABLE) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DEEPCNN_ISA_DISPATCH 1
#else
#define DEEPCNN_ISA_DISPATCH 0
#endif

namespace deepcnn {

// The kernel families, lowest first: a CPU that runs one runs those before it.
enum class Isa { portable = 0, avx2 = 1, avx512 = 2 };

inline const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512: return "avx512";
        case Isa::avx2: return "avx2";
        case Isa::portable: break;
    }
    return "portable";
}

// The best family this CPU (and its operating system, which must save the wide registers) can run, among
// those this build compiled: AVX-512 needs F, VL, BW, DQ and CD; AVX2 needs FMA, BMI1/2 and POPCNT beside it,
// which every AVX2 CPU has and which the AVX2 pass's target names.
inline Isa best_supported_isa() {
#if DEEPCNN_ISA_DISPATCH
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                      __builtin_cpu_supports("popcnt");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512cd");
    return avx512 ? Isa::avx512 : avx2 ? Isa::avx2 : Isa::portable;
#else
    return Isa::portable;
#endif
}

// The families this CPU can run, lowest first (what the tests loop over).
inline std::vector<Isa> supported_isas() {
    std::vector<Isa> isas;
    for (int i = 0; i <= static_cast<int>(best_supported_isa()); ++i) isas.push_back(static_cast<Isa>(i));
    return isas;
}

// "portable", "avx2" or "avx512" as an Isa; throws config_error naming `what` for anything else and
// for a family this CPU cannot run.
inline Isa parse_isa(const std::string& name, const std::string& what) {
    Isa isa;
    if (name == "portable") {
        isa = Isa::portable;
    } else if (name == "avx2") {
        isa = Isa::avx2;
    } else if (name == "avx512") {
        isa = Isa::avx512;
    } else {
        throw config_error(what + ": expected portable, avx2 or avx512, got '" + name + "'");
    }
    const Isa best = best_supported_isa();
    if (static_cast<int>(isa) > static_cast<int>(best)) {
        throw config_error(what + ": this CPU (or this build) cannot run " + name + " kernels; it runs " +
                                     isa_name(best) + " at best");
    }
    return isa;
}

namespace detail {
// -1 until the first kernel call decides.
inline std::atomic<int>& isa_choice() {
    static std::atomic<int> choice{-1};
    return choice;
}
}  // namespace detail

// The family the kernels run on: the best the CPU has, or DEEPCNN_ISA where set (read once, at the first call;
// a value the CPU cannot run, or a misspelt one, throws config_error naming the variable).
inline Isa active_isa() {
    int choice = detail::isa_choice().load(std::memory_order_relaxed);
    if (choice < 0) {
        const char* forced = std::getenv("DEEPCNN_ISA");
        const Isa isa = forced && *forced ? parse_isa(forced, "DEEPCNN_ISA") : best_supported_isa();
        choice = static_cast<int>(isa);
        detail::isa_choice().store(choice, std::memory_order_relaxed);
    }
    return static_cast<Isa>(choice);
}

// Makes every later kernel call run `isa` (which this CPU must support: see supported_isas()). Not for use while
// kernels run on other threads: a layer sizes its scratch memory for the family it ran last.
inline void set_isa(Isa isa) {
    if (static_cast<int>(isa) > static_cast<int>(best_supported_isa())) {
        throw config_error(std::string("set_isa: this CPU cannot run ") + isa_name(isa) + " kernels");
    }
    detail::isa_choice().store(static_cast<int>(isa), std::memory_order_relaxed);
}

// set_isa for a scope (tests and benchmarks): the previous family comes back at the end.
class ScopedIsa {
public:
    explicit ScopedIsa(Isa isa) : previous_(active_isa()) { set_isa(isa); }
    ~ScopedIsa() { detail::isa_choice().store(static_cast<int>(previous_), std::memory_order_relaxed); }
    ScopedIsa(const ScopedIsa&) = delete;
    ScopedIsa& operator=(const ScopedIsa&) = delete;

private:
    Isa previous_;
};

}  // namespace deepcnn
