"""Universal kriging of the Shapley values from the odd parts of a game (shared by the
stationary, Moebius and per-player priors of :mod:`xaicore.kernels._spectral`).

The odd part at the observations is ``y = X beta + h``: ``beta`` a flat linear mean
(with a flat first order; else absent), ``h`` Gaussian with the prior's covariance
``K``. In coordinates whitened by ``K = L L'``: ``A = L^-1 X``, ``b = L^-1 y``,
``Cw = L^-1 cross'`` (``cross``: the prior covariance of the Shapley values with the
observations)."""
from __future__ import annotations

import numpy as np


def chol_parts(x: np.ndarray, cov: np.ndarray, flat: bool, nugget: float):
    """Cholesky factor ``L``, whitened linear design ``A``, the pseudo-inverse of ``A'A``
    and ``log det K`` (+ ``log det A'A`` with a flat mean: the restricted likelihood)."""
    from scipy.linalg import cho_factor, solve_triangular

    cov = np.array(cov, dtype=np.float64)
    n = cov.shape[0]
    cov[np.diag_indices(n)] += nugget * max(np.trace(cov) / n, 1e-300) + 1e-300
    chol = np.tril(cho_factor(cov, lower=True, check_finite=False)[0])
    a = solve_triangular(chol, x if flat else x[:, :0], lower=True,
                         check_finite=False)                            # [n, M] or [n, 0]
    logdet = 2.0 * float(np.sum(np.log(np.diag(chol))))
    if not flat:
        return chol, a, np.zeros((0, 0)), logdet
    # the pseudo-inverse of A'A (eigenvalues below 1e-12 of the largest dropped) and the
    # restricted likelihood's log det A'A (the flat mean integrated out), one eigh
    ev, vec = np.linalg.eigh(a.T @ a)
    keep = ev > 1e-12 * ev.max()
    ginv = (vec[:, keep] / ev[keep]) @ vec[:, keep].T
    return chol, a, ginv, logdet + float(np.sum(np.log(ev[keep])))


def krige(chol, a, ginv, cross, prior, flat: bool):
    """``(pw [M, n], beta [p, n], post [M])``: whitened observations ``b`` -> posterior
    mean ``pw @ b`` of the Shapley values, ``b`` -> the flat linear coefficients, and the
    posterior variance of each Shapley value at unit prior scale (``prior``: its prior
    variance, a scalar or one per player)."""
    from scipy.linalg import solve_triangular

    m = cross.shape[0]
    cw = solve_triangular(chol, cross.T, lower=True, check_finite=False)   # [n, M]
    beta = ginv @ a.T                                                  # [p, n]
    pw = cw.T - (cw.T @ a) @ beta                                      # [M, n]
    if flat:
        pw += 2.0 * beta
    rr = (2.0 * np.eye(m) if flat else np.zeros((0, m))) - a.T @ cw    # [p, M]
    post = prior - (cw ** 2).sum(axis=0) + np.einsum("ji,jk,ki->i", rr, ginv, rr)
    return pw, beta, np.maximum(post, 0.0)


def log_evidence(q: np.ndarray, logdet, dof: int) -> np.ndarray:
    """Log marginal likelihood at the ML scale ``q = b' (I - A beta) b / dof``."""
    return -0.5 * dof * np.log(q) - 0.5 * logdet
