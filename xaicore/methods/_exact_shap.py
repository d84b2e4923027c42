"""Exact Shapley values: every coalition evaluated, one linear map (the tests' ground truth)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import kernels
from .._errors import InputError
from ._shapley_base import ShapleyMethod

MAX_PLAYERS = 20


class ExactShap(ShapleyMethod):
    """Exact Shapley values by enumeration of all ``2**M`` coalitions.

    Cost grows as ``2**M`` model evaluations per instance and background row, so it is
    limited to ``M <= 20`` players; above that use :class:`KernelShap` or
    :class:`PermutationShap` (or fewer players through ``groups``).

    Args:
        model: Anything :func:`xaicore.export` accepts (single input).
        background: Background rows (or one baseline row).
        groups, feature_names, output_names, link, background_size, max_batch: as
            :class:`KernelShap`.

    With a single player (e.g. ``groups`` all 0) its value is ``f(x) - base``.
    """

    name = "ExactShap"

    def __init__(self, model: Any, background: Any, **kwargs: Any) -> None:
        super().__init__(model, background, **kwargs)
        self._init_players()

    def _check_players(self, m: int) -> None:
        if m > MAX_PLAYERS:
            raise InputError(f"groups: ExactShap enumerates 2**M coalitions and takes at most "
                             f"M = {MAX_PLAYERS} players, got M = {m}; use KernelShap or "
                             "PermutationShap, or group features with groups=")

    def _build(self, m: int) -> dict:
        masks, P = kernels.exact_operator(m)
        inner = masks.any(axis=1) & ~masks.all(axis=1)
        if m == 1:
            # One player: its Shapley value is v1 - v0 and there is no coalition between
            # empty and full; the engine is still handed one (the full one again, weight 0)
            # so that every explain call evaluates a non-empty coalition table.
            inner = masks.all(axis=1)
        return {"_inner_masks": masks[inner],
                "_P_inner": P[:, inner] if m > 1 else np.zeros((1, 1)),
                "_P_empty": P[:, ~masks.any(axis=1)].sum(axis=1),
                "_P_full": P[:, masks.all(axis=1)].sum(axis=1)}

    def _masks(self) -> np.ndarray:
        return self._inner_masks

    def _estimate(self, v: np.ndarray, v0: np.ndarray, v1: np.ndarray
                  ) -> tuple[np.ndarray, dict]:
        phi = (np.einsum("ms,nso->nmo", self._P_inner, v)
               + self._P_empty[None, :, None] * v0[:, None, :]
               + self._P_full[None, :, None] * v1[:, None, :])
        return phi, {}
