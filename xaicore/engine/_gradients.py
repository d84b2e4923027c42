"""Shared core of the gradient methods: vmapped input gradients of the selected output.

Every gradient method is a weighted average over ``S`` points per instance::

    sum_s w_s * m_s * grad f_t(p_s)      (and, where needed, the spread of m_s * grad)

where a *sampler* gives the point ``p_s``, the multiplier ``m_s`` (``None`` for 1) and the
weight ``w_s`` of sample ``s`` of one row. Integrated gradients (points on the path,
quadrature weights), expected gradients (random baseline, random point, ``m = x - b``),
SmoothGrad (noisy copies) and saliency (``S = 1``) are samplers of this one engine.

Each device call takes ``rows`` instances and all their samples, in ``n_blocks`` blocks of
``block`` samples (a ``lax.scan`` over blocks: no Python loop over steps), with
``rows * block <= max_batch`` model rows through forward + backward. Instances stream
through :func:`xaicore.engine._batching.run_chunked` in fixed-shape chunks (the last one
padded), so one compilation serves a whole call.

Numerics: the sums run on ``m_s * grad / c`` with ``c`` a power of two per element taken
from the first block (exact scaling), and the spread around the first sample, so outputs
scaled by up to 1e38 in float32 keep finite means and standard errors wherever the true
ones are representable. The same call counts, per row, the points whose outputs or
gradients are NaN or inf; :meth:`GradientEngine.run` refuses them (``NonFiniteError``).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError, NonFiniteError
from ..exporting._modelfn import ModelFn, shared_forward, shared_steps
from ._batching import pad_rows, run_chunked
from ._grad_plan import LOOP_MAX_ELEMENTS, GradPlan, plan
from ._grad_sums import bad_counts, pair_means, pow2_scale, wsum
from ._inputs import row_elements, with_known_specs
from ._noise import Draw, block_normals

tmap = jax.tree_util.tree_map

#: ``sampler(x_row, aux_row, shared, draw, s) -> (point, multiplier | None, weight)``;
#: ``draw`` (a :class:`~xaicore.engine._noise.Draw`: the sample's JAX key and cheap
#: Gaussian numbers) is ``None`` when the engine is run without a key (deterministic
#: samplers).
Sampler = Callable[[Any, Any, Any, Draw | None, jax.Array], tuple[Any, Any, jax.Array]]


def check_float_inputs(fn: ModelFn) -> None:
    """Gradients need float inputs: refuse integer (token) inputs with the way out."""
    for spec in fn.inputs:
        if np.dtype(spec.dtype).kind in "biu":
            raise InputError(f"X: the model input '{spec.name}' takes integer ids "
                             f"({spec.dtype}), which have no gradient: explain the embedding "
                             "layer with layer gradients, or use a Shapley method")


def target_gradients(fn: ModelFn, params: Any, x: Any, target: jax.Array,
                     per_point: bool) -> tuple[jax.Array, Any]:
    """Outputs ``[R, O]`` of the points ``x`` (pytree of ``[R, ...]``) and the gradient of
    each point's ``target`` output (pytree like ``x``).

    ``per_point``: a vmapped ``value_and_grad`` of each point's own output; else one
    backward pass of the batch with one-hot cotangents. The same numbers; measured
    (2-core x86-64, step alone): per point 2-13% faster on a 30-feature MLP, 1-2% on a
    64-feature one, and on a 32x32x3 CNN 20% faster for one sample a row but 2-15% slower
    for blocks of 32-64 samples (XLA's convolutions over the vmapped axis), hence
    :func:`make_step`'s choice (one sample, or rows of at most
    :data:`~xaicore.engine._grad_plan.LOOP_MAX_ELEMENTS` elements).
    """
    if not per_point:
        y, vjp = jax.vjp(lambda p: fn.apply_flat(params, p), x)
        (g,) = vjp(jax.nn.one_hot(target, y.shape[1], dtype=y.dtype))
        return y, g

    def one(point: Any, t: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = fn.apply_flat(params, tmap(lambda a: a[None], point))[0]
        return out[t], out
    (_, y), g = jax.vmap(jax.value_and_grad(one, has_aux=True))(x, target)
    return y, g


def make_step(fn: ModelFn, sampler: Sampler, n_samples: int, block: int, n_blocks: int,
              all_outputs: bool, need_sq: bool, chunks: int = 1, mirror: bool = False,
              pair_spread: bool = False, draws: int = 0, absolute: bool = False
              ) -> Callable:
    """The jitted device step of one configuration: ``step(params, x, aux, shared, idx,
    target, key) -> (mean, sd | None, bad)``: pytrees like ``x`` (+ output axis), and
    ``bad int32[r, 2]``, the row's points with non-finite outputs, and with non-finite
    gradients (of finite outputs).

    Every sample's ``m * grad`` is divided by a per-element power of two taken from the
    first block (:func:`pow2_scale`, applied to the gradient before the multiplier) and
    the sums are scaled back at the end: outputs scaled by 1e30-1e38 in float32 keep
    finite means and spreads wherever the true ones are representable. A single sample
    (saliency) has no sum, and is returned unscaled.

    With ``mirror`` the samples come in antithetic pairs: sample ``2p`` is the sampler's
    point ``q`` of pair ``p`` and sample ``2p + 1`` its reflection ``2 x - q`` through the
    row (``x - e`` for ``x + e``: half the random draws, and the part of the gradient odd
    in the noise cancels within each pair). With ``pair_spread`` the spread is that of
    the pairs' weighted means (the independent units: for the standard error of the
    mean), not that of the samples. With ``draws`` (the sampler's Gaussian numbers per
    sample) those are drawn for the whole block ahead of the sampler
    (:func:`~xaicore.engine._noise.block_normals`: the same numbers, drawn once).
    With ``absolute`` the mean is returned as its absolute value (saliency's ``|grad|``,
    fused into the step instead of a pass over the result on the host).
    """
    k_out = fn.n_outputs if all_outputs else 1
    # Saliency and gradient x input: the scaling (a third of a small model's step) is moot
    single = n_samples == 1 and n_blocks == 1 and not need_sq
    per_point = single or row_elements(fn) <= LOOP_MAX_ELEMENTS

    def step(params: Any, x: Any, aux: Any, shared: Any, idx: jax.Array,
             target: jax.Array, key: jax.Array) -> tuple[Any, Any, jax.Array]:
        r = idx.shape[0]

        def one(xr: Any, ar: Any, i: jax.Array, zr: Any, s: jax.Array) -> tuple:
            d = None if key is None else Draw(jax.random.fold_in(key, i), s, zr)
            return sampler(xr, ar, shared, d, s)

        vmapped = jax.vmap(jax.vmap(one, (None, None, None, 0, 0)), (0, 0, 0, 0, None))

        def points(x: Any, aux: Any, idx: jax.Array, s: jax.Array) -> tuple:
            z = block_normals(key, idx, s, draws) if draws and key is not None else None
            return vmapped(x, aux, idx, z, s)

        def body(carry: tuple, b: jax.Array) -> tuple:
            s = b * block + jnp.arange(block)
            if mirror:    # pair p: the sampler's point and its reflection through x
                h = b * (block // 2) + jnp.arange(block // 2)
                pts, mult, w = points(x, aux, idx, jnp.minimum(h, (n_samples - 1) // 2))
                pts = tmap(lambda q, xr: jnp.stack([q, 2 * xr[:, None] - q], axis=2)
                           .reshape((r, block, *q.shape[2:])), pts, x)
                mult = None if mult is None else tmap(
                    lambda m: jnp.repeat(m, 2, axis=1), mult)
                w = jnp.repeat(w, 2, axis=1)
            else:
                pts, mult, w = points(x, aux, idx, jnp.minimum(s, n_samples - 1))
            real = s < n_samples
            w = w * real[None, :]                                     # padded samples: 0
            flat = tmap(lambda a: a.reshape((r * block, *a.shape[2:])), pts)
            if all_outputs:
                y, vjp = jax.vjp(lambda p: fn.apply_flat(params, p), flat)
                cot = jnp.broadcast_to(jnp.eye(k_out, dtype=y.dtype)[:, None, :],
                                       (k_out, *y.shape))
                (g,) = jax.vmap(vjp)(cot)                            # [O, r*c, ...]
            else:
                y, g = target_gradients(fn, params, flat, jnp.repeat(target, block),
                                        per_point)
                g = tmap(lambda a: a[None], g)                        # [1, r*c, ...]
            g = tmap(lambda a: a.reshape((a.shape[0], r, block, *a.shape[2:])), g)
            total, scale, moments, bad = carry
            raw = g
            if not single:   # one sample: its own value, nothing summed to overflow
                scale = tmap(lambda s_, a: jnp.where(b == 0, pow2_scale(a), s_), scale, g)
                g = tmap(lambda a, c: a / c[:, :, None], g, scale)
            if mult is not None:
                g = tmap(lambda a, m: a * m[None].astype(a.dtype), g, mult)
            if mult is None and not single:   # averages of the raw gradients (weights of
                # sum <= 1: |sum| <= c), scaled after the sum: no scaled copy of g to
                # build for them (the moments below fuse the scaling into their own)
                sums = tmap(lambda a, c: wsum(a, w) / c, raw, scale)
            else:
                sums = tmap(lambda a: wsum(a, w), g)
            total = tmap(jnp.add, total, sums)
            bad = bad + bad_counts(y, raw, sums, real, r, block)
            if need_sq:   # sums around a shift (the first sample): little cancellation,
                sq, dev, shift = moments    # and none at all when every sample is equal
                u, wu = (pair_means(g, w) if pair_spread else (g, w))
                shift = tmap(lambda s_, a: jnp.where(b == 0, a[:, :, 0], s_), shift, u)
                cen = tmap(lambda a, s_: a - s_[:, :, None], u, shift)
                sq = tmap(lambda t, a: t + wsum(a * a, wu), sq, cen)
                dev = tmap(lambda t, a: t + wsum(a, wu), dev, cen)
                moments = (sq, dev, shift)
            return (total, scale, moments, bad), None

        zeros = tmap(lambda a: jnp.zeros((k_out, *a.shape), a.dtype), x)
        ones = tmap(jnp.ones_like, zeros)
        init = (zeros, ones, (zeros, zeros, zeros) if need_sq else None,
                jnp.zeros((r, 2), jnp.int32))
        if n_blocks == 1:
            (total, scale, moments, bad), _ = body(init, jnp.int32(0))
        else:
            (total, scale, moments, bad), _ = jax.lax.scan(body, init, jnp.arange(n_blocks))
        last = (lambda a: jnp.moveaxis(a, 0, -1)) if all_outputs else (lambda a: a[0])
        mean = tmap(lambda t, c: last(t * c), total, scale)
        if absolute:
            mean = tmap(jnp.abs, mean)
        if not need_sq:
            return mean, None, bad
        sq, dev, _ = moments   # weighted second moment around the weighted mean, scaled
        sd = tmap(lambda q, d, c: last(c * jnp.sqrt(jnp.maximum(q - d * d, 0.0))),
                  sq, dev, scale)
        return mean, sd, bad

    if chunks == 1:
        return jax.jit(step)

    def multi(params: Any, x: Any, aux: Any, shared: Any, idx: jax.Array, target: jax.Array,
              key: jax.Array, count: jax.Array) -> tuple[Any, Any, jax.Array]:
        """``chunks`` chunks of ``rows`` instances in one call (the first ``count`` hold
        rows; the others are skipped), outputs as one ``[chunks * rows, ...]`` pytree."""
        split = (x, aux, idx, target)
        split = tmap(lambda a: a.reshape((chunks, a.shape[0] // chunks, *a.shape[1:])), split)

        def one(i: jax.Array) -> tuple[Any, Any, jax.Array]:
            xs, auxs, ids, ts = tmap(lambda a: jax.lax.dynamic_index_in_dim(a, i, 0, False),
                                     split)
            return step(params, xs, auxs, shared, ids, ts, key)

        shape = jax.eval_shape(one, jnp.int32(0))
        out = tmap(lambda a: jnp.zeros((chunks, *a.shape), a.dtype), shape)
        out = jax.lax.fori_loop(0, count, lambda i, o: tmap(
            lambda a, v: jax.lax.dynamic_update_index_in_dim(a, v, i, 0), o, one(i)), out)
        return tmap(lambda a: a.reshape((chunks * a.shape[1], *a.shape[2:])), out)

    return jax.jit(multi)


def check_finite(bad: np.ndarray, per_row: int, arg: str = "X") -> None:
    """Refuse a model that gave NaN or inf on the points evaluated for the rows of
    ``arg``: ``bad int[n, 2]`` counts, per row, the points with non-finite outputs and
    those with non-finite gradients (but finite outputs), of ``per_row`` points each.

    Raises:
        NonFiniteError: with the count, the total and the first row concerned.
    """
    bad = np.asarray(bad).reshape(len(bad), -1)
    if not bad.any():
        return
    total = len(bad) * per_row
    for col, what, hint in ((0, "outputs were", "a log of a negative, a division by zero"),
                            (1, "gradients (of finite outputs) were",
                             "a sqrt or a log at 0")):
        count = int(bad[:, col].sum()) if bad.shape[1] > col else 0
        if count:
            row = int(np.flatnonzero(bad[:, col])[0])
            raise NonFiniteError(
                f"model: {count} of {total} evaluated {what} not finite (NaN or inf); the "
                f"first at row {row} of {arg}: attributions of such a model mean nothing "
                f"— check the model's inputs/range (e.g. {hint})")


class GradientEngine:
    """Runs samplers over the instances of a call for one model; caches compiled steps.

    The compiled step of each configuration is kept on the engine, so calls with the same
    chunk shapes reuse it (:attr:`compiled` counts compilations, for tests).
    """

    def __init__(self, fn: ModelFn) -> None:
        check_float_inputs(fn)
        self.fn = fn
        self._compiles = 0   # compilations this engine's calls caused (steps are shared)
        self._known: ModelFn | None = None
        self._forward = shared_forward(fn)

    def _outputs(self, x: Any) -> int:
        """Number of model outputs (output specs filled in from ``x`` for a plain JAX
        callable exported without them)."""
        if self._known is None:
            self._known = self.fn if self.fn.outputs else with_known_specs(self.fn, x)
        return max(1, self._known.n_outputs)

    @property
    def compiled(self) -> int:
        """Number of compilations of the gradient steps this engine's calls caused (the
        steps are shared with the model's other engines: one that finds a step compiled
        adds nothing)."""
        return self._compiles

    def forward(self, x: Any, max_batch: int, arg: str = "X") -> np.ndarray:
        """Model outputs ``[n, O]`` (float64 on the host), chunked.

        Raises:
            NonFiniteError: some output is NaN or inf (naming the first row of ``arg``).
        """
        y = run_chunked(lambda part: self._forward(self.fn.params, part), x,
                        max_batch).astype(np.float64)
        bad = ~np.all(np.isfinite(y.reshape(len(y), -1)), axis=1)
        check_finite(np.stack([bad, np.zeros_like(bad)], axis=1), 1, arg)
        return y

    def run(self, sampler: Sampler, x: Any, aux: Any, shared: Any, target: Any,
            n_samples: int, max_batch: int, *, key: jax.Array | None = None,
            need_sq: bool = False, progress: bool | None = None, mirror: bool = False,
            pair_spread: bool = False, normals: bool = False, absolute: bool = False
            ) -> tuple[Any, Any, GradPlan]:
        """Weighted sums over the samples of every row.

        Args:
            sampler: Gives point, multiplier and weight of one sample of one row.
            x: Validated inputs (pytree of ``[n, ...]`` arrays).
            aux: Per-row data for the sampler (pytree of ``[n, ...]``) or ``None``.
            shared: Data common to all rows (pytree of arrays), passed to the sampler.
            target: ``int[n]`` output per row, or ``None`` for all outputs.
            n_samples: Samples per row.
            max_batch: Model rows per device call.
            key: Random key, or ``None`` for deterministic samplers (samples are keyed by
                global row and sample index, so results do not depend on the chunking).
            need_sq: Also return the root of the weighted second moment around the
                weighted mean (the standard deviation when the weights sum to 1),
                accumulated around a shift so that a large mean does not cancel the
                spread in float32, and scaled so that it does not overflow.
            mirror: Antithetic pairs (see :func:`make_step`): the sampler is called for
                pair ``p = s // 2``, and odd samples are reflected through the row.
            pair_spread: The spread of the pairs' means instead of the samples' (with
                ``mirror``).
            normals: The sampler takes one Gaussian number per input element of each
                sample from :meth:`~xaicore.engine._noise.Draw.normals`: they are drawn
                for a whole block at once (faster, the same numbers).
            absolute: Return the absolute value of the sum (not of its terms).

        Returns:
            ``(sum, spread or None, plan)`` as NumPy pytrees like ``x`` (with a trailing
            output axis when ``target`` is ``None``).

        Raises:
            NonFiniteError: the model's outputs or gradients at some evaluated point were
                NaN or inf (counted on the device, in the same call).
        """
        leaves = jax.tree_util.tree_leaves(x)
        n = int(leaves[0].shape[0])
        n_out = self._outputs(x)   # all outputs: the backward pass runs once per output
        p = plan(n, n_samples, max(1, max_batch // n_out) if target is None else max_batch,
                 even=mirror)
        if p.chunks > 1 and (mirror or row_elements(self.fn) > LOOP_MAX_ELEMENTS):
            # large rows: one chunk per call; mirrored pairs too (inside the device loop
            # their step ran 1.3x slower than alone, MLP 64-256-256-10; a chunk is then
            # max_batch model rows, so the host round trips are few)
            p = dataclasses.replace(p, chunks=1)
        draws = sum(int(np.prod(a.shape[1:])) for a in leaves) if normals and key is not None \
            else 0
        cfg = (sampler, n_samples, p.block, p.n_blocks, target is None, need_sq, p.chunks,
               mirror, mirror and pair_spread, draws, absolute)
        steps = shared_steps(self._known, "gradient")   # one per model and configuration
        if cfg not in steps:
            steps[cfg] = make_step(self._known, *cfg)
        step = steps[cfg]
        before = step._cache_size()
        t = np.zeros(n, np.int32) if target is None else np.asarray(target, np.int32)
        data = (x, aux, np.arange(n, dtype=np.int32), t)
        if p.chunks == 1:
            call = lambda part: step(self.fn.params, *part[:2], shared, *part[2:], key)  # noqa: E731
        else:
            def call(part: tuple) -> Any:
                real = int(part[2].shape[0])              # rows before padding
                part = pad_rows(part, p.rows * p.chunks)
                count = np.int32(-(-real // p.rows))
                return step(self.fn.params, *part[:2], shared, *part[2:], key, count)
        total, sd, bad = run_chunked(call, data, p.rows * p.chunks, progress=progress,
                                     desc="gradients", exact_chunk=True,
                                     pad=p.chunks == 1)
        self._compiles += step._cache_size() - before
        check_finite(bad, n_samples)
        return total, sd, p


__all__ = ["GradPlan", "GradientEngine", "Sampler", "check_finite", "check_float_inputs",
           "make_step", "plan"]
