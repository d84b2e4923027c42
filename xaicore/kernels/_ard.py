"""Per-player (ARD) Fourier priors of the spectral estimate (:mod:`._spectral`).

The stationary priors give every odd Fourier term of one order the same variance. Here
the odd term ``T`` of order ``t`` gets ``c_t prod_{i in T} w_i``: player weights
``w = (1 - a) + a M pi`` from the importance ``pi = |phi| / sum |phi|`` of the row's
stationary estimate (heredity: interactions among the players that matter get the
prior variance), ``c_t = V_t / e_t(w)`` so that each order keeps the total variance
``V_t`` of the stationary prior of ratio ``rho`` (``e_t``: elementary symmetric
polynomials). Then

* the odd parts' covariance is ``sum_t c_t e_t(w x x')`` (``x``: the +-1 coalitions),
  one ``O(M^2)`` recurrence per pair of observations;
* the covariance of ``phi_i`` with the odd part at ``x`` is ``w_i x_i dF/du_i`` at
  ``u = w x``, ``F(u) = sum_t (2 / t) c_t e_t(u)``: every player's at once by running the
  recurrence backwards (reverse-mode), ``O(M^2)`` per observation and prior.

Each row has its own prior (its outputs share it), so its own factorisation: the step
runs where that is cheap next to the model (:func:`ard_applies`: at most
:data:`ARD_MAX_PLAYERS` players and :data:`ARD_MAX_OBSERVATIONS` observations, short of
a full enumeration), and its priors join the stationary grid's model average, weighed by
the same evidence on the same observations (a stationary prior wins where it fits
better).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._kriging import chol_parts, krige, log_evidence

#: Mixing weights ``a`` of the player weights ``w = (1 - a) + a M pi`` (``a = 0`` is the
#: stationary prior, already in the grid).
ARD_ALPHAS = (0.9,)
#: Largest number of players the step runs with (its kernel is ``O(n^2 M t)``, ``t`` the
#: highest order of non-negligible prior variance: at most ``M``). Up to 32 players it
#: measured 0.82x the error of the stationary grid on the model games; at 64 (MLPs on
#: scikit-learn's digits) 0.84-0.94x, and 0.86-0.98x on sums of unanimity games at 60
#: and 100 players (one cell 1.02x), at 64-512 coalitions (``benchmarks/RESULTS.md``,
#: session 14).
ARD_MAX_PLAYERS = 128
#: Largest number of observations (complement pairs + 1) it runs with (``O(n^3)`` a prior).
ARD_MAX_OBSERVATIONS = 257
#: The ARD priors of a row take the ``rho`` of this many stationary Fourier priors of
#: highest evidence (None: every one of the grid).
ARD_TOP = 1
#: Orders whose prior variance is below this share of the largest order's are left out
#: of the kernel's recurrences (their terms change the covariances by less than that).
NEGLIGIBLE = 1e-15
#: The fixed per-row cost of the step (Python and LAPACK calls, about 0.6 ms measured at
#: 3 GFLOP/s, ``benchmarks/bench_ard_cost.py``) in FLOPs, for :func:`ard_flops`.
FIXED_FLOPS = 2e6


@njit(cache=True)
def _cov(x, w, c, out, top):
    """``out[h, k, p] = sum_t c[h, t] e_t(w x_k x_p)`` (odd ``t <= top``; ``x`` +-1): for
    each ``k``, the recurrence runs over every ``p <= k`` at once (the inner loops
    vectorise), up to order ``top`` (``c`` is zero above it)."""
    n, m = x.shape
    xt = np.ascontiguousarray(x.T)
    e = np.zeros((m + 1, n))
    u = np.empty(n)
    acc = np.empty(n)
    for k in range(n):
        kk = k + 1
        for p in range(kk):
            e[0, p] = 1.0
        for j in range(m):
            wk = w[j] * xt[j, k]
            for p in range(kk):
                u[p] = wk * xt[j, p]
            if j < top:
                for p in range(kk):
                    e[j + 1, p] = u[p] * e[j, p]
            for t in range(min(j, top), 0, -1):
                for p in range(kk):
                    e[t, p] += u[p] * e[t - 1, p]
        for h in range(c.shape[0]):
            for p in range(kk):
                acc[p] = 0.0
            for t in range(1, top + 1, 2):
                ch = c[h, t]
                for p in range(kk):
                    acc[p] += ch * e[t, p]
            for p in range(kk):
                out[h, k, p] = acc[p]
                out[h, p, k] = acc[p]


@njit(cache=True)
def _grad(x, w, b, out, top):
    """``out[h, i, k] = w_i x_ki dF_h/du_i`` at ``u = w x_k``, ``F_h(u) = sum_t b[h, t]
    e_t(u)`` (``b`` zero above order ``top``): the forward recurrence kept, then run
    backwards for every ``i`` at once."""
    n, m = x.shape
    e = np.empty((m + 1, m + 1))
    adj = np.empty(m + 2)
    u = np.empty(m)
    for k in range(n):
        for i in range(m):
            u[i] = w[i] * x[k, i]
        e[0, :] = 0.0
        e[0, 0] = 1.0
        for j in range(m):                       # e[j]: the polynomials of players < j
            e[j + 1, 0] = 1.0
            for t in range(1, top + 1):
                e[j + 1, t] = e[j, t] + u[j] * e[j, t - 1]
        for h in range(b.shape[0]):
            for t in range(m + 1):
                adj[t] = b[h, t]
            adj[m + 1] = 0.0
            for j in range(m - 1, -1, -1):       # adj: dF / d e[j + 1]
                s = 0.0
                for t in range(1, top + 1):
                    s += adj[t] * e[j, t - 1]
                out[h, j, k] = w[j] * x[k, j] * s
                for t in range(top + 1):
                    adj[t] += u[j] * adj[t + 1]


def cut_orders(var: np.ndarray) -> tuple[np.ndarray, int]:
    """``var [R, M + 1]`` with each row's orders below :data:`NEGLIGIBLE` of its largest
    set to zero, and the highest order left with non-zero variance (at least 1)."""
    var = np.where(var > NEGLIGIBLE * var.max(axis=1, keepdims=True), var, 0.0)
    live = np.flatnonzero(np.any(var > 0, axis=0))
    return var, int(live[-1]) if live.size else 1


def esym(w: np.ndarray) -> np.ndarray:
    """Elementary symmetric polynomials ``e_0..e_M`` of ``w``."""
    e = np.zeros(w.size + 1)
    e[0] = 1.0
    for wj in w:
        e[1:] = e[1:] + wj * e[:-1]
    return e


def ard_applies(d) -> bool:
    """The step runs with a grid of priors, evidence on every observation, at most
    :data:`ARD_MAX_PLAYERS` players and :data:`ARD_MAX_OBSERVATIONS` observations, short
    of a full enumeration (where every prior gives the exact values)."""
    m, n = d.P.shape[1], d.pairs.shape[0] + 1
    return (d.z is not None and d.P.shape[0] > 1 and m <= ARD_MAX_PLAYERS
            and n <= ARD_MAX_OBSERVATIONS and d.rows.size == n and not d.enumerates_all)


def observation_points(d) -> np.ndarray:
    """``[U + 1, M]`` +-1 coalitions of the observations: the full one, then each pair's."""
    return np.vstack([np.ones((1, d.z.shape[1])), 2.0 * d.z - 1.0])


