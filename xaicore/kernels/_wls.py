"""The constrained weighted least-squares solve of KernelSHAP, built once per coalition set.

``min_phi sum_s w_s (v_s - v0 - z_s . phi)^2`` subject to ``sum(phi) = v1 - v0`` is solved
exactly (the constraint is eliminated, no large pseudo-weight): ``phi = P (v - v0) +
c (v1 - v0)`` with ``P: float64[M, S]`` (every column sums to 0) and ``c: float64[M]``
(sums to 1), so efficiency holds to rounding whatever ``v`` is.
"""
from __future__ import annotations

import numpy as np

from . import _numpy
from ._sampling import BACKENDS, check_backend


def _check_design(masks: object, weights: object) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(masks)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"masks: expected bool[S, M] with M >= 2, got shape {z.shape}")
    if z.dtype != np.bool_ and not (np.issubdtype(z.dtype, np.number)
                                    and np.all((z == 0) | (z == 1))):
        raise ValueError(f"masks: expected bool (or 0/1) values, got dtype {z.dtype}")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (z.shape[0],):
        raise ValueError(f"weights: expected float[{z.shape[0]}] (one per row of masks), "
                         f"got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights: expected finite non-negative values")
    return np.ascontiguousarray(z, dtype=np.uint8), w


def wls_operator(masks: np.ndarray, weights: np.ndarray, *, ridge: float = 0.0,
                 backend: str = "cpp") -> tuple[np.ndarray, np.ndarray]:
    """Operator ``(P, c)`` of the efficiency-constrained weighted least squares.

    ``phi = P @ (v - v0) + c * (v1 - v0)`` minimises ``sum_s w_s (v_s - v0 - z_s.phi)^2``
    subject to ``sum(phi) = v1 - v0``. ``ridge`` penalises ``|phi - mean(phi)|^2``. If
    the coalitions do not tell every feature apart (the projected Gram matrix is
    singular, e.g. two features always together) and ``ridge == 0``, the minimum-norm
    solution is returned (as shap's ``lstsq``): features the data cannot separate share
    credit equally, and efficiency still holds exactly.

    Args:
        masks: ``bool[S, M]`` coalitions (empty and full excluded or not: they only
            enter through ``v0``/``v1``, any row of them is harmless).
        weights: ``float64[S]`` non-negative regression weights.
        ridge: Non-negative ridge on the constrained coefficients.
        backend: ``"cpp"``, ``"numba"`` or ``"numpy"``.

    Returns:
        ``(P float64[M, S], c float64[M])``.
    """
    z, w = _check_design(masks, weights)
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge: expected a finite float >= 0, got {ridge!r}")
    check_backend(backend, BACKENDS)
    if backend == "cpp":
        from .. import _core
        out = _core.wls_operator(z, w, float(ridge))
    elif backend == "numba":
        from . import _numba
        out = _numba.wls_operator(z, w, float(ridge))
    else:
        out = _numpy.wls_operator(z, w, float(ridge))
    if out is None:
        out = _numpy.wls_operator_minnorm(z, w, float(ridge))
    return out


