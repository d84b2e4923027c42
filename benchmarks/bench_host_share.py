"""KernelShap's host share at every size: how much of a call the host solves take.

For tabular MLPs of 10 to 200 features, a text model over 100 and 500 tokens and a CNN
over 64 and 256 patches, ``KernelShap`` with its defaults (``n_samples="auto"``: 2 M + 2048
coalitions; the spectral estimate, with its per-player priors and sparse step where
``"auto"`` turns them on; 16 background rows, or the mask id for text) explains ``--rows``
rows (an eighth of them for the CNN) for every output; per case, best and
median over ``--repeats`` rounds (the cases alternate within a round) of the seconds an
instance, the host solves' milliseconds an instance (``stats["host_seconds"]``), their
share of the call, and the call's model rows/s against the raw forward limit of the same
function (at the best batch size of ``common.raw_forward_rate``, timed again after the
call in each round). OpenBLAS threads, load (``uptime``) before and
after are printed.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_host_share.py [--repeats 5] [--rows 16]
"""
from __future__ import annotations

import argparse
import os
import statistics

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
from common import best_time, environment, raw_forward_rate, table

import xaicore


def tabular(m: int, seed: int = 0):
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential([keras.Input((m,)),
                              keras.layers.Dense(64, activation="tanh", kernel_initializer=init),
                              keras.layers.Dense(64, activation="tanh", kernel_initializer=init),
                              keras.layers.Dense(2, kernel_initializer=init)])
    rng = np.random.default_rng(seed)
    return model, rng.normal(size=(64, m)).astype("float32"), {}


def text(m: int, seed: int = 0):
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential([keras.Input((m,), dtype="int32"),
                              keras.layers.Embedding(1000, 16),
                              keras.layers.Conv1D(32, 3, padding="same", activation="relu",
                                                  kernel_initializer=init),
                              keras.layers.GlobalMaxPooling1D(),
                              keras.layers.Dense(2, kernel_initializer=init)])
    ids = np.random.default_rng(seed).integers(2, 1000, size=(64, m)).astype("int32")
    return model, ids, {"background": 1}                       # the mask id


def image(patch: int, seed: int = 0):
    from common import cnn

    side = 32 // patch
    g = (np.arange(32)[:, None] // patch) * side + np.arange(32)[None, :] // patch
    groups = np.repeat(g[..., None], 3, axis=2)
    X = np.random.default_rng(seed).uniform(size=(64, 32, 32, 3)).astype("float32")
    return cnn(seed), X, {"groups": groups}


def limit_of(fn, row: np.ndarray, size: int):
    """A callable: the raw forward's rows/s now, at batch ``size``, as a stream of calls
    of about 16384 rows (best of 2; ``common.raw_forward_rate``'s measure at one size)."""
    import jax
    import jax.numpy as jnp

    f = jax.jit(fn.apply_flat)
    xb = jnp.asarray(np.repeat(row[None], size, axis=0))
    calls = max(1, 16384 // size)
    return lambda: size * calls / best_time(
        lambda: [f(fn.params, xb) for _ in range(calls)], repeats=2)


CASES = [("MLP", 10, lambda: tabular(10)), ("MLP", 30, lambda: tabular(30)),
         ("MLP", 64, lambda: tabular(64)), ("MLP", 100, lambda: tabular(100)),
         ("MLP", 200, lambda: tabular(200)), ("text", 100, lambda: text(100)),
         ("text", 500, lambda: text(500)), ("CNN patches", 64, lambda: image(4)),
         ("CNN patches", 256, lambda: image(2))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--cases", default="all", help="comma-separated 'name M' parts")
    args = ap.parse_args()
    from threadpoolctl import threadpool_info

    print(environment(), "| BLAS", ", ".join(f"{i['internal_api']}:{i['num_threads']}"
                                            for i in threadpool_info()))
    print("load before", os.getloadavg())
    runs = []
    for name, m, make in CASES:
        if args.cases != "all" and not any(k in f"{name} {m}" for k in args.cases.split(",")):
            continue
        model, X, kw = make()
        fn = xaicore.export(model)
        bg = kw.pop("background", X[-16:])
        ks = xaicore.KernelShap(fn, bg, seed=0, progress=False, **kw)
        x = X[:max(1, args.rows // 8) if name.startswith("CNN") else args.rows]
        att = ks.explain(x)                                        # compile, build
        _, size = raw_forward_rate(fn, X[0])                       # its best batch size
        runs.append(((name, m, ks), x, limit_of(fn, X[0], size), []))
    for _ in range(args.repeats):              # method and limit alternate in each round
        for (_, _, ks), x, limit, got in runs:
            att = ks.explain(x)
            got.append((att.stats["seconds"], att.stats["host_seconds"],
                        att.stats["model_rows"], limit()))
    rows = []
    for (name, m, ks), x, _, got in runs:
        sec = [g[0] / len(x) for g in got]
        host = [g[1] / len(x) * 1e3 for g in got]
        share = [g[1] / g[0] for g in got]
        frac = [g[2] / g[0] / g[3] for g in got]
        rows.append([name, m, ks.n_samples, ks.estimator, ks.ard, ks.sparse,
                     f"{min(sec) * 1e3:.2f} / {statistics.median(sec) * 1e3:.2f}",
                     f"{min(host):.2f} / {statistics.median(host):.2f}",
                     f"{min(share):.3f} / {statistics.median(share):.3f}",
                     f"{max(frac):.2f} / {statistics.median(frac):.2f}"])
    print("load after", os.getloadavg())
    print(table(rows, ["model", "players", "coalitions", "estimator", "ARD", "sparse",
                       "ms an instance (best / median)", "host ms an instance",
                       "host share of the call", "fraction of raw forward"]))


if __name__ == "__main__":
    main()
