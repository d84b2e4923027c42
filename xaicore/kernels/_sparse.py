"""Sparse unanimity (Moebius) terms for the spectral estimate: search, fit and evidence.

A game made of a few AND-like terms, ``v(z) = v0 + sum_T c_T prod_{i in T} z_i`` with few
sets ``T`` of a few players each, is what no stationary Gaussian prior fits well: its
support is sparse. This module finds such terms in one row's values and fits them:

* :func:`search` grows sets greedily on all observed values (a coalition and its
  complement both count): the candidates are the single players and each set found so
  far (or tried and dropped) with one more player; a candidate enters when its gain in
  residual sum of squares beats ``2 log M**2`` residual variances, a term leaves when its
  t-statistic falls below half of that. The terms it returns are a proposal only.
* :func:`fit` weighs the proposal against the Gaussian prior of the spectral estimate:
  the terms' odd parts ``(a_T(z) - a_T(1 - z)) / 2`` become extra regressors of the
  kriging model with a ``N(0, tau2)`` prior (at the prior's maximum-likelihood scale), on
  the evidence observations of the best prior of the grid; it returns their posterior
  mean coefficients and the gain in log marginal likelihood, which the caller compares
  with a per-term penalty (:data:`PENALTY`).

The caller then kriges the residual ``v - sum_T c_T a_T`` with the usual grid and adds
the terms' exact Shapley values (``c_T / |T|`` to each member), so efficiency and the
exactness of a full enumeration are unchanged.
"""
from __future__ import annotations

import numpy as np

#: Log-evidence gain each accepted term must pay for (nats).
PENALTY = 3.0
#: Highest order of a term.
MAX_ORDER = 5
#: Prior variance of a term's coefficient, in units of the prior's ML scale.
TAU2 = 1.0


def and_columns(z: np.ndarray, sets: list) -> np.ndarray:
    """``float[N, K]``: 1 where the coalition holds every player of the set."""
    out = np.empty((z.shape[0], len(sets)))
    for k, s in enumerate(sets):
        out[:, k] = z[:, list(s)].all(axis=1)
    return out


