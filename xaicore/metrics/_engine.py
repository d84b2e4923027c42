"""The metrics' device work: the model on masked and on perturbed copies of the rows.

Both run like the gradient engine: each device call takes ``rows`` instances and all
their copies, in ``n_blocks`` blocks of ``block`` copies looped over on the device, with
``rows * block <= max_batch`` model rows per model application; instances stream through
:func:`~xaicore.engine._batching.run_chunked` in fixed-shape chunks (the last padded), so
one compile serves a whole call.

Random perturbations are drawn on the device from one key per (row, copy): ``fold_in(
fold_in(key(seed), row), copy)``, so they do not depend on ``max_batch`` or on how the rows
are chunked, and :func:`draws` reproduces them on the host.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..engine._batching import run_chunked
from ..engine._gradients import plan
from ..exporting._modelfn import ModelFn

_STEPS: dict[tuple, tuple[ModelFn, Callable]] = {}


def _cached(fn: ModelFn, key: tuple, make: Callable[[], Callable]) -> Callable:
    """One jitted step per (model, kind, shapes), kept while the model lives here."""
    k = (id(fn), *key)
    hit = _STEPS.get(k)
    if hit is None or hit[0] is not fn:
        if len(_STEPS) > 16:
            _STEPS.clear()
        hit = _STEPS[k] = (fn, make())
    return hit[1]


def _pick(y: jax.Array, t: jax.Array) -> jax.Array:
    """``y [r, b, O]`` at each row's output ``t [r]`` -> ``[r, b]``."""
    return jnp.take_along_axis(y, t[:, None, None], axis=2)[..., 0]


def sample(kind: str, key: jax.Array, shape: tuple[int, ...], scale: Any) -> jax.Array:
    """One perturbation: ``"normal"`` N(0, scale^2), ``"uniform"`` U[-scale, scale]."""
    if kind == "normal":
        return jax.random.normal(key, shape) * scale
    return jax.random.uniform(key, shape, minval=-scale, maxval=scale)


def _draws(seed: jax.Array, rows: jax.Array, copies: jax.Array, shape: tuple[int, ...],
           kind: str, scale: Any) -> jax.Array:
    base = jax.random.PRNGKey(seed)

    def one(i: jax.Array, j: jax.Array) -> jax.Array:
        return sample(kind, jax.random.fold_in(jax.random.fold_in(base, i), j), shape, scale)

    return jax.vmap(jax.vmap(one, (None, 0)), (0, None))(rows, copies)


def draws(seed: int, rows: np.ndarray, n_copies: int, shape: tuple[int, ...], kind: str,
          scale: float) -> np.ndarray:
    """The perturbations of ``rows`` (global row numbers), ``[len(rows), n_copies, *shape]``
    float32: the same the device steps draw."""
    f = jax.jit(_draws, static_argnums=(3, 4))
    return np.asarray(f(jnp.uint32(seed), jnp.asarray(rows, jnp.int32),
                        jnp.arange(n_copies, dtype=jnp.int32), tuple(shape), kind,
                        jnp.float32(scale)))


def _blocks(a: np.ndarray, s: int, p: Any) -> np.ndarray:
    """``a [n, s, ...]`` padded along copies (last repeated) to ``[n, n_blocks, block, ...]``."""
    pad = p.block * p.n_blocks - s
    if pad:
        a = np.concatenate([a, np.repeat(a[:, -1:], pad, axis=1)], axis=1)
    return a.reshape(a.shape[0], p.n_blocks, p.block, *a.shape[2:])


def masked_outputs(fn: ModelFn, x: np.ndarray, ref: np.ndarray, masks: np.ndarray,
                   groups: np.ndarray, target: np.ndarray, max_batch: int) -> np.ndarray:
    """``f_t(where(keep[groups], x, ref))`` for every row and mask: ``[n, S]`` float64.

    Args:
        x, ref: The rows and the values removed elements take, ``[n, *row]``.
        masks: ``bool[n, S, M]``, True where the player keeps its value in ``x``.
        groups: ``int32[n, E]``: each input element's player, per row.
        target: ``int[n]``: the output read for each row.
    """
    n, s, _ = masks.shape
    row = tuple(x.shape[1:])
    p = plan(n, s, max_batch)

    def make() -> Callable:
        def step(params: Any, x: jax.Array, ref: jax.Array, masks: jax.Array,
                 groups: jax.Array, t: jax.Array) -> jax.Array:
            r = x.shape[0]

            def block(mb: jax.Array) -> jax.Array:               # [r, b, M]
                b = mb.shape[1]
                keep = jax.vmap(lambda m, g: m[:, g])(mb, groups).reshape((r, b, *row))
                xm = jnp.where(keep, x[:, None], ref[:, None]).reshape((r * b, *row))
                return _pick(fn.apply_flat(params, xm).reshape((r, b, -1)), t)

            ys = jax.lax.map(block, jnp.moveaxis(masks, 1, 0))   # [n_blocks, r, b]
            return jnp.moveaxis(ys, 0, 1).reshape(r, -1)
        return jax.jit(step)

    step = _cached(fn, ("masked", row), make)
    data = (x, ref.astype(x.dtype), _blocks(masks, s, p), groups, target.astype(np.int32))
    out = run_chunked(lambda part: step(fn.params, *part), data, p.rows, exact_chunk=True,
                      progress=False)
    return out[:, :s].astype(np.float64)


def noise_outputs(fn: ModelFn, x: np.ndarray, phi: np.ndarray, target: np.ndarray,
                  n_copies: int, seed: int, kind: str, scale: float, max_batch: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """For noise ``I`` drawn on the device (see :func:`draws`): ``sum(I * phi)`` and
    ``f_t(x - I)`` of every row and copy, both ``[n, n_copies]`` float64."""
    n = x.shape[0]
    row = tuple(x.shape[1:])
    p = plan(n, n_copies, max_batch)

    def make() -> Callable:
        def step(params: Any, x: jax.Array, phi: jax.Array, rows: jax.Array, t: jax.Array,
                 seed: jax.Array, scale: jax.Array) -> tuple[jax.Array, jax.Array]:
            r = x.shape[0]

            def block(j0: jax.Array) -> tuple[jax.Array, jax.Array]:
                copies = j0 + jnp.arange(p.block, dtype=jnp.int32)
                noise = _draws(seed, rows, copies, row, kind, scale).astype(x.dtype)
                dot = jnp.sum((noise * phi[:, None]).reshape(r, p.block, -1), axis=2)
                xm = (x[:, None] - noise).reshape((r * p.block, *row))
                return dot, _pick(fn.apply_flat(params, xm).reshape((r, p.block, -1)), t)

            starts = jnp.arange(p.n_blocks, dtype=jnp.int32) * p.block
            dot, y = jax.lax.map(block, starts)                  # [n_blocks, r, b]
            return (jnp.moveaxis(dot, 0, 1).reshape(r, -1),
                    jnp.moveaxis(y, 0, 1).reshape(r, -1))
        return jax.jit(step)

    step = _cached(fn, ("noise", row, kind, p.block, p.n_blocks), make)
    data = (x, phi.reshape(x.shape).astype(x.dtype), np.arange(n, dtype=np.int32),
            target.astype(np.int32))
    dot, y = run_chunked(lambda part: step(fn.params, *part, jnp.uint32(seed),
                                           jnp.float32(scale)), data, p.rows,
                         exact_chunk=True, progress=False)
    return dot[:, :n_copies].astype(np.float64), y[:, :n_copies].astype(np.float64)
