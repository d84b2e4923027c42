"""Spectral (Bayesian Fourier-prior) Shapley estimate from complement-paired coalitions.

A game on ``M`` players is a sum of Fourier terms ``v(z) = sum_T a_T chi_T(z)``,
``chi_T(z) = prod_{i in T} (2 z_i - 1)``. Only the odd terms carry Shapley value (a term
of odd order ``t`` gives ``2 a_T / t`` to each of its players, an even one nothing), and
a coalition and its complement give the odd part exactly: ``(v(z) - v(1 - z)) / 2``.
The estimate puts a Gaussian prior on the odd coefficients, independent, the same
variance for every term of one order, the order's total variance ``V_1 = 1`` and
``V_t = rho ** ((t - 1) / 2)`` for odd ``t >= 3`` (with at least ``3 M`` observations the
first order gets a flat prior instead: a free linear mean, exact for additive games); it returns the posterior mean of the
Shapley values given the observed odd part at every sampled pair and at the full
coalition (``(v1 - v0) / 2``), i.e. the exact Shapley values of the interpolating
surrogate (kriging). Consequences:

* the prior's covariance only depends on the Hamming distance of two coalitions
  (normalised Krawtchouk polynomials), so the operator ``phi = P y`` is built once per
  coalition set, for every row and output: one ``(S/2 + 1)``-sized factorisation, then
  one matrix product for all rows, at any ``M`` (8 to 200+ players);
* the full coalition is interpolated, so efficiency holds exactly (to rounding, restored
  exactly); a full enumeration interpolates the whole game: exact Shapley values;
* the posterior variance gives standard errors (scaled per row and output by the
  evidence ``y' K^-1 y / n``, the maximum-likelihood scale of the prior).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ._wls import _check_design, _check_values

#: Default ratio of the prior variance of consecutive odd orders (``V_{t+2} / V_t``).
DEFAULT_RHO = 0.2


@functools.lru_cache(maxsize=16)
def krawtchouk(m: int) -> np.ndarray:
    """``k[t, d]``: mean of ``chi_T(x) chi_T(x')`` over the ``C(m, t)`` sets ``T`` of size
    ``t``, for two points at Hamming distance ``d`` (exact integer recurrence: the float
    three-term recurrence is unstable for large ``m``)."""
    rows = [[math.comb(m, t) for t in range(m + 1)]]           # K_t(0) = C(m, t)
    for _ in range(m):                                          # K_t(d + 1) from K(d)
        prev, row = rows[-1], [1]
        for t in range(1, m + 1):
            row.append(prev[t] - prev[t - 1] - row[t - 1])
        rows.append(row)
    out = np.array([[rows[d][t] / math.comb(m, t) for d in range(m + 1)]
                    for t in range(m + 1)])
    out.flags.writeable = False
    return out


def order_variances(m: int, rho: float) -> np.ndarray:
    """Prior variance of each Fourier order ``0..m`` (zero for the even ones)."""
    v = np.zeros(m + 1)
    v[1::2] = rho ** np.arange((m + 1) // 2, dtype=np.float64)
    return v


def complement_pairs(masks: np.ndarray) -> np.ndarray:
    """``int[U, 2]`` row indices ``(i, j)``, ``i < j``, of each coalition and its complement
    (every row must have its complement among the rows)."""
    z = np.ascontiguousarray(masks, dtype=np.bool_)
    packed = np.packbits(z, axis=1)
    comp = np.packbits(~z, axis=1)
    index = {r.tobytes(): i for i, r in enumerate(packed)}
    j = np.array([index.get(r.tobytes(), -1) for r in comp], dtype=np.int64)
    if np.any(j < 0):
        raise ValueError(f"masks: the spectral estimate needs complement-paired coalitions "
                         f"(paired=True); {int(np.sum(j < 0))} of {len(z)} rows have no "
                         f"complement")
    i = np.arange(len(z))
    keep = i < j
    return np.stack([i[keep], j[keep]], axis=1)


@dataclass(frozen=True)
class SpectralDesign:
    """What the spectral estimate needs from one coalition set, whatever the values."""

    pairs: np.ndarray     # int[U, 2] coalition, complement
    P: np.ndarray         # float[M, U + 1] posterior-mean operator (column 0: full coalition)
    chol: np.ndarray      # float[U + 1, U + 1] lower Cholesky factor L of their prior covariance
    a: np.ndarray         # float[U + 1, M] L^-1 X (the whitened linear design)
    beta: np.ndarray      # float[M, U + 1] whitened observations -> linear coefficients
    post: np.ndarray      # float[M] posterior variance of phi at unit prior scale
    rho: float


def spectral_design(masks: np.ndarray, weights: np.ndarray | None = None, *,
                    rho: float = DEFAULT_RHO, nugget: float = 1e-10) -> SpectralDesign:
    """Build the operator of :func:`solve_spectral` for one coalition set.

    Args:
        masks: ``bool[S, M]`` complement-paired coalitions (empty and full excluded).
        weights: Unused (the estimate needs no sampling weights); accepted so that the
            call reads like the other designs.
        rho: Prior variance ratio of consecutive odd orders (``0 < rho <= 1``).
        nugget: Relative jitter on the prior covariance (numerical safety).
    """
    z8, _ = _check_design(masks, np.ones(np.asarray(masks).shape[0])
                          if weights is None else weights)
    if not (np.isfinite(rho) and 0 < rho <= 1):
        raise ValueError(f"rho: expected a float in (0, 1], got {rho!r}")
    z = z8.view(np.bool_)
    m = z.shape[1]
    pairs = complement_pairs(z)
    x = np.vstack([np.ones((1, m)), 2.0 * z[pairs[:, 0]] - 1.0])      # [U + 1, M] +-1
    var = order_variances(m, rho)
    flat = x.shape[0] >= 3 * m     # enough pairs: order one gets a flat prior (a free
    if flat:                       # linear mean, exact for additive games); too few for
        var[1] = 0.0               # that: it keeps its Gaussian prior like the others
    dist = np.rint((m - x @ x.T) / 2).astype(np.int64)
    cov = (var[:, None] * krawtchouk(m)).sum(axis=0)[dist]            # [U + 1, U + 1]
    # Cov(phi_i, odd(x_k)) = x_ki sum_t V_t (2 / M) k^{M-1}_{t-1}(d_k without i)
    f = (2.0 / m) * (var[1:, None] * krawtchouk(m - 1)).sum(axis=0)   # [M] by distance
    neg = x < 0
    cross = (x * f[neg.sum(axis=1)[:, None] - neg]).T                 # [M, U + 1]
    n = cov.shape[0]
    cov[np.diag_indices(n)] += nugget * max(np.trace(cov) / n, 1e-300) + 1e-300
    from scipy.linalg import cho_factor, solve_triangular

    chol = np.tril(cho_factor(cov, lower=True)[0])
    # Universal kriging: odd(x) = beta . x + h(x), beta flat, h ~ the prior of orders >= 3;
    # in whitened coordinates (L^-1): A = L^-1 X, Cw = L^-1 cross^T, b = L^-1 y.
    a = solve_triangular(chol, x if flat else x[:, :0], lower=True)    # [n, M] or [n, 0]
    cw = solve_triangular(chol, cross.T, lower=True)                   # [n, M]
    gram = a.T @ a
    ginv = np.linalg.pinv(gram, rcond=1e-12, hermitian=True)
    beta = ginv @ a.T                                                  # [M, n]: b -> beta
    pw = cw.T - (cw.T @ a) @ beta                                      # [M, n]: b -> phi
    if flat:
        pw += 2.0 * beta
    P = np.ascontiguousarray(solve_triangular(chol, pw.T, lower=True, trans="T").T)
    t = np.arange(1, m + 1)
    prior = float(np.sum(4.0 * var[1:] / (t * m)))
    r = (2.0 * np.eye(m) if flat else np.zeros((0, m))) - a.T @ cw     # [M or 0, M]
    post = prior - (cw ** 2).sum(axis=0) + np.einsum("ji,jk,ki->i", r, ginv, r)
    post = np.maximum(post, 0.0)
    for arr in (pairs, P, chol, a, beta, post):
        arr.flags.writeable = False
    return SpectralDesign(pairs=pairs, P=P, chol=chol, a=a, beta=beta, post=post,
                          rho=float(rho))


def _observations(d: SpectralDesign, v: np.ndarray, v0: np.ndarray, v1: np.ndarray
                  ) -> np.ndarray:
    """``y[n, U + 1, O]``: the odd part at the full coalition and at every pair."""
    odd = (v[:, d.pairs[:, 0]] - v[:, d.pairs[:, 1]]) / 2.0
    return np.concatenate([((v1 - v0) / 2.0)[:, None, :], odd], axis=1)


def solve_spectral(masks: np.ndarray | None, weights: np.ndarray | None, v: np.ndarray,
                   v0: np.ndarray, v1: np.ndarray, *, design: SpectralDesign | None = None,
                   rho: float = DEFAULT_RHO, return_se: bool = False
                   ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Posterior-mean Shapley values under the Fourier prior (see module text).

    Args:
        masks: ``bool[S, M]`` complement-paired coalitions (may be None with ``design``).
        weights: Unused (see :func:`spectral_design`).
        v: ``[n, S, O]`` (or ``[n, S]``) coalition values.
        v0, v1: Values of the empty and full coalitions, broadcast to ``[n, O]``.
        design: :func:`spectral_design` of these coalitions, if already built.
        rho: Prior variance ratio (ignored with ``design``).
        return_se: Also return the posterior standard deviations.

    Returns:
        ``phi [n, M, O]`` (``[n, M]`` for 2-d ``v``) with ``sum(phi) == v1 - v0``; with
        ``return_se`` the pair ``(phi, se)``.

    Example:
        >>> import numpy as np
        >>> from xaicore import kernels
        >>> c = kernels.sample_coalitions(12, 200, seed=0)
        >>> w = np.arange(12.0)
        >>> phi = solve_spectral(c.masks, None, (c.masks @ w)[None], 0.0, w.sum())
        >>> bool(np.allclose(phi[0], w))
        True
    """
    if design is None:
        design = spectral_design(masks, weights, rho=rho)
    d = design
    s = None if masks is None else np.asarray(masks).shape[0]
    v, v0, v1, squeeze = _check_values(v, v0, v1, s)
    y = _observations(d, v, v0, v1)                                    # [n, U + 1, O]
    phi = np.einsum("mu,nuo->nmo", d.P, y, optimize=True)
    m = phi.shape[1]
    phi += ((v1 - v0)[:, None, :] - phi.sum(axis=1, keepdims=True)) / m  # exact efficiency
    if not return_se:
        return phi[..., 0] if squeeze else phi
    n, u, o = y.shape
    from scipy.linalg import solve_triangular

    b = solve_triangular(d.chol, y.transpose(1, 0, 2).reshape(u, n * o), lower=True)
    w = b - d.a @ (d.beta @ b)                                          # whitened residual
    q = (w ** 2).sum(axis=0).reshape(n, o) / max(u - d.a.shape[1], 1)   # evidence scale
    se = np.sqrt(d.post[None, :, None] * np.maximum(q, 0.0)[:, None, :])
    return (phi[..., 0], se[..., 0]) if squeeze else (phi, se)
