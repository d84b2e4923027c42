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
from ..exporting._modelfn import ModelFn, shared_forward, shared_jit, shared_steps
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


def _make_step(fn: ModelFn, groups: np.ndarray | None, link: str,
               row_shape: tuple[int, ...], per_row_groups: bool = False,
               per_row_background: bool = False) -> Callable:
    """The jitted step. Two static branches each way: the groups shared by every row
    (``groups``, a constant of the program: today's fast path) or each pair's own row of
    the call's groups ``gs [R, E]`` (ids ``0..M``, ``M`` = "not a player", gathered on the
    device per pair); the background blocks shared by every row, or one replacement row
    per instance ``bs [R, *row]`` (``K = 1``, gathered per pair like the instances)."""
    link_f = link_fn(link)
    g = None if per_row_groups else np.asarray(groups).reshape(-1)
    # each element its own player, in order (tabular rows): the coalition is the mask
    identity = g is not None and np.array_equal(g, np.arange(g.size))

    def chunk(params: Any, xs: jax.Array, inst: jax.Array, masks: jax.Array,
              coal: jax.Array, background: jax.Array, weights: jax.Array,
              gs: jax.Array, bs: jax.Array) -> jax.Array:
        """``background [B, k, *row]``, ``weights [B, k]``: ``B`` blocks of ``k`` rows."""
        x = jnp.take(xs, inst, axis=0)                                    # [p, *row]
        p = x.shape[0]
        z = jnp.take(masks, coal, axis=0)                                 # [p, M]
        if per_row_groups:     # column M: "not a player", always taken from x
            zx = jnp.concatenate([z, jnp.ones((p, 1), z.dtype)], axis=1)  # [p, M + 1]
            elem = jnp.take_along_axis(zx, jnp.take(gs, inst, axis=0), axis=1)
            elem = elem.reshape((p, *row_shape))                          # [p, *row]
        elif identity:
            elem = z.reshape((p, *row_shape))                             # [p, *row]
        else:
            elem = z[:, g].reshape((p, *row_shape))                       # [p, *row]
        if per_row_background:  # one replacement row per instance (K = 1)
            b = jnp.take(bs, inst, axis=0)                                # [p, *row]
            y = fn.apply_flat(params, jnp.where(elem, x, b))
            return link_f(y.reshape((p, -1)))

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

    def step(params: Any, xs: jax.Array, start: jax.Array, last: jax.Array,
             masks: jax.Array, count: jax.Array, background: jax.Array,
             weights: jax.Array, gs: jax.Array, bs: jax.Array, chunks: int, pairs: int
             ) -> jax.Array:
        """The call's instances ``xs [R, *row]`` (and their groups ``gs`` / replacement
        rows ``bs`` where used); its pairs are ``start, start + 1, ...`` (pair ``q`` is
        coalition ``q % s`` of row ``q // s`` of ``xs``; the padding repeats pair
        ``last``), ``pairs`` a chunk, the first ``count`` of ``chunks`` chunks evaluated:
        ``[chunks, pairs, O]``. The pairs' indices are made here, not on the host (a
        small model's call spent more time making and sending them than evaluating).
        ``s`` is the masks' static length: XLA divides by a constant with a multiply and
        a shift (a divisor passed in at run time cost a one-background-row call of a
        30-feature MLP about 10% of its time)."""
        s = masks.shape[0]

        def one(i: jax.Array) -> jax.Array:
            q = jnp.minimum(start + i * pairs + jnp.arange(pairs, dtype=jnp.int32), last)
            return chunk(params, xs, q // s, masks, q % s, background, weights, gs, bs)

        shape = jax.eval_shape(one, jnp.int32(0))
        out = jnp.zeros((chunks, *shape.shape), shape.dtype)
        return jax.lax.fori_loop(
            0, count, lambda i, o: jax.lax.dynamic_update_index_in_dim(o, one(i), i, 0), out)

    return jax.jit(step, static_argnames=("chunks", "pairs"))


class CoalitionEngine:
    """Evaluates ``v[n, s, o]`` for one model, background, grouping and link.

    ``background`` may be ``None`` when every call brings one replacement row per
    instance (``values(..., row_background=)``); ``groups`` may be ``None`` when every
    call brings its own per-row groups (``values(..., groups=)``).

    The compiled steps are cached on the engine: calls with the same chunk shapes reuse
    them (one per branch: shared or per-row groups, shared or per-row background).
    """

    def __init__(self, fn: ModelFn, background: np.ndarray | None, groups: np.ndarray | None,
                 link: str = "identity", weights: np.ndarray | None = None) -> None:
        self.fn = fn
        self.background = None if background is None else np.asarray(background)
        if self.background is not None:
            k = self.background.shape[0]
            w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
            self.weights = (w / w.sum()).astype(np.float32)
        else:
            self.weights = np.ones(1, np.float32)
        self._blocks: dict[tuple[int, int], tuple[jax.Array, jax.Array]] = {}
        self.groups = groups
        self.link = link
        # shared by every engine of this model with the same groups and link
        self._steps = shared_steps(fn, "coalitions")
        self._compiles = 0   # compilations this engine's calls caused
        self._groups_key = None if groups is None else (np.shape(groups),
                                                        np.asarray(groups).tobytes())
        self._predict = shared_jit(fn, f"predict-{link}", lambda: jax.jit(
            lambda p, x: link_fn(link)(fn.apply_flat(p, x))))
        self._forward = shared_forward(fn)
        self._dummy = jnp.zeros((1,), jnp.int32)

    def _step(self, row_shape: tuple[int, ...], per_row_groups: bool,
              per_row_background: bool) -> Callable:
        key = (row_shape, per_row_groups, per_row_background, self.link,
               None if per_row_groups else self._groups_key)
        if key not in self._steps:
            self._steps[key] = _make_step(self.fn, self.groups, self.link, row_shape,
                                          per_row_groups, per_row_background)
        return self._steps[key]

    @property
    def compiled(self) -> int:
        """Number of compilations of the coalition steps this engine's calls caused (the
        steps are shared with the model's other engines; for tests)."""
        return self._compiles

    def background_outputs(self, max_batch: int | None = None) -> np.ndarray:
        """``f(b_k)`` of every background row, ``[K, O]`` (float64), before the link:
        computed once (the background and the parameters do not change)."""
        if getattr(self, "_fb", None) is None:
            self._fb = run_chunked(lambda part: self._forward(self.fn.params, part),
                                   self.background, max_batch or len(self.background)
                                   ).astype(np.float64)
        return self._fb

    def base_value(self, max_batch: int | None = None) -> np.ndarray:
        """``link(mean_k f(b_k))``: the value of the empty coalition, ``[O]`` (the background
        through the model in calls of at most ``max_batch`` rows)."""
        if getattr(self, "_base", None) is None:   # constant: one device round trip
            fb = self.background_outputs(max_batch)
            check_finite(fb, "the background", "background")
            y = self.weights.astype(np.float64) @ fb
            self._base = np.asarray(link_fn(self.link)(jnp.asarray(y, jnp.float32)),
                                    dtype=np.float64)
        return self._base.copy()

    def row_base_values(self, row_background: np.ndarray, max_batch: int) -> np.ndarray:
        """``link(f(b_n))`` of one replacement row per instance: the empty coalition of
        each row, ``[n, O]``."""
        fb = run_chunked(lambda part: self._predict(self.fn.params, part), row_background,
                         max_batch).astype(np.float64)
        return check_finite(fb, "the replacement rows (background)", "background")

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
               progress: bool | None = None, *, groups: np.ndarray | None = None,
               row_background: np.ndarray | None = None, with_full: bool = False) -> Any:
        """``v[n, s, o]`` for every instance and coalition (float64 on the host).

        Args:
            groups: Per-row player ids ``int[n, E]`` (``E`` elements per row; ``-1``: not a
                player, always taken from ``x``), or ``None`` for the engine's shared map.
            row_background: One replacement row per instance ``[n, *row]`` (``K = 1``), or
                ``None`` for the engine's background.
            with_full: Return ``(v, v1)``, with ``v1 [n, O]`` the full coalition's value as
                :meth:`full_value` gives it. With one replacement row and the identity
                link it rides in the same device calls (one host round trip less, no
                extra model rows); else it is :meth:`full_value`'s own call.
        """
        kw = {"groups": groups, "row_background": row_background}
        if not with_full:
            return check_finite(self._values(x, masks, max_batch, progress, **kw),
                                "the masked rows (coalitions)", "X")
        one_row = row_background is not None or (self.background is not None
                                                 and len(self.background) == 1)
        if self.link != "identity" or not one_row:
            v1 = self.full_value(x, max_batch)
            return self.values(x, masks, max_batch, progress, **kw), v1
        full = np.ones((1, masks.shape[1]), bool)
        v = self._values(x, np.concatenate([np.asarray(masks, bool), full]), max_batch,
                         progress, **kw)
        v1 = check_finite(np.ascontiguousarray(v[:, -1]), "the explained rows", "X")
        return check_finite(v[:, :-1], "the masked rows (coalitions)", "X"), v1

    def _values(self, x: np.ndarray, masks: np.ndarray, max_batch: int,
                progress: bool | None, *, groups: np.ndarray | None,
                row_background: np.ndarray | None) -> np.ndarray:
        """:meth:`values` before the finiteness check."""
        n, s = x.shape[0], masks.shape[0]
        if s == 0:
            return np.empty((n, 0, self.fn.n_outputs), dtype=np.float64)
        row_shape = tuple(x.shape[1:])
        per_g, per_b = groups is not None, row_background is not None
        k = 1 if per_b else self.background.shape[0]
        p = plan(n, s, k, max_batch)
        total, per_call = n * s, p.pairs * p.chunks
        span = per_call // s + 2   # most instances one call's pairs can touch (fixed: one shape)
        masks_d = jnp.asarray(np.asarray(masks, bool))
        if per_b:
            background = weights = self._dummy
        else:
            background, weights = self._background_blocks(p)
        if per_g:     # -1 -> M: the column of "always present" the step appends
            m = masks.shape[1]
            gids = np.asarray(groups).reshape(n, -1)
            gids = np.where(gids < 0, m, gids).astype(np.int32)
        step = self._step(row_shape, per_g, per_b)
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

        before = step._cache_size()   # one step for the whole call: count its compiles once
        try:
            for p0 in range(0, total, per_call):
                first = p0 // s   # the instances go over once, the pairs index them
                xs = pad_rows(x[first:first + span], span)
                gs = jnp.asarray(pad_rows(gids[first:first + span], span)) if per_g \
                    else self._dummy
                bs = jnp.asarray(pad_rows(row_background[first:first + span], span)) \
                    if per_b else self._dummy
                count = -(-(min(total, p0 + per_call) - p0) // p.pairs)   # chunks with pairs
                # host scalars as NumPy (a jnp.int32 is a device op of its own, ~15 us)
                res = step(self.fn.params, jnp.asarray(xs), np.int32(p0 - first * s),
                           np.int32(min(total, p0 + per_call) - 1 - first * s),
                           masks_d, np.int32(count), background, weights, gs, bs,
                           chunks=p.chunks, pairs=p.pairs)
                pending.append((p0, res))
                if len(pending) > 2:
                    collect(*pending.pop(0))
            while pending:
                collect(*pending.pop(0))
        finally:
            meter.close()
            self._compiles += step._cache_size() - before
        return out
