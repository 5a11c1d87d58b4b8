// tests/kernels/isa_passes.hpp: runs test code once per instruction-set pass of the kernels. FOR_EACH_SIMD_PASS
// (statements) runs them with the namespace alias P naming deepcnn::isa_avx2, then deepcnn::isa_avx512, each where
// this CPU can run it (pass internals such as P::GemmBlocking or P::detail::winograd_pays differ by pass);
// for_each_isa(fn) calls fn(isa) under a ScopedIsa for every family this CPU runs, so that the dispatching
// kernels::... functions take each pass in turn.
#pragma once

#include <catch2/catch.hpp>

#include <deepcnn/kernels/kernels.hpp>

#if DEEPCNN_ISA_DISPATCH
#define FOR_EACH_SIMD_PASS(...)                                                                                     \
    do {                                                                                                           \
        if (::deepcnn::best_supported_isa() >= ::deepcnn::Isa::avx2) {                                             \
            namespace P = ::deepcnn::isa_avx2;                                                                     \
            INFO("pass avx2");                                                                                     \
            __VA_ARGS__                                                                                            \
        }                                                                                                          \
        if (::deepcnn::best_supported_isa() >= ::deepcnn::Isa::avx512) {                                           \
            namespace P = ::deepcnn::isa_avx512;                                                                   \
            INFO("pass avx512");                                                                                   \
            __VA_ARGS__                                                                                            \
        }                                                                                                          \
    } while (0)
#else
#define FOR_EACH_SIMD_PASS(...) \
    do {                        \
    } while (0)
#endif

template <class F>
void for_each_isa(F&& fn) {
    for (const deepcnn::Isa isa : deepcnn::supported_isas()) {
        INFO("kernels " << deepcnn::isa_name(isa));
        deepcnn::ScopedIsa scoped(isa);
        fn(isa);
    }
}

// At the top of a test case: runs the whole case once per family this CPU runs (a Catch2 generator), under a
// ScopedIsa named `scoped_isa`.
#define RUN_ON_EACH_ISA()                                                                                          \
    const ::deepcnn::Isa each_isa = GENERATE(Catch::Generators::from_range(::deepcnn::supported_isas()));           \
    INFO("kernels " << ::deepcnn::isa_name(each_isa));                                                             \
    ::deepcnn::ScopedIsa scoped_isa(each_isa)
