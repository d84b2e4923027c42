"""Saliency, gradient x input, SmoothGrad and VarGrad: samplers of the gradient engine.

* :class:`Saliency`: ``grad f_t(x)`` (``|grad|`` with ``abs=True``, captum's default).
* :class:`GradientXInput`: ``x * grad f_t(x)``.
* :class:`SmoothGrad`: the mean gradient over noisy copies ``x + N(0, sigma^2)``, with
  ``sigma = noise_level * (max - min)`` (Smilkov et al., 2017): the range of each row for
  images and sequences, of each feature over the rows of ``X`` for tabular rows
  (:func:`noise_scale`).
* :class:`VarGrad`: the variance of those gradients (Adebayo et al., 2018).
"""
from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from .._errors import InputError
from .._validate import check_bool, check_float, check_int, check_seed
from ..engine._gradients import GradientEngine, GradPlan
from ..engine._noise import Draw
from ..results._attribution import Attribution
from ._base import Method
from ._gradient_base import GradientBatch, attribution, by_input, tmap


def point_sampler(x: Any, aux: Any, shared: Any, draw: Any, s: jax.Array) -> tuple:
    """The input itself (one sample)."""
    return x, None, jax.numpy.ones((), jax.tree_util.tree_leaves(x)[0].dtype)


def times_input_sampler(x: Any, aux: Any, shared: Any, draw: Any, s: jax.Array
                        ) -> tuple:
    """The input itself, multiplier ``x`` (gradient x input)."""
    return x, x, jax.numpy.ones((), jax.tree_util.tree_leaves(x)[0].dtype)


def noise_sampler(x: Any, sigma: Any, n_samples: Any, draw: Draw, s: jax.Array
                  ) -> tuple:
    """A noisy copy ``x + sigma * N(0, 1)`` of the row (counter-based normals: the
    threefry draw cost more than a small model's gradient)."""
    leaves, tree = jax.tree_util.tree_flatten(x)
    sig = jax.tree_util.tree_leaves(sigma)
    z = draw.normals([a.shape for a in leaves], leaves[0].dtype)
    noisy = [a + sd.astype(a.dtype) * e for a, sd, e in zip(leaves, sig, z)]
    return jax.tree_util.tree_unflatten(tree, noisy), None, (1.0 / n_samples).astype(
        leaves[0].dtype)


def noise_scale(x: Any, noise_level: float, reference: Any = None,
                stdevs: Any = None) -> Any:
    """The noise standard deviation of every row, per input: ``noise_level`` times the
    input's range (pytree of ``[n]`` or ``[n, d]``).

    * A row of several axes (an image ``[H, W, C]``, a sequence ``[L, C]``), whose
      elements share one scale: the row's own range ``max - min`` (Smilkov et al., 2017),
      one standard deviation per row.
    * A flat row ``[d]`` (tabular features, each in its own unit): each feature's range
      over the rows of ``x``, one standard deviation per feature. A row's own range
      would give every feature the noise of the widest one (a feature in the thousands
      drowns one in hundredths, and the gradients of a saturating model vanish). A
      feature constant over ``x`` (e.g. a single row) falls back to the row's own range,
      so no feature is left without noise.

    With ``reference`` (a pytree like ``x`` of reference rows, e.g. training data) the
    ranges are the reference's instead: each feature's over its rows for flat rows, its
    whole range for rows of several axes, so a row's noise does not depend on the rows
    explained with it. ``stdevs`` sets absolute standard deviations (captum's
    ``NoiseTunnel(stdevs=)``): one float, or a pytree like ``x`` of one float per input;
    it ignores the rest.
    """
    def shape_of(a: np.ndarray) -> tuple:   # one s.d. per feature (flat rows) or per row
        return a.shape if a.ndim == 2 else a.shape[:1]

    if stdevs is not None:
        sds = tmap(lambda a: stdevs, x) if isinstance(stdevs, (int, float)) else stdevs
        return tmap(lambda a, sd: np.full(shape_of(np.asarray(a)), sd, np.asarray(a).dtype),
                    x, sds)

    def one(a: np.ndarray, ref: np.ndarray | None) -> np.ndarray:
        a = np.asarray(a)
        per_feature = a.ndim == 2
        shape = shape_of(a)
        flat = a.reshape(a.shape[0], -1)

        def own() -> np.ndarray:                           # the paper's per-row range
            return flat.max(axis=1) - flat.min(axis=1)
        src = a if ref is None else np.asarray(ref)
        if per_feature:
            span = np.broadcast_to(src.max(axis=0) - src.min(axis=0), shape)
            if ref is not None and not np.all(span > 0):   # constant over the reference:
                span = np.where(span > 0, span, a.max(axis=0) - a.min(axis=0))  # X's range
            if not np.all(span > 0):                       # one row, or a constant feature
                span = np.where(span > 0, span, own()[:, None])
        elif ref is None:
            span = own()
        else:
            span = np.full(shape, src.max() - src.min())
            span = np.where(span > 0, span, own())
        return (noise_level * span).astype(a.dtype)
    if reference is None:
        return tmap(lambda a: one(a, None), x)
    return tmap(one, x, reference)