def _check_values(v: object, v0: object, v1: object, s: int | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """``v [n, S, O]`` (or ``[n, S]``), ``v0``/``v1`` broadcast to ``[n, O]``."""
    v = np.asarray(v, dtype=np.float64)
    squeeze = v.ndim == 2
    if squeeze:
        v = v[..., None]
    if v.ndim != 3 or (s is not None and v.shape[1] != s):
        want = f"[n, {s}, O]" if s is not None else "[n, S, O]"
        raise ValueError(f"v: expected float{want} (or [n, S]), got shape {v.shape}")
    n, _, o = v.shape
    out = []
    for name, a in (("v0", v0), ("v1", v1)):
        a = np.asarray(a, dtype=np.float64)
        if squeeze and a.ndim <= 1:
            a = a[..., None]
        try:
            out.append(np.broadcast_to(a, (n, o)))
        except ValueError:
            raise ValueError(f"{name}: expected shape [{n}, {o}] or [{o}] to match v "
                             f"{v.shape}, got {a.shape}") from None
    return v, out[0], out[1], squeeze


def apply_operator(P: np.ndarray, c: np.ndarray, v: np.ndarray, v0: np.ndarray,
                   v1: np.ndarray) -> np.ndarray:
    """``phi[n, M, O] = P (v - v0) + c (v1 - v0)``: one matrix product for all rows."""
    phi = np.einsum("ms,nso->nmo", P, v - v0[:, None, :], optimize=True)
    return phi + c[None, :, None] * (v1 - v0)[:, None, :]


def solve_wls(masks: np.ndarray, weights: np.ndarray, v: np.ndarray, v0: np.ndarray,
              v1: np.ndarray, *, ridge: float = 0.0, backend: str = "cpp") -> np.ndarray:
    """Efficiency-constrained KernelSHAP solve for every instance and output at once.

    Args:
        masks: ``bool[S, M]`` coalitions shared by all instances.
        weights: ``float64[S]``.
        v: Coalition values ``float[n, S, O]`` (or ``[n, S]``).
        v0: Value of the empty coalition ``[n, O]`` or ``[O]``.
        v1: Value of the full coalition ``[n, O]`` or ``[O]``.
        ridge: See :func:`wls_operator`.
        backend: ``"cpp"``, ``"numba"``, ``"numpy"`` (operator and solve on the host) or
            ``"jax"`` (operator by ``cpp`` on the host, solve by :func:`solve_wls_jax`).

    Returns:
        ``phi float64[n, M, O]`` (``[n, M]`` for 2-D ``v``) with ``phi.sum(1) == v1 - v0``.
    """
    check_backend(backend, BACKENDS + ("jax",))
    z, w = _check_design(masks, weights)
    v, v0, v1, squeeze = _check_values(v, v0, v1, z.shape[0])
    P, c = wls_operator(z, w, ridge=ridge, backend="cpp" if backend == "jax" else backend)
    if backend == "jax":
        from ._jax import solve_wls_jax
        phi = np.asarray(solve_wls_jax(P, c, v, v0, v1), dtype=np.float64)
    else:
        phi = apply_operator(P, c, v, v0, v1)
    return phi[..., 0] if squeeze else phi


def solve_wls_batched(masks: np.ndarray, weights: np.ndarray, v: np.ndarray,
                      v0: np.ndarray | None = None, v1: np.ndarray | None = None, *,
                      ridge: float = 0.0, constrained: bool = True) -> np.ndarray:
    """Per-instance weighted least squares (each instance has its own coalitions).

    Args:
        masks: ``bool[n, S, M]``.
        weights: ``float[n, S]``.
        v: ``float[n, S, O]`` (or ``[n, S]``).
        v0, v1: ``[n, O]`` or ``[O]``; required when ``constrained``, ignored otherwise.
        ridge: Ridge on the coefficients (never on the intercept).
        constrained: True: the efficiency-constrained Shapley fit. False: LIME's
            ``v ~ b + z . phi`` with a free intercept ``b`` (not returned).

    Returns:
        ``phi float64[n, M, O]`` (``[n, M]`` for 2-D ``v``).
    """
    z = np.asarray(masks)
    if z.ndim != 3:
        raise ValueError(f"masks: expected bool[n, S, M], got shape {z.shape}")
    n, s, m = z.shape
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n, s):
        raise ValueError(f"weights: expected float[{n}, {s}], got shape {w.shape}")
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge: expected a finite float >= 0, got {ridge!r}")
    v = np.asarray(v, dtype=np.float64)
    if v.shape[:2] != (n, s) or v.ndim not in (2, 3):
        raise ValueError(f"v: expected float[{n}, {s}, O] (or [{n}, {s}]), got shape {v.shape}")
    zf = z.astype(np.float64)
    if constrained:
        if v0 is None or v1 is None:
            raise ValueError("v0, v1: required when constrained=True")
        v, v0, v1, squeeze = _check_values(v, v0, v1, s)
        pi = np.eye(m) - 1.0 / m
        G = np.einsum("nsi,ns,nsj->nij", zf, w, zf)
        tr = np.trace(G, axis1=1, axis2=2) / m
        alpha = np.where(tr > 0, tr, 1.0)[:, None, None]  # H's eigenvalue along ones
        H = pi @ G @ pi + ridge * pi + alpha / m
        T = np.linalg.pinv(H, rcond=1e-10, hermitian=True) - 1.0 / (alpha * m)
        y = v - v0[:, None, :] - (v1 - v0)[:, None, :] * zf.sum(-1)[..., None] / m
        rhs = np.einsum("nsi,ns,nso->nio", zf, w, y)
        phi = T @ rhs
        phi -= phi.mean(axis=1, keepdims=True)
        phi += (v1 - v0)[:, None, :] / m
    else:
        squeeze = v.ndim == 2
        if squeeze:
            v = v[..., None]
        X = np.concatenate([np.ones((n, s, 1)), zf], axis=2)
        A = np.einsum("nsi,ns,nsj->nij", X, w, X) + ridge * np.diag([0.0] + [1.0] * m)
        rhs = np.einsum("nsi,ns,nso->nio", X, w, v)
        phi = (np.linalg.pinv(A, rcond=1e-12, hermitian=True) @ rhs)[:, 1:]
    return phi[..., 0] if squeeze else phi
