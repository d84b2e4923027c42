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
  evidence ``y' K^-1 y / n``, the maximum-likelihood scale of the prior), widened where
  the estimates of the two halves of the pairs differ by more than their own spreads say
  (:mod:`._split_check`; where each half has a flat first order), and where the priors
  look alike to the evidence (to the widest spread of those not ruled out);
* empirical Bayes: by default the design holds a grid of ratios (``DEFAULT_RHOS``) and
  the estimate averages their posterior means, per row and output, by their marginal
  likelihood at the ML scale (``-dof/2 log(y'Qy/dof) - 1/2 log det``, restricted to the
  odd orders >= 3 when order one is flat), computed on at most ``EVIDENCE_SIZE``
  observations; smooth games get a small ratio (much lower error), rough ones keep a
  large one. The standard errors add the spread of the grid's means (model averaging).
* the default grid also holds two priors of another basis (``DEFAULT_MOBIUS``): independent
  Moebius (unanimity) coefficients, order ``s`` of total variance ``lam ** (s - 1)``. Their
  covariance depends on the overlap ``|z & z'|`` and the sizes of two coalitions, so the
  odd parts' covariance is still a closed form; the evidence weighs them against the
  Fourier ones on the same observations (they help games of few-player AND-like terms and
  smooth games; about neutral elsewhere).
* with at most 128 players and 257 observations, per-player (ARD) priors weighted by each
  row's own estimate join the average (:mod:`._ard`: a factorisation per row, a few ms
  to tens of ms).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ._ard import ard_applies, ard_average
from ._kriging import chol_parts as _chol_parts
from ._kriging import krige, log_evidence
from ._mobius import _mobius_parts, mobius_weights
from ._sparse_step import SPARSE_PAIRS, sparse_applies, sparse_step  # noqa: F401
from ._split_check import split_half_ratio, widest_spread
from ._wls import _check_design, _check_values

#: A ratio of the prior variance of consecutive odd orders (``V_{t+2} / V_t``) that fits
#: many games (the former single default).
DEFAULT_RHO = 0.2
#: The default grid of ratios: the estimate averages their posterior means by evidence.
DEFAULT_RHOS = (0.0005, 0.002, 0.006, 0.02, 0.06, 0.2, 0.6)
#: Moebius-basis priors in the default grid (ratio of consecutive unanimity orders).
DEFAULT_MOBIUS = (0.03, 0.3)
#: Observations the evidence of each prior of a grid is computed on (at least ``4 M``).
EVIDENCE_SIZE = 512


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
    """What the spectral estimate needs from one coalition set, whatever the values.

    One entry per prior of the grid (``G``: the values of ``rho``, then those of
    ``mobius``); the evidence of each is
    computed on ``E`` of the ``U + 1`` observations (all of them when ``U + 1 <= E``)."""

    pairs: np.ndarray     # int[U, 2] coalition, complement
    P: np.ndarray         # float[G, M, U + 1] posterior-mean operators (column 0: full coalition)
    post: np.ndarray      # float[G, M] posterior variance of phi at unit prior scale
    rows: np.ndarray      # int[E] the observations the evidence is computed on
    chol: np.ndarray      # float[G, E, E] lower Cholesky factors L of their prior covariance
    a: np.ndarray         # float[G, E, p] L^-1 X (the whitened linear design; p = 0 or M)
    beta: np.ndarray      # float[G, p, E] whitened observations -> linear coefficients
    logdet: np.ndarray    # float[G] log det K (+ log det X'K^-1X with a flat first order)
    rho: float | tuple    # the prior ratio, or the grid of them
    mobius: tuple = ()    # the Moebius priors' ratios (after the Fourier ones in P, ...)
    z: np.ndarray | None = None   # bool[U, M] the first coalition of each pair
    halves: tuple = ()    # ((obs int[h], P float[G, M, h], post float[G, M]) x 2) or ()

    @property
    def nbytes(self) -> int:
        """Bytes of the design's arrays (the split-half operators included)."""
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray)) + sum(
            a.nbytes for h in self.halves for a in h)

    @property
    def enumerates_all(self) -> bool:
        """The pairs hold every coalition (``U + 1 >= 2^(M-1)``): every prior then gives
        the exact values, and the per-row steps have nothing to add."""
        m = self.P.shape[1]
        return m <= 62 and self.pairs.shape[0] + 1 >= 2 ** (m - 1)


def _prior(x: np.ndarray, dist: np.ndarray, var: np.ndarray, flat: bool, nugget: float):
    """Cholesky factor, whitened linear design and its pseudo-inverse for one Fourier prior."""
    m = x.shape[1]
    cov = (var[:, None] * krawtchouk(m)).sum(axis=0)[dist]            # [n, n]
    return _chol_parts(x, cov, flat, nugget)


