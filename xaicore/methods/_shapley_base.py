"""What the Shapley methods share: background, players, the engine, the explain flow."""
from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from .._errors import InputError
from .._validate import check_int, check_seed
from ..engine._background import check_background, kmeans, split_weights
from ..engine._batching import default_max_batch, run_chunked
from ..engine._coalitions import CoalitionEngine, link_fn
from ..engine._inputs import column_names, row_elements, with_known_specs
from ..engine._link_check import check_link_outputs
from ..engine._players import group_names, resolve_groups
from ..results._attribution import Attribution
from ._base import Method, check_output_names


class ShapleyMethod(Method):
    """Base of KernelShap, PermutationShap and ExactShap.

    Subclasses define ``_estimate(v, v0, v1) -> (phi [n, M, O], stats)`` and
    ``_masks() -> bool[S, M]`` (the coalitions to evaluate, without empty and full).
    """

    name = "Shapley"

    def __init__(self, model: Any, background: Any, *, groups: Any = None,
                 feature_names: Any = None, output_names: Any = None,
                 link: str = "identity", background_size: int | None = None, seed: int = 0,
                 max_batch: int | None = None, progress: bool | None = None) -> None:
        seed = check_seed(seed)
        if feature_names is None and groups is None:     # a DataFrame's columns name them
            feature_names = column_names(background[0] if isinstance(background, tuple)
                                         else background)
        self._named = feature_names is not None
        if background_size is not None:
            background_size = check_int(background_size, "background_size", 1)
        link_fn(link)  # validates the name
        super().__init__(model, max_batch=max_batch, progress=progress)
        spec = self.fn.inputs[0]
        rows, weights = split_weights(background,
                                      None if spec.shape is None else len(spec.shape) + 1)
        self.fn = with_known_specs(self.fn, np.asarray(rows)[:1]
                                   if spec.shape is None else None)
        bg = check_background(self.fn, rows)
        if background_size is not None and background_size < len(bg):
            if weights is not None:
                raise InputError(f"background_size: the background is already weighted "
                                 f"rows (a (rows, weights) pair of {len(bg)} rows); give "
                                 f"background_size={background_size} or the pair, not both")
            bg, weights = kmeans(bg, background_size, seed=seed)
        self.background = bg
        self.background_weights = weights
        self.groups, self.n_players = resolve_groups(groups, tuple(bg.shape[1:]))
        if self.n_players < 1:
            raise InputError("groups: expected at least one player")
        self.feature_names = group_names(groups, self.n_players, feature_names,
                                         tuple(bg.shape[1:]))
        self.output_names = check_output_names(output_names, self.fn)
        self.link = link
        self.seed = seed
        if link != "identity":   # the link's domain, on the background's outputs
            f = jax.jit(self.fn.apply_flat)
            check_link_outputs(link, run_chunked(lambda part: f(self.fn.params, part), bg,
                                                 self._batch(self.fn)), "background row")
        self.engine = CoalitionEngine(self.fn, bg, self.groups, link, weights)

    # -- to be defined by each method --------------------------------------------------
    def _masks(self) -> np.ndarray:
        raise NotImplementedError

    def _estimate(self, v: np.ndarray, v0: np.ndarray, v1: np.ndarray
                  ) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    def _config(self) -> dict:
        return {}

    # -- the shared flow -----------------------------------------------------------------
    def _batch(self, fn: Any) -> int:
        """Model rows per device call: the user's ``max_batch``, else the coalition
        engine's default (cache-sized on CPU)."""
        return self.max_batch or default_max_batch(row_elements(fn), cache_sized=True)

    def _result(self, prep: Any, values: np.ndarray, base: np.ndarray, stats: dict
                ) -> Attribution:
        """The :class:`Attribution` of one call (values already narrowed to the target)."""
        names = self.feature_names
        if not self._named and prep.columns and len(prep.columns) == len(names) \
                and self.groups.ndim == 1:               # a DataFrame X names the columns
            names = prep.columns
        return Attribution(values=values, base_values=base, data=np.asarray(prep.x),
                           method=self.name, feature_names=names,
                           output_names=self.output_names or list(prep.fn.output_names),
                           target=prep.target,
                           params={"link": self.link, "seed": self.seed,
                                   "background_rows": len(self.background),
                                   **self._config()},
                           stats=stats)

    def explain(self, X: Any, *, target: Any = None) -> Attribution:
        """Shapley values of every player for each row of ``X``.

        Args:
            X: Inputs ``[n, ...]`` matching the model (and the background).
            target: ``None`` (all outputs: values ``[n, M, O]``), an int, one int per row,
                or ``"predicted"`` (values ``[n, M]``).

        Returns:
            An :class:`Attribution`; ``base_values`` is the (link of the) expected output
            over the background; ``stats`` hold ``model_rows``, ``seconds``,
            ``max_efficiency_gap`` and, where the estimator has one, ``stderr``.
        """
        t0 = time.perf_counter()
        prep = self._prepare(X, target)
        x = prep.x
        batch = self._batch(prep.fn)
        masks = self._masks()
        v0 = self.engine.base_value(batch)                  # [O]
        v1 = self.engine.full_value(x, batch)               # [n, O]
        v = self.engine.values(x, masks, batch, self.progress)  # [n, S, O]
        base = np.broadcast_to(v0, v1.shape).copy()         # [n, O]
        t = prep.target
        if t is not None:   # solve for the targeted output only: [n, S, 1], [n, 1]
            rows = np.arange(prep.n)
            v, base, v1 = v[rows, :, t][..., None], base[rows, t][:, None], v1[rows, t][:, None]
        phi, stats = self._estimate(v, base, v1)
        gap = np.abs(phi.sum(axis=1) - (v1 - base))         # [n, O]
        se = stats.pop("stderr", None)
        if t is not None:
            phi, base, gap = phi[..., 0], base[:, 0], gap[:, 0]
            se = None if se is None else se[..., 0]
        if se is not None:
            stats["stderr"] = se
        k = len(self.background)
        stats.update(model_rows=int(prep.n * (masks.shape[0] * k + 1) + k),
                     coalitions=int(masks.shape[0]), seconds=time.perf_counter() - t0,
                     max_efficiency_gap=float(gap.max()), compiles=self.engine.compiled)
        return self._result(prep, phi, base, stats)