class _LeastSquares:
    """Ordinary least squares on a growing and shrinking set of columns (Gram updates)."""

    def __init__(self, t: np.ndarray, cap: int):
        self.t = t
        self.cols = np.empty((t.size, cap))
        self.gram = np.empty((cap, cap))
        self.rhs = np.empty(cap)
        self.k = 0

    def add(self, cols: np.ndarray) -> None:
        """Append columns ``float[N, j]``."""
        k, j = self.k, cols.shape[1]
        self.cols[:, k:k + j] = cols
        cross = self.cols[:, :k + j].T @ cols
        self.gram[:k + j, k:k + j] = cross
        self.gram[k:k + j, :k + j] = cross.T
        self.rhs[k:k + j] = cols.T @ self.t
        self.k = k + j

    def keep(self, mask: np.ndarray) -> None:
        """Keep the columns where ``mask`` holds."""
        idx = np.flatnonzero(mask)
        j = idx.size
        self.cols[:, :j] = self.cols[:, idx]
        self.gram[:j, :j] = self.gram[np.ix_(idx, idx)]
        self.rhs[:j] = self.rhs[idx]
        self.k = j

    def solve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coefficients, residual and the diagonal of the inverse Gram matrix."""
        k = self.k
        if k == 0:
            return np.zeros(0), self.t.copy(), np.zeros(0)
        g = self.gram[:k, :k]
        jitter = 1e-10 * max(float(np.trace(g)) / k, 1e-300)
        try:
            low = np.linalg.cholesky(g + jitter * np.eye(k))
            li = np.linalg.inv(low)
            inv = li.T @ li
        except np.linalg.LinAlgError:
            inv = np.linalg.pinv(g, rcond=1e-12, hermitian=True)
        c = inv @ self.rhs[:k]
        return c, self.t - self.cols[:, :k] @ c, np.diag(inv)


class _Children:
    """Scores of the candidates ``S + {j}`` for every set ``S`` found so far (or tried and
    dropped): the sets added this round get theirs computed, the others keep the ones of
    the last refresh (every ``refresh`` rounds) as proposals; the best few proposals are
    then scored exactly (lazy greedy). Sets and players are kept as rows (``[., N]``)."""

    def __init__(self, zt: np.ndarray, refresh: int = 5):
        self.zt, self.zf, self.refresh = zt, zt.astype(np.float64), refresh
        m, n = zt.shape
        self.sets: list = []
        self.where: dict = {}
        self.cols = np.zeros((0, n), dtype=bool)
        self.cnt = np.zeros((m, 0))        # a_S' z_j: the candidates' counts
        self.num = np.zeros((m, 0))        # (a_S * r)' z_j, maybe stale
        self.rounds = 0

    def add(self, sets: list, cols: np.ndarray) -> None:
        """Remember the sets among ``sets`` (bool rows ``cols [K, N]``) not seen before."""
        new = [k for k, s in enumerate(sets) if s not in self.where]
        for k in new:
            self.where[sets[k]] = len(self.sets)
            self.sets.append(sets[k])
        if new:
            c = cols[new]
            self.cols = np.vstack([self.cols, c])
            self.cnt = np.hstack([self.cnt, self.zf @ c.T])
            self.num = np.hstack([self.num, np.full((self.zf.shape[0], len(new)), np.nan)])

    def best(self, r: np.ndarray, skip, width: int) -> dict:
        """The best ``12 width`` children by proposal, scored exactly: ``{set: score}``."""
        h = len(self.sets)
        if h == 0:
            return {}
        stale = np.isnan(self.num[0])
        if self.rounds % self.refresh == 0:
            stale[:] = True
        self.rounds += 1
        if stale.any():
            self.num[:, stale] = self.zf @ (self.cols[stale] * r).T
        score = np.where(self.cnt > 0, self.num ** 2 / np.maximum(self.cnt, 1.0), 0.0)
        for k, s in enumerate(self.sets):
            score[list(s) if len(s) < MAX_ORDER else slice(None), k] = 0.0
        top = np.argsort(-score, axis=None, kind="stable")[:12 * width]
        j, k = np.divmod(top, h)
        ok = score[j, k] > 0
        j, k = j[ok], k[ok]
        a = self.cols[k] & self.zt[j]                                      # [C, N]
        exact, count = a @ r, self.cnt[j, k]
        out: dict = {}
        for jj, kk, e, cn in zip(j.tolist(), k.tolist(), exact, count):
            s = tuple(sorted(self.sets[kk] + (jj,)))
            sc = float(e * e / cn) if cn > 0 else 0.0
            if s not in skip and sc > out.get(s, 0.0):
                out[s] = sc
        return out


def _singles(zf: np.ndarray, cnt: np.ndarray, r: np.ndarray, skip, width: int) -> dict:
    """The best ``2 width`` single players by score ``(z_i' r)^2 / z_i' z_i``."""
    num = zf.T @ r
    score = np.where(cnt > 0, num ** 2 / np.maximum(cnt, 1.0), 0.0)
    out: dict = {}
    for i in np.argsort(-score, kind="stable")[:2 * width]:
        if (int(i),) not in skip:
            out[(int(i),)] = float(score[i])
    return out


def search(z: np.ndarray, t: np.ndarray, max_terms: int, *, width: int = 4,
           max_rounds: int = 100, check=None, every: int = 6) -> list:
    """Greedy sets of players whose unanimity terms explain ``t`` (see module text).

    Args:
        z: ``bool[N, M]`` coalitions.
        t: ``float[N]`` their values less the empty coalition's.
        max_terms: Most terms at once.
        width: Most terms added per round.
        max_rounds: Most rounds.
        check: Called every ``every`` rounds with the sets found so far: the search
            gives up (returns ``[]``) when it returns False (an early exit for games the
            terms do not pay for).
        every: Rounds between two checks.

    Returns:
        The sets (tuples of players), singletons included.
    """
    n, m = z.shape
    top = float(np.max(np.abs(t))) if t.size else 0.0
    if not top > 0.0:
        return []
    t = t / top                    # the search is scale-free; squares cannot overflow
    zf = z.astype(np.float64)
    cnt = zf.sum(axis=0)
    pen = 2.0 * np.log(float(m) * m)
    children = _Children(np.ascontiguousarray(z.T))
    active: list = []
    ls = _LeastSquares(t, max_terms + width)
    r, rss, tabu = t, float(t @ t), set()
    for rnd in range(1, max_rounds + 1):
        if check is not None and rnd % every == 0 and not check(active):
            return []
        s2 = max(rss / max(n - len(active), 1), 1e-300)
        skip = set(active) | tabu
        cand = _singles(zf, cnt, r, skip, width)
        for s, sc in children.best(r, skip, width).items():
            cand[s] = max(sc, cand.get(s, 0.0))
        best = sorted(cand.items(), key=lambda kv: (-kv[1], kv[0]))
        best = [s for s, sc in best if sc > pen * s2][:width]
        if not best or len(active) + len(best) > max_terms:
            break
        cols = and_columns(z, best)
        children.add(best, np.ascontiguousarray(cols.T > 0))
        ls.add(cols)
        active += best
        c, r, dinv = ls.solve()
        s2 = max(float(r @ r) / max(n - len(active), 1), 1e-300)
        keep = c ** 2 >= 0.5 * pen * s2 * np.maximum(dinv, 1e-300)
        tabu = {s for s, k in zip(active, keep) if not k}
        if tabu:
            active = [s for s, k in zip(active, keep) if k]
            ls.keep(keep)
            c, r, _ = ls.solve()
        rss = float(r @ r)
    return active


def fit(chol: np.ndarray, a: np.ndarray, beta: np.ndarray, y: np.ndarray, f: np.ndarray,
        tau2: float = TAU2) -> tuple[np.ndarray, float]:
    """Posterior-mean coefficients of extra regressors and the log-evidence gain.

    Args:
        chol: ``float[E, E]`` Cholesky factor of one prior's covariance (evidence rows).
        a, beta: That prior's whitened linear design and its pseudo-inverse.
        y: ``float[E]`` observed odd parts.
        f: ``float[E, K]`` the regressors' odd parts.
        tau2: Prior variance of a coefficient, in units of the ML scale.

    Returns:
        ``(c [K], gain)``: the coefficients (their generalised least-squares fit, i.e.
        the posterior mean as ``tau2`` grows, so that an exactly sparse game is fitted
        exactly) and ``log p(y | prior + terms) - log p(y | prior)``, both at their ML
        scales (the linear part flat in both).
    """
    w = whiten(chol, a, beta, np.column_stack([y, f]))
    return fit_whitened(w[:, 0], w[:, 1:], max(chol.shape[0] - a.shape[1], 1), tau2)


def whiten(chol: np.ndarray, a: np.ndarray, beta: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``float[E, K]``: columns ``f`` whitened by ``chol`` less their part in the linear
    design's span (what :func:`fit` regresses; column by column, so each can be kept)."""
    from scipy.linalg import solve_triangular

    b = solve_triangular(chol, f, lower=True, check_finite=False)
    return b - a @ (beta @ b)


def fit_whitened(rw: np.ndarray, fw: np.ndarray, dof: int,
                 tau2: float = TAU2) -> tuple[np.ndarray, float]:
    """:func:`fit` from the whitened values ``rw [E]`` and regressors ``fw [E, K]``
    (:func:`whiten`), ``dof`` the rows less the linear design's columns."""
    k = fw.shape[1]
    gram, rhs = fw.T @ fw, fw.T @ rw
    lc = np.linalg.cholesky(np.eye(k) / tau2 + gram)
    u = np.linalg.solve(lc, rhs)
    c = np.linalg.lstsq(gram, rhs, rcond=1e-12)[0]
    q0 = float(rw @ rw)
    q1 = max(q0 - float(u @ u), 1e-24 * q0, 1e-300)
    logdet = 2.0 * float(np.sum(np.log(np.diag(lc)))) + k * np.log(tau2)
    return c, -0.5 * dof * (np.log(q1) - np.log(max(q0, 1e-300))) - 0.5 * logdet