def noisy_gradients(engine: GradientEngine, x: Any, target: Any, sigma: Any, *,
                    n_samples: int, seed: int, max_batch: int,
                    progress: bool | None = None, antithetic: bool = False,
                    pair_spread: bool = False) -> tuple[Any, Any, GradPlan]:
    """Mean and (population) standard deviation of the gradients at ``n_samples`` noisy
    copies ``x + sigma * N(0, 1)`` (weights ``1 / n_samples``; ``sigma`` as
    :func:`noise_scale` gives it). With ``antithetic`` the copies come in pairs
    ``x + e``, ``x - e`` (and ``pair_spread`` gives the deviation of the pairs' means
    instead)."""
    key = jax.random.key(seed)
    shared = np.asarray(n_samples, np.float32)
    mean, sd, p = engine.run(noise_sampler, x, sigma, shared, target,
                             n_samples, max_batch, key=key, need_sq=True,
                             progress=progress, mirror=antithetic,
                             pair_spread=pair_spread, normals=True)
    return mean, sd, p


class _GradientMethod(GradientBatch, Method):
    """Shared facade: one engine per model, the explain flow, the stats."""

    name = "Gradient"

    def __init__(self, model: Any, *, max_batch: int | None = None,
                 progress: bool | None = None) -> None:
        super().__init__(model, max_batch=max_batch, progress=progress)
        self.engine = GradientEngine(self.fn)

    def _compute(self, x: Any, target: Any, batch: int
                 ) -> tuple[Any, Any, GradPlan, int, dict]:
        """``(values, stderr or None, plan, samples per row, the method's own stats)``."""
        raise NotImplementedError

    def _config(self) -> dict:
        return {}

    def explain(self, X: Any, *, target: Any = None) -> Attribution:
        """Attributions of each row of ``X``.

        Args:
            X: Inputs ``[n, ...]`` (a tuple/dict of arrays for multi-input models).
            target: ``None`` (all outputs: a trailing output axis), an int, one int per
                row, or ``"predicted"``.

        Returns:
            An :class:`Attribution`; ``base_values`` are zeros (these methods have no
            reference output); ``stats`` hold ``model_rows`` (rows through forward +
            backward), ``rows_per_call``, ``compiles``, ``seconds`` and, for SmoothGrad
            and VarGrad, ``noise_sd`` (the noise standard deviations of the first input:
            ``[n]`` per row, or ``[n, d]`` per feature) and (SmoothGrad) ``stderr``.
        """
        t0 = time.perf_counter()
        prep = self._prepare(X, target)
        values, stderr, p, samples, extra = self._compute(prep.x, prep.target,
                                                          self._batch(prep.fn, prep.x))
        base = np.zeros((prep.n,) if prep.target is not None else (prep.n, prep.fn.n_outputs))
        stats = {"model_rows": prep.n * samples, "rows_per_call": p.model_rows,
                 "compiles": self.engine.compiled, "seconds": time.perf_counter() - t0,
                 **extra}
        return attribution(self.name, prep, values, base, stats, self._config(), stderr)


