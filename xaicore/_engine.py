"""The coalition engine: the only code that builds masked inputs and calls the model on them.

For instances ``x_n``, background rows ``b_k`` and coalitions ``z_s`` (bool over players)
it computes ``v[n, s, o] = link(mean_k f(where(z_s[groups], x_n, b_k)))[o]``.

Instances, coalitions and background rows stream through the device in fixed-shape
chunks (``rows`` instances x ``cols`` coalitions x ``K`` background rows <= ``max_batch``
model rows per call; the last chunks padded), so one compile serves a whole call and
device memory does not grow with the number of instances.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._batching import pad_rows
from ._modelfn import ModelFn
from ._progress import progress_meter

_LINKS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda y: y,
    "logit": lambda y: jnp.log(jnp.clip(y, 1e-7, 1 - 1e-7))
    - jnp.log1p(-jnp.clip(y, 1e-7, 1 - 1e-7)),
}


def link_fn(link: str) -> Callable[[jax.Array], jax.Array]:
    from ._errors import InputError

    if link not in _LINKS:
        raise InputError(f"link: expected one of {sorted(_LINKS)}, got {link!r}")
    return _LINKS[link]


@dataclass(frozen=True)
class Plan:
    """How one call is cut into device calls."""

    rows: int   # instances per device call
    cols: int   # coalitions per device call
    k: int      # background rows (all in every call)

    @property
    def model_rows(self) -> int:
        return self.rows * self.cols * self.k


def plan(n: int, s: int, k: int, max_batch: int) -> Plan:
    """Largest (rows, cols) with rows * cols * k <= max_batch (at least 1 x 1).

    ``rows`` is rounded up to a power of two below the cap, so calls with a few
    instances compile at most ``log2(max_batch)`` shapes and larger calls share one.
    """
    cols = max(1, min(s, max_batch // max(k, 1)))
    cap = max(1, max_batch // (cols * k))
    rows = min(cap, 1 << max(0, (n - 1).bit_length()))
    return Plan(rows=rows, cols=cols, k=k)


def _make_step(fn: ModelFn, groups: np.ndarray, link: str, row_shape: tuple[int, ...]
               ) -> Callable:
    link_f = link_fn(link)
    g = jnp.asarray(groups)

    def step(params: Any, x: jax.Array, masks: jax.Array, start: jax.Array,
             background: jax.Array, weights: jax.Array, cols: int) -> jax.Array:
        z = jax.lax.dynamic_slice_in_dim(masks, start, cols, axis=0)     # [c, M]
        elem = z[:, g].reshape((cols, *row_shape))                       # [c, *row]
        r, k = x.shape[0], background.shape[0]
        xm = jnp.where(elem[None, :, None], x[:, None, None], background[None, None])
        y = fn.apply_flat(params, xm.reshape((r * cols * k, *row_shape)))
        y = jnp.einsum("rcko,k->rco", y.reshape((r, cols, k, -1)), weights)
        return link_f(y)                                                  # [r, c, O]

    return jax.jit(step, static_argnames="cols")


class CoalitionEngine:
    """Evaluates ``v[n, s, o]`` for one model, background, grouping and link.

    The compiled step is cached on the engine: calls with the same chunk shapes reuse it.
    """

    def __init__(self, fn: ModelFn, background: np.ndarray, groups: np.ndarray,
                 link: str = "identity", weights: np.ndarray | None = None) -> None:
        self.fn = fn
        self.row_shape = tuple(background.shape[1:])
        self.background = jnp.asarray(background)
        k = background.shape[0]
        w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, float)
        self.weights = jnp.asarray(w / w.sum(), dtype=jnp.float32)
        self.groups = groups
        self.link = link
        self._step = _make_step(fn, groups, link, self.row_shape)
        self._predict = jax.jit(lambda p, x: link_fn(link)(fn.apply_flat(p, x)))

    @property
    def compiled(self) -> int:
        """Number of compilations of the coalition step so far (for tests)."""
        return self._step._cache_size()

    def base_value(self) -> np.ndarray:
        """``link(mean_k f(b_k))``: the value of the empty coalition, ``[O]``."""
        y = self.fn.apply_flat(self.fn.params, self.background)
        return np.asarray(link_fn(self.link)(self.weights @ y), dtype=np.float64)

    def full_value(self, x: np.ndarray, max_batch: int) -> np.ndarray:
        """``link(f(x))``: the value of the full coalition, ``[n, O]``."""
        from ._batching import run_chunked

        return run_chunked(lambda part: self._predict(self.fn.params, part), x,
                           max_batch).astype(np.float64)

    def values(self, x: np.ndarray, masks: np.ndarray, max_batch: int,
               progress: bool | None = None) -> np.ndarray:
        """``v[n, s, o]`` for every instance and coalition (float64 on the host)."""
        n, s = x.shape[0], masks.shape[0]
        p = plan(n, s, self.background.shape[0], max_batch)
        s_pad = -(-s // p.cols) * p.cols
        masks_d = jnp.asarray(pad_rows(np.asarray(masks, bool), s_pad))
        out = np.empty((n, s, self.fn.n_outputs), dtype=np.float64)
        meter = progress_meter(n, "coalitions", progress)
        pending: list = []  # device results not yet copied back: the host stays one call behind

        def collect(i0: int, i1: int, s0: int, res: jax.Array) -> None:
            s1 = min(s0 + p.cols, s)
            out[i0:i1, s0:s1] = np.asarray(res)[: i1 - i0, : s1 - s0]

        try:
            for i0 in range(0, n, p.rows):
                i1 = min(i0 + p.rows, n)
                xc = jnp.asarray(pad_rows(x[i0:i1], p.rows))
                for s0 in range(0, s_pad, p.cols):
                    res = self._step(self.fn.params, xc, masks_d, jnp.int32(s0),
                                     self.background, self.weights, cols=p.cols)
                    pending.append((i0, i1, s0, res))
                    if len(pending) > 2:
                        collect(*pending.pop(0))
                meter.update(i1 - i0)
            while pending:
                collect(*pending.pop(0))
        finally:
            meter.close()
        return out
