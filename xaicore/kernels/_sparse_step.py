"""The spectral estimate's optional sparse step (``solve_spectral(..., sparse=True)``):
per row and output, unanimity terms found by :func:`xaicore.kernels._sparse.search`,
fitted inside the kriging model and kept where their evidence pays; the rest is kriged
as before (see :mod:`xaicore.kernels._spectral`)."""
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
    m, u = d.P.shape[1], d.pairs.shape[0]
    full = m <= 62 and u + 1 >= 2 ** (m - 1)
    return d.z is not None and d.a.shape[2] > 0 and u >= SPARSE_PAIRS and not full


def sparse_step(d: Any, v, v0, v1, y, best, phi, se, posterior: Callable) -> None:
    """Replace, in place, the estimate of each row and output where unanimity terms pay
    for themselves (:func:`_sparse_terms`) by their Shapley values plus the kriged rest
    (``posterior``: the spectral posterior of :mod:`xaicore.kernels._spectral`)."""
    found = []
    for i in range(y.shape[0]):
        for j in range(y.shape[2]):
            got = _sparse_terms(d, v[i, :, j], v0[i, j], v1[i, j], y[i, :, j],
                                int(best[i, j]))
            if got is not None:
                found.append((i, j) + got)
    if not found:
        return
    rest = np.stack([y[i, :, j] - f @ c for i, j, _, c, f in found])[:, :, None]
    p_rest, se_rest, _ = posterior(d, rest, se is not None)
    for k, (i, j, sets, c, _) in enumerate(found):
        phi[i, :, j] = p_rest[k, :, 0]
        for s, ck in zip(sets, c):
            phi[i, list(s), j] += ck / len(s)
        if se is not None:
            se[i, :, j] = se_rest[k, :, 0]


def _sparse_terms(d: Any, v, v0, v1, y, best):
    """Unanimity terms of one row and output worth their evidence, or None: ``(sets, c,
    f)`` with ``f [U + 1, K]`` their odd parts at the observations."""
    z, pairs = d.z, d.pairs
    m = z.shape[1]
    zall = np.vstack([z, ~z, np.ones((1, m), dtype=bool)])
    t = np.concatenate([v[pairs[:, 0]] - v0, v[pairs[:, 1]] - v0, [v1 - v0]])
    scale = float(np.max(np.abs(y)))
    if scale == 0.0:
        return None
    cap = max(d.rows.size // 4, 1)

    def terms(found: list):
        """The interaction terms among ``found`` (or None), their coefficients, their odd
        parts and their evidence gain per term."""
        sets = [s for s in found if len(s) > 1][:cap]
        if not sets:
            return None
        f = np.vstack([np.full((1, len(sets)), 0.5),
                       (_sparse.and_columns(z, sets) - _sparse.and_columns(~z, sets)) / 2.0])
        c, gain = _sparse.fit(d.chol[best], d.a[best], d.beta[best], y[d.rows] / scale,
                              f[d.rows])
        return (sets, c * scale, f, gain / len(sets))

    checks = []

    def promising(found: list) -> bool:
        """Early exit: from the second check on, the terms must earn ``EARLY`` of the
        penalty (the first ones found in a sparse game often earn nothing yet)."""
        checks.append(None)
        got = terms(found)
        return len(checks) < 2 or got is None or got[3] > EARLY * _sparse.PENALTY

    got = terms(_sparse.search(zall, t, max(t.size // 10, 1), check=promising))
    return got[:3] if got is not None and got[3] > _sparse.PENALTY else None