class Saliency(_GradientMethod):
    """The gradient of the target output w.r.t. the inputs (Simonyan et al., 2013).

    Args:
        model: Anything :func:`xaicore.export` accepts (float inputs).
        abs: Return ``|gradient|`` (captum's default) instead of the signed gradient.
        max_batch: Model rows per device call.
    """

    name = "Saliency"

    def __init__(self, model: Any, *, abs: bool = True, max_batch: int | None = None,
                 progress: bool | None = None) -> None:
        abs = check_bool(abs, "abs")
        super().__init__(model, max_batch=max_batch, progress=progress)
        self.abs = abs

    def _config(self) -> dict:
        return {"abs": self.abs}

    def _compute(self, x: Any, target: Any, batch: int) -> tuple:
        g, _, p = self.engine.run(point_sampler, x, None, (), target, 1, batch,
                                  progress=self.progress, absolute=self.abs)
        return g, None, p, 1, {}


class GradientXInput(_GradientMethod):
    """Gradient times input, ``x * grad f_t(x)`` (Shrikumar et al., 2016)."""

    name = "GradientXInput"

    def _compute(self, x: Any, target: Any, batch: int) -> tuple:
        g, _, p = self.engine.run(times_input_sampler, x, None, (), target, 1, batch,
                                  progress=self.progress)
        return g, None, p, 1, {}


