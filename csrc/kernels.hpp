// Host kernels of xaicore: coalition sampling and the constrained WLS operator.
// The Python reference is xaicore/kernels/_numpy.py; outputs must match it exactly.
#pragma once
#include <cstdint>
#include <vector>

namespace xaicore {

// splitmix64, the stream shared bit for bit with xaicore/kernels/_rng.py.
struct SplitMix64 {
    uint64_t state;
    explicit SplitMix64(uint64_t s) : state(s) {}
    static uint64_t mix(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    uint64_t next() { state += 0x9E3779B97F4A7C15ULL; return mix(state); }
    double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    int64_t below(int64_t n) { return static_cast<int64_t>(uniform() * static_cast<double>(n)); }
};

struct SampleResult {
    std::vector<uint8_t> masks;   // rows * m
    std::vector<int64_t> stratum; // -1: enumerated
    std::vector<int64_t> mult;
    int64_t rows = 0;
    int64_t n_draws = 0;
};

SampleResult sample_raw(int m, const std::vector<int64_t>& enum_sizes,
                        const std::vector<int64_t>& strata, const std::vector<double>& cdf,
                        const std::vector<int64_t>& counts, int64_t n_units, bool paired,
                        int mode, uint64_t state, int64_t max_draws);

// P (m x s, row-major) and c (m) of the constrained WLS solve; returns false when the
// projected Gram matrix is numerically singular (the caller then falls back).
bool wls_operator(const uint8_t* masks, const double* w, int64_t s, int m, double ridge,
                  double* P, double* c);

}  // namespace xaicore