def ard_fits(d, y: np.ndarray, pi: np.ndarray, rhos, nugget: float = 1e-10,
             x: np.ndarray | None = None):
    """The ARD priors' fits to one row's observations ``y [U + 1, O]`` (its outputs share
    the player weights from ``pi [M]``): arrays ``mean [F, M, O]``, log evidence
    ``le [F, O]`` and posterior variance ``var [F, M, O]`` (at the ML scale), one per
    ``a`` in :data:`ARD_ALPHAS` and ``rho`` in ``rhos`` (``x``: the design's
    :func:`observation_points`, if already built)."""
    from scipy.linalg import solve_triangular

    from ._spectral import order_variances

    m = d.P.shape[1]
    x = observation_points(d) if x is None else x
    n, flat = x.shape[0], d.a.shape[2] > 0
    dof = max(n - d.a.shape[2], 1)
    t = np.arange(m + 1, dtype=np.float64)
    var = np.array([order_variances(m, r) for r in rhos])             # [R, M + 1]
    if flat:
        var[:, 1] = 0.0
    var, top = cut_orders(var)
    floor = 1e-24 * np.mean(y ** 2, axis=0) + 1e-300                  # [O]
    means, les, posts = [], [], []
    for a in ARD_ALPHAS:
        w = (1.0 - a) + a * m * pi
        et = esym(w)
        c = np.where(et > 0, var / np.where(et > 0, et, 1.0), 0.0)    # [R, M + 1]
        cov = np.empty((len(rhos), n, n))
        _cov(x, w, c, cov, top)
        b = np.zeros_like(c)
        b[:, 1:] = c[:, 1:] * 2.0 / t[1:]
        cross = np.empty((len(rhos), m, n))
        _grad(x, w, b, cross, top)
        prior = np.empty((len(rhos), m, 1))
        _grad(np.ones((1, m)), w, b * 2.0 / np.maximum(t, 1.0), prior, top)
        for h in range(len(rhos)):
            chol, aw, ginv, logdet = chol_parts(x, cov[h], flat, nugget)
            pw, beta, post = krige(chol, aw, ginv, cross[h], prior[h, :, 0], flat)
            bw = solve_triangular(chol, y, lower=True, check_finite=False)   # [n, O]
            r = bw - aw @ (beta @ bw)
            q = np.maximum((r ** 2).sum(axis=0) / dof, floor)          # [O]
            means.append(pw @ bw)
            les.append(log_evidence(q, logdet, dof))
            posts.append(post[:, None] * q[None, :])
    return np.array(means), np.array(les), np.array(posts)