class SmoothGrad(_GradientMethod):
    """The mean gradient over noisy copies of each input (Smilkov et al., 2017).

    Args:
        model: Anything :func:`xaicore.export` accepts (float inputs).
        noise_level: Noise standard deviation as a fraction of the input's range
            ``max - min`` (the paper's "noise level"; 10-20% recommended there; default
            0.15). The range is each row's own for inputs of several axes per row
            (images ``[H, W, C]``, sequences ``[L, C]``, as in the paper), and each
            feature's over the rows of ``X`` for tabular rows ``[d]``, whose features
            have their own units (a feature constant over ``X``, or a single row, falls
            back to the row's own range). Unlike captum's ``NoiseTunnel``
            (``stdevs=1.0``, absolute), the scale follows the data.
            ``stats["noise_sd"]`` holds the standard deviations used.
        background: Reference rows (at least 2; e.g. the training data) whose ranges set
            the noise instead of ``X``'s: each feature's range over them for tabular rows
            (a feature constant there takes its range over ``X``), their whole range for
            images and sequences. Then a row's noise no longer depends on the rows
            explained with it (recommended for tabular models).
        stdevs: An absolute noise standard deviation for every element, or a tuple of
            one per model input (captum's ``stdevs``); overrides ``noise_level`` and
            ``background``.
        n_samples: Noisy copies per row.
        antithetic: Draw the noise in antithetic pairs ``x + e``, ``x - e`` (default):
            each copy is still ``x + N(0, sigma^2)``, but the part of the gradient odd in
            the noise (its linear response, most of the spread for small noise) cancels
            within each pair, and half the random numbers are drawn. On trained and
            untrained ReLU, tanh and GELU MLPs it gave 0.37-1.02x (geometric mean 0.71)
            the error of independent copies at the same ``n_samples``
            (``benchmarks/bench_smoothgrad_antithetic.py``). ``False``: independent
            copies, as captum's ``NoiseTunnel``. The standard error is then that of the
            mean of ``ceil(n_samples / 2)`` independent pairs.
        seed: Seed of the explicit JAX random key (same seed, same attributions).
        max_batch: Model rows per device call.
    """

    name = "SmoothGrad"

    def __init__(self, model: Any, *, noise_level: float = 0.15, n_samples: int = 50,
                 seed: int = 0, background: Any = None, stdevs: Any = None,
                 antithetic: bool = True, max_batch: int | None = None,
                 progress: bool | None = None) -> None:
        noise_level = check_float(noise_level, "noise_level")
        antithetic = check_bool(antithetic, "antithetic")
        n_samples = check_int(n_samples, "n_samples", 1)
        seed = check_seed(seed)
        many = isinstance(stdevs, (tuple, list))
        if stdevs is not None:
            for sd in (stdevs if many else [stdevs]):
                if check_float(sd, "stdevs") <= 0:
                    raise InputError(f"stdevs: expected positive noise standard deviations, "
                                     f"got {stdevs!r}")
            stdevs = tuple(float(sd) for sd in stdevs) if many else float(stdevs)
        super().__init__(model, max_batch=max_batch, progress=progress)
        self.noise_level, self.n_samples, self.seed = noise_level, n_samples, seed
        self.stdevs, self.antithetic = stdevs, antithetic
        if many and len(stdevs) != len(self.fn.inputs):
            raise InputError(f"stdevs: expected one per model input ({len(self.fn.inputs)}), "
                             f"got {len(stdevs)}")
        self.background = None if background is None else \
            self.fn.validate(background, "background")
        if self.background is not None and any(
                np.ndim(a) == 2 and len(a) < 2 for a in jax.tree_util.tree_leaves(self.background)):
            raise InputError("background: expected at least 2 reference rows (each feature's "
                             "range over them sets its noise), got 1")

    def _config(self) -> dict:
        return {"noise_level": self.noise_level, "n_samples": self.n_samples,
                "seed": self.seed, "stdevs": self.stdevs, "antithetic": self.antithetic,
                "background_rows": None if self.background is None else
                len(jax.tree_util.tree_leaves(self.background)[0])}

    def _stdevs(self) -> Any:
        """``stdevs`` as ``noise_scale`` takes it: a float, or a pytree like the inputs."""
        if not isinstance(self.stdevs, tuple):
            return self.stdevs
        if self.fn.structure == "single":
            return self.stdevs[0]
        if self.fn.structure == "dict":
            return dict(zip(self.fn.input_names, self.stdevs))
        return self.stdevs

    def _check_background(self, x: Any) -> None:
        """The reference rows must be shaped as the explained rows (a model of unknown
        input shape could not check them at construction)."""
        if self.background is None:
            return
        for a, b in zip(jax.tree_util.tree_leaves(x),
                        jax.tree_util.tree_leaves(self.background)):
            if np.shape(a)[1:] != np.shape(b)[1:]:
                raise InputError(f"background: rows of shape {list(np.shape(b)[1:])}, but "
                                 f"X has rows of shape {list(np.shape(a)[1:])}")

    def _compute(self, x: Any, target: Any, batch: int) -> tuple:
        self._check_background(x)
        sigma = noise_scale(x, self.noise_level, self.background, self._stdevs())
        mean, sd, p = noisy_gradients(self.engine, x, target, sigma,
                                      n_samples=self.n_samples, seed=self.seed,
                                      max_batch=batch, progress=self.progress,
                                      antithetic=self.antithetic,
                                      pair_spread=self._pair_spread)
        return (self._finish(mean, sd), self._stderr(sd), p, self.n_samples,
                {"noise_sd": np.asarray(by_input(sigma, self.fn)[0][1])})

    #: The spread SmoothGrad needs: that of the independent units (pairs when
    #: antithetic), for the standard error of the mean.
    _pair_spread = True

    def _finish(self, mean: Any, sd: Any) -> Any:
        return mean

    def _stderr(self, sd: Any) -> Any:
        units = -(-self.n_samples // 2) if self.antithetic else self.n_samples
        if units < 2:   # one sample (or pair) shows no spread: the error is unknown
            return tmap(lambda v: np.full_like(v, np.nan), sd)
        return tmap(lambda v: v / np.sqrt(units - 1).astype(v.dtype), sd)


class VarGrad(SmoothGrad):
    """The variance of the gradients over noisy copies of each input (Adebayo et al.,
    2018); same arguments as :class:`SmoothGrad`. ``stderr`` is not reported."""

    name = "VarGrad"
    _pair_spread = False   # the variance of the gradients themselves

    def _finish(self, mean: Any, sd: Any) -> Any:
        return tmap(np.square, sd)   # inf only where the true variance is not representable

    def _stderr(self, sd: Any) -> Any:
        return None
