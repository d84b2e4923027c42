"""NumPy/Python reference kernels: plain loops, easy to read, slow. The compiled backends
(``csrc/`` and :mod:`._numba`) reproduce these outputs exactly."""
from __future__ import annotations

import itertools
import math

import numpy as np

from ._rng import SplitMix64


def enumerate_class(m: int, s: int) -> np.ndarray:
    """Rows of size class ``s`` (``s <= M/2``), each followed by its complement.

    All ``C(M, s)`` combinations in lexicographic order; for ``2 s == M`` only the first
    half (those holding feature 0), so every coalition of size ``M/2`` appears once.
    """
    n = math.comb(m, s) // (2 if 2 * s == m else 1)
    out = np.zeros((2 * n, m), dtype=np.uint8)
    for i, comb in enumerate(itertools.islice(itertools.combinations(range(m), s), n)):
        out[2 * i, list(comb)] = 1
    out[1::2] = 1 - out[0::2]
    return out


def sample_raw(m: int, enum: np.ndarray, strata: np.ndarray, cdf: np.ndarray,
               counts: np.ndarray, n_units: int, paired: bool, mode: int, state: int,
               max_draws: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Enumerate the classes ``enum`` and draw the strata (reference implementation).

    Args:
        m: Number of players.
        enum: Size classes to enumerate (see :func:`enumerate_class`).
        strata: Size of each stratum (paired: the smaller size of a complement pair).
        cdf: Cumulative stratum probabilities (mode 0).
        counts: Distinct units to draw per stratum (mode 1).
        n_units: Distinct units to draw in all (mode 0).
        paired: Add each drawn coalition's complement.
        mode: 0 = with-replacement draws, duplicates merged; 1 = stratified, distinct.
        state: splitmix64 starting state.
        max_draws: Safety cap on the number of draws.

    Returns:
        ``(masks uint8[S, M], stratum int64[S], mult int64[S], n_draws)``.
    """
    blocks = [enumerate_class(m, int(s)) for s in enum]
    rows: list[np.ndarray] = [r for b in blocks for r in b]
    stratum = [-1] * len(rows)
    mult = [1] * len(rows)
    base = len(rows)
    seen: dict[bytes, int] = {}
    rng = SplitMix64(int(state))
    perm = list(range(m))
    step = 2 if paired else 1

    def draw(k: int) -> bool:
        s = int(strata[k])
        for i in range(s):
            j = i + rng.below(m - i)
            perm[i], perm[j] = perm[j], perm[i]
        z = np.zeros(m, dtype=np.uint8)
        z[perm[:s]] = 1
        key = z.tobytes()
        if key in seen:
            r0 = base + (seen[key] - base) // step * step
            for r in range(r0, r0 + step):
                mult[r] += 1
            return False
        new = [z, 1 - z] if paired else [z]
        for r in new:
            seen[r.tobytes()] = len(rows)
            rows.append(r)
            stratum.append(k)
            mult.append(1)
        return True

    n_draws = 0
    if mode == 0:
        added = 0
        while added < n_units and n_draws < max_draws and len(strata):
            u = rng.uniform()
            k = 0
            while k < len(cdf) - 1 and not u < cdf[k]:
                k += 1
            n_draws += 1
            added += draw(k)
    else:
        for k in range(len(strata)):
            added = 0
            while added < counts[k] and n_draws < max_draws:
                n_draws += 1
                added += draw(k)
    masks = np.array(rows, dtype=np.uint8).reshape(len(rows), m)
    return masks, np.array(stratum, dtype=np.int64), np.array(mult, dtype=np.int64), n_draws


def projected_gram(masks: np.ndarray, weights: np.ndarray, ridge: float
                   ) -> tuple[np.ndarray, float]:
    """``H = Pi G Pi + ridge Pi + alpha 11^T / M`` with ``G = Z^T W Z``, and ``alpha``.

    On ``1``-perp, ``H`` is the Gram matrix of the constrained problem; along ``1`` it is
    ``alpha`` (``trace(G) / M``), so ``H^-1 - 11^T / (alpha M)`` is that problem's inverse.
    """
    z = masks.astype(np.float64)
    m = z.shape[1]
    G = (z * weights[:, None]).T @ z
    alpha = float(np.trace(G) / m) if np.trace(G) > 0 else 1.0
    pi = np.eye(m) - 1.0 / m
    return pi @ G @ pi + ridge * pi + alpha / m, alpha


def operator_from_inverse(masks: np.ndarray, weights: np.ndarray, T: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``P = T Z^T W`` (columns centred: each sums to 0) and ``c = (1 - P |z|) / M``."""
    z = masks.astype(np.float64)
    m = z.shape[1]
    P = T @ (z * weights[:, None]).T
    P -= P.mean(axis=0, keepdims=True)
    c = (1.0 - P @ z.sum(axis=1)) / m
    return P, c + (1.0 / m - c.mean())


def wls_operator(masks: np.ndarray, weights: np.ndarray, ridge: float
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """Reference constrained WLS operator: ``(P[M, S], c[M])``, None if singular.

    Cholesky of ``H`` (see :func:`projected_gram`); a pivot below ``1e-11 max(diag H)``
    counts as singular (same test as the C++ and numba kernels).
    """
    H, alpha = projected_gram(masks, weights, ridge)
    m = H.shape[0]
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.diag(L) ** 2 > 1e-11 * np.max(np.diag(H))):
        return None
    Linv = np.linalg.inv(L)
    return operator_from_inverse(masks, weights, Linv.T @ Linv - 1.0 / (alpha * m))


def wls_operator_minnorm(masks: np.ndarray, weights: np.ndarray, ridge: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm operator for rank-deficient designs (pseudo-inverse of ``H``)."""
    H, alpha = projected_gram(masks, weights, ridge)
    m = H.shape[0]
    T = np.linalg.pinv(H, rcond=1e-10, hermitian=True) - 1.0 / (alpha * m)
    return operator_from_inverse(masks, weights, T)
