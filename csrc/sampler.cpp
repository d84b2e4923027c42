// Coalition enumeration and sampling (mirror of xaicore/kernels/_numpy.py::sample_raw).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "kernels.hpp"

namespace xaicore {
namespace {

uint64_t binom(int n, int k) {
    uint64_t r = 1;
    for (int i = 1; i <= k; ++i) r = r * static_cast<uint64_t>(n - k + i) / i;
    return r;
}

// Open-addressing set of bit-packed rows; values are row indices.
class RowSet {
  public:
    RowSet(int words, int64_t capacity) : words_(words) {
        size_t n = 16;
        while (n < static_cast<size_t>(2 * capacity + 2)) n <<= 1;
        table_.assign(n, -1);
        keys_.reserve(static_cast<size_t>(capacity) * words);
    }
    int64_t find(const uint64_t* key) const {
        size_t mask = table_.size() - 1, i = hash(key) & mask;
        while (table_[i] >= 0) {
            if (std::memcmp(&keys_[table_[i] * words_], key, words_ * 8) == 0)
                return ids_[table_[i]];
            i = (i + 1) & mask;
        }
        return -1;
    }
    void insert(const uint64_t* key, int64_t id) {
        size_t mask = table_.size() - 1, i = hash(key) & mask;
        while (table_[i] >= 0) i = (i + 1) & mask;
        table_[i] = static_cast<int64_t>(ids_.size());
        keys_.insert(keys_.end(), key, key + words_);
        ids_.push_back(id);
    }

  private:
    uint64_t hash(const uint64_t* key) const {
        uint64_t h = 0x243F6A8885A308D3ULL;
        for (int k = 0; k < words_; ++k) h = SplitMix64::mix(h ^ key[k]) + k;
        return h;
    }
    int words_;
    std::vector<int64_t> table_, ids_;
    std::vector<uint64_t> keys_;
};

}  // namespace

SampleResult sample_raw(int m, const std::vector<int64_t>& enum_sizes,
                        const std::vector<int64_t>& strata, const std::vector<double>& cdf,
                        const std::vector<int64_t>& counts, int64_t n_units, bool paired,
                        int mode, uint64_t state, int64_t max_draws) {
    SampleResult out;
    const int step = paired ? 2 : 1;
    int64_t cap = 0;
    for (int64_t s : enum_sizes)
        cap += 2 * static_cast<int64_t>(binom(m, s) / (2 * s == m ? 2 : 1));
    const int64_t base = cap;
    int64_t want = mode == 0 ? n_units : std::accumulate(counts.begin(), counts.end(), int64_t{0});
    cap += step * want;
    out.masks.assign(static_cast<size_t>(cap) * m, 0);
    out.stratum.assign(cap, -1);
    out.mult.assign(cap, 1);
    int64_t r = 0;
    // Enumerated classes: lexicographic combinations, each followed by its complement.
    std::vector<int> idx;
    for (int64_t s : enum_sizes) {
        int64_t n = static_cast<int64_t>(binom(m, s) / (2 * s == m ? 2 : 1));
        idx.resize(s);
        std::iota(idx.begin(), idx.end(), 0);
        for (int64_t t = 0; t < n; ++t) {
            uint8_t* a = &out.masks[r * m];
            uint8_t* b = a + m;
            std::memset(b, 1, m);
            for (int j : idx) { a[j] = 1; b[j] = 0; }
            r += 2;
            int i = static_cast<int>(s) - 1;
            while (i >= 0 && idx[i] == m - s + i) --i;
            if (i < 0) break;
            ++idx[i];
            for (int j = i + 1; j < s; ++j) idx[j] = idx[j - 1] + 1;
        }
    }
    // Sampled strata.
    const int words = (m + 63) / 64;
    RowSet seen(words, step * want + 1);
    SplitMix64 rng(state);
    std::vector<int> perm(m);
    std::iota(perm.begin(), perm.end(), 0);
    std::vector<uint64_t> key(words), ckey(words);
    const int K = static_cast<int>(strata.size());
    auto draw = [&](int k) -> bool {
        const int s = static_cast<int>(strata[k]);
        for (int i = 0; i < s; ++i) {
            int j = i + static_cast<int>(rng.below(m - i));
            std::swap(perm[i], perm[j]);
        }
        std::fill(key.begin(), key.end(), 0);
        for (int i = 0; i < s; ++i) key[perm[i] >> 6] |= uint64_t{1} << (perm[i] & 63);
        int64_t hit = seen.find(key.data());
        if (hit >= 0) {
            int64_t r0 = base + (hit - base) / step * step;
            for (int64_t q = r0; q < r0 + step; ++q) ++out.mult[q];
            return false;
        }
        uint8_t* a = &out.masks[r * m];
        for (int i = 0; i < s; ++i) a[perm[i]] = 1;
        seen.insert(key.data(), r);
        out.stratum[r] = k;
        ++r;
        if (paired) {
            uint8_t* b = a + m;
            for (int j = 0; j < m; ++j) b[j] = 1 - a[j];
            for (int w = 0; w < words; ++w) ckey[w] = ~key[w];
            if (m % 64) ckey[words - 1] &= (uint64_t{1} << (m % 64)) - 1;
            seen.insert(ckey.data(), r);
            out.stratum[r] = k;
            ++r;
        }
        return true;
    };
    int64_t n_draws = 0;
    if (mode == 0) {
        int64_t added = 0;
        while (added < n_units && n_draws < max_draws && K > 0) {
            double u = rng.uniform();
            int k = 0;
            while (k < K - 1 && !(u < cdf[k])) ++k;
            ++n_draws;
            added += draw(k);
        }
    } else {
        for (int k = 0; k < K; ++k) {
            int64_t added = 0;
            while (added < counts[k] && n_draws < max_draws) {
                ++n_draws;
                added += draw(k);
            }
        }
    }
    out.rows = r;
    out.n_draws = n_draws;
    out.masks.resize(static_cast<size_t>(r) * m);
    out.stratum.resize(r);
    out.mult.resize(r);
    return out;
}

}  // namespace xaicore
