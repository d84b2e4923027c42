"""An independent brute-force Shapley formula (written here, not imported from xaicore)."""
from __future__ import annotations

import itertools
import math

import numpy as np


def brute_force_shapley(f, x: np.ndarray, background: np.ndarray, groups=None) -> np.ndarray:
    """phi[n, M, O] by the subset formula: sum over S of |S|!(M-|S|-1)!/M! [v(S+i) - v(S)].

    ``f`` maps ``[rows, d] -> [rows, O]``; absent players take background values and the
    output is averaged over background rows (interventional Shapley values).
    """
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    b = np.asarray(background, np.float64).reshape(len(background), -1)
    d = x.shape[1]
    groups = np.arange(d) if groups is None else np.asarray(groups).reshape(-1)
    m = int(groups.max()) + 1

    def value(row: np.ndarray, coalition: tuple) -> np.ndarray:
        keep = np.isin(groups, coalition)
        mixed = np.where(keep[None], row[None], b)
        return np.asarray(f(mixed), np.float64).mean(axis=0)

    out = []
    for row in x:
        cache = {}
        for r in range(m + 1):
            for c in itertools.combinations(range(m), r):
                cache[c] = value(row, c)
        phi = np.zeros((m, len(cache[()])))
        for i in range(m):
            others = [j for j in range(m) if j != i]
            for r in range(m):
                w = math.factorial(r) * math.factorial(m - r - 1) / math.factorial(m)
                for c in itertools.combinations(others, r):
                    with_i = tuple(sorted(c + (i,)))
                    phi[i] += w * (cache[with_i] - cache[c])
        out.append(phi)
    return np.stack(out)


def unanimity_game(m: int, seed: int, n_terms: int = 40, max_order: int = 5):
    """A sum of ``n_terms`` unanimity games of orders 1 to ``max_order`` on ``m`` players
    (``v(Z bool[k, m]) -> float[k]``) and its Shapley values in closed form (each term's
    coefficient shared equally by its players)."""
    rng = np.random.default_rng(seed)
    sets = [rng.choice(m, size=rng.integers(1, max_order + 1), replace=False)
            for _ in range(n_terms)]
    coef = rng.normal(size=n_terms)
    phi = np.zeros(m)
    for t, c in zip(sets, coef):
        phi[t] += c / len(t)
    return (lambda Z: sum(c * Z[:, t].all(axis=1) for t, c in zip(sets, coef)) * 1.0), phi
