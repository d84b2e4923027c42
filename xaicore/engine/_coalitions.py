"""The coalition engine: the only code that builds masked inputs and calls the model on them.

For instances ``x_n``, background rows ``b_k`` and coalitions ``z_s`` (bool over players)
it computes ``v[n, s, o] = link(mean_k f(where(z_s[groups], x_n, b_k)))[o]``.

The ``n * S`` (instance, coalition) pairs stream through the device in one flat sequence
of fixed-shape chunks (``pairs`` pairs x ``K`` background rows <= ``max_batch`` model rows
per model application; only the last chunk padded), several chunks per device call (a
loop on the device, so the host's per-call work is amortised), so one compile serves a
whole call and device memory does not grow with the number of instances.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._progress import progress_meter
from .._validate import check_finite
from ..exporting._modelfn import ModelFn
from ._batching import pad_rows, run_chunked
from ._link_check import check_link_outputs

_LINKS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda y: y,
    "logit": lambda y: jnp.log(jnp.clip(y, 1e-7, 1 - 1e-7))
    - jnp.log1p(-jnp.clip(y, 1e-7, 1 - 1e-7)),
}


def link_fn(link: str) -> Callable[[jax.Array], jax.Array]:
    from .._errors import InputError

    if link not in _LINKS:
        raise InputError(f"link: expected one of {sorted(_LINKS)}, got {link!r}")
    return _LINKS[link]


#: Most chunks one device call loops over (fewer host round trips per model row).
_MAX_CHUNKS_PER_CALL = 16


@dataclass(frozen=True)
class Plan:
    """How one call is cut into device calls."""

    pairs: int   # (instance, coalition) pairs per chunk (one model application)
    chunks: int  # chunks per device call (a loop on the device)
    k: int       # background rows per model application (one block of the background)
    blocks: int = 1  # background blocks looped over per chunk (``k * blocks >= K``)

    @property
    def model_rows(self) -> int:
        """Model rows per model application (the memory bound)."""
        return self.pairs * self.k


def plan(n: int, s: int, k: int, max_batch: int) -> Plan:
    """Largest ``pairs`` with ``pairs * k <= max_batch`` (at least 1), and up to
    ``_MAX_CHUNKS_PER_CALL`` such chunks per device call.

    A background of more than ``max_batch`` rows is cut into ``blocks`` balanced blocks
    of ``k <= max_batch`` rows, looped over on the device, so that ``max_batch`` bounds
    every model application whatever the background's size.

    The ``n * s`` (instance, coalition) pairs stream through in one flat sequence; the
    device loop stops after the last chunk that holds pairs, so only the very last chunk
    is padded.
    """
    k = max(k, 1)
    blocks = -(-k // max(1, max_batch))
    k = -(-k // blocks)
    total = n * s
    cap = max(1, max_batch // k)
    # Compile few shapes: a call that fills more than 1/16 of a chunk gets the full chunk,
    # and a call of more than one chunk the full device loop (the padded chunks are
    # skipped on the device), so 3, 7, 10 and 64 rows share one or two compilations.
    pairs = cap if total > cap // 16 else 1 << max(0, (total - 1).bit_length())
    chunks = 1 if total <= pairs else _MAX_CHUNKS_PER_CALL
    return Plan(pairs=pairs, chunks=chunks, k=k, blocks=blocks)


def background_blocks(background: np.ndarray, weights: np.ndarray, k: int, blocks: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The background ``[K, *row]`` and its weights as ``[blocks, k, *row]`` / ``[blocks,
    k]``; the padding rows repeat the last row with weight 0."""
    short = k * blocks - background.shape[0]
    if short:
        background = np.concatenate([background, np.repeat(background[-1:], short, 0)])
        weights = np.concatenate([weights, np.zeros(short, weights.dtype)])
    return (background.reshape((blocks, k, *background.shape[1:])),
            weights.reshape(blocks, k))


def _make_step(fn: ModelFn, groups: np.ndarray, link: str, row_shape: tuple[int, ...]
               ) -> Callable:
    link_f = link_fn(link)
    g = jnp.asarray(groups)

    def chunk(params: Any, xs: jax.Array, inst: jax.Array, masks: jax.Array,
              coal: jax.Array, background: jax.Array, weights: jax.Array) -> jax.Array:
        """``background [B, k, *row]``, ``weights [B, k]``: ``B`` blocks of ``k`` rows."""
        x = jnp.take(xs, inst, axis=0)                                    # [p, *row]
        p = x.shape[0]
        z = jnp.take(masks, coal, axis=0)                                 # [p, M]
        elem = z[:, g].reshape((p, *row_shape))                           # [p, *row]

        def block(bw: tuple[jax.Array, jax.Array]) -> jax.Array:
            b, w = bw
            k = b.shape[0]
            xm = jnp.where(elem[:, None], x[:, None], b[None])            # [p, k, *row]
            y = fn.apply_flat(params, xm.reshape((p * k, *row_shape)))
            return jnp.einsum("pko,k->po", y.reshape((p, k, -1)), w)

        if background.shape[0] == 1:
            y = block((background[0], weights[0]))
        else:   # a background larger than max_batch: its blocks one after another
            y = jax.lax.map(block, (background, weights)).sum(axis=0)
        return link_f(y)                                                  # [p, O]

    def step(params: Any, xs: jax.Array, inst: jax.Array, masks: jax.Array,
             coal: jax.Array, count: jax.Array, background: jax.Array,
             weights: jax.Array) -> jax.Array:
        """The call's instances ``xs [R, *row]``; ``inst``, ``coal [c, p]``: each pair's
        instance (row of ``xs``) and coalition; the first ``count`` chunks, ``[c, p, O]``."""
        def one(i: jax.Array) -> jax.Array:
            return chunk(params, xs, inst[i], masks, coal[i], background, weights)

        shape = jax.eval_shape(one, jnp.int32(0))
        out = jnp.zeros((inst.shape[0], *shape.shape), shape.dtype)
        return jax.lax.fori_loop(
            0, count, lambda i, o: jax.lax.dynamic_update_index_in_dim(o, one(i), i, 0), out)

    return jax.jit(step)


