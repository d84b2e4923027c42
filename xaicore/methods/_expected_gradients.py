"""Expected gradients (GradientSHAP): integrated gradients averaged over a background.

For each of ``n_samples`` draws per row: a baseline ``b`` from the background, a point
``a ~ U(0, 1)`` on the path and, optionally, input noise ``x' = x + N(0, stdevs^2)``;
the draw contributes ``(x' - b) * grad f_t(b + a (x' - b))``. The attribution is their
mean, an unbiased estimate of ``E_b[IG(x; b)]`` (Erion et al., 2021; captum's
``GradientShap``); its standard error is reported per value. Draws are keyed by row and
sample index from ``jax.random.key(seed)``, so the same seed gives the same result
whatever the chunking.
"""
from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from .._errors import InputError
from .._validate import check_float, check_int, check_seed
from ..engine._gradients import GradientEngine, GradPlan
from ..engine._inputs import with_known_specs
from ..engine._noise import Draw
from ..results._attribution import Attribution
from ._base import Method
from ._gradient_base import GradientBatch, attribution, by_input, row_sums, tmap


def _background_point(x: Any, shared: Any, draw: Draw, noise: bool) -> tuple:
    """A random background row, a random point on the path, input noise if ``noise``."""
    background, stdevs, n_samples = shared
    k_bg, k_a, _ = jax.random.split(draw.key, 3)   # (the third key drew the noise once)
    leaves, tree = jax.tree_util.tree_flatten(x)
    bg = jax.tree_util.tree_leaves(background)
    j = jax.random.randint(k_bg, (), 0, bg[0].shape[0])
    dtype = leaves[0].dtype
    a = jax.random.uniform(k_a, (), dtype)
    noisy = [xi + stdevs.astype(dtype) * z for xi, z in zip(
        leaves, draw.normals([xi.shape for xi in leaves], dtype))] if noise else leaves
    base = [b[j] for b in bg]
    points = [b + a * (xi - b) for xi, b in zip(noisy, base)]
    mult = [xi - b for xi, b in zip(noisy, base)]
    unflat = jax.tree_util.tree_unflatten
    return unflat(tree, points), unflat(tree, mult), (1.0 / n_samples).astype(dtype)


def background_sampler(x: Any, aux: Any, shared: Any, draw: Draw, s: jax.Array
                       ) -> tuple:
    """A random background row, a random point on the path, input noise (the
    counter-based normals of :mod:`xaicore.engine._noise`)."""
    return _background_point(x, shared, draw, True)


def plain_background_sampler(x: Any, aux: Any, shared: Any, draw: Draw, s: jax.Array
                             ) -> tuple:
    """As :func:`background_sampler` with ``stdevs = 0``: the same rows and points,
    without drawing the noise it would multiply by 0 (a Gaussian vector per sample)."""
    return _background_point(x, shared, draw, False)


def expected_gradients(engine: GradientEngine, x: Any, background: Any, target: Any, *,
                       n_samples: int, stdevs: float, seed: int, max_batch: int,
                       progress: bool | None = None) -> tuple[Any, Any, GradPlan]:
    """Expected gradients of validated inputs and their standard errors (the pure core).

    Returns:
        ``(mean, stderr, plan)``, pytrees like ``x`` (+ trailing output axis when
        ``target`` is ``None``).
    """
    dtype = jax.tree_util.tree_leaves(x)[0].dtype
    shared = (background, np.asarray(stdevs, dtype), np.asarray(n_samples, dtype))
    sampler = background_sampler if stdevs else plain_background_sampler
    mean, sd, p = engine.run(sampler, x, None, shared, target, n_samples,
                             max_batch, key=jax.random.key(seed), need_sq=True,
                             progress=progress, normals=bool(stdevs))
    k = n_samples - 1   # one sample shows no spread: its standard error is unknown (NaN)
    se = tmap(lambda m, d: d / np.sqrt(k).astype(d.dtype) if k else np.full_like(m, np.nan),
              mean, sd)
    return mean, se, p


