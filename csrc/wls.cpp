// Constrained weighted least squares operator (mirror of xaicore/kernels/_numpy.py).
//
// min_phi sum_s w_s (y_s - z_s . phi)^2  s.t.  1 . phi = d   has the solution
// phi = P y + c d with P = T Z^T W, c = (1 - P |z|) / M and T the pseudo-inverse of
// the Gram matrix G = Z^T W Z projected on 1-perp (plus ridge there). T is obtained as
// H^-1 - 11^T / (alpha M) with H = Pi G Pi + ridge Pi + alpha 11^T / M, one Cholesky.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.hpp"

namespace xaicore {

bool wls_operator(const uint8_t* masks, const double* w, int64_t S, int m, double ridge,
                  double* P, double* c) {
    // G = sum_s w_s z_s z_s^T, accumulated over the smaller of z_s and its complement
    // (z z^T = 11^T - 1 zc^T - zc 1^T + zc zc^T): paired rows cost min(|z|, M-|z|)^2.
    std::vector<double> G(static_cast<size_t>(m) * m, 0.0), Gc(static_cast<size_t>(m) * m, 0.0);
    std::vector<double> u(m, 0.0);
    double wc = 0.0;
    std::vector<int> members(m), others(m);
    std::vector<int64_t> size(S);
    for (int64_t s = 0; s < S; ++s) {
        const uint8_t* z = masks + s * m;
        int t = 0, o = 0;
        for (int j = 0; j < m; ++j) {
            if (z[j]) members[t++] = j; else others[o++] = j;
        }
        size[s] = t;
        const double ws = w[s];
        const bool comp = o < t;
        const int n = comp ? o : t;
        const int* idx = comp ? others.data() : members.data();
        std::vector<double>& acc = comp ? Gc : G;
        if (comp) {
            wc += ws;
            for (int a = 0; a < o; ++a) u[others[a]] += ws;
        }
        for (int a = 0; a < n; ++a) {
            double* row = &acc[static_cast<size_t>(idx[a]) * m];
            for (int b = a; b < n; ++b) row[idx[b]] += ws;
        }
    }
    for (int a = 0; a < m; ++a)
        for (int b = a; b < m; ++b) {
            double v = G[static_cast<size_t>(a) * m + b] + Gc[static_cast<size_t>(a) * m + b]
                + wc - u[a] - u[b];
            G[static_cast<size_t>(a) * m + b] = v;
            G[static_cast<size_t>(b) * m + a] = v;
        }
    // H = Pi G Pi + ridge Pi + alpha 11^T / M
    std::vector<double> g(m, 0.0);
    double tot = 0.0, trace = 0.0;
    for (int a = 0; a < m; ++a) {
        for (int b = 0; b < m; ++b) g[a] += G[static_cast<size_t>(a) * m + b];
        tot += g[a];
        trace += G[static_cast<size_t>(a) * m + a];
    }
    double alpha = trace / m > 0 ? trace / m : 1.0;
    std::vector<double> H(static_cast<size_t>(m) * m);
    for (int a = 0; a < m; ++a)
        for (int b = 0; b < m; ++b)
            H[static_cast<size_t>(a) * m + b] = G[static_cast<size_t>(a) * m + b] - (g[a] + g[b]) / m
                + tot / (static_cast<double>(m) * m) + ridge * ((a == b) - 1.0 / m) + alpha / m;
    double hmax = 0.0;
    for (int a = 0; a < m; ++a) hmax = std::max(hmax, H[static_cast<size_t>(a) * m + a]);
    // Cholesky H = L L^T (lower, in place).
    std::vector<double>& L = H;
    for (int j = 0; j < m; ++j) {
        double d = L[static_cast<size_t>(j) * m + j];
        for (int k = 0; k < j; ++k) d -= L[static_cast<size_t>(j) * m + k] * L[static_cast<size_t>(j) * m + k];
        if (!(d > 1e-11 * hmax)) return false;
        d = std::sqrt(d);
        L[static_cast<size_t>(j) * m + j] = d;
        for (int i = j + 1; i < m; ++i) {
            double v = L[static_cast<size_t>(i) * m + j];
            for (int k = 0; k < j; ++k) v -= L[static_cast<size_t>(i) * m + k] * L[static_cast<size_t>(j) * m + k];
            L[static_cast<size_t>(i) * m + j] = v / d;
        }
    }
    // X = L^-1 (lower), H^-1 = X^T X.
    std::vector<double> X(static_cast<size_t>(m) * m, 0.0);
    for (int col = 0; col < m; ++col) {
        for (int i = col; i < m; ++i) {
            double v = (i == col) ? 1.0 : 0.0;
            for (int k = col; k < i; ++k) v -= L[static_cast<size_t>(i) * m + k] * X[static_cast<size_t>(k) * m + col];
            X[static_cast<size_t>(i) * m + col] = v / L[static_cast<size_t>(i) * m + i];
        }
    }
    std::vector<double> T(static_cast<size_t>(m) * m, 0.0);
    for (int a = 0; a < m; ++a)
        for (int b = a; b < m; ++b) {
            double v = 0.0;
            for (int k = std::max(a, b); k < m; ++k)
                v += X[static_cast<size_t>(k) * m + a] * X[static_cast<size_t>(k) * m + b];
            v -= 1.0 / (alpha * m);
            T[static_cast<size_t>(a) * m + b] = v;
            T[static_cast<size_t>(b) * m + a] = v;
        }
    // P[:, s] = w_s * sum_{j in z_s} T[:, j] = -w_s * sum_{j not in z_s} T[:, j] + w_s T 1,
    // whichever is shorter; columns centred so each sums to 0. Built as P^T, then copied.
    std::vector<double> rs(m, 0.0);
    for (int a = 0; a < m; ++a)
        for (int b = 0; b < m; ++b) rs[a] += T[static_cast<size_t>(a) * m + b];
    std::vector<double> Pt(static_cast<size_t>(S) * m);
    std::vector<double> cs(m, 0.0);
    for (int64_t s = 0; s < S; ++s) {
        const uint8_t* z = masks + s * m;
        double* col = &Pt[static_cast<size_t>(s) * m];
        const bool comp = 2 * size[s] > m;
        if (comp) std::copy(rs.begin(), rs.end(), col); else std::fill(col, col + m, 0.0);
        for (int j = 0; j < m; ++j)
            if (static_cast<bool>(z[j]) != comp) {
                const double* t = &T[static_cast<size_t>(j) * m];
                if (comp) for (int i = 0; i < m; ++i) col[i] -= t[i];
                else for (int i = 0; i < m; ++i) col[i] += t[i];
            }
        double mean = 0.0;
        for (int i = 0; i < m; ++i) { col[i] *= w[s]; mean += col[i]; }
        mean /= m;
        for (int i = 0; i < m; ++i) {
            col[i] -= mean;
            cs[i] += col[i] * static_cast<double>(size[s]);
        }
    }
    const int64_t B = 64;
    for (int64_t s0 = 0; s0 < S; s0 += B)
        for (int i = 0; i < m; ++i)
            for (int64_t s = s0; s < std::min(S, s0 + B); ++s)
                P[static_cast<size_t>(i) * S + s] = Pt[static_cast<size_t>(s) * m + i];
    double cmean = 0.0;
    for (int i = 0; i < m; ++i) { c[i] = (1.0 - cs[i]) / m; cmean += c[i]; }
    cmean /= m;
    for (int i = 0; i < m; ++i) c[i] += 1.0 / m - cmean;
    return true;
}

}  // namespace xaicore