def ard_average(d, y: np.ndarray, le: np.ndarray, phi: np.ndarray, second) -> None:
    """Add, in place, the ARD priors of every row to the stationary grid's model average:
    ``phi [n, M, O]`` (and ``second``, its second moments, or None) from the stationary
    priors' log evidence ``le [G, n, O]`` on the scaled observations ``y [n, U + 1, O]``.
    The player weights of a row come from ``phi`` itself (each output's ``|phi|``
    normalised, averaged over the outputs: one factorisation serves them all), its
    ``rho`` those of the :data:`ARD_TOP` stationary Fourier priors of highest posterior
    weight summed over the outputs (for one output: of highest evidence)."""
    fourier = d.rho if isinstance(d.rho, tuple) else (d.rho,)    # the grid's Fourier ratios
    nf = len(fourier)
    top = le.max(axis=0)
    lse = top + np.log(np.exp(le - top).sum(axis=0))                   # [n, O]
    x = observation_points(d)
    for i in range(y.shape[0]):
        mag = np.abs(phi[i])                                           # [M, O]
        tot = mag.sum(axis=0)
        live = tot > 0
        if not live.any():
            continue
        pi = (mag[:, live] / tot[live]).mean(axis=1)
        lf = le[:nf, i][:, live]                                       # [nf, live O]
        ex = np.exp(lf - lf.max(axis=0))
        share = (ex / ex.sum(axis=0)).sum(axis=1)
        order = np.argsort(-share, kind="stable")[:ARD_TOP or nf]
        rhos = [fourier[k] for k in sorted(order)]
        mean, lea, var = ard_fits(d, y[i], pi, rhos, x=x)              # [F, M, O], [F, O]
        lea = np.where(live[None, :], lea, -np.inf)
        norm = np.logaddexp(lse[i], np.logaddexp.reduce(lea, axis=0))  # [O]
        ws, wa = np.exp(lse[i] - norm), np.exp(lea - norm)             # [O], [F, O]
        phi[i] = ws * phi[i] + np.einsum("fo,fmo->mo", wa, mean)
        if second is not None:
            second[i] = ws * second[i] + np.einsum("fo,fmo->mo", wa, mean ** 2 + var)


def ard_flops(d) -> float:
    """Host floating-point operations of the step for one row (one prior: its kernel
    recurrence up to the highest order of non-negligible prior variance under the grid's
    largest Fourier ratio, the factorisation and solves, plus :data:`FIXED_FLOPS` for the
    calls' fixed cost), to weigh against the model's cost."""
    from ._spectral import order_variances

    m, n = d.P.shape[1], d.pairs.shape[0] + 1
    rho = max(d.rho) if isinstance(d.rho, tuple) else d.rho
    _, top = cut_orders(order_variances(m, rho)[None])
    return n * n * (2.0 * m * top - top * top) / 2.0 + n ** 3 / 3.0 + 4.0 * n * n * m \
        + FIXED_FLOPS