def spectral_design(masks: np.ndarray, weights: np.ndarray | None = None, *,
                    rho: float | tuple | None = None, nugget: float = 1e-10,
                    evidence_size: int = EVIDENCE_SIZE, mobius: tuple | None = None
                    ) -> SpectralDesign:
    """Build the operator of :func:`solve_spectral` for one coalition set.

    Args:
        masks: ``bool[S, M]`` complement-paired coalitions (empty and full excluded).
        weights: Unused (the estimate needs no sampling weights); accepted so that the
            call reads like the other designs.
        rho: Prior variance ratio of consecutive odd orders (``0 < rho <= 1``), or a
            sequence of them: the estimate then averages the posterior means of the
            priors by their evidence, per row and output (Bayesian model averaging over
            the grid); None (the default): the grid :data:`DEFAULT_RHOS`.
        nugget: Relative jitter on the prior covariance (numerical safety).
        evidence_size: With a grid, the evidence is computed on this many of the
            observations (the full coalition and evenly spaced pairs; at least ``4 M``),
            which bounds the design's memory and the per-row cost; a single ``rho`` uses
            all of them.
        mobius: Ratios ``lam`` (``0 < lam <= 1``) of Moebius-basis priors added to the
            grid: independent unanimity coefficients, order ``s`` of total variance
            ``lam ** (s - 1)`` (a prior for games made of few-player AND-like terms);
            None: :data:`DEFAULT_MOBIUS` with the default ``rho`` grid, none with an
            explicit ``rho`` (so that one ``rho`` is exactly that Fourier prior).
    """
    z8, _ = _check_design(masks, np.ones(np.asarray(masks).shape[0])
                          if weights is None else weights)
    grid = DEFAULT_RHOS if rho is None else (
        tuple(rho) if isinstance(rho, (tuple, list, np.ndarray)) else (rho,))
    for r in grid:
        if isinstance(r, bool) or not (isinstance(r, (int, float, np.floating, np.integer))
                                       and np.isfinite(r) and 0 < r <= 1):
            raise ValueError(f"rho: expected a float in (0, 1] or a sequence of them, "
                             f"got {rho!r}")
    if len(grid) == 0:
        raise ValueError(f"rho: expected a float in (0, 1] or a sequence of them, got {rho!r}")
    lams = (DEFAULT_MOBIUS if rho is None else ()) if mobius is None else tuple(mobius)
    for r in lams:
        if isinstance(r, bool) or not (isinstance(r, (int, float, np.floating, np.integer))
                                       and np.isfinite(r) and 0 < r <= 1):
            raise ValueError(f"mobius: expected a sequence of floats in (0, 1], got {mobius!r}")
    from scipy.linalg import solve_triangular

    z = z8.view(np.bool_)
    m = z.shape[1]
    pairs = complement_pairs(z)
    x = np.vstack([np.ones((1, m)), 2.0 * z[pairs[:, 0]] - 1.0])      # [U + 1, M] +-1
    n = x.shape[0]
    flat = n >= 3 * m              # enough pairs: order one gets a flat prior (a free
    dist = np.rint((m - x @ x.T) / 2).astype(np.int64)   # linear mean, exact for additive
    neg = x < 0                    # games); too few for that: it keeps its Gaussian prior
    priors = [("f", float(r)) for r in grid] + [("m", float(r)) for r in lams]
    e = n if len(priors) == 1 else min(n, max(int(evidence_size), 4 * m))
    rows = np.unique(np.rint(np.linspace(0, n - 1, e)).astype(np.int64))
    sub = rows.size < n
    t = np.arange(1, m + 1)
    out = {k: [] for k in ("P", "post", "chol", "a", "beta", "logdet")}
    # the split-half check of the standard errors (._split_check): the full coalition
    # and every other pair each, where each half alone has a flat first order
    halves = [np.r_[0, np.arange(1 + i, n, 2)] for i in (0, 1)] \
        if flat and (n - 1) // 2 + 1 >= 3 * m and len(priors) > 1 else []
    half_p = [([], []) for _ in halves]
    for kind, r in priors:
        if kind == "f":
            var = order_variances(m, r)
            if flat:
                var[1] = 0.0
            chol, a, ginv, logdet = _prior(x, dist, var, flat, nugget)
            # Cov(phi_i, odd(x_k)) = x_ki sum_t V_t (2 / M) k^{M-1}_{t-1}(d_k without i)
            f = (2.0 / m) * (var[1:, None] * krawtchouk(m - 1)).sum(axis=0)   # [M] by distance
            cross = (x * f[neg.sum(axis=1)[:, None] - neg]).T                 # [M, U + 1]
            prior = float(np.sum(4.0 * var[1:] / (t * m)))
        else:
            wts = mobius_weights(m, r, flat)
            cov, cross, prior = _mobius_parts(x > 0, wts)
            chol, a, ginv, logdet = _chol_parts(x, cov, flat, nugget)
        # Universal kriging: odd(x) = beta . x + h(x), beta flat, h ~ the prior of orders
        # >= 3 (see :mod:`._kriging`); P maps the observations y to the posterior mean.
        pw, beta, post = krige(chol, a, ginv, cross, prior, flat)
        out["P"].append(solve_triangular(chol, pw.T, lower=True, trans="T").T)
        out["post"].append(post)
        for h, (ph, vh) in zip(halves, half_p):
            parts = _prior(x[h], dist[np.ix_(h, h)], var, flat, nugget) if kind == "f" \
                else _chol_parts(x[h], cov[np.ix_(h, h)], flat, nugget)
            pw_h, _, post_h = krige(parts[0], parts[1], parts[2], cross[:, h], prior, flat)
            ph.append(solve_triangular(parts[0], pw_h.T, lower=True, trans="T").T)
            vh.append(post_h)
        if sub:                    # the evidence on the subset of observations
            if kind == "f":
                chol, a, ginv, logdet = _prior(x[rows], dist[np.ix_(rows, rows)], var, flat,
                                               nugget)
            else:
                chol, a, ginv, logdet = _chol_parts(x[rows], cov[np.ix_(rows, rows)], flat,
                                                    nugget)
            beta = ginv @ a.T
        out["chol"].append(chol)
        out["a"].append(a)
        out["beta"].append(beta)
        out["logdet"].append(logdet)
    arrs = {k: np.ascontiguousarray(np.array(v, dtype=np.float64)) for k, v in out.items()}
    zp = np.ascontiguousarray(z[pairs[:, 0]])
    split = tuple((h, np.array(ph), np.array(vh)) for h, (ph, vh) in zip(halves, half_p))
    for arr in (pairs, rows, zp, *arrs.values(), *(a for hv in split for a in hv)):
        arr.flags.writeable = False
    return SpectralDesign(pairs=pairs, rows=rows, z=zp, halves=split,
                          rho=float(grid[0]) if rho is not None
                          and len(grid) == 1 and not isinstance(rho, (tuple, list, np.ndarray))
                          else tuple(float(r) for r in grid),
                          mobius=tuple(float(r) for r in lams), **arrs)


