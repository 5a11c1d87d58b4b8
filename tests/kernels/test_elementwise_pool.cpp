// tests/kernels/test_elementwise_pool.cpp: the fast kernels of the non-convolution layers against their _ref
// twins: relu_forward / relu_backward (bit mask, odd lengths, -0, NaN), BatchNorm's passes (odd lengths, with and
// without the fused ReLU's mask), Adam's update (three decay modes, odd lengths, split runs), max_pool_forward /
// max_pool_backward on the 2x2 stride-2 fast path (even and odd planes, widths below, at and past one 8-wide
// step, ties, NaN) and on the generic path, with and without the argmax (an inference's), on 1, 2 and 3 threads
// (bit-identical), and parallel_for's partition.
#include <catch2/catch.hpp>

#include <deepcnn/kernels/kernels.hpp>
#include <deepcnn/parallel/thread_pool.hpp>
#include <deepcnn/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#include "isa_passes.hpp"

using namespace deepcnn;

namespace {

// Bitwise equality (tells -0 from +0 and compares NaN payloads).
template <class Scalar>
bool same_bits(const std::vector<Scalar>& a, const std::vector<Scalar>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Scalar)) == 0;
}

// Values from a small set (many ties), zeros of both signs and a NaN now and then.
template <class Scalar>
std::vector<Scalar> awkward_values(std::size_t count, Rng& rng) {
    std::vector<Scalar> v(count);
    for (auto& e : v) {
        const auto pick = rng.below(10);
        e = pick == 0 ? Scalar(-0.0) : pick == 1 ? Scalar(0.0) : Scalar(double(rng.below(5)) - 2.0);
        if (rng.below(97) == 0) e = std::numeric_limits<Scalar>::quiet_NaN();
    }
    return v;
}

}  // namespace

TEMPLATE_TEST_CASE("relu kernels match their references bit for bit", "[kernels][relu]", float, double) {
    RUN_ON_EACH_ISA();
    Rng rng(3);
    for (long count : {1L, 7L, 8L, 9L, 31L, 64L, 100L, 1027L}) {
        INFO("count " << count);
        const std::vector<TestType> x = awkward_values<TestType>(static_cast<std::size_t>(count), rng);
        std::vector<TestType> y(x.size()), y_ref(x.size());
        std::vector<std::uint8_t> mask(relu_mask_bytes(x.size()), 0xAA), mask_ref(mask.size(), 0x55);
        kernels::relu_forward(count, x.data(), y.data(), mask.data());
        relu_forward_ref(count, x.data(), y_ref.data(), mask_ref.data());
        CHECK(same_bits(y, y_ref));
        CHECK(mask == mask_ref);
        for (long i = 0; i < count; ++i) REQUIRE(((mask[i / 8] >> (i % 8)) & 1) == (x[i] > TestType(0) ? 1 : 0));

        const std::vector<TestType> dy = awkward_values<TestType>(x.size(), rng);
        std::vector<TestType> dx(x.size(), std::numeric_limits<TestType>::quiet_NaN()), dx_ref(x.size());
        kernels::relu_backward(count, dy.data(), mask.data(), dx.data());
        relu_backward_ref(count, dy.data(), mask_ref.data(), dx_ref.data());
        CHECK(same_bits(dx, dx_ref));
        for (long i = 0; i < count; ++i) {
            const TestType expected = x[i] > TestType(0) ? dy[i] : TestType(0);
            REQUIRE(std::memcmp(&dx[i], &expected, sizeof(TestType)) == 0);
        }
    }
}

