"""KernelSHAP: a constrained weighted least-squares fit over sampled coalitions."""
from __future__ import annotations

import collections
import dataclasses
from typing import Any

import numpy as np

from .. import kernels
from .._errors import InputError
from .._validate import check_bool, check_float, check_int
from ..kernels._ard import ard_applies
from ..kernels._sparse_step import SPARSE_PAIRS, sparse_applies
from ..kernels._wls import apply_operator
from ._shapley_base import ShapleyMethod
from ._step_cost import ard_pays, model_flops_per_row, sparse_pays

#: Largest player count for which ``estimator="auto"`` picks the cubic estimate when the
#: coalitions are not paired (its host solve grows as ``C(M, 3)**3`` per row: ~0.2 ms at
#: M = 10, ~10 ms at M = 16).
AUTO_CUBIC_MAX = 16
ESTIMATORS = ("auto", "spectral", "cubic", "linear")
#: Fewest coalitions the spectral estimate takes (one complement pair).
SPECTRAL_MIN_SAMPLES = 2
#: Bytes of per-pattern spectral designs one explainer keeps (see ``_row_design``).
ROW_DESIGN_BYTES = 256 << 20


#: Largest budget at which the spectral estimate draws ``"stratified"`` coalitions (a
#: fixed count per size) rather than ``"leverage"`` ones: 0.92x the error at 64-128
#: evaluations on the accuracy benchmark's games (18 cells, 8 seeds, none above 1.02x),
#: mixed at 256 (0.86-1.12x), worse at 512-1024 on the unanimity games (``RESULTS.md``).
SPECTRAL_STRATIFIED_MAX = 128


def default_scheme(estimator: str, n_samples: int) -> str:
    """The coalition scheme that measured lowest error for an estimator and budget."""
    if estimator == "cubic" or (estimator == "spectral"
                                and n_samples <= SPECTRAL_STRATIFIED_MAX):
        return "stratified"
    return kernels.DEFAULT_SCHEME


def default_first_classes(estimator: str, m: int, n_samples: int) -> int:
    """How many classes of coalition sizes (``s`` and ``M - s``, from ``s = 1``) the
    estimator's coalitions enumerate first, each where the budget holds it
    (``sample_coalitions(first_classes=...)``); 0 for the regressions.

    The spectral estimate starts with the ``2 M`` singletons and their complements,
    which fix every Shapley value of a game of pairwise interactions (0.54-1.10x the
    error, geometric mean 0.86, in the 39 benchmark cells they changed). Then the
    ``M (M - 1)`` coalitions of 2 and ``M - 2`` players, which fix those of any game of
    interactions of order 4 at most, unless what they leave to the draw is
    :data:`~xaicore.kernels._sparse_step.SPARSE_PAIRS` pairs or more: there the draw
    alone samples most of them, its pairs are what the higher orders and the sparse step
    learn from, and enumerating measured 1.0-1.2x the error (``benchmarks/RESULTS.md``,
    session 16)."""
    if estimator != "spectral":
        return 0
    rest = n_samples - 2 * m - m * (m - 1)
    return 2 if rest // 2 < SPARSE_PAIRS else 1


def _pick_estimator(estimator: str, m: int, exact: bool, paired: bool) -> str:
    if estimator not in ESTIMATORS:
        raise InputError(f"estimator: expected one of {ESTIMATORS}, got {estimator!r}")
    if exact:
        return "linear"  # every coalition enumerated: the regression is exact Shapley
    if estimator == "auto":
        if paired:
            return "spectral"
        return "cubic" if 3 <= m <= AUTO_CUBIC_MAX else "linear"
    if estimator == "spectral" and not paired:
        raise InputError("estimator: 'spectral' needs complement-paired coalitions "
                         "(paired=True), got paired=False")
    if estimator == "cubic" and not 3 <= m <= kernels.MAX_CUBIC_FEATURES:
        raise InputError(f"estimator: 'cubic' needs 3 to {kernels.MAX_CUBIC_FEATURES} "
                         f"players, got {m}; use estimator='linear' (or group the "
                         f"features with groups=)")
    return estimator


