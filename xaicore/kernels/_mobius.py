"""The Moebius (unanimity) priors of the spectral estimate: independent unanimity
coefficients, order ``s`` of total variance ``lam ** (s - 1)``, whose odd parts'
covariance is a closed form in the overlap and sizes of two coalitions (see
:mod:`xaicore.kernels._spectral`)."""
from __future__ import annotations

import numpy as np


def _ratio_comb(m: int) -> np.ndarray:
    """``r[j, s] = C(j, s) / C(m, s)`` for ``j, s = 0..m`` (zero where ``s > j``)."""
    from scipy.special import gammaln

    j = np.arange(m + 1, dtype=np.float64)[:, None]
    s = j.T
    ok = j >= s
    lg = (gammaln(j + 1) - gammaln(j - np.where(ok, s, 0) + 1)) - (
        gammaln(m + 1.0) - gammaln(m - s + 1))
    return np.where(ok, np.exp(np.where(ok, lg, 0.0)), 0.0)


def mobius_weights(m: int, lam: float, flat: bool) -> np.ndarray:
    """Total prior variance of each Moebius (unanimity) order ``0..m``: ``lam ** (s - 1)``
    for ``s >= 1`` (order one zero when it has a flat prior)."""
    w = np.zeros(m + 1)
    w[1:] = lam ** np.arange(m, dtype=np.float64)
    if flat:
        w[1] = 0.0
    return w


def _mobius_parts(z: np.ndarray, w: np.ndarray):
    """Under independent Moebius coefficients ``v(z) = sum_S c_S prod_{i in S} z_i`` (the
    ``C(M, s)`` of order ``s`` sharing variance ``w_s``): the covariance ``[n, n]`` of the
    odd parts ``(v(z) - v(1 - z)) / 2``, their covariance ``[M, n]`` with the Shapley values
    ``phi_i = sum_{S ∋ i} c_S / |S|`` and the prior variance of one ``phi_i``."""
    m = z.shape[1]
    f = _ratio_comb(m) @ w                  # Cov(v(z), v(z')) = f(|z & z'|)
    zi = z.astype(np.float64)
    inter = np.rint(zi @ zi.T).astype(np.int64)
    sz = z.sum(axis=1).astype(np.int64)
    a, b = sz[:, None], sz[None, :]
    cov = (f[inter] - f[a - inter] - f[b - inter] + f[m - a - b + inter]) / 4.0
    # Cov(phi_i, v(z)) = z_i sum_s w_s C(|z| - 1, s - 1) / (C(M, s) s) = z_i f(|z|) / |z|
    g = f / np.maximum(np.arange(m + 1), 1)
    cross = (zi * g[sz][:, None] - (1.0 - zi) * g[m - sz][:, None]).T / 2.0   # [M, n]
    prior = float(np.sum(w[1:] / (m * np.arange(1, m + 1))))
    return cov, cross, prior
