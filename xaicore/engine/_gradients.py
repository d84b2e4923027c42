"""Shared core of the gradient methods: vmapped input gradients of the selected output.

Every gradient method is a weighted average over ``S`` points per instance::

    sum_s w_s * m_s * grad f_t(p_s)        (and, where needed, sum_s w_s * (m_s * grad)^2)

where a *sampler* gives the point ``p_s``, the multiplier ``m_s`` (``None`` for 1) and the
weight ``w_s`` of sample ``s`` of one row. Integrated gradients (points on the path,
quadrature weights), expected gradients (random baseline, random point, ``m = x - b``),
SmoothGrad (noisy copies) and saliency (``S = 1``) are samplers of this one engine.

Each device call takes ``rows`` instances and all their samples, in ``n_blocks`` blocks of
``block`` samples (a ``lax.scan`` over blocks: no Python loop over steps), with
``rows * block <= max_batch`` model rows through forward + backward. Instances stream
through :func:`xaicore.engine._batching.run_chunked` in fixed-shape chunks (the last one
padded), so one compilation serves a whole call.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ..exporting._modelfn import ModelFn
from ._batching import run_chunked
from ._inputs import with_known_specs

tmap = jax.tree_util.tree_map

#: ``sampler(x_row, aux_row, shared, key, s) -> (point, multiplier | None, weight)``;
#: ``key`` is ``None`` when the engine is run without one (deterministic samplers).
Sampler = Callable[[Any, Any, Any, jax.Array, jax.Array], tuple[Any, Any, jax.Array]]


@dataclass(frozen=True)
class GradPlan:
    """How one call is cut into device calls."""

    rows: int       # instances per device call
    block: int      # samples per instance in one vmapped block
    n_blocks: int   # blocks scanned inside one device call

    @property
    def model_rows(self) -> int:
        """Rows through forward + backward at once (the memory bound, <= max_batch)."""
        return self.rows * self.block


def plan(n: int, n_samples: int, max_batch: int) -> GradPlan:
    """Rows and sample blocks with ``rows * block <= max_batch``.

    ``rows`` is a power of two (the largest under the cap for calls with more rows, the
    smallest holding them all otherwise): calls compile few shapes, larger calls share
    one, and the padded last chunk wastes little.
    """
    n_blocks = -(-n_samples // max_batch)
    block = -(-n_samples // n_blocks)
    cap = max(1, max_batch // block)
    if n > cap:                               # full chunks of a power of two: little padding
        rows = 1 << (cap.bit_length() - 1)
    else:
        rows = min(cap, 1 << max(0, (n - 1).bit_length()))
    return GradPlan(rows=rows, block=block, n_blocks=n_blocks)


def check_float_inputs(fn: ModelFn) -> None:
    """Gradients need float inputs: refuse integer (token) inputs with the way out."""
    for spec in fn.inputs:
        if np.dtype(spec.dtype).kind in "biu":
            raise InputError(f"X: the model input '{spec.name}' takes integer ids "
                             f"({spec.dtype}), which have no gradient: explain the embedding "
                             "layer with layer gradients, or use a Shapley method")


def _bcast(v: jax.Array, ndim: int) -> jax.Array:
    """``v [r]`` shaped to broadcast against ``[k, r, ...]`` arrays of ``ndim`` axes."""
    return v.reshape((1, v.shape[0]) + (1,) * (ndim - 2))


def _wsum(a: jax.Array, w: jax.Array) -> jax.Array:
    """``sum_c w[r, c] * a[k, r, c, ...]`` -> ``[k, r, ...]``."""
    return jnp.sum(a * w.reshape((1, *w.shape) + (1,) * (a.ndim - 3)), axis=2)


def make_step(fn: ModelFn, sampler: Sampler, n_samples: int, block: int, n_blocks: int,
              all_outputs: bool, need_sq: bool) -> Callable:
    """The jitted device step of one configuration: ``step(params, x, aux, shared, idx,
    target, key) -> (sum, second moment | None)``, pytrees like ``x`` (+ output axis)."""
    k_out = fn.n_outputs if all_outputs else 1

    def step(params: Any, x: Any, aux: Any, shared: Any, idx: jax.Array,
             target: jax.Array, key: jax.Array) -> tuple[Any, Any]:
        r = idx.shape[0]

        def one(xr: Any, ar: Any, i: jax.Array, s: jax.Array) -> tuple:
            k = None if key is None else jax.random.fold_in(jax.random.fold_in(key, i), s)
            return sampler(xr, ar, shared, k, s)

        points = jax.vmap(jax.vmap(one, (None, None, None, 0)), (0, 0, 0, None))

        def body(carry: tuple, b: jax.Array) -> tuple:
            s = b * block + jnp.arange(block)
            pts, mult, w = points(x, aux, idx, jnp.minimum(s, n_samples - 1))
            w = w * (s < n_samples)[None, :]                         # padded samples: 0
            flat = tmap(lambda a: a.reshape((r * block, *a.shape[2:])), pts)
            y, vjp = jax.vjp(lambda p: fn.apply_flat(params, p), flat)
            if all_outputs:
                cot = jnp.broadcast_to(jnp.eye(k_out, dtype=y.dtype)[:, None, :],
                                       (k_out, *y.shape))
                (g,) = jax.vmap(vjp)(cot)                            # [O, r*c, ...]
            else:
                (g,) = vjp(jax.nn.one_hot(jnp.repeat(target, block), y.shape[1],
                                          dtype=y.dtype))
                g = tmap(lambda a: a[None], g)                        # [1, r*c, ...]
            g = tmap(lambda a: a.reshape((a.shape[0], r, block, *a.shape[2:])), g)
            if mult is not None:
                g = tmap(lambda a, m: a * m[None].astype(a.dtype), g, mult)
            total, moments = carry
            total = tmap(lambda t, a: t + _wsum(a, w), total, g)
            if need_sq:   # sums around a shift (the first block's mean): no cancellation
                sq, dev, shift = moments
                wr = jnp.sum(w, axis=1)                               # [r]
                shift = tmap(lambda s_, a: jnp.where(
                    b == 0, _wsum(a, w) / _bcast(wr, a.ndim - 1), s_), shift, g)
                cen = tmap(lambda a, s_: a - s_[:, :, None], g, shift)
                sq = tmap(lambda t, a: t + _wsum(a * a, w), sq, cen)
                dev = tmap(lambda t, a: t + _wsum(a, w), dev, cen)
                moments = (sq, dev, shift)
            return (total, moments), None

        zeros = tmap(lambda a: jnp.zeros((k_out, *a.shape), a.dtype), x)
        init = (zeros, (zeros, zeros, zeros) if need_sq else None)
        if n_blocks == 1:
            (total, moments), _ = body(init, jnp.int32(0))
        else:
            (total, moments), _ = jax.lax.scan(body, init, jnp.arange(n_blocks))
        last = (lambda a: jnp.moveaxis(a, 0, -1)) if all_outputs else (lambda a: a[0])
        if not need_sq:
            return tmap(last, total), None
        sq, dev, _ = moments   # weighted second moment around the weighted mean
        m2 = tmap(lambda q, d: jnp.maximum(q - d * d, 0.0), sq, dev)
        return tmap(last, total), tmap(last, m2)

    return jax.jit(step)


class GradientEngine:
    """Runs samplers over the instances of a call for one model; caches compiled steps.

    The compiled step of each configuration is kept on the engine, so calls with the same
    chunk shapes reuse it (:attr:`compiled` counts compilations, for tests).
    """

    def __init__(self, fn: ModelFn) -> None:
        check_float_inputs(fn)
        self.fn = fn
        self._steps: dict[tuple, Callable] = {}
        self._known: ModelFn | None = None
        self._forward = jax.jit(fn.apply_flat)

    def _outputs(self, x: Any) -> int:
        """Number of model outputs (output specs filled in from ``x`` for a plain JAX
        callable exported without them)."""
        if self._known is None:
            self._known = self.fn if self.fn.outputs else with_known_specs(self.fn, x)
        return max(1, self._known.n_outputs)

    @property
    def compiled(self) -> int:
        """Number of compilations of the gradient steps so far."""
        return sum(s._cache_size() for s in self._steps.values())

    def forward(self, x: Any, max_batch: int) -> np.ndarray:
        """Model outputs ``[n, O]`` (float64 on the host), chunked."""
        return run_chunked(lambda part: self._forward(self.fn.params, part), x,
                           max_batch).astype(np.float64)

    def run(self, sampler: Sampler, x: Any, aux: Any, shared: Any, target: Any,
            n_samples: int, max_batch: int, *, key: jax.Array | None = None,
            need_sq: bool = False, progress: bool | None = None
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
            need_sq: Also return the weighted second moments around the weighted mean
                (the variance when the weights sum to 1), accumulated around a shift so
                that a large mean does not cancel the spread in float32.

        Returns:
            ``(sum, second moment or None, plan)`` as NumPy pytrees like ``x`` (with a trailing
            output axis when ``target`` is ``None``).
        """
        leaves = jax.tree_util.tree_leaves(x)
        n = int(leaves[0].shape[0])
        n_out = self._outputs(x)   # all outputs: the backward pass runs once per output
        p = plan(n, n_samples, max(1, max_batch // n_out) if target is None else max_batch)
        cfg = (sampler, n_samples, p.block, p.n_blocks, target is None, need_sq)
        if cfg not in self._steps:
            self._steps[cfg] = make_step(self._known, *cfg)
        step = self._steps[cfg]
        t = np.zeros(n, np.int32) if target is None else np.asarray(target, np.int32)
        data = (x, aux, np.arange(n, dtype=np.int32), t)
        total, sq = run_chunked(
            lambda part: step(self.fn.params, part[0], part[1], shared, part[2], part[3], key),
            data, p.rows, progress=progress, desc="gradients", exact_chunk=True)
        return total, sq, p


__all__ = ["GradPlan", "GradientEngine", "Sampler", "check_float_inputs", "make_step", "plan"]
