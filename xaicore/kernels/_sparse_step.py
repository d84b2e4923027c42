"""The spectral estimate's optional sparse step (``solve_spectral(..., sparse=True)``):
per row and output, unanimity terms found by :func:`xaicore.kernels._sparse.search`,
fitted inside the kriging model and kept where their evidence pays; the rest is kriged
as before (see :mod:`xaicore.kernels._spectral`). The standard errors add the spread of
the terms' coefficients to the rest's (2-se coverage 0.80 -> 0.93 on sparse unanimity
games at 4094 coalitions)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _sparse

#: Fewest complement pairs the sparse step runs with (below, in the accuracy study, it
#: never found terms worth their evidence: it would only cost time).
SPARSE_PAIRS = 500
#: Share of the per-term penalty a sparse search must earn midway not to give up.
EARLY = 1.0 / 3.0


def sparse_applies(d: Any) -> bool:
    """The sparse step runs with a flat first order and at least :data:`SPARSE_PAIRS`
    pairs, short of a full enumeration."""
    return (d.z is not None and d.a.shape[2] > 0 and d.pairs.shape[0] >= SPARSE_PAIRS
            and not d.enumerates_all)


def sparse_seconds(d: Any) -> float:
    """A bound on the step's host time for one row and output (seconds; 0 where it does
    not run): ``1.5 ms (U / 511)^1.7`` for ``U`` pairs, above the medians measured on
    the 2-core CPU with one BLAS thread (``benchmarks/bench_sparse_step.py``: 1.07 ms at
    M=100 and 1024 coalitions, 9.8 and 14.5 ms at M=100 and 20 and 4096 coalitions, on
    games where the search keeps terms; 0.7-3.4 ms where it gives up)."""
    if not sparse_applies(d):
        return 0.0
    return 1.5e-3 * (d.pairs.shape[0] / 511.0) ** 1.7


def sparse_step(d: Any, v, v0, v1, y, best, phi, se, posterior: Callable) -> None:
    """Replace, in place, the estimate of each row and output where unanimity terms pay
    for themselves (:func:`_sparse_terms`) by their Shapley values plus the kriged rest
    (``posterior``: the spectral posterior of :mod:`xaicore.kernels._spectral`)."""
    found, shared = [], _shared(d)
    for i in range(y.shape[0]):
        for j in range(y.shape[2]):
            got = _sparse_terms(d, v[i, :, j], v0[i, j], v1[i, j], y[i, :, j],
                                int(best[i, j]), shared)
            if got is not None:
                found.append((i, j) + got)
    if not found:
        return
    rest = np.stack([y[i, :, j] - f @ c for i, j, _, c, f in found])[:, :, None]
    p_rest, se_rest, _ = posterior(d, rest, se is not None)
    for k, (i, j, sets, c, f) in enumerate(found):
        phi[i, :, j] = p_rest[k, :, 0]
        g = np.zeros((phi.shape[1], len(sets)))         # a term's share of each player
        for t, (s, ck) in enumerate(zip(sets, c)):
            phi[i, list(s), j] += ck / len(s)
            g[list(s), t] = 1.0 / len(s)
        if se is not None:    # the rest's spread, and that of the terms' coefficients
            var_c = _coefficient_cov(d, int(best[i, j]), rest[k, :, 0], f)
            se[i, :, j] = np.sqrt(se_rest[k, :, 0] ** 2 + np.maximum(
                np.einsum("ik,kl,il->i", g, var_c, g), 0.0))


def _coefficient_cov(d: Any, best: int, rest: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``[K, K]``: the covariance of the terms' generalised least-squares coefficients
    on the evidence rows under prior ``best``, ``sigma^2 (F_w' F_w)^+`` (``F_w`` the
    whitened odd parts less their linear part), at the ML scale ``sigma^2`` of the
    kriged rest ``rest [U + 1]``."""
    chol, a, beta = d.chol[best], d.a[best], d.beta[best]
    w = _sparse.whiten(chol, a, beta, np.column_stack([rest[d.rows], f[d.rows]]))
    dof = max(chol.shape[0] - a.shape[1] - f.shape[1], 1)
    return float(w[:, 0] @ w[:, 0]) / dof * np.linalg.pinv(w[:, 1:].T @ w[:, 1:])