TEMPLATE_TEST_CASE("max_pool fast kernels match their references on 1, 2 and 3 threads", "[kernels][max_pool][threads]",
                   float, double) {
    RUN_ON_EACH_ISA();
    struct PoolCase {
        const char* label;
        int C, H, W, K, stride;
        Padding padding;
    };
    const std::vector<PoolCase> cases = {
        {"2x2 s2 48x48 (the fer net's first pool)", 3, 48, 48, 2, 2, Padding::valid()},
        {"2x2 s2 12x12 (one 8-wide step and a masked 4)", 4, 12, 12, 2, 2, Padding::valid()},
        {"2x2 s2 odd 7x5", 3, 7, 5, 2, 2, Padding::valid()},
        {"2x2 s2 odd 9x35 (4 steps, the last masked)", 2, 9, 35, 2, 2, Padding::valid()},
        {"2x2 s2 2x2", 5, 2, 2, 2, 2, Padding::valid()},
        {"2x2 s2 same even 6x6 (fast path)", 2, 6, 6, 2, 2, Padding::same()},
        {"2x2 s2 same odd 7x7 (generic path)", 2, 7, 7, 2, 2, Padding::same()},
        {"3x3 s2 same (generic path)", 2, 9, 8, 3, 2, Padding::same()},
        {"2x2 s1 overlapping (generic path)", 2, 6, 7, 2, 1, Padding::valid()},
    };
    for (const PoolCase& c : cases) {
        SECTION(c.label) {
            const ConvGeometry g = make_conv_geometry(c.C, c.H, c.W, c.C, c.K, c.K, c.stride, c.stride, c.padding);
            const int N = 3;
            Rng rng(71);
            const std::vector<TestType> x = awkward_values<TestType>(static_cast<std::size_t>(N) * c.C * c.H * c.W, rng);
            const std::size_t out_size = static_cast<std::size_t>(N) * c.C * g.OH * g.OW;
            std::vector<TestType> y_ref(out_size);
            std::vector<std::int32_t> arg_ref(out_size);
            max_pool_forward_ref(g, N, x.data(), y_ref.data(), arg_ref.data());
            std::vector<TestType> dy(out_size);
            for (auto& v : dy) v = static_cast<TestType>(rng.uniform(-1.0, 1.0));
            std::vector<TestType> dx_ref(x.size());
            max_pool_backward_ref(g, N, dy.data(), arg_ref.data(), dx_ref.data());

            for (int threads : {1, 2, 3}) {
                INFO("threads " << threads);
                ThreadPool pool(threads);
                std::vector<TestType> y(out_size, TestType(7));
                std::vector<std::int32_t> arg(out_size, -7);
                kernels::max_pool_forward(g, N, x.data(), y.data(), arg.data(), &pool);
                CHECK(same_bits(y, y_ref));
                CHECK(arg == arg_ref);
                std::vector<TestType> values_only(out_size, TestType(7));  // an inference's: no argmax
                kernels::max_pool_forward(g, N, x.data(), values_only.data(), static_cast<std::int32_t*>(nullptr),
                                          &pool);
                CHECK(same_bits(values_only, y_ref));
                std::vector<TestType> dx(x.size(), std::numeric_limits<TestType>::quiet_NaN());
                kernels::max_pool_backward(g, N, dy.data(), arg.data(), dx.data(), &pool);
                CHECK(same_bits(dx, dx_ref));
            }
        }
    }
}

TEST_CASE("parallel_for covers the range once, aligned, and stays on the caller for small jobs", "[threads]") {
    ThreadPool pool(3);
    for (long count : {0L, 1L, 100L, 1000L, 12345L}) {
        std::vector<int> hits(static_cast<std::size_t>(count), 0);
        std::vector<long> starts;
        std::mutex m;
        parallel_for(&pool, count, 100, 64, [&](long begin, long end) {
            std::lock_guard<std::mutex> lock(m);
            starts.push_back(begin);
            for (long i = begin; i < end; ++i) ++hits[static_cast<std::size_t>(i)];
        });
        for (int h : hits) REQUIRE(h == 1);
        for (long s : starts) CHECK(s % 64 == 0);
        if (count < 200) CHECK(starts.size() <= 1);
        if (count >= 12345) CHECK(starts.size() == 3);
    }
    int calls = 0;
    parallel_for(nullptr, 1000, 1, 1, [&](long begin, long end) {
        ++calls;
        CHECK(begin == 0);
        CHECK(end == 1000);
    });
    CHECK(calls == 1);
}

