"""Shared pieces of the benchmarks: the raw-throughput limit, models, timing, tables."""
from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def best_time(f: Callable[[], Any], repeats: int = 3) -> float:
    """Best wall time of ``f()`` after one warm-up call (results blocked on)."""
    jax.block_until_ready(f())
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(f())
        best = min(best, time.perf_counter() - t)
    return best


def raw_forward_rate(fn: Any, row: np.ndarray, sizes=(256, 1024, 4096, 16384),
                     repeats: int = 3, stream_rows: int = 16384) -> tuple:
    """Best model rows/s of the jitted forward pass over batch sizes: the limit.

    Each size is timed both as one call and as a stream of calls dispatched back to back
    (about ``stream_rows`` rows, blocked on at the end: how the Shapley engine drives the
    device, which lets XLA overlap consecutive calls); the best of ``repeats`` counts.
    """
    f = jax.jit(fn.apply_flat)
    best = (0.0, 0)
    for n in sizes:
        x = jnp.asarray(np.repeat(row[None], n, axis=0))
        calls = max(1, stream_rows // n)
        rate = n / best_time(lambda: f(fn.params, x), repeats)
        rate = max(rate, n * calls / best_time(
            lambda: [f(fn.params, x) for _ in range(calls)], repeats))
        best = max(best, (rate, n))
    return best


def raw_grad_rate(fn: Any, row: np.ndarray, sizes=(64, 256, 1024, 4096)) -> tuple:
    """Best rows/s of the jitted forward+backward (input gradient of the output sum)."""
    g = jax.jit(jax.grad(lambda x: fn.apply_flat(fn.params, x).sum()))
    best = (0.0, 0)
    for n in sizes:
        x = jnp.asarray(np.repeat(row[None], n, axis=0))
        rate = n / best_time(lambda: g(x))
        best = max(best, (rate, n))
    return best


def mlp(d: int = 64, o: int = 10, seed: int = 0):
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential([keras.Input((d,)),
                             keras.layers.Dense(256, activation="relu", kernel_initializer=init),
                             keras.layers.Dense(256, activation="relu", kernel_initializer=init),
                             keras.layers.Dense(o, kernel_initializer=init)], name="mlp64")


def cnn(seed: int = 0):
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu", kernel_initializer=init),
        keras.layers.Dense(10, kernel_initializer=init)], name="cnn32")


def environment() -> str:
    import keras

    dev = jax.devices()[0]
    return (f"{dev.platform}:{getattr(dev, 'device_kind', '')} | python "
            f"{platform.python_version()} | jax {jax.__version__} | keras {keras.__version__}"
            f" | numpy {np.__version__} | {os.cpu_count()} cpus")


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A Markdown table."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)
