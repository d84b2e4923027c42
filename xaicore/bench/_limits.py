"""The raw limit of a case's function: the best model rows/s of its jitted forward pass
(and forward+backward), over batch sizes, measured in the same run as the methods."""
from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _best(f: Any, repeats: int) -> float:
    jax.block_until_ready(f())           # compile and warm up, not timed
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        jax.block_until_ready(f())
        best = min(best, time.perf_counter() - t)
    return best


def forward_limit(fn: Any, row: np.ndarray, sizes: tuple[int, ...], repeats: int = 3
                  ) -> dict:
    """Best rows/s of ``jit(fn.apply_flat)`` over ``sizes``, each size timed as one call
    and as a back-to-back stream of calls (as an engine drives the device)."""
    f = jax.jit(fn.apply_flat)
    best = (0.0, 0)
    for n in sizes:
        x = jnp.asarray(np.repeat(row[None], n, axis=0))
        calls = max(1, max(sizes) // n)
        rate = n / _best(lambda: f(fn.params, x), repeats)
        rate = max(rate, n * calls / _best(lambda: [f(fn.params, x) for _ in range(calls)],
                                           repeats))
        best = max(best, (rate, n))
    return {"rows_per_s": best[0], "batch": best[1]}


def gradient_limit(fn: Any, row: np.ndarray, sizes: tuple[int, ...], target: int,
                   repeats: int = 3) -> dict:
    """Best rows/s of the jitted input gradient of one output (forward+backward)."""
    g = jax.jit(jax.grad(lambda x: fn.apply_flat(fn.params, x)[:, target].sum()))
    best = (0.0, 0)
    for n in sizes:
        x = jnp.asarray(np.repeat(row[None], n, axis=0))
        best = max(best, (n / _best(lambda: g(x), repeats), n))
    return {"rows_per_s": best[0], "batch": best[1]}
