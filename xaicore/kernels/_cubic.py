"""KernelSHAP with third-order interaction terms: a regression-adjusted Shapley estimate.

The sampled coalitions are fitted with the surrogate game

    g(z) = v0 + sum_i b_i z_i + sum_{|T|=3} c_T (chi_T(z) + 1),   chi_T(z) = prod_{i in T} (2 z_i - 1)

by Shapley-kernel weighted least squares with ``g(1) = v1`` enforced exactly, and the
estimate is the exact Shapley value of ``g``: ``phi_i = b_i + 2/3 sum_{T ni i} c_T`` (a
term that is symmetric in its three players splits its total change, 2 c_T, equally).
Efficiency therefore holds exactly, and since Shapley values are the kernel-weighted
projection of a game on the additive ones, a full enumeration would give the exact
Shapley values of any game (regression adjustment in the sense of Witter, Liu & Musco,
2025, with a surrogate whose Shapley values are known in closed form).

Why third order: with complement-paired coalitions the linear estimate is already exact
for every game of order two (the even part of a game does not enter it); what remains is
the odd part of order three and up, and for smooth models (a tanh MLP, measured in
``benchmarks/accuracy_vs_shap.py``) order three carries almost all of it. With fewer
samples than terms the fit is regularised: ridge ``lam`` on the ``c_T`` with a prior
scale per row that grows with the linear estimate's magnitudes,
``|phi_i phi_j phi_k| ** (alpha / 2)`` (players with large effects are the ones whose
interactions matter). The solve is per row and output (the prior depends on the row), so
it costs ``O((M + C(M, 3))**3)`` per row: meant for ``M <= 16`` or so.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ._wls import _check_design, _check_values, apply_operator, wls_operator

#: Largest number of players the cubic estimate accepts (C(24, 3) = 2024 terms).
MAX_CUBIC_FEATURES = 24


def _triples(m: int) -> np.ndarray:
    return np.array(list(itertools.combinations(range(m), 3)), dtype=np.int64).reshape(-1, 3)


def _separates(z8: np.ndarray, w: np.ndarray) -> bool:
    """Whether the weighted coalitions tell every player apart (the linear fit is unique)."""
    z = z8.astype(np.float64)
    m = z.shape[1]
    q = np.linalg.qr(np.vstack([np.ones(m), np.eye(m)[:-1]]).T)[0][:, 1:]  # sum-zero basis
    g = q.T @ (z.T @ (z * w[:, None])) @ q
    ev = np.linalg.eigvalsh(g)
    return bool(ev[0] > 1e-9 * max(ev[-1], 1e-300))


def _solve_row(g_zz: np.ndarray, g_zh: np.ndarray, g_hh: np.ndarray, diag: np.ndarray,
               lam: float, rhs: np.ndarray, a: np.ndarray, dv: float) -> np.ndarray:
    """``min theta' G theta - 2 rhs' theta`` (+ ridge ``lam`` on the terms) subject to
    ``a' theta = dv``: the constraint eliminates ``theta_0`` (``a_0 = 1``), the rest is a
    positive definite system solved by Cholesky (LAPACK ``dposv``)."""
    from scipy.linalg import lapack

    g = np.block([[g_zz, g_zh], [g_zh.T, g_hh]])
    g[diag, diag] += lam
    aj, gj, g00 = a[1:], g[1:, 0], g[0, 0]
    red = g[1:, 1:] - np.outer(gj, aj) - np.outer(aj, gj) + g00 * np.outer(aj, aj)
    rr = rhs[1:] - aj * rhs[0] - dv * gj + dv * g00 * aj
    _, x, info = lapack.dposv(red, rr, lower=1, overwrite_a=1, overwrite_b=0)
    if info != 0:   # not positive definite (numerically): the bordered system, min-norm
        kkt = np.block([[g, a[:, None]], [a[None], np.zeros((1, 1))]])
        return np.linalg.lstsq(kkt, np.append(rhs, dv), rcond=None)[0][:-1]
    return np.concatenate([[dv - aj @ x], x])


@dataclass(frozen=True)
class CubicDesign:
    """What the cubic fit needs from one coalition set, whatever the values: built once
    per explainer (the Gram blocks cost ``O(S C(M,3)^2)``), shared by every call."""

    operator: tuple          # the linear estimate's (P, c): the prior scale
    separates: bool          # the coalitions tell every player apart
    tri: np.ndarray          # int[T, 3] the third-order terms
    inc: np.ndarray          # float[T, M] term -> its players
    zw: np.ndarray           # float[S, M] weighted presence
    hw: np.ndarray           # float[S, T] weighted term features
    g_zz: np.ndarray         # Gram blocks of [z, h] under the weights
    g_zh: np.ndarray
    g_hh: np.ndarray


def cubic_design(masks: np.ndarray, weights: np.ndarray, *,
                 operator: tuple | None = None) -> CubicDesign:
    """The value-independent part of :func:`solve_cubic` for one coalition set.

    Args:
        masks: ``bool[S, M]`` coalitions (``3 <= M <= MAX_CUBIC_FEATURES``).
        weights: ``float64[S]`` Shapley-kernel regression weights.
        operator: The linear estimate's ``(P, c)`` from :func:`wls_operator` of the same
            coalitions, if already built.
    """
    z8, w = _check_design(masks, weights)
    m = z8.shape[1]
    if not 3 <= m <= MAX_CUBIC_FEATURES:
        raise ValueError(f"masks: the cubic estimate needs 3 <= M <= {MAX_CUBIC_FEATURES} "
                         f"players, got M={m}")
    if operator is None:
        operator = wls_operator(z8.view(np.bool_), w)
    tri = _triples(m)
    t = tri.shape[0]
    z = z8.astype(np.float64)
    sgn = 2.0 * z - 1.0
    h = sgn[:, tri[:, 0]] * sgn[:, tri[:, 1]] * sgn[:, tri[:, 2]] + 1.0  # [S, T]
    zw, hw = z * w[:, None], h * w[:, None]
    inc = np.zeros((t, m))
    inc[np.arange(t)[:, None], tri] = 1.0
    return CubicDesign(operator=operator, separates=_separates(z8, w), tri=tri, inc=inc,
                       zw=zw, hw=hw, g_zz=z.T @ zw, g_zh=zw.T @ h, g_hh=h.T @ hw)


def solve_cubic(masks: np.ndarray, weights: np.ndarray, v: np.ndarray, v0: np.ndarray,
                v1: np.ndarray, *, lam: float = 1e-2, alpha: float = 1.0,
                design: CubicDesign | None = None) -> np.ndarray:
    """Shapley estimate of the third-order surrogate fitted to ``v`` (see module text).

    Args:
        masks: ``bool[S, M]`` coalitions (``3 <= M <= MAX_CUBIC_FEATURES``).
        weights: ``float64[S]`` Shapley-kernel regression weights.
        v: ``[n, S, O]`` (or ``[n, S]``) values of the coalitions.
        v0, v1: Values of the empty and full coalitions, broadcast to ``[n, O]``.
        lam: Ridge on the third-order coefficients (weights normalised as in
            :func:`sample_coalitions`: a full enumeration sums to 1).
        alpha: Exponent of the per-row prior scale (0: the same for every term).
        design: :func:`cubic_design` of these coalitions, if already built (callers
            that solve many batches of values on one coalition set build it once).

    Returns:
        ``phi [n, M, O]`` (``[n, M]`` for 2-d ``v``), ``sum(phi) == v1 - v0``.
    """
    if design is None:
        design = cubic_design(masks, weights)
    if not (np.isfinite(lam) and lam > 0):
        raise ValueError(f"lam: expected a finite float > 0, got {lam!r}")
    d = design
    v, v0, v1, squeeze = _check_values(v, v0, v1, d.zw.shape[0])
    n, s, o = v.shape
    m, t = d.zw.shape[1], d.tri.shape[0]
    phi0 = apply_operator(*d.operator, v, v0, v1)                     # [n, M, O]
    if not d.separates:   # players always together: only the min-norm linear answer
        return phi0[..., 0] if squeeze else phi0   # is defined (shared credit), keep it
    y = (v - v0[:, None, :]).transpose(0, 2, 1).reshape(n * o, s)     # [R, S]
    r_z, r_h = y @ d.zw, y @ d.hw                                     # [R, M], [R, T]
    beta = phi0.transpose(0, 2, 1).reshape(n * o, m)
    dv = (v1 - v0).reshape(n * o)
    out = np.empty((n * o, m))
    diag = np.arange(m, m + t)
    for r in range(n * o):
        sc = np.abs(beta[r, d.tri]).prod(axis=1) ** (alpha / 2.0)       # prior scale [T]
        mean = sc.mean()
        sc = sc / mean if mean > 0 else np.ones(t)
        theta = _solve_row(d.g_zz, d.g_zh * sc, d.g_hh * np.outer(sc, sc), diag, lam,
                           np.concatenate([r_z[r], r_h[r] * sc]),
                           np.concatenate([np.ones(m), 2.0 * sc]), dv[r])
        out[r] = theta[:m] + (theta[m:] * sc * (2.0 / 3.0)) @ d.inc
    phi = out.reshape(n, o, m).transpose(0, 2, 1)
    return phi[..., 0] if squeeze else phi