def _observations(d: SpectralDesign, v: np.ndarray, v0: np.ndarray, v1: np.ndarray
                  ) -> np.ndarray:
    """``y[n, U + 1, O]``: the odd part at the full coalition and at every pair."""
    odd = (v[:, d.pairs[:, 0]] - v[:, d.pairs[:, 1]]) / 2.0
    return np.concatenate([((v1 - v0) / 2.0)[:, None, :], odd], axis=1)


def solve_spectral(masks: np.ndarray | None, weights: np.ndarray | None, v: np.ndarray,
                   v0: np.ndarray, v1: np.ndarray, *, design: SpectralDesign | None = None,
                   rho: float | tuple | None = None, return_se: bool = False,
                   sparse: bool = False, ard: bool = True
                   ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Posterior-mean Shapley values under the Fourier prior (see module text).

    Args:
        masks: ``bool[S, M]`` complement-paired coalitions (may be None with ``design``).
        weights: Unused (see :func:`spectral_design`).
        v: ``[n, S, O]`` (or ``[n, S]``) coalition values.
        v0, v1: Values of the empty and full coalitions, broadcast to ``[n, O]``.
        design: :func:`spectral_design` of these coalitions, if already built.
        rho: Prior variance ratio, or a grid of them (see :func:`spectral_design`;
            ignored with ``design``).
        return_se: Also return the posterior standard deviations.
        sparse: Per row and output, look for a few unanimity terms the prior cannot fit
            (:mod:`xaicore.kernels._sparse`) and keep them where the evidence gain pays
            for them: their exact Shapley values plus the kriged rest (with at least
            ``3 M`` observations and :data:`SPARSE_PAIRS` pairs, short of a full
            enumeration; elsewhere a no-op). Off by default here: it costs 1-15 ms a row
            and output on the host at 1024-4096 coalitions (compiled search, numba);
            ``KernelShap(sparse="auto")`` runs it where the model costs far more. 2-2.4x
            lower error on sparse unanimity games at 4096 coalitions.
        ard: Per row, add per-player (ARD) Fourier priors, weighted by the row's own
            stationary estimate (its outputs share them), to the grid's model average
            (:mod:`xaicore.kernels._ard`; with the default grid, at most 128 players and
            257 observations, short of a full enumeration; elsewhere a no-op).

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
    if not np.all(np.isfinite(y)):
        bad = int(np.flatnonzero(~np.isfinite(y).all(axis=(1, 2)))[0])
        raise ValueError(f"v: the values of row {bad} hold NaN or inf (v0, v1 included)")
    phi, se, best = _posterior(d, y, return_se, ard=ard and ard_applies(d))
    if sparse and sparse_applies(d):
        sparse_step(d, v, v0, v1, y, best, phi, se, _posterior)
    m = phi.shape[1]
    phi += ((v1 - v0)[:, None, :] - phi.sum(axis=1, keepdims=True)) / m  # exact efficiency
    if not return_se:
        return phi[..., 0] if squeeze else phi
    return (phi[..., 0], se[..., 0]) if squeeze else (phi, se)


def _posterior(d: SpectralDesign, y: np.ndarray, return_se: bool, ard: bool = False):
    """Model-averaged posterior mean ``[n, M, O]`` of the Shapley values given the
    observations ``y [n, U + 1, O]``, their standard deviations (or None) and the index
    ``[n, O]`` of the prior of highest evidence (before the exact efficiency step); with
    ``ard``, the per-player priors of :mod:`._ard` join the average."""
    # Each row and output on its own scale (the estimate is linear in its values and the
    # evidence weights do not depend on their scale): one row's size cannot move another's
    # evidence floor, and values near float64's range do not overflow when squared.
    scale = np.max(np.abs(y), axis=1, keepdims=True)                   # [n, 1, O]
    scale = np.where(scale > 0, scale, 1.0)
    y = y / scale
    n, _, o = y.shape
    g, m = d.P.shape[:2]
    q = _evidence_scales(d, y) if g > 1 or return_se else None         # [G, n, O]
    if g == 1:
        w = np.ones((1, n, o))
        best = np.zeros((n, o), dtype=np.int64)
    else:                          # log evidence at the ML scale, then the grid's weights
        dof = max(d.rows.size - d.a.shape[2], 1)
        le = log_evidence(q, d.logdet[:, None, None], dof)
        best = np.argmax(le, axis=0)
        w = np.exp(le - le.max(axis=0, keepdims=True))
        w /= w.sum(axis=0, keepdims=True)
    phi = np.zeros((n, m, o))
    second = np.zeros((n, m, o)) if return_se else None
    flat_y = y.transpose(1, 0, 2).reshape(y.shape[1], n * o)          # one GEMM a prior
    for k in range(g):             # (3x the batched matrix-vector products of matmul)
        pk = (d.P[k] @ flat_y).reshape(m, n, o).transpose(1, 0, 2)     # [n, M, O]
        phi += w[k][:, None, :] * pk
        if return_se:
            second += w[k][:, None, :] * (pk ** 2 + d.post[k][None, :, None] * q[k][:, None, :])
    if ard and g > 1:
        # Too few observations for a free first order (fewer than 3 M): the ARD priors'
        # M player weights are fitted from too little for their posterior variance to
        # hold (2-se coverage 0.79-0.88, 64 coalitions, 13-30 players): the grid's spread.
        stationary = second is not None and d.a.shape[2] == 0
        if stationary:
            phi0, var0 = phi.copy(), second - phi ** 2
        ard_average(d, y, le, phi, None if stationary else second)
        if stationary:
            second = var0 + (phi - phi0) ** 2 + phi ** 2
    se = None
    if return_se:
        se = np.sqrt(np.maximum(second - phi ** 2, 0.0)) if g > 1 else np.sqrt(
            d.post[0][None, :, None] * q[0][:, None, :])
        se = widest_spread(d, w, q, se) if g > 1 else se   # where priors look alike
        if d.halves:
            se = se * np.sqrt(split_half_ratio(d, y, w, q))[:, None, :]
        se = se * scale
    return phi * scale, se, best


def _evidence_scales(d: SpectralDesign, y: np.ndarray, block: int = 4096) -> np.ndarray:
    """``q[G, n, O]``: the ML prior scale ``y' Q y / dof`` of each prior of the grid (``Q``:
    the inverse covariance less the flat linear part), on the evidence observations."""
    from scipy.linalg import solve_triangular

    n, _, o = y.shape
    e = d.rows.size
    ye = y[:, d.rows].transpose(1, 0, 2).reshape(e, n * o)
    dof = max(e - d.a.shape[2], 1)
    q = np.empty((d.P.shape[0], n * o))
    # an exactly fitted game: no log(0); per row and output (the values come scaled)
    floor = 1e-24 * np.mean(ye ** 2, axis=0) + 1e-300
    for k in range(d.P.shape[0]):
        for c in range(0, n * o, block):
            b = solve_triangular(d.chol[k], ye[:, c:c + block], lower=True)
            r = b - d.a[k] @ (d.beta[k] @ b)                            # whitened residual
            q[k, c:c + block] = (r ** 2).sum(axis=0) / dof
    return np.maximum(q, floor).reshape(-1, n, o)