class ExpectedGradients(GradientBatch, Method):
    """Expected gradients / GradientSHAP with baselines drawn from background data.

    Args:
        model: Anything :func:`xaicore.export` accepts (float inputs).
        background: Background rows ``[k, ...]`` (a tuple/dict for multi-input models);
            baselines are drawn from them uniformly.
        n_samples: Draws per row (baseline, path point and noise).
        stdevs: Standard deviation of Gaussian noise added to the inputs (captum's
            ``stdevs``; 0 for none).
        seed: Seed of the explicit JAX random key.
        max_batch: Model rows per device call.

    Example:
        >>> eg = ExpectedGradients(model, X_train[:100], n_samples=200)   # doctest: +SKIP
        >>> att = eg.explain(X, target=0); att.stderr
    """

    name = "ExpectedGradients"

    def __init__(self, model: Any, background: Any, *, n_samples: int = 50,
                 stdevs: float = 0.0, seed: int = 0, max_batch: int | None = None,
                 progress: bool | None = None) -> None:
        super().__init__(model, max_batch=max_batch, progress=progress)
        self.n_samples = check_int(n_samples, "n_samples", 1)
        self.stdevs = check_float(stdevs, "stdevs")
        self.seed = check_seed(seed)
        if background is None:
            raise InputError("background: expected background rows [k, ...], got None")
        if self.fn.structure == "single":
            self.fn = with_known_specs(self.fn, np.asarray(background)[:1])
        self.background = self.fn.validate(background, "background")
        self.n_background = len(by_input(self.background, self.fn)[0][1])
        self.engine = GradientEngine(self.fn)
        self._base = None

    def base_value(self) -> np.ndarray:
        """Mean model output over the background, ``[O]``."""
        if self._base is None:
            self._base = self.engine.forward(self.background, self._batch(self.fn),
                                             "background").mean(0)
        return self._base

    def explain(self, X: Any, *, target: Any = None) -> Attribution:
        """Expected gradients of each row of ``X``.

        Args:
            X: Inputs ``[n, ...]`` (a tuple/dict for multi-input models).
            target: ``None`` (all outputs: a trailing output axis), an int, one int per
                row, or ``"predicted"``.

        Returns:
            An :class:`Attribution`; ``base_values`` = mean output over the background;
            ``stats``: ``stderr`` (like ``values``), ``completeness_gap`` per row
            ``|sum(values) - (f(x) - E f(b))|`` (zero only in expectation: a Monte Carlo
            figure, not an error bound), ``max_completeness_gap``, ``model_rows``,
            ``rows_per_call``, ``compiles``, ``seconds``.
        """
        t0 = time.perf_counter()
        prep = self._prepare(X, target)
        batch = self._batch(prep.fn, prep.x)
        mean, se, p = expected_gradients(self.engine, prep.x, self.background, prep.target,
                                         n_samples=self.n_samples, stdevs=self.stdevs,
                                         seed=self.seed, max_batch=batch,
                                         progress=self.progress)
        fx = self.engine.forward(prep.x, batch)
        base = np.broadcast_to(self.base_value(), fx.shape).copy()
        if prep.target is not None:
            rows = np.arange(prep.n)
            fx, base = fx[rows, prep.target], base[rows, prep.target]
        gap = np.abs(row_sums(mean, prep.target is None) - (fx - base))
        stats = {"model_rows": prep.n * self.n_samples, "forward_rows": prep.n,
                 "rows_per_call": p.model_rows, "compiles": self.engine.compiled,
                 "completeness_gap": gap, "max_completeness_gap": float(gap.max()),
                 "seconds": time.perf_counter() - t0}
        return attribution(self.name, prep, mean, base, stats,
                           {"n_samples": self.n_samples, "stdevs": self.stdevs,
                            "seed": self.seed, "background_rows": self.n_background}, se)