TEMPLATE_TEST_CASE("batch_norm kernels match their references, with and without the ReLU mask", "[kernels][batch_norm]",
                   float, double) {
    RUN_ON_EACH_ISA();
    Rng rng(5);
    // The vectorised float kernels fuse multiply-adds, the references may not: equal to rounding.
    const double tolerance = std::is_same<TestType, float>::value ? 1e-5 : 1e-12;
    const auto close = [&](const std::vector<TestType>& a, const std::vector<TestType>& b) {
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!(std::abs(double(a[i]) - double(b[i])) <= tolerance * (1.0 + std::abs(double(b[i]))))) return false;
        return true;
    };
    for (long count : {1L, 7L, 8L, 9L, 31L, 64L, 100L, 1027L}) {
        for (bool masked : {false, true}) {
            INFO("count " << count << (masked ? ", ReLU mask" : ""));
            std::vector<TestType> x(static_cast<std::size_t>(count)), dy(x.size());
            for (auto& v : x) v = TestType(rng.uniform(-2.0, 2.0));
            for (auto& v : dy) v = TestType(rng.uniform(-1.0, 1.0));
            // Partial sums that already hold a run's sums: the kernels add onto them.
            std::vector<TestType> s(8, TestType(0.25)), q(8, TestType(0.5)), s_ref = s, q_ref = q;
            kernels::batch_norm_shifted_sums(x.data(), count, TestType(0.3), s.data(), q.data());
            batch_norm_shifted_sums_ref(x.data(), count, TestType(0.3), s_ref.data(), q_ref.data());
            CHECK(close(s, s_ref));
            CHECK(close(q, q_ref));
            CHECK(s_ref[0] != TestType(0.25));

            std::vector<std::uint8_t> mask(relu_mask_bytes(x.size()), 0xAA), mask_ref(mask.size(), 0x55);
            std::vector<TestType> y(x.size()), y_ref(x.size());
            // x * 1.5 - 0.2 crosses zero at x = 0.1333: a fused and an unfused multiply-add could round to opposite
            // signs only within about 1e-7 of it, which these fixed draws do not come near.
            kernels::batch_norm_normalize(x.data(), count, TestType(1.5), TestType(-0.2), y.data(), masked ? mask.data() : nullptr);
            batch_norm_normalize_ref(x.data(), count, TestType(1.5), TestType(-0.2), y_ref.data(),
                                     masked ? mask_ref.data() : nullptr);
            CHECK(close(y, y_ref));
            if (masked) {
                CHECK(mask == mask_ref);
                for (long i = 0; i < count; ++i) REQUIRE(((mask[i / 8] >> (i % 8)) & 1) == (y[i] > TestType(0) ? 1 : 0));
            } else {
                CHECK(std::count(y.begin(), y.end(), TestType(0)) == 0);
            }

            const std::uint8_t* m = masked ? mask.data() : nullptr;
            std::fill(s.begin(), s.end(), TestType(0));
            std::fill(q.begin(), q.end(), TestType(0));
            s_ref = s;
            q_ref = q;
            kernels::batch_norm_gradient_sums(dy.data(), m, x.data(), count, TestType(0.1), s.data(), q.data());
            batch_norm_gradient_sums_ref(dy.data(), m, x.data(), count, TestType(0.1), s_ref.data(), q_ref.data());
            CHECK(close(s, s_ref));
            CHECK(close(q, q_ref));
            // The mask's effect, by the definition: dy where the ReLU passed its input, else 0.
            TestType total = 0;
            for (long i = 0; i < count; ++i) total += masked && y[i] <= TestType(0) ? TestType(0) : dy[i];
            TestType kernel_total = 0;
            for (TestType v : s) kernel_total += v;
            CHECK(double(kernel_total) == Approx(double(total)).margin(1e-4));

            std::vector<TestType> dx(x.size()), dx_ref(x.size());
            kernels::batch_norm_input_gradient(dy.data(), m, x.data(), count, TestType(0.7), TestType(-0.3), TestType(0.1),
                                      TestType(0.05), dx.data());
            batch_norm_input_gradient_ref(dy.data(), m, x.data(), count, TestType(0.7), TestType(-0.3), TestType(0.1),
                                          TestType(0.05), dx_ref.data());
            CHECK(close(dx, dx_ref));
            for (long i = 0; i < count; ++i) {
                const double g = masked && y[i] <= TestType(0) ? 0.0 : double(dy[i]);
                REQUIRE(double(dx[i]) == Approx(0.7 * g + (-0.3 * (double(x[i]) - 0.1) + 0.05)).margin(1e-5));
            }
        }
    }
}

