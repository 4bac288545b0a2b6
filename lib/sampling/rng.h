// The sampler's random generator: xoshiro256** seeded through splitmix64, and uniforms built from its
// top bits. Our own code rather than <random>'s distributions, whose algorithms differ between
// standard libraries: the same seed must give the same tokens everywhere.
#pragma once

#include <array>
#include <cstdint>

namespace rwkvrt {

class Rng {
public:
    explicit Rng(uint64_t seed) {
        // splitmix64 spreads any seed (0 included) over the whole state; it cannot yield all zeros.
        for (uint64_t &word : s_) {
            seed += 0x9e3779b97f4a7c15ull;
            uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            word = z ^ (z >> 31);
        }
    }

    uint64_t next() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1): the top 53 bits scaled exactly, so every platform gets the same double.
    double uniform() { return double(next() >> 11) * 0x1.0p-53; }

    const std::array<uint64_t, 4> &state() const { return s_; }
    void set_state(const std::array<uint64_t, 4> &s) { s_ = s; }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    std::array<uint64_t, 4> s_{};
};

} // namespace rwkvrt