class CoalitionEngine:
    """Evaluates ``v[n, s, o]`` for one model, background, grouping and link.

    The compiled step is cached on the engine: calls with the same chunk shapes reuse it.
    """

    def __init__(self, fn: ModelFn, background: np.ndarray, groups: np.ndarray,
                 link: str = "identity", weights: np.ndarray | None = None) -> None:
        self.fn = fn
        self.row_shape = tuple(background.shape[1:])
        self.background = np.asarray(background)
        k = background.shape[0]
        w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
        self.weights = (w / w.sum()).astype(np.float32)
        self._blocks: dict[tuple[int, int], tuple[jax.Array, jax.Array]] = {}
        self.groups = groups
        self.link = link
        self._step = _make_step(fn, groups, link, self.row_shape)
        self._predict = jax.jit(lambda p, x: link_fn(link)(fn.apply_flat(p, x)))
        self._forward = jax.jit(fn.apply_flat)

    @property
    def compiled(self) -> int:
        """Number of compilations of the coalition step so far (for tests)."""
        return self._step._cache_size()

    def base_value(self, max_batch: int | None = None) -> np.ndarray:
        """``link(mean_k f(b_k))``: the value of the empty coalition, ``[O]`` (the background
        through the model in calls of at most ``max_batch`` rows)."""
        fb = run_chunked(lambda part: self._forward(self.fn.params, part), self.background,
                         max_batch or len(self.background)).astype(np.float64)
        check_finite(fb, "the background", "background")
        y = self.weights.astype(np.float64) @ fb
        return np.asarray(link_fn(self.link)(jnp.asarray(y, jnp.float32)), dtype=np.float64)

    def _background_blocks(self, p: Plan) -> tuple[jax.Array, jax.Array]:
        key = (p.k, p.blocks)
        if key not in self._blocks:
            b, w = background_blocks(self.background, self.weights, p.k, p.blocks)
            self._blocks = {key: (jnp.asarray(b), jnp.asarray(w))}   # the latest plan only
        return self._blocks[key]

    def full_value(self, x: np.ndarray, max_batch: int) -> np.ndarray:
        """``link(f(x))``: the value of the full coalition, ``[n, O]``."""
        if self.link != "identity":       # the raw outputs, checked before the link
            raw = run_chunked(lambda part: self._forward(self.fn.params, part), x, max_batch)
            check_link_outputs(self.link, check_finite(raw, "the explained rows", "X"),
                               "X row")
        v1 = run_chunked(lambda part: self._predict(self.fn.params, part), x,
                         max_batch).astype(np.float64)
        return check_finite(v1, "the explained rows", "X")

    def values(self, x: np.ndarray, masks: np.ndarray, max_batch: int,
               progress: bool | None = None) -> np.ndarray:
        """``v[n, s, o]`` for every instance and coalition (float64 on the host)."""
        n, s = x.shape[0], masks.shape[0]
        if s == 0:
            return np.empty((n, 0, self.fn.n_outputs), dtype=np.float64)
        p = plan(n, s, self.background.shape[0], max_batch)
        total, per_call = n * s, p.pairs * p.chunks
        span = per_call // s + 2   # most instances one call's pairs can touch (fixed: one shape)
        masks_d = jnp.asarray(np.asarray(masks, bool))
        background, weights = self._background_blocks(p)
        out = np.empty((n, s, self.fn.n_outputs), dtype=np.float64)
        flat = out.reshape(total, -1)
        meter = progress_meter(n, "coalitions", progress)
        pending: list = []  # device results not yet copied back: the host stays one call behind
        done = 0

        def collect(p0: int, res: jax.Array) -> None:
            nonlocal done
            p1 = min(p0 + per_call, total)
            flat[p0:p1] = np.asarray(res).reshape(per_call, -1)[: p1 - p0]
            if p1 // s > done:
                meter.update(p1 // s - done)
                done = p1 // s

        try:
            for p0 in range(0, total, per_call):
                pair = np.minimum(np.arange(p0, p0 + per_call), total - 1)  # pad: repeat last
                inst, coal = np.divmod(pair, s)
                first = int(inst[0])   # the instances go over once, the pairs index them
                xs = pad_rows(x[first:first + span], span)
                count = -(-(min(total, p0 + per_call) - p0) // p.pairs)   # chunks with pairs
                res = self._step(self.fn.params, jnp.asarray(xs),
                                 jnp.asarray((inst - first).astype(np.int32).reshape(
                                     p.chunks, p.pairs)),
                                 masks_d, jnp.asarray(coal.astype(np.int32).reshape(
                                     p.chunks, p.pairs)), jnp.int32(count),
                                 background, weights)
                pending.append((p0, res))
                if len(pending) > 2:
                    collect(*pending.pop(0))
            while pending:
                collect(*pending.pop(0))
        finally:
            meter.close()
        return check_finite(out, "the masked rows (coalitions)", "X")