def _shared(d: Any, compiled: bool | None = None) -> dict:
    """What every row's search shares: the pairs' coalitions (transposed, float, and
    bit-packed, for the compiled search; without it, the NumPy reference's rows
    ``[z; ~z; 1]``) and those of the evidence rows."""
    z = d.z
    m = z.shape[1]
    if compiled is None:
        compiled = (m + 1) ** _sparse.MAX_ORDER < 2 ** 62
    sel = d.rows[d.rows > 0] - 1           # evidence rows: the full coalition, then pairs
    out = {"zsel": z[sel], "full": d.rows[0] == 0}
    if compiled:
        from ._sparse_bits import pack
        out["ztf"], out["zb"] = np.ascontiguousarray(z.T, dtype=np.float64), pack(z)
    else:
        out["zall"] = np.vstack([z, ~z, np.ones((1, m), dtype=bool)])
    return out


def _odd_parts(z: np.ndarray, sets: list, full: bool, compiled: bool = False) -> np.ndarray:
    """The sets' odd parts ``f [(1 +) rows, K]`` at the full coalition (if ``full``) and
    at the pairs ``z`` (the same values compiled or not)."""
    if compiled:
        from ._sparse_numba import odd_parts
        f = odd_parts(z, sets)
    else:
        f = (_sparse.and_columns(z, sets) - _sparse.and_columns(~z, sets)) / 2.0
    return np.vstack([np.full((1, len(sets)), 0.5), f]) if full else f


def _sparse_terms(d: Any, v, v0, v1, y, best, shared: dict | None = None):
    """Unanimity terms of one row and output worth their evidence, or None: ``(sets, c,
    f)`` with ``f [U + 1, K]`` their odd parts at the observations."""
    z, pairs = d.z, d.pairs
    shared = _shared(d) if shared is None else shared
    t = np.concatenate([v[pairs[:, 0]] - v0, v[pairs[:, 1]] - v0, [v1 - v0]])
    scale = float(np.max(np.abs(y)))
    if scale == 0.0:
        return None
    cap = max(d.rows.size // 4, 1)
    ye = y[d.rows] / scale

    def terms(found: list, every_row: bool = False):
        """The interaction terms among ``found`` (or None), their coefficients, their odd
        parts (at every observation, or only at the evidence rows) and their evidence gain
        per term."""
        sets = [s for s in found if len(s) > 1][:cap]
        if not sets:
            return None
        fast = "ztf" in shared
        fe = _odd_parts(shared["zsel"], sets, shared["full"], fast)
        c, gain = _sparse.fit(d.chol[best], d.a[best], d.beta[best], ye, fe)
        f = _odd_parts(z, sets, True, fast) if every_row else None
        return (sets, c * scale, f, gain / len(sets))

    checks, kept = [], {}                # kept: each set's whitened odd part, once a row

    def promising(found: list) -> bool:
        """Early exit: from the second check on, the terms must earn ``EARLY`` of the
        penalty (the first ones found in a sparse game often earn nothing yet). The gain is
        ``terms``' from the sets' whitened odd parts, each whitened at its first check."""
        checks.append(None)
        sets = [s for s in found if len(s) > 1][:cap]
        if len(checks) < 2 or not sets:
            return True
        chol, a, beta = d.chol[best], d.a[best], d.beta[best]
        new = [s for s in sets if s not in kept]
        if new:
            fe = _odd_parts(shared["zsel"], new, shared["full"], "ztf" in shared)
            kept.update(zip(new, _sparse.whiten(chol, a, beta, fe).T))
        if None not in kept:
            kept[None] = _sparse.whiten(chol, a, beta, ye[:, None])[:, 0]
        dof = max(chol.shape[0] - a.shape[1], 1)
        fw = np.column_stack([kept[s] for s in sets])
        return _sparse.fit_whitened(kept[None], fw, dof)[1] / len(sets) > EARLY * _sparse.PENALTY

    if "ztf" in shared:
        from ._sparse_numba import search_pairs
        found = search_pairs(z, shared["ztf"], t, max(t.size // 10, 1), check=promising,
                             zb=shared["zb"])
    else:
        found = _sparse.search(shared["zall"], t, max(t.size // 10, 1), check=promising)
    got = terms(found, every_row=True)
    return got[:3] if got is not None and got[3] > _sparse.PENALTY else None
