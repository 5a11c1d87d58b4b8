// deepcnn/random.hpp: Rng, a small seeded generator (xoshiro256**) whose whole state can be saved and
// restored, with portable uniform and normal draws (the same numbers on every compiler and platform).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace deepcnn {

// Output `index` (from 0) of the splitmix64 stream seeded with `seed`. Any output can be drawn without the ones
// before it, so threads can fill disjoint parts of one stream and get the numbers a single thread would.
inline std::uint64_t splitmix64_at(std::uint64_t seed, std::uint64_t index) {
    std::uint64_t z = seed + (index + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

class Rng {
public:
    using State = std::array<std::uint64_t, 4>;

    explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

    // Expands the seed with splitmix64, as the xoshiro authors recommend.
    void reseed(std::uint64_t seed) {
        for (std::size_t i = 0; i < state_.size(); ++i) state_[i] = splitmix64_at(seed, i);
    }

    std::uint64_t next_u64() {
        const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const std::uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    // Uniform in [0, 1), 53 random bits.
    double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    // Uniform integer in [0, bound), without modulo bias; bound must be > 0.
    std::uint64_t below(std::uint64_t bound) {
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
        std::uint64_t x = next_u64();
        while (x >= limit) x = next_u64();
        return x % bound;
    }
    bool bernoulli(double p) { return uniform() < p; }
    // Standard normal by the Box-Muller transform (one value per pair of uniforms, so the state alone
    // determines the stream).
    double normal() {
        double u1 = uniform();
        while (u1 <= 0.0) u1 = uniform();
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
    }
    double normal(double mean, double stddev) { return mean + stddev * normal(); }

    // Fisher-Yates shuffle of [first, last).
    template <class It>
    void shuffle(It first, It last) {
        const auto count = last - first;
        for (auto i = count - 1; i > 0; --i) {
            const auto j = static_cast<decltype(i)>(below(static_cast<std::uint64_t>(i) + 1));
            std::swap(first[i], first[j]);
        }
    }

    // The full state, for checkpoints: restoring it reproduces the rest of the stream exactly.
    State state() const { return state_; }
    void set_state(const State& state) { state_ = state; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    State state_{};
};

}  // namespace deepcnn
