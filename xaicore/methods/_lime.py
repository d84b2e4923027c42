"""LIME: a weighted ridge fit over the same masks and engine as the Shapley methods.

The interpretable space is the players' presence ``z in {0, 1}^M``: a present player
keeps the instance's values, an absent one takes the background's (averaged over the
background rows, through the same :class:`CoalitionEngine` as KernelShap). The samples,
their kernel weights and the ridge operator do not depend on the instance: they are
built once per explainer, and the fit of every instance and output is one matrix product.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._errors import InputError
from ..kernels._threads import one_blas_thread
from ..results._attribution import Attribution
from ._shapley_base import ShapleyMethod

DISTANCES = ("cosine", "euclidean")


def lime_masks(m: int, n_samples: int, seed: int) -> np.ndarray:
    """LIME's samples of the interpretable space (``lime_text``'s scheme).

    Row 0 is the instance itself (every player present). Every other row switches off
    ``k`` players, ``k`` uniform in ``1..M``, the ``k`` chosen uniformly without
    replacement.

    Returns:
        ``bool[n_samples, M]``.
    """
    rng = np.random.default_rng(seed)
    off = rng.integers(1, m + 1, size=n_samples - 1)               # players switched off
    rank = np.argsort(np.argsort(rng.random((n_samples - 1, m)), axis=1), axis=1)
    masks = np.ones((n_samples, m), dtype=bool)
    masks[1:] = rank >= off[:, None]    # a uniform random permutation's first k are off
    return masks


def lime_weights(masks: np.ndarray, distance: str, kernel_width: float) -> np.ndarray:
    """LIME's exponential kernel ``sqrt(exp(-d**2 / width**2))`` of each sample's distance
    ``d`` from the instance (the all-ones row), as lime computes it.

    ``"cosine"``: ``1 - cos(z, 1)`` (1 for the all-absent row, as scikit-learn's
    ``cosine_distances``); ``"euclidean"``: ``|z - 1|``.
    """
    z = np.asarray(masks, dtype=np.float64)
    on = z.sum(axis=1)
    if distance == "cosine":
        d = 1.0 - np.sqrt(on / z.shape[1])      # z . 1 / (|z| |1|) = sqrt(on / M)
    else:
        d = np.sqrt(z.shape[1] - on)
    return np.sqrt(np.exp(-(d ** 2) / kernel_width ** 2))


def ridge_operator(masks: np.ndarray, weights: np.ndarray, alpha: float) -> np.ndarray:
    """Operator ``R float64[M + 1, S]`` of the weighted ridge fit with a free intercept.

    ``R @ y = [b, beta]`` minimises ``sum_s w_s (y_s - b - z_s . beta)**2 + alpha |beta|**2``
    (the intercept is not penalised, as scikit-learn's ``Ridge``). The intercept is
    eliminated by centring on the weighted means, and the ridge solved by one thin SVD of
    the centred, square-root-weighted design (no normal equations; ``O(S M min(S, M))``,
    so it holds for more players than samples). When ``alpha == 0`` and the samples do not
    tell every player apart, ``beta`` is the minimum-norm fit.
    """
    z = np.asarray(masks, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    sw, wn = np.sqrt(w), w / w.sum()
    zbar = wn @ z                                                   # weighted means [M]
    u, sv, vt = np.linalg.svd((z - zbar) * sw[:, None], full_matrices=False)
    if alpha > 0:
        f = sv / (sv ** 2 + alpha)
    else:
        keep = sv > 1e-10 * (sv[0] if sv.size else 0.0)
        f = np.where(keep, 1.0 / np.where(keep, sv, 1.0), 0.0)
    beta = ((vt.T * f) @ u.T) * sw[None, :]                         # [M, S]
    return np.concatenate([(wn - zbar @ beta)[None], beta], axis=0)


def _check_args(n_samples: Any, kernel_width: Any, distance: Any, alpha: Any) -> None:
    if not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool) \
            or n_samples < 2:
        raise InputError(f"n_samples: expected an int >= 2 (samples, the instance "
                         f"included), got {n_samples!r}")
    if distance not in DISTANCES:
        raise InputError(f"distance: expected one of {DISTANCES}, got {distance!r}")
    if kernel_width is not None and (
            not isinstance(kernel_width, (int, float, np.integer, np.floating))
            or isinstance(kernel_width, bool) or not math.isfinite(kernel_width)
            or kernel_width <= 0):
        raise InputError(f"kernel_width: expected None or a finite number > 0, "
                         f"got {kernel_width!r}")
    if not isinstance(alpha, (int, float, np.integer, np.floating)) \
            or isinstance(alpha, bool) or not math.isfinite(alpha) or alpha < 0:
        raise InputError(f"alpha: expected a finite number >= 0, got {alpha!r}")


class Lime(ShapleyMethod):
    """LIME (Ribeiro et al. 2016) over players, fitted for all instances at once.

    ``n_samples`` presence vectors are drawn once per explainer (``lime_text``'s scheme:
    row 0 the instance, then ``k ~ U{1..M}`` players switched off at random) and weighted
    by LIME's kernel ``sqrt(exp(-d**2 / kernel_width**2))`` (lime's code; captum's
    ``exp(-d**2 / (2 w**2))`` is the same kernel). The model output for each distinct
    sample is fitted by a weighted ridge regression with an unpenalised intercept over all
    ``M`` players (as lime's ``feature_selection="none"``); duplicate samples are
    evaluated once and fitted with their summed weight, which gives the same fit.

    LIME is not efficient: the coefficients need not sum to ``f(x) - base``.

    Args:
        model: Anything :func:`xaicore.export` accepts (single input).
        background: Background rows ``[K, ...]`` (or one baseline row) standing in for
            absent players.
        n_samples: Samples of the interpretable space, the instance included (lime:
            ``num_samples``).
        kernel_width: Width of the kernel; ``None``: lime's defaults, ``0.25`` for
            ``"cosine"`` (``lime_text``'s 25 on distances x 100) and ``0.75 * sqrt(M)`` for
            ``"euclidean"`` (``lime_tabular``).
        distance: ``"cosine"`` (lime text/image, captum) or ``"euclidean"`` of the presence
            vector from the all-ones row.
        alpha: Ridge penalty on the coefficients (lime: scikit-learn's ``Ridge(alpha=1)``).
        seed: Seed of the samples (same seed, same attributions).
        groups, feature_names, output_names, link, background_size, max_batch, progress: as
            :class:`KernelShap`.

    Example:
        >>> lime = xaicore.Lime(model, X[:50], n_samples=1000)        # doctest: +SKIP
        >>> att = lime.explain(X[:5], target="predicted")              # doctest: +SKIP
        >>> att.stats["score"]                   # weighted R^2 of each fit  # doctest: +SKIP
    """

    name = "Lime"

    def __init__(self, model: Any, background: Any, *, n_samples: int = 1000,
                 kernel_width: float | None = None, distance: str = "cosine",
                 alpha: float = 1.0, seed: int = 0, groups: Any = None,
                 feature_names: Any = None, output_names: Any = None,
                 link: str = "identity", background_size: int | None = None,
                 max_batch: int | None = None, progress: bool | None = None) -> None:
        _check_args(n_samples, kernel_width, distance, alpha)
        self.n_samples, self.distance = int(n_samples), distance
        self._kernel_width_arg, self.alpha = kernel_width, float(alpha)
        super().__init__(model, background, groups=groups, feature_names=feature_names,
                         output_names=output_names, link=link,
                         background_size=background_size, seed=seed,
                         max_batch=max_batch, progress=progress)
        self._init_players()

    def _width(self, m: int) -> float:
        if self._kernel_width_arg is not None:
            return float(self._kernel_width_arg)
        return 0.25 if self.distance == "cosine" else 0.75 * math.sqrt(m)

    def _fit(self, design: np.ndarray, weights: np.ndarray) -> dict:
        """The ridge operator and the moments of the scores for distinct samples."""
        d = np.concatenate([np.ones((len(design), 1)), design.astype(np.float64)], axis=1)
        return {"operator": ridge_operator(design, weights, self.alpha),
                "design_weights": weights,
                "_gram": d.T @ (d * weights[:, None])}   # [1, z]' W [1, z]: scores

    def _build(self, m: int) -> dict:
        width = self._width(m)
        masks = lime_masks(m, self.n_samples, self.seed)
        weights = lime_weights(masks, self.distance, width)
        # distinct samples, each once, with their summed weight: the same weighted fit
        design, inverse = np.unique(masks, axis=0, return_inverse=True)
        dw = np.bincount(inverse.reshape(-1), weights=weights)
        on = design.sum(axis=1)
        #: The samples as drawn (``bool[n_samples, M]``, row 0 the instance) and weighted.
        return {"kernel_width": width, "masks": masks, "weights": weights,
                "design": design, **self._fit(design, dw),
                "_full": np.flatnonzero(on == m), "_empty": np.flatnonzero(on == 0),
                "_mid": np.flatnonzero((on > 0) & (on < m))}

    def _masks(self) -> np.ndarray:
        """The distinct samples the engine evaluates (the full and empty ones aside)."""
        return self.design[self._mid]

    def _config(self) -> dict:
        return {"n_samples": self.n_samples, "distance": self.distance,
                "kernel_width": self.kernel_width, "alpha": self.alpha}

    def explain(self, X: Any, *, target: Any = None, groups: Any = None
                ) -> Attribution:
        """LIME coefficients of every player for each row of ``X``.

        Args:
            X: Inputs ``[n, ...]`` matching the model (and the background).
            target: ``None`` (all outputs: values ``[n, M, O]``), an int, one int per row,
                or ``"predicted"`` (values ``[n, M]``).
            groups: Per-row player maps for this call (e.g. :func:`xaicore.superpixels`),
                as :meth:`KernelShap.explain`; a row with fewer players is fitted over its
                own players only (as lime fits each image's own segments).

        Returns:
            An :class:`Attribution`: ``values`` are the ridge coefficients,
            ``base_values`` the intercepts (the surrogate's output with every player
            absent, not the expected output); ``stats`` hold ``model_rows``, ``seconds``,
            ``host_seconds`` (of them, the fits'), ``coalitions`` (distinct samples
            fitted), ``compiles`` and ``score``, the
            weighted R^2 of each fit (as lime's ``score``; 1 where the output is constant
            over the samples), shaped like ``base_values``.
        """
        t0 = time.perf_counter()
        prep = self._prepare(X, target)
        players = self._players_of_call(groups, prep)
        self._use_players(players.m)
        batch = self._batch(prep.fn, prep.x)
        v0, v1, mid = self._values_of_call(prep, self._masks(), players, batch,
                                           need_v0=self._empty.size > 0)
        t = prep.target
        if t is not None:   # fit the targeted output only: [n, ..., 1]
            rows = np.arange(prep.n)
            v0, v1, mid = v0[rows, t][:, None], v1[rows, t][:, None], mid[rows, :, t][..., None]
        y = np.empty((prep.n, len(self.design), v1.shape[1]))          # [n, U, O]
        y[:, self._full] = v1[:, None]
        y[:, self._empty] = v0[:, None]
        y[:, self._mid] = mid
        t_host = time.perf_counter()
        with one_blas_thread():
            coef = np.matmul(self.operator, y)                          # [n, M + 1, O]
            score = self._score(y, coef, self.design_weights, self._gram)
        if players.active is not None:      # rows whose map leaves players out
            patterns, which = np.unique(players.active, axis=0, return_inverse=True)
            for j, act in enumerate(patterns):
                if not act.all():
                    r = np.flatnonzero(which.reshape(-1) == j)
                    coef[r], score[r] = self._restricted_fit(act, y[r])
        t_host = time.perf_counter() - t_host
        base, phi = coef[:, 0], coef[:, 1:]
        if t is not None:
            phi, base, score = phi[..., 0], base[:, 0], score[:, 0]
        k = 1 if self.masking is not None else len(self.background)
        stats = {"model_rows": int(prep.n * (self._mid.size * k + 1)
                                   + ((prep.n if self.masking is not None else k)
                                      if self._empty.size else 0)),
                 "coalitions": len(self.design), "seconds": time.perf_counter() - t0,
                 "host_seconds": t_host,
                 "compiles": self.engine.compiled, "score": score}
        return self._result(prep, phi, base, stats, players)

    def _restricted_fit(self, active: np.ndarray, y: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """LIME over the active players only (lime's own fit for a row with fewer
        segments): the same samples projected onto them, weighted by their distance in
        that space (the kernel width of ``len(active)`` players); the absent players'
        coefficients are 0."""
        a = np.flatnonzero(active)
        coef = np.zeros((y.shape[0], active.size + 1, y.shape[2]))
        design, inverse = np.unique(self.design[:, a], axis=0, return_inverse=True)
        if a.size == 0 or len(design) < 2:
            coef[:, 0] = y.mean(axis=1)
            return coef, np.ones((y.shape[0], y.shape[2]))
        inverse = inverse.reshape(-1)
        w = lime_weights(design, self.distance, self._width(a.size))
        counts = np.bincount(inverse, weights=self.design_weights / lime_weights(
            self.design, self.distance, self.kernel_width), minlength=len(design))
        fit = self._fit(design, w * counts)
        # every projected sample's value: the same for all samples that project onto it
        y_u = np.zeros((y.shape[0], len(design), y.shape[2]))
        y_u[:, inverse] = y
        sub = np.matmul(fit["operator"], y_u)
        coef[:, 0], coef[:, 1 + a] = sub[:, 0], sub[:, 1:]
        return coef, self._score(y_u, sub, fit["design_weights"], fit["_gram"])

    def _score(self, y: np.ndarray, coef: np.ndarray, w: np.ndarray, gram: np.ndarray
               ) -> np.ndarray:
        """Weighted R^2 of each fit, ``[n, O]``, from moments: the ridge's normal equations
        give ``D'Wy = (G + alpha P) theta``, so the residual sum of squares is
        ``y'Wy - theta' G theta - 2 alpha |beta|^2`` (``O(U + M^2)`` per row, not
        ``O(U M)``: no predictions are formed)."""
        total = w.sum()
        theta, phi = coef, coef[:, 1:]                                  # [n, M + 1, O]
        yy = np.einsum("u,nuo->no", w, y * y) / total
        mean = np.einsum("u,nuo->no", w, y) / total
        fit = np.sum(theta * np.matmul(gram, theta), axis=1)
        ss_res = np.maximum(yy - (fit + 2.0 * self.alpha * np.sum(phi * phi, axis=1)) / total,
                            0.0)
        ss_tot = np.maximum(yy - mean * mean, 0.0)
        ok = ss_tot > 1e-12 * np.maximum(yy, 1e-300)   # constant output: a perfect fit
        return np.where(ok, 1.0 - ss_res / np.where(ok, ss_tot, 1.0), 1.0)
