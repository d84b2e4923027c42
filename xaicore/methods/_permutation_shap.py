"""Shapley value sampling over permutations, antithetic, all prefixes in one batched pass."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_bool, check_int
from ._shapley_base import ShapleyMethod


def permutation_coalitions(m: int, n_permutations: int, antithetic: bool, seed: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct prefix coalitions of seeded random permutations.

    Returns:
        ``perms int[U, M]``, ``masks bool[S, M]`` (distinct, without empty and full) and
        ``index int[U, M + 1]``: the column of prefix ``j`` of permutation ``u`` in the
        value table ``[v0, v(masks)..., v1]``.
    """
    rng = np.random.default_rng(seed)
    base = n_permutations // 2 if antithetic else n_permutations
    perms = np.argsort(rng.random((base, m)), axis=1)
    if antithetic:  # each permutation followed by its reverse
        perms = np.stack([perms, perms[:, ::-1]], axis=1).reshape(-1, m)
    u = len(perms)
    pos = np.empty_like(perms)
    np.put_along_axis(pos, perms, np.arange(m)[None].repeat(u, 0), axis=1)
    prefix = pos[:, None, :] < np.arange(1, m)[None, :, None]      # [U, M-1, M]
    masks, inverse = np.unique(prefix.reshape(-1, m), axis=0, return_inverse=True)
    index = np.empty((u, m + 1), dtype=np.int64)
    index[:, 0] = 0
    index[:, 1:m] = inverse.reshape(u, m - 1) + 1
    index[:, m] = len(masks) + 1
    return perms, masks, index


class PermutationShap(ShapleyMethod):
    """Shapley value sampling (Strumbelj & Kononenko 2014) with antithetic permutations.

    Every prefix coalition of every permutation is evaluated in one batched pass;
    prefixes shared by several permutations are evaluated once. Efficiency holds exactly
    for every permutation; the standard error is the spread over permutation pairs.

    Args:
        model: Anything :func:`xaicore.export` accepts (single input).
        background: Background rows (or one baseline row).
        n_permutations: Permutations drawn (antithetic partners included).
        antithetic: Pair each permutation with its reverse (lower variance).
        seed: Seed of the permutations.
        groups, feature_names, output_names, link, background_size, max_batch: as
            :class:`KernelShap`.
    """

    name = "PermutationShap"

    def __init__(self, model: Any, background: Any, *, n_permutations: int = 32,
                 antithetic: bool = True, seed: int = 0, **kwargs: Any) -> None:
        n_permutations = check_int(n_permutations, "n_permutations", 2)
        antithetic = check_bool(antithetic, "antithetic")
        if antithetic and n_permutations % 2:
            raise InputError(f"n_permutations: must be even with antithetic=True (each "
                             f"permutation comes with its reverse), got {n_permutations}")
        self.n_permutations, self.antithetic = n_permutations, antithetic
        super().__init__(model, background, seed=seed, **kwargs)
        self._init_players()

    def _check_players(self, m: int) -> None:
        if m < 2:
            raise InputError(f"groups: PermutationShap needs at least 2 players, got {m}")

    def _build(self, m: int) -> dict:
        perms, masks, index = permutation_coalitions(m, self.n_permutations,
                                                     self.antithetic, self.seed)
        return {"perms": perms, "masks": masks, "index": index}

    def _masks(self) -> np.ndarray:
        return self.masks

    def _config(self) -> dict:
        return {"n_permutations": self.n_permutations, "antithetic": self.antithetic}

    def _estimate(self, v: np.ndarray, v0: np.ndarray, v1: np.ndarray
                  ) -> tuple[np.ndarray, dict]:
        n, _, o = v.shape
        table = np.concatenate([v0[:, None], v, v1[:, None]], axis=1)   # [n, S+2, O]
        marg = np.diff(table[:, self.index], axis=2)                    # [n, U, M, O]
        pos = np.argsort(self.perms, axis=1)                            # player -> position
        per_perm = np.take_along_axis(marg, pos[None, :, :, None], axis=2)
        if self.antithetic:
            per_perm = per_perm.reshape(n, -1, 2, self.n_players, o).mean(axis=2)
        units = per_perm.shape[1]
        phi = per_perm.mean(axis=1)
        se = per_perm.std(axis=1, ddof=1) / np.sqrt(units) if units > 1 else None
        return phi, {} if se is None else {"stderr": se}
