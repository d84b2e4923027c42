"""The numerics of the gradient engine's sums (:mod:`xaicore.engine._gradients`):
weighted sums over a block's samples, the exact power-of-two scaling that keeps them
finite, the count of non-finite points, and the means of antithetic pairs."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

tmap = jax.tree_util.tree_map


def wsum(a: jax.Array, w: jax.Array) -> jax.Array:
    """``sum_c w[r, c] * a[k, r, c, ...]`` -> ``[k, r, ...]``: a batched matrix-vector
    product (XLA's CPU backend ran the broadcast-multiply-and-sum 5-13x slower)."""
    flat = a.reshape((*a.shape[:3], -1))
    return jnp.einsum("krce,rc->kre", flat, w.astype(a.dtype)).reshape(
        (a.shape[0], a.shape[1], *a.shape[3:]))


def pow2_scale(g: jax.Array) -> jax.Array:
    """Per element of ``g [k, r, c, ...]``: the power of two at or above ``max_c |g|``
    (1 where that is 0): ``[k, r, ...]``. Dividing by a power of two is exact, so the
    scaled sums lose nothing, and they cannot overflow where the true ones are finite.
    The exponent stays within 2 of the dtype's normal range, so that ``1 / scale`` (which
    XLA may multiply by instead) is not a subnormal flushed to zero."""
    info = jnp.finfo(g.dtype)
    _, e = jnp.frexp(jnp.max(jnp.abs(g), axis=2))
    e = jnp.clip(e, int(info.minexp) + 2, int(info.maxexp) - 2)
    return jnp.ldexp(jnp.ones((), g.dtype), e)


def _not_finite(y: jax.Array, g: Any, r: int, block: int) -> tuple[jax.Array, jax.Array]:
    """``bool[r, block]`` twice: points whose outputs ``y [r * block, O]`` are not all
    finite, and points with finite outputs whose gradients (leaves ``[k, r, block, ...]``)
    are not."""
    bad_y = ~jnp.all(jnp.isfinite(y.reshape((r, block, -1))), axis=2)
    bad_g = jnp.zeros((r, block), bool)
    for a in jax.tree_util.tree_leaves(g):
        a = jnp.moveaxis(a, 0, 2).reshape((r, block, -1))
        bad_g = bad_g | ~jnp.all(jnp.isfinite(a), axis=2)
    return bad_y, bad_g & ~bad_y


def bad_counts(y: jax.Array, g: Any, sums: Any, real: jax.Array, r: int, block: int
               ) -> jax.Array:
    """``int32[r, 2]``: per row, the real points of this block whose outputs are not
    finite, and those with finite outputs whose gradients ``g`` are not.

    With several samples a row, counting every gradient element (a pass over ``g`` per
    block) cost an eighth of a small model's step, so it runs only where it can find
    something: a NaN or inf in ``g`` reaches the block's weighted sums ``sums`` (the
    power-of-two scale keeps a finite ``g`` finite, ``0 * inf`` is NaN), and the outputs
    ``y`` are few. With one sample (``sums`` as large as ``g``) the count runs as it is:
    the conditional measured no faster there.
    """
    def count(y: jax.Array, g: Any) -> jax.Array:
        bad_y, bad_g = _not_finite(y, g, r, block)
        return jnp.stack([jnp.sum(bad_y & real, 1), jnp.sum(bad_g & real, 1)],
                         axis=1).astype(jnp.int32)
    if block == 1:
        return count(y, g)
    suspect = jnp.any(~jnp.isfinite(y))
    for a in jax.tree_util.tree_leaves(sums):
        suspect = suspect | jnp.any(~jnp.isfinite(a))
    return jax.lax.cond(suspect, count, lambda y, g: jnp.zeros((r, 2), jnp.int32), y, g)


def pair_means(g: Any, w: jax.Array) -> tuple[Any, jax.Array]:
    """The weighted mean of each pair of samples ``g`` (leaves ``[k, r, 2h, ...]``,
    weights ``w [r, 2h]``) and the pairs' weights (their sums, ``[r, h]``); a pair whose
    second sample is padding (weight 0) is its first sample alone."""
    w0, w1 = w[:, 0::2], w[:, 1::2]
    wu = w0 + w1
    f1 = jnp.where(wu > 0, w1 / jnp.where(wu > 0, wu, 1), 0.0)   # 0: padding, or no pair

    def one(a: jax.Array) -> jax.Array:   # strided halves (a reshape to pairs ran 2x slower)
        f = f1.reshape((1, *f1.shape) + (1,) * (a.ndim - 3)).astype(a.dtype)
        a0, a1 = a[:, :, 0::2], a[:, :, 1::2]
        return a0 + f * (a1 - a0)
    return tmap(one, g), wu


__all__ = ["bad_counts", "pair_means", "pow2_scale", "wsum"]
