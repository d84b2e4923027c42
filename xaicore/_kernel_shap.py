"""KernelSHAP: a constrained weighted least-squares fit over sampled coalitions."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels
from ._errors import InputError
from ._shapley_base import ShapleyMethod


class KernelShap(ShapleyMethod):
    """Kernel SHAP (Lundberg & Lee 2017) with an exactly enforced efficiency constraint.

    The coalitions, their weights and the least-squares operator are built once per
    explainer and shared by every instance: the solve for all rows and outputs is one
    matrix product. Coalition sizes that fit the budget are enumerated exactly, the rest
    sampled (paired with complements, duplicates merged).

    Args:
        model: Anything :func:`xaicore.export` accepts (single input).
        background: Background rows ``[K, ...]`` (or one baseline row) standing in for
            absent players.
        n_samples: Coalitions evaluated per instance (the budget); ``"auto"`` is
            ``min(2**M - 2, 2*M + 2048)`` like shap.
        seed: Seed of the coalition sampler (same seed, same attributions).
        groups: Player id of every input element (``None``: each element a player);
            see :func:`xaicore.patch_groups`.
        scheme: Coalition sampling scheme (see :func:`xaicore.kernels.sample_coalitions`).
        paired: Pair each sampled coalition with its complement.
        backend: Host kernel backend: ``"cpp"``, ``"numba"`` or ``"numpy"``.
        n_boot: Bootstrap resamples for the standard errors (0 switches them off).
        link: ``"identity"`` or ``"logit"``.
        background_size: Summarise the background by this many k-means centroids.
        max_batch: Model rows per device call.

    Example:
        >>> ks = xaicore.KernelShap(model, X[:50], n_samples=1024)   # doctest: +SKIP
        >>> att = ks.explain(X[:5], target="predicted")              # doctest: +SKIP
    """

    name = "KernelShap"

    def __init__(self, model: Any, background: Any, *, n_samples: int | str = "auto",
                 seed: int = 0, groups: Any = None, scheme: str | None = None,
                 paired: bool = True, backend: str = "cpp", n_boot: int = 64,
                 ridge: float = 0.0, **kwargs: Any) -> None:
        super().__init__(model, background, groups=groups, seed=seed, **kwargs)
        m = self.n_players
        if m < 2:
            raise InputError(f"groups: KernelShap needs at least 2 players, got {m}")
        full = 2 ** m - 2 if m < 62 else 2 ** 62
        if n_samples == "auto":
            n_samples = int(min(full, 2 * m + 2048))
        if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool):
            raise InputError(f"n_samples: expected an int or 'auto', got {n_samples!r}")
        self.n_samples = int(min(n_samples, full))
        kw = {} if scheme is None else {"scheme": scheme}
        try:
            self.coalitions = kernels.sample_coalitions(m, self.n_samples, paired=paired,
                                                        seed=self.seed, backend=backend, **kw)
        except ValueError as e:
            if "budget" in str(e):
                raise InputError(f"n_samples: {e}") from None
            raise
        self.operator = kernels.wls_operator(self.coalitions.masks, self.coalitions.weights,
                                             ridge=ridge, backend=backend)
        self.scheme, self.backend, self.n_boot = scheme, backend, int(n_boot)

    def _masks(self) -> np.ndarray:
        return self.coalitions.masks

    def _config(self) -> dict:
        return {"n_samples": self.n_samples, "scheme": self.scheme or "default",
                "backend": self.backend}

    def _estimate(self, v: np.ndarray, v0: np.ndarray, v1: np.ndarray
                  ) -> tuple[np.ndarray, dict]:
        P, c = self.operator
        phi = np.einsum("ms,nso->nmo", P, v - v0[:, None, :]) \
            + c[None, :, None] * (v1 - v0)[:, None, :]
        stats: dict = {}
        if self.n_boot > 0:
            stats["stderr"] = kernels.standard_errors(self.coalitions, v, v0, v1,
                                                      n_boot=self.n_boot, seed=self.seed)
        return phi, stats