class KernelShap(ShapleyMethod):
    """Kernel SHAP (Lundberg & Lee 2017) with an exactly enforced efficiency constraint.

    The coalitions and their weights are drawn once per explainer and shared by every
    instance. Coalition sizes that fit the budget are enumerated exactly, the rest
    sampled (paired with complements, without duplicates). Three estimators turn the
    coalition values into Shapley values:

    * ``"spectral"``: the posterior-mean Shapley values under a Gaussian prior on the
      game's odd Fourier terms (see :func:`xaicore.kernels.solve_spectral`): operators
      for a grid of priors built once per explainer, averaged per row and output by
      their evidence (a few matrix products for all rows), any number of players,
      standard errors from the posterior (needs ``paired=True``).

    * ``"linear"``: the Kernel SHAP regression; its operator is built once and the solve
      for all rows and outputs is one matrix product; bootstrap standard errors.
    * ``"cubic"``: the regression with third-order interaction terms added, returning the
      exact Shapley values of the fitted surrogate (see
      :func:`xaicore.kernels.solve_cubic`). 2-10x lower error than ``"linear"`` at the
      same number of model evaluations on smooth models (``benchmarks/RESULTS.md``), at
      a per-row host solve; no standard errors (a bootstrap would repeat that solve).

    ``"auto"`` picks ``"spectral"`` for paired coalitions; unpaired, ``"cubic"`` for 3 to
    16 players and ``"linear"`` otherwise; ``"linear"`` whenever every coalition is
    enumerated (all are exact then).

    Args:
        model: Anything :func:`xaicore.export` accepts (single input).
        background: Background rows ``[K, ...]`` (or one baseline row) standing in for
            absent players.
        n_samples: Coalitions evaluated per instance (the budget); ``"auto"`` is
            ``min(2**M - 2, 2*M + 2048)`` like shap.
        seed: Seed of the coalition sampler (same seed, same attributions).
        groups: Player id of every input element (``None``: each element a player);
            see :func:`xaicore.patch_groups`.
        feature_names: One name per player (``None``: a DataFrame background's or X's
            columns, else ``f0, f1, ...`` / ``group0, ...``).
        output_names: One name per model output (``None``: the model's), used by the
            plots' ``output=`` and ``to_shap()``.
        scheme: Coalition sampling scheme (see :func:`xaicore.kernels.sample_coalitions`);
            ``None``: ``"stratified"`` for the cubic estimator and for the spectral one
            at budgets up to 128, ``"leverage"`` otherwise (the lowest error measured
            for each, ``benchmarks/RESULTS.md``). The spectral estimate's coalitions
            start with the ``2 M`` singletons and their complements (all of the budget
            on them below ``2 M``), then the ``M (M - 1)`` coalitions of 2 and ``M - 2``
            players where the rest of the budget holds them and they leave fewer than
            500 pairs to the draw, whatever the scheme (:func:`default_first_classes`).
        paired: Pair each sampled coalition with its complement.
        backend: Host kernel backend: ``"cpp"``, ``"numba"`` or ``"numpy"``.
        n_boot: Bootstrap resamples for the standard errors of the linear estimate (0
            switches standard errors off, for the spectral estimate too).
        estimator: ``"auto"``, ``"spectral"``, ``"cubic"`` or ``"linear"`` (see above).
        sparse: With the spectral estimate, also look for a few interaction (unanimity)
            terms per row that the prior cannot fit, kept where their evidence pays
            (:func:`xaicore.kernels.solve_spectral`; at 1000 coalitions or more): 2-2.4x
            lower error on games of sparse interactions at 4096 coalitions, bit-identical
            on the model games measured, at 1-15 ms a row and output of host time.
            ``"auto"``: where the model's FLOPs for one instance are at least 300x the
            step's bound for all its outputs on CPU (30000x on an accelerator), as for
            ``ard``; ``True``: wherever it applies.
        ard: With the spectral estimate, add per-player (ARD) Fourier priors, weighted
            by each row's own estimate, to its model average
            (:func:`xaicore.kernels.solve_spectral`; at most 128 players and 512
            coalitions): 0.82x the error on the benchmark's model games (geometric mean,
            64-512 coalitions; 0.84-0.94x at 64 players), at a few ms to tens of ms of
            host time a row. ``"auto"``: where the
            model's FLOPs for one instance are at least 300x the step's on CPU (30000x on
            an accelerator), i.e. where it adds about a tenth to a call's time or less
            (see :mod:`xaicore.methods._step_cost`); ``True``: wherever it applies.
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
                 ridge: float = 0.0, estimator: str = "auto", sparse: bool | str = "auto",
                 ard: bool | str = "auto", **kwargs: Any) -> None:
        if not (isinstance(n_samples, str) and n_samples == "auto") and (
                isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer))
                or n_samples < 1):
            raise InputError(f"n_samples: expected 'auto' or an int >= 1 (coalitions per "
                             f"instance), got {n_samples!r}")
        paired = check_bool(paired, "paired")
        for name, arg in (("sparse", sparse), ("ard", ard)):
            if not (isinstance(arg, bool) or (isinstance(arg, str) and arg == "auto")):
                raise InputError(f"{name}: expected 'auto', True or False, got {arg!r}")
        self._sparse_arg, self._ard_arg = sparse, ard
        n_boot = check_int(n_boot, "n_boot", 0)
        if n_boot == 1:
            raise InputError("n_boot: expected 0 (no standard errors) or an int >= 2 "
                             "(bootstrap resamples), got 1")
        ridge = check_float(ridge, "ridge")
        if estimator not in ESTIMATORS:
            raise InputError(f"estimator: expected one of {ESTIMATORS}, got {estimator!r}")
        self._n_samples_arg, self._estimator_arg = n_samples, estimator
        self.scheme_arg, self.paired, self.ridge = scheme, paired, ridge
        self.backend, self.n_boot = backend, n_boot
        super().__init__(model, background, groups=groups, seed=seed, **kwargs)
        self._init_players()

    def _check_players(self, m: int) -> None:
        if m < 2:
            raise InputError(f"groups: KernelShap needs at least 2 players, got {m}")

    def _build(self, m: int) -> dict:
        full = 2 ** m - 2 if m < 62 else 2 ** 62
        n_samples = self._n_samples_arg
        if n_samples == "auto":
            n_samples = int(min(full, 2 * m + 2048))
        n_samples = int(min(n_samples, full))
        estimator = _pick_estimator(self._estimator_arg, m, exact=n_samples >= full,
                                    paired=self.paired)
        scheme = self.scheme_arg
        if scheme is None:  # the scheme that measured lowest error for each estimator
            scheme = default_scheme(estimator, n_samples)
        # the spectral estimate (a posterior mean) takes any number of pairs: budgets below
        # the 2 (M - 1) a regression needs (64 evaluations for 100 players) still estimate
        small = SPECTRAL_MIN_SAMPLES if estimator == "spectral" else None
        try:
            first = default_first_classes(estimator, m, n_samples)
            coalitions = kernels.sample_coalitions(m, n_samples, paired=self.paired,
                                                   seed=self.seed, backend=self.backend,
                                                   scheme=scheme, min_rows=small,
                                                   first_classes=first)
        except ValueError as e:   # the kernels name the argument they refuse
            if str(e).startswith("budget"):
                raise InputError(f"n_samples: {e}") from None
            if str(e).startswith(("scheme:", "backend:")):
                raise InputError(str(e)) from None
            raise
        operator = None if estimator == "spectral" else kernels.wls_operator(
            coalitions.masks, coalitions.weights, ridge=self.ridge, backend=self.backend)
        cubic = kernels.cubic_design(coalitions.masks, coalitions.weights,
                                     operator=operator) if estimator == "cubic" else None
        spectral = kernels.spectral_design(coalitions.masks) if estimator == "spectral" \
            else None
        return {"n_samples": n_samples, "estimator": estimator, "scheme": scheme,
                "coalitions": coalitions, "operator": operator, "cubic": cubic,
                "spectral": spectral, "ard": self._step_on("ard", spectral, n_samples),
                "sparse": self._step_on("sparse", spectral, n_samples)}

    def _step_on(self, which: str, design: Any, n_samples: int) -> bool:
        """Whether the spectral estimate adds its per-player priors (``which="ard"``) or
        its sparse step (``"sparse"``): see those arguments."""
        arg = self._ard_arg if which == "ard" else self._sparse_arg
        if design is None or arg is False:
            return False
        if arg is True:
            return ard_applies(design) if which == "ard" else sparse_applies(design)
        bg = self.background           # no array of rows (a masking): no cost estimate
        if not isinstance(bg, np.ndarray):
            return False
        if which == "ard":
            return ard_pays(self._row_flops, n_samples * len(bg), design)
        return sparse_pays(self._row_flops, n_samples * len(bg), design, self.fn.n_outputs)

    def _row_flops(self) -> float | None:
        """The model's FLOPs for one background row (XLA's cost analysis, once)."""
        if "_flops" not in self.__dict__:
            self._flops = model_flops_per_row(self.fn, self.background[0])
        return self._flops

    def _restricted(self, active: np.ndarray, v: np.ndarray, v0: np.ndarray,
                    v1: np.ndarray, phi: np.ndarray, se: np.ndarray | None) -> None:
        """The regression over the active players only, on the same coalitions (each
        projected onto them; their value does not depend on the others): the Kernel SHAP
        estimate of the row's own game, exact when every coalition was enumerated."""
        a = np.flatnonzero(active)
        phi[:] = 0.0
        if se is not None:
            se[:] = 0.0
        if a.size == 1:
            phi[:, a[0]] = v1 - v0
            return
        if a.size == 0:
            return
        coal = dataclasses.replace(self.coalitions, masks=self.coalitions.masks[:, a])
        if self.estimator == "spectral":   # the pairs that still split the row's players
            keep, design = self._row_design((self.n_players, a.tobytes()), coal.masks)
            out = kernels.solve_spectral(None, None, v[:, keep], v0, v1, design=design,
                                         return_se=se is not None, sparse=self.sparse,
                                         ard=self.ard)
            phi[:, a], se_a = (out if se is not None else (out, None))
            if se is not None:
                se[:, a] = se_a
            return
        if self.estimator == "cubic" and a.size >= 3:
            phi[:, a] = kernels.solve_cubic(coal.masks, coal.weights, v, v0, v1)
            return
        op = kernels.wls_operator(coal.masks, coal.weights, ridge=self.ridge,
                                  backend=self.backend)
        phi[:, a] = apply_operator(*op, v, v0, v1)
        if se is not None:
            se[:, a] = kernels.standard_errors(coal, v, v0, v1, n_boot=self.n_boot,
                                               seed=self.seed)

    def _row_design(self, key: tuple, z: np.ndarray) -> tuple[np.ndarray, Any]:
        """``(keep, design)`` of one pattern of players (text rows of one length, images
        of one segment count) from its projected coalitions ``z``: the coalitions that
        still split its players, each once (those projecting onto the same one have the
        same value; a row of few players would otherwise factor all ``S``, mostly repeats),
        and their spectral design. Built once and kept while the designs kept stay within
        :data:`ROW_DESIGN_BYTES` (least recently used first out): a job's rows of a few
        dozen lengths pay for each once."""
        cache = self.__dict__.setdefault("_row_designs", collections.OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        keep = z.any(axis=1) & ~z.all(axis=1)
        _, first = np.unique(z, axis=0, return_index=True)
        keep &= np.isin(np.arange(len(z)), first)
        cache[key] = keep, kernels.spectral_design(z[keep])
        while len(cache) > 1 and sum(d.nbytes for _, d in cache.values()) > ROW_DESIGN_BYTES:
            cache.popitem(last=False)
        return cache[key]

    def _masks(self) -> np.ndarray:
        return self.coalitions.masks

    def _config(self) -> dict:
        return {"n_samples": self.n_samples, "scheme": self.scheme,
                "backend": self.backend, "estimator": self.estimator, "sparse": self.sparse,
                "ard": self.ard}

    def _estimate(self, v: np.ndarray, v0: np.ndarray, v1: np.ndarray
                  ) -> tuple[np.ndarray, dict]:
        stats: dict = {}
        if self.estimator == "spectral":
            if self.n_boot == 0:
                return kernels.solve_spectral(None, None, v, v0, v1, design=self.spectral,
                                              sparse=self.sparse, ard=self.ard), stats
            phi, stats["stderr"] = kernels.solve_spectral(None, None, v, v0, v1,
                                                          design=self.spectral,
                                                          return_se=True, sparse=self.sparse,
                                                          ard=self.ard)
            return phi, stats
        if self.estimator == "cubic":
            return kernels.solve_cubic(self.coalitions.masks, self.coalitions.weights,
                                       v, v0, v1, design=self.cubic), stats
        phi = apply_operator(*self.operator, v, v0, v1)
        if self.n_boot > 0:
            stats["stderr"] = kernels.standard_errors(self.coalitions, v, v0, v1,
                                                      n_boot=self.n_boot, seed=self.seed)
        return phi, stats
