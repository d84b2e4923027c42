"""What the Shapley methods share: background, players, the engine, the explain flow."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_int, check_seed
from ..engine._background import check_background, kmeans, split_weights
from ..engine._coalitions import CoalitionEngine, link_fn
from ..engine._inputs import column_names, model_batch, with_known_specs
from ..engine._link_check import check_link_outputs
from ..engine._masking import masking_of, replacement_rows
from ..engine._players import group_names, resolve_groups, resolve_row_groups
from ..kernels._threads import one_blas_thread
from ..results._attribution import Attribution
from ._base import Method, check_output_names


class ShapleyMethod(Method):
    """Base of KernelShap, PermutationShap, ExactShap and Lime.

    Subclasses define ``_build(m) -> dict`` (their state for ``m`` players: coalitions,
    operators; set as attributes), ``_check_players(m)`` (refuse an ``m`` they cannot
    take), ``_estimate(v, v0, v1) -> (phi [n, M, O], stats)``, ``_masks() -> bool[S, M]``
    (the coalitions to evaluate, without empty and full) and, where the estimate of a row
    whose map leaves players without elements is not simply zero there,
    ``_restricted(...)``.

    Players come from the constructor's ``groups`` (one map shared by every row) or from
    each call's ``explain(X, groups=G)`` (one map per row; ``groups="per_call"`` in the
    constructor when every call brings its own).
    """

    name = "Shapley"

    def __init__(self, model: Any, background: Any, *, groups: Any = None,
                 feature_names: Any = None, output_names: Any = None,
                 link: str = "identity", background_size: int | None = None, seed: int = 0,
                 max_batch: int | None = None, progress: bool | None = None) -> None:
        seed = check_seed(seed)
        self.per_call = isinstance(groups, str)
        if self.per_call and groups != "per_call":
            raise InputError(f"groups: expected a map of player ids, None or 'per_call', "
                             f"got {groups!r}")
        self.masking = masking_of(background)
        if feature_names is None and groups is None and self.masking is None:
            feature_names = column_names(background[0] if isinstance(background, tuple)
                                         else background)   # a DataFrame's columns
        self._named = feature_names is not None
        if background_size is not None:
            background_size = check_int(background_size, "background_size", 1)
        link_fn(link)  # validates the name
        super().__init__(model, max_batch=max_batch, progress=progress)
        self.link, self.seed = link, seed
        self._states: dict[int, dict] = {}
        self._shared_map = None if self.per_call else groups
        self._feature_names_arg = feature_names
        if self.masking is not None:
            if self.fn.structure != "single":
                raise InputError("model: Shapley methods take single-input models; "
                                 f"this one has inputs {list(self.fn.input_names)}")
            if background_size is not None:
                raise InputError(f"background_size: summarises background rows; the "
                                 f"background is {self.masking.describe()!r}")
            self.background = self.background_weights = None
            row_shape = self.fn.inputs[0].shape
        else:
            bg, weights = self._background_rows(background, background_size)
            self.background, self.background_weights = bg, weights
            row_shape = tuple(bg.shape[1:])
        if not self.fn.outputs and self.fn.inputs[0].shape is not None:
            self.fn = with_known_specs(self.fn, None)        # the outputs, traced
        self.output_names = check_output_names(output_names, self.fn)
        if self.per_call:
            self.groups, self.n_players, self.feature_names = None, 0, None
        else:
            if row_shape is None:
                raise InputError("groups: a plain JAX callable with a masking background "
                                 "has no known row shape; give groups='per_call' and "
                                 "explain(X, groups=...)")
            self.groups, self.n_players = resolve_groups(groups, tuple(row_shape))
            if self.n_players < 1:
                raise InputError("groups: expected at least one player")
            self.feature_names = group_names(groups, self.n_players, feature_names,
                                             tuple(row_shape))
        self._shared = (self.n_players, self.feature_names)
        self.engine = CoalitionEngine(self.fn, self.background, self.groups, link,
                                      self.background_weights)
        if link != "identity" and self.background is not None:  # the link's domain
            check_link_outputs(link, self.engine.background_outputs(self._batch(self.fn)),
                               "background row")

    def _background_rows(self, background: Any, background_size: int | None
                         ) -> tuple[np.ndarray, np.ndarray | None]:
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
            bg, weights = kmeans(bg, background_size, seed=self.seed)
        return bg, weights

    def _init_players(self) -> None:
        """Build the state of the shared map's players (subclasses call it last)."""
        if not self.per_call:
            self._use_players(self.n_players)

    def _use_players(self, m: int) -> None:
        """Switch to the state for ``m`` players, built once per ``m`` (a few kept)."""
        if m not in self._states:
            self._check_players(m)
            keep = dict(list(self._states.items())[-3:])
            with one_blas_thread():     # the operators' factorisations (see _threads)
                keep[m] = self._build(m)
            self._states = keep
        self.__dict__.update(self._states[m])
        self.n_players = m

    # -- to be defined by each method --------------------------------------------------
    def _check_players(self, m: int) -> None:
        pass

    def _build(self, m: int) -> dict:
        return {}

    def _masks(self) -> np.ndarray:
        raise NotImplementedError

    def _estimate(self, v: np.ndarray, v0: np.ndarray, v1: np.ndarray
                  ) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    def _restricted(self, active: np.ndarray, v: np.ndarray, v0: np.ndarray,
                    v1: np.ndarray, phi: np.ndarray, se: np.ndarray | None) -> None:
        """Rows ``v [r, S, O]`` whose players ``~active`` have no element: their values
        (``phi [r, M, O]``, ``se``, edited in place) are those of the game of the active
        players. Here: the absent players' values set to 0 (their marginal contributions
        are 0 in every coalition: exact for enumeration and permutations)."""
        phi[:, ~active] = 0.0
        if se is not None:
            se[:, ~active] = 0.0

    def _config(self) -> dict:
        return {}

    # -- the shared flow -----------------------------------------------------------------
    def _batch(self, fn: Any, x: Any = None) -> int:
        """Model rows per device call: the user's ``max_batch``, else the coalition
        engine's default (cache-sized on CPU, for rows shaped as ``x``'s where given)."""
        return self.max_batch or model_batch(fn, x, cache_sized=True)

    def _players_of_call(self, groups: Any, prep: Any) -> Players:
        """The call's players: its per-row maps, or the constructor's shared map."""
        if groups is None:
            if self.per_call:
                raise InputError("groups: this explainer was built with groups='per_call'; "
                                 "pass explain(X, groups=...) (one map per row)")
            shared = None
            if self._shared_map is not None:
                g = np.asarray(self._shared_map)
                shared = np.broadcast_to(g, (prep.n, *g.shape))
            return Players(None, *self._shared[:1], shared, None, self._shared[1])
        row_shape = tuple(np.shape(prep.x)[1:])
        flat, m, maps, active = resolve_row_groups(groups, prep.n, row_shape)
        names = [f"group{i}" for i in range(m)]
        if self._feature_names_arg is not None and len(self._feature_names_arg) == m:
            names = [str(n) for n in self._feature_names_arg]
        return Players(flat, m, maps, None if active.all() else active, names)

    def _replacements(self, x: np.ndarray, players: Players) -> np.ndarray | None:
        if self.masking is None:
            return None
        flat = players.flat
        if flat is None and self.masking.mode == "segment_mean":
            flat = np.broadcast_to(self.groups, (x.shape[0], self.groups.size))
        return replacement_rows(self.masking, x, flat)

    def _result(self, prep: Any, values: np.ndarray, base: np.ndarray, stats: dict,
                players: Players | None = None) -> Attribution:
        """The :class:`Attribution` of one call (values already narrowed to the target)."""
        names = self._shared[1] if players is None else players.names
        if not self._named and prep.columns and len(prep.columns) == len(names) \
                and (players is None or players.flat is None) and self.groups.ndim == 1:
            names = prep.columns                          # a DataFrame X names the columns
        bg = self.masking.describe() if self.masking is not None else len(self.background)
        return Attribution(values=values, base_values=base, data=np.asarray(prep.x),
                           method=self.name, feature_names=names,
                           output_names=self.output_names or list(prep.fn.output_names),
                           target=prep.target,
                           params={"link": self.link, "seed": self.seed,
                                   "background_rows": bg, **self._config()},
                           stats=stats,
                           groups=None if players is None else players.maps)

    def _values_of_call(self, prep: Any, masks: np.ndarray, players: Players, batch: int,
                        need_v0: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``v0 [n, O]`` (zeros unless ``need_v0``), ``v1 [n, O]`` and ``v [n, S, O]``."""
        x = prep.x
        rows = self._replacements(x, players)
        if not need_v0:
            v0 = np.zeros((prep.n, self.fn.n_outputs))
        elif players.flat is not None and (players.flat < 0).any():
            # elements of no player keep x even in the empty coalition: v0 is per row
            v0 = self.engine.values(x, np.zeros((1, players.m), bool), batch, False,
                                    groups=players.flat, row_background=rows)[:, 0]
        elif rows is None:
            v0 = np.broadcast_to(self.engine.base_value(batch), (prep.n, self.fn.n_outputs))
        else:
            v0 = self.engine.row_base_values(rows, batch)
        v, v1 = self.engine.values(x, masks, batch, self.progress, groups=players.flat,
                                   row_background=rows, with_full=True)
        return np.asarray(v0, dtype=np.float64), v1, v

    def explain(self, X: Any, *, target: Any = None, groups: Any = None) -> Attribution:
        """Shapley values of every player for each row of ``X``.

        Args:
            X: Inputs ``[n, ...]`` matching the model (and the background).
            target: ``None`` (all outputs: values ``[n, M, O]``), an int, one int per row,
                or ``"predicted"`` (values ``[n, M]``).
            groups: Per-row player maps for this call (e.g. :func:`xaicore.superpixels`):
                ``[n, *row]``, ``[n, E]`` or, for images ``[n, H, W, C]``, ``[n, H, W]``;
                ids ``0..M-1`` (``M`` the largest + 1 over the call) or ``-1`` (not a
                player: always the instance's value). A row may use fewer players: the
                others have no element there and get 0. ``None``: the constructor's map.

        Returns:
            An :class:`Attribution`; ``base_values`` is the (link of the) expected output
            over the background; ``stats`` hold ``model_rows``, ``seconds`` (the call's),
            ``host_seconds`` (of them, the estimator's host work: solves, standard
            errors), ``max_efficiency_gap`` and, where the estimator has one, ``stderr``;
            ``groups`` the players' maps, one per row (when players were groups).
        """
        t0 = time.perf_counter()
        prep = self._prepare(X, target)
        players = self._players_of_call(groups, prep)
        self._use_players(players.m)
        batch = self._batch(prep.fn, prep.x)
        masks = self._masks()
        # Rows in blocks whose coalition values [rows, S, O] stay within VALUES_BYTES, so
        # memory does not grow with the rows of a call (each row is solved on its own).
        outs = 1 if prep.target is not None else max(1, self.fn.n_outputs)
        block = max(1, VALUES_BYTES // (8 * max(1, masks.shape[0]) * outs))
        parts = [self._solve_rows(_rows_of(prep, r0, r0 + block),
                                  _players_rows(players, r0, r0 + block), masks, batch)
                 for r0 in range(0, prep.n, block)]
        phi, base, gap = (np.concatenate([q[i] for q in parts]) for i in range(3))
        stats = parts[0][4]
        stats["host_seconds"] = sum(q[4]["host_seconds"] for q in parts)
        if parts[0][3] is not None:
            stats["stderr"] = np.concatenate([q[3] for q in parts])
        k = 1 if self.masking is not None else len(self.background)
        stats.update(model_rows=int(prep.n * (masks.shape[0] * k + 1)
                                    + (prep.n if self.masking is not None else k)),
                     coalitions=int(masks.shape[0]), seconds=time.perf_counter() - t0,
                     max_efficiency_gap=float(gap.max()), compiles=self.engine.compiled)
        return self._result(prep, phi, base, stats, players)

    def _solve_rows(self, prep: Any, players: Players, masks: np.ndarray, batch: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, dict]:
        """``(phi, base, gap, stderr or None, stats)`` of the rows of ``prep``."""
        v0, v1, v = self._values_of_call(prep, masks, players, batch)
        base = v0.copy()                                    # [n, O]
        t = prep.target
        if t is not None:   # solve for the targeted output only: [n, S, 1], [n, 1]
            rows = np.arange(prep.n)
            v, base, v1 = v[rows, :, t][..., None], base[rows, t][:, None], v1[rows, t][:, None]
        t0 = time.perf_counter()
        with one_blas_thread():
            phi, stats = self._estimate(v, base, v1)
            se = stats.pop("stderr", None)
            if players.active is not None:        # rows whose map leaves players out
                patterns, which = np.unique(players.active, axis=0, return_inverse=True)
                for j, act in enumerate(patterns):
                    if act.all():
                        continue
                    r = np.flatnonzero(which.reshape(-1) == j)
                    sub_phi, sub_se = phi[r], None if se is None else se[r]
                    self._restricted(act, v[r], base[r], v1[r], sub_phi, sub_se)
                    phi[r] = sub_phi
                    if se is not None:
                        se[r] = sub_se
        stats["host_seconds"] = time.perf_counter() - t0
        gap = np.abs(phi.sum(axis=1) - (v1 - base))         # [n, O]
        if t is not None:
            phi, base, gap = phi[..., 0], base[:, 0], gap[:, 0]
            se = None if se is None else se[..., 0]
        return phi, base, gap, se, stats


#: Bytes of coalition values ``[rows, S, O]`` (float64) one block of rows may hold.
VALUES_BYTES = 64 << 20


def _rows_of(prep: Any, r0: int, r1: int) -> Any:
    """The rows ``r0:r1`` of a prepared call (single-input: ``x`` is one array)."""
    if r0 == 0 and r1 >= prep.n:
        return prep
    return dataclasses.replace(prep, x=prep.x[r0:r1], n=min(r1, prep.n) - r0,
                               target=None if prep.target is None else prep.target[r0:r1])


def _players_rows(players: Players, r0: int, r1: int) -> Players:
    """The per-row parts of a call's players, for the rows ``r0:r1``."""
    cut = (lambda a: None if a is None else a[r0:r1])  # noqa: E731
    return dataclasses.replace(players, flat=cut(players.flat), maps=cut(players.maps),
                               active=cut(players.active))


@dataclass(frozen=True)
class Players:
    """The players of one call."""

    flat: np.ndarray | None     # per-row ids int32[n, E] (-1: not a player), or None: shared
    m: int                      # players (the largest id + 1 over the call)
    maps: np.ndarray | None     # the maps as given, one per row (for the Attribution)
    active: np.ndarray | None   # bool[n, M]: players with an element in the row (None: all)
    names: list | None