TEMPLATE_TEST_CASE("adam_update matches its reference and Adam's formula, for any split at multiples of 8",
                   "[kernels][adam]", float, double) {
    RUN_ON_EACH_ISA();
    Rng rng(9);
    const double tolerance = std::is_same<TestType, float>::value ? 1e-5 : 1e-12;
    for (int mode = 0; mode < 3; ++mode) {
        AdamStep<TestType> s{TestType(0.9), TestType(0.999), TestType(0.01), TestType(1.2), TestType(1e-7),
                             TestType(0.999), TestType(0.05), mode == 1, mode == 2};
        for (long count : {1L, 7L, 8L, 9L, 31L, 64L, 100L, 1027L}) {
            INFO("count " << count << ", mode " << (mode == 0 ? "plain" : mode == 1 ? "decoupled" : "coupled"));
            const std::size_t n = static_cast<std::size_t>(count);
            std::vector<TestType> grad(n), value(n), m(n), v(n);
            for (std::size_t i = 0; i < n; ++i) {
                grad[i] = TestType(rng.uniform(-1.0, 1.0));
                value[i] = TestType(rng.uniform(-2.0, 2.0));
                m[i] = TestType(rng.uniform(-0.1, 0.1));
                v[i] = TestType(rng.uniform(0.0, 0.01));
            }
            const std::vector<TestType> value0 = value, m0 = m, v0 = v;
            std::vector<TestType> value_ref = value, m_ref = m, v_ref = v;
            std::vector<TestType> value_split = value, m_split = m, v_split = v;
            kernels::adam_update(count, s, grad.data(), value.data(), m.data(), v.data());
            adam_update_ref(count, s, grad.data(), value_ref.data(), m_ref.data(), v_ref.data());
            const long cut = count / 16 * 8;
            kernels::adam_update(cut, s, grad.data(), value_split.data(), m_split.data(), v_split.data());
            kernels::adam_update(count - cut, s, grad.data() + cut, value_split.data() + cut, m_split.data() + cut,
                        v_split.data() + cut);
            CHECK(value_split == value);
            CHECK(m_split == m);
            CHECK(v_split == v);
            for (std::size_t i = 0; i < n; ++i) {
                REQUIRE(double(m[i]) == Approx(double(m_ref[i])).epsilon(tolerance).margin(tolerance));
                REQUIRE(double(v[i]) == Approx(double(v_ref[i])).epsilon(tolerance).margin(tolerance));
                REQUIRE(double(value[i]) == Approx(double(value_ref[i])).epsilon(tolerance).margin(tolerance));
            }
            // Adam's formula, in double from the initial state.
            for (std::size_t i = 0; i < n; ++i) {
                double p = double(value0[i]), g = double(grad[i]);
                if (s.decoupled) p *= double(s.decay);
                if (s.coupled) g += double(s.weight_decay) * p;
                const double mi = 0.9 * double(m0[i]) + 0.1 * g, vi = 0.999 * double(v0[i]) + 0.001 * g * g;
                p -= 0.01 * mi / (std::sqrt(vi) * 1.2 + 1e-7);
                REQUIRE(double(value[i]) == Approx(p).epsilon(1e-4).margin(1e-5));
            }
        }
    }
}
