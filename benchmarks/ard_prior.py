"""Probe: a per-player (ARD) Fourier prior for the spectral estimate, on the accuracy cache.

The spectral estimate's priors are stationary: every Fourier term of one order has the
same prior variance. This probe gives the odd term ``T`` the variance
``c_t prod_{i in T} w_i`` (``t = |T|``, ``c_t = V_t / e_t(w)`` so that each order keeps its
total variance ``V_t`` of the grid ratio ``rho``), with weights ``w = (1 - a) + a M pi``
from a plug-in importance ``pi = |phi| / sum |phi|`` of the current (stationary) estimate:
interactions among the players that matter get more prior variance (heredity). The
kernel is ``sum_t c_t e_t(w x x')`` (elementary symmetric polynomials), the cross
covariance with the Shapley values ``sum_t (2 / t) c_t w_i x_i e_{t-1}((w x)_{-i})``; the
estimate averages universal-kriging means over ``rho`` in the default grid and ``a`` in
``(0, 0.5, 0.9, 1)`` by evidence, then restores efficiency. Plain NumPy, ``O(n^2 M^2)``
per prior: a probe of the accuracy, not of the speed.

    PYTHONPATH=..:. python sparse_cache.py --out /tmp/sparse_cache      # once (shapiq)
    PYTHONPATH=..:. python ard_prior.py --cases wine,cancer --budgets 64,128,256,512

Prints, per cell, MAE / best shapiq MAE of the current estimate, the ARD one and the ARD
one with the truth's ``|phi|`` as ``pi`` (an oracle of the weights).
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.linalg import solve_triangular
from sparse_cache import load

from xaicore import kernels as K
from xaicore.kernels._spectral import DEFAULT_RHOS, _chol_parts, _observations, order_variances


def esym(u: np.ndarray) -> np.ndarray:
    """Elementary symmetric polynomials ``e_0..e_M`` of the last axis of ``u``."""
    e = np.zeros(u.shape[:-1] + (u.shape[-1] + 1,))
    e[..., 0] = 1.0
    for k in range(u.shape[-1]):
        e[..., 1:] = e[..., 1:] + u[..., k:k + 1] * e[..., :-1]
    return e


def ard_parts(x: np.ndarray, w: np.ndarray, var: np.ndarray, flat: bool):
    """Covariance ``[n, n]`` of the odd parts at ``x`` (+-1) and cross covariance ``[M, n]``."""
    m = x.shape[1]
    et = esym(w)
    c = np.where(et > 0, var / np.where(et > 0, et, 1.0), 0.0)
    if flat:
        c[1] = 0.0
    cov = esym(w * x[:, None, :] * x[None, :, :]) @ c
    ux = w * x
    coef = c[1:] * 2.0 / np.arange(1, m + 1)
    cross = np.stack([ux[:, i] * (esym(np.delete(ux, i, axis=1)) @ coef) for i in range(m)])
    return cov, cross


def krige(x, y, cov, cross, flat):
    """Universal-kriging mean of the Shapley values and the log evidence at the ML scale."""
    chol, a, ginv, logdet = _chol_parts(x, cov, flat, 1e-10)
    cw = solve_triangular(chol, cross.T, lower=True)
    beta = ginv @ a.T
    pw = cw.T - (cw.T @ a) @ beta + (2.0 * beta if flat else 0.0)
    b = solve_triangular(chol, y, lower=True)
    r = b - a @ (beta @ b)
    dof = max(len(y) - a.shape[1], 1)
    return pw @ b, -0.5 * dof * np.log(max(float(r @ r) / dof, 1e-300)) - 0.5 * logdet


def ard_estimate(d, v, ends, pi, alphas=(0.0, 0.5, 0.9, 1.0)):
    """The ARD estimate from the pairs of ``d`` (a :func:`K.spectral_design`) and values ``v``."""
    m = d.z.shape[1]
    x = np.vstack([np.ones((1, m)), 2.0 * d.z - 1.0])
    y = _observations(d, v[None, :, None], np.array([[ends[0]]]), np.array([[ends[1]]]))[0, :, 0]
    scale = np.abs(y).max()
    y = y / scale
    flat = x.shape[0] >= 3 * m
    fits = [krige(x, y, *ard_parts(x, (1 - a) + a * m * pi, order_variances(m, r), flat), flat)
            for a in alphas for r in DEFAULT_RHOS]
    le = np.array([f[1] for f in fits])
    wt = np.exp(le - le.max())
    phi = (wt[:, None] * np.array([f[0] for f in fits])).sum(0) / wt.sum() * scale
    return phi + ((ends[1] - ends[0]) - phi.sum()) / m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="/tmp/sparse_cache")
    ap.add_argument("--cases", default="wine,diabetes,cancer,cnn")
    ap.add_argument("--budgets", default="64,128,256,512")
    ap.add_argument("--instances", type=int, default=6)
    a = ap.parse_args()
    budgets = {int(b) for b in a.budgets.split(",")}
    for cell in load(a.cache, a.cases):
        if cell["budget"] not in budgets:
            continue
        best = min(cell["shapiq"].values())
        err = {"current": [], "ard": [], "ard oracle": []}
        for ins in cell["inst"][:a.instances]:
            mk, v, ends, tr = ins["masks"], ins["y"], ins["ends"], ins["truth"]
            d = K.spectral_design(mk)
            cur = K.solve_spectral(None, None, v[None], *ends, design=d)[0]
            for k, phi in (("current", cur),
                           ("ard", ard_estimate(d, v, ends, np.abs(cur) / np.abs(cur).sum())),
                           ("ard oracle", ard_estimate(d, v, ends, np.abs(tr) / np.abs(tr).sum()))):
                err[k].append(float(np.abs(phi - tr).mean()))
        print(cell["case"], cell["M"], cell["budget"],
              " ".join(f"{k}={np.mean(e) / best:.3f}" for k, e in err.items()), flush=True)


if __name__ == "__main__":
    main()
