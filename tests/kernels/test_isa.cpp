// tests/kernels/test_isa.cpp: the run-time choice of instruction set (kernels/isa.hpp): names, what the CPU
// supports, forcing one for a scope, and the errors for a misspelt or unsupported DEEPCNN_ISA value.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/kernels.hpp>

#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>

using namespace deepcnn;

TEST_CASE("instruction sets: names, the supported list and their errors", "[kernels][isa]") {
    const std::vector<Isa> isas = supported_isas();
    REQUIRE_FALSE(isas.empty());
    CHECK(isas.front() == Isa::portable);
    CHECK(isas.back() == best_supported_isa());
    for (const Isa isa : isas) CHECK(parse_isa(isa_name(isa), "DEEPCNN_ISA") == isa);
    CHECK_THROWS_WITH(parse_isa("avx3", "DEEPCNN_ISA"), "DEEPCNN_ISA: expected portable, avx2 or avx512, got 'avx3'");
    if (best_supported_isa() != Isa::avx512) {
        CHECK_THROWS_WITH(parse_isa("avx512", "DEEPCNN_ISA"),
                          Catch::Contains("DEEPCNN_ISA: this CPU (or this build) cannot run avx512 kernels"));
        CHECK_THROWS_AS(set_isa(Isa::avx512), config_error);
    }
#if DEEPCNN_ISA_DISPATCH
    // The detection agrees with the flags Linux reports for the first CPU.
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    std::set<std::string> flags;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("flags", 0) != 0) continue;
        std::istringstream words(line.substr(line.find(':') + 1));
        for (std::string flag; words >> flag;) flags.insert(flag);
        break;
    }
    if (!flags.empty()) {
        const auto has = [&](std::initializer_list<const char*> names) {
            for (const char* n : names)
                if (!flags.count(n)) return false;
            return true;
        };
        const bool avx2 = has({"avx2", "fma", "bmi1", "bmi2", "popcnt"});
        const Isa expected = avx2 && has({"avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"}) ? Isa::avx512
                             : avx2                                                                  ? Isa::avx2
                                                                                                     : Isa::portable;
        CHECK(best_supported_isa() == expected);
    }
#endif
}

TEST_CASE("ScopedIsa forces an instruction set for a scope and restores the previous one", "[kernels][isa]") {
    const Isa before = active_isa();
    {
        ScopedIsa portable(Isa::portable);
        CHECK(active_isa() == Isa::portable);
        CHECK_FALSE(kernels::simd_active<float>());
        {
            ScopedIsa best(best_supported_isa());
            CHECK(active_isa() == best_supported_isa());
        }
        CHECK(active_isa() == Isa::portable);
    }
    CHECK(active_isa() == before);
    CHECK_FALSE(kernels::simd_active<double>());
}
