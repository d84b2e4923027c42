"""Every method at the limit: the fraction of the raw throughput each method reaches.

For three models (MLP 64-256-256-10, MLP 30-64-64-2, CNN 32x32x3 with 16 patches) and
every method, the method's model rows/s over the raw limit of the same ModelFn measured in
the same run (coalition methods on 64 rows, gradient methods on 4096 rows of the MLPs and
64 images; saliency on 32 times as many, Lime on 16 times as many, and both also on
the small call): the jitted forward pass at its best batch size
for the coalition methods (KernelShap, PermutationShap, Lime), the bare
``jit(vmap(grad))`` of each row's target output for the gradient methods (and, in the
last column, the cheaper gradient of the summed outputs that earlier runs used), and for
SmoothGrad also the bare noisy gradient (the same at ``x + N(0, 0.1^2)`` noise drawn in
the call by ``jax.random.normal``: drawing 30 Gaussian numbers costs about as much as
the 30-feature MLP's forward+backward). Method and limit
are timed in alternating rounds; best and median of ``--repeats`` are reported, with the
load (``uptime``) before and after and the BLAS thread count. A second table: first-call
latency (export -> result, compile included) for 10 rows, xaicore KernelShap (without and
with a warm compile cache) against shap KernelExplainer on ``model.predict``-like numpy
calls of the same function.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_all_methods.py [--repeats 5] [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import cnn, environment, mlp, table

import xaicore


def small_mlp():
    import keras

    init = keras.initializers.GlorotUniform(seed=1)
    return keras.Sequential([keras.Input((30,)),
                             keras.layers.Dense(64, activation="relu", kernel_initializer=init),
                             keras.layers.Dense(64, activation="relu", kernel_initializer=init),
                             keras.layers.Dense(2, kernel_initializer=init)], name="mlp30")


def limits(fn, row: np.ndarray, sizes=(256, 1024, 4096, 16384)):
    """Timed callables of the raw forward and forward+backward at each batch size:
    ``{kind: [(rows, f)]}`` (the limit is the best rows/s over the sizes).

    ``grad``: the bare ``jit(vmap(grad))`` of each row's target output (the target a
    runtime array, as the methods take it); ``summed grad``: the input gradient of the
    summed outputs, cheaper than any method's work (XLA drops the last layer's forward
    and turns its backward into a broadcast), reported for comparison with earlier runs.
    """
    fwd = jax.jit(fn.apply_flat)
    one = lambda p, x, t: fn.apply_flat(p, x[None])[0, t]            # noqa: E731
    grad = jax.jit(jax.vmap(jax.grad(one, argnums=1), in_axes=(None, 0, 0)))
    summed = jax.jit(jax.grad(lambda p, x: fn.apply_flat(p, x).sum(), argnums=1))
    # SmoothGrad's floor: the same gradient at x + N(0, 0.1^2) noise drawn in one call
    noisy = jax.jit(jax.vmap(jax.grad(lambda p, x, t, k: one(
        p, x + 0.1 * jax.random.normal(k, x.shape, x.dtype), t), argnums=1),
        in_axes=(None, 0, 0, 0)))
    out = {"forward": [], "grad": [], "summed grad": [], "noisy grad": []}
    for n in sizes:
        x = jnp.asarray(np.repeat(row[None], n, axis=0))
        t = jnp.zeros(n, jnp.int32)
        keys = jax.random.split(jax.random.key(0), n)
        calls = max(1, 16384 // n)
        out["forward"].append((n * calls, lambda x=x, c=calls: [fwd(fn.params, x)
                                                               for _ in range(c)]))
        out["grad"].append((n * calls, lambda x=x, t=t, c=calls: [
            grad(fn.params, x, t) for _ in range(c)]))
        out["summed grad"].append((n * calls, lambda x=x, c=calls: [
            summed(fn.params, x) for _ in range(c)]))
        out["noisy grad"].append((n * calls, lambda x=x, t=t, k=keys, c=calls: [
            noisy(fn.params, x, t, k) for _ in range(c)]))
    return out


def timed(f) -> float:
    t = time.perf_counter()
    jax.block_until_ready(f())
    return time.perf_counter() - t


def methods(fn, X, Xg, background, groups):
    """name -> (kind of limit, explain callable, model rows of one call); the gradient
    methods explain ``Xg`` (more rows: one gradient call per row is cheap). Saliency
    explains 32 copies of it and Lime (one baseline row) 16 copies of ``X``: as many
    model rows as SmoothGrad's 32 samples and KernelShap's 16 background rows (4096
    saliency rows of the 30-feature MLP are 2 ms of work, a measure of per-call overhead,
    not throughput); the rows "(small call)" explain X or Xg as it is. Calls under 20 ms
    run back to back (up to 8 a timing), as the limit's small batches do."""
    kw = dict(progress=False)
    g = {} if groups is None else {"groups": groups}
    bg16 = background[:16]
    m = {
        "KernelShap": ("forward", xaicore.KernelShap(fn, bg16, n_samples=512, seed=0, **g,
                                                     **kw)),
        "PermutationShap": ("forward", xaicore.PermutationShap(fn, bg16, n_permutations=16,
                                                               seed=0, **g, **kw)),
        "Lime": ("forward", xaicore.Lime(fn, background[:1], n_samples=512, seed=0, **g,
                                         **kw)),
        "Lime (small call)": ("forward", xaicore.Lime(fn, background[:1], n_samples=512,
                                                   seed=0, **g, **kw)),
        "IntegratedGradients": ("grad", xaicore.IntegratedGradients(fn, n_steps=64, **kw)),
        "SmoothGrad": ("grad", xaicore.SmoothGrad(fn, n_samples=32, seed=0, **kw)),
        "Saliency": ("grad", xaicore.Saliency(fn, **kw)),
        "Saliency (small call)": ("grad", xaicore.Saliency(fn, **kw)),
    }
    out = {}
    for name, (kind, e) in m.items():
        x = (np.tile(Xg, (32,) + (1,) * (Xg.ndim - 1)) if name == "Saliency" else
             np.tile(X, (16,) + (1,) * (X.ndim - 1)) if name == "Lime" else
             Xg if kind == "grad" else X)
        t = np.zeros(len(x), int)
        att = e.explain(x, target=t)                                # compile
        rows = att.stats.get("model_rows") or att.stats.get("forward_rows")
        if kind == "grad":
            rows = {"IntegratedGradients": 64, "SmoothGrad": 32}.get(name, 1) * len(x)
        # a call under 20 ms is repeated back to back (up to 8 times a timing), as the
        # limit runs its small batches: one short call alone also times the thread pool's
        # wake-up after the previous method (bare gradient, 4096 rows of the 30-feature
        # MLP: 0.85 ms warm, 1.8 ms alone after a pause; xaicore's Saliency 1.2 / 2.8 ms)
        c = max(1, min(8, int(0.02 / timed(lambda e=e, t=t, x=x: e.explain(x, target=t)))))
        out[name] = (kind, lambda e=e, t=t, x=x, c=c: [e.explain(x, target=t)
                                                       for _ in range(c)], int(rows) * c)
    # SmoothGrad also against the bare noisy gradient (the noise has its own cost)
    out["SmoothGrad (vs noisy grad)"] = ("noisy grad", *out["SmoothGrad"][1:])
    return out


def first_call_latency(rows: int = 10) -> list[list]:
    """Fresh processes: export -> 10 attributions, xaicore KernelShap vs shap."""
    code = {
        "xaicore KernelShap": (
            "import time; t=time.perf_counter(); import xaicore, numpy as np, keras\n"
            "from common import mlp\nm=mlp(); X=np.random.default_rng(0).normal(size=(64,64))"
            ".astype('float32')\nks=xaicore.KernelShap(m, X[:16], n_samples=512, seed=0,"
            " progress=False); ks.explain(X[:{r}], target='predicted')\n"
            "print(time.perf_counter()-t)"),
        "shap KernelExplainer": (
            "import time; t=time.perf_counter(); import shap, numpy as np, keras\n"
            "from common import mlp\nm=mlp(); X=np.random.default_rng(0).normal(size=(64,64))"
            ".astype('float32')\ne=shap.KernelExplainer(lambda z: m.predict(z, verbose=0), "
            "X[:16]); e.shap_values(X[:{r}], nsamples=512, silent=True)\n"
            "print(time.perf_counter()-t)"),
    }
    cached = code["xaicore KernelShap"].replace(
        "import xaicore, numpy as np, keras\n",
        "import xaicore, numpy as np, keras\nxaicore.compile_cache({cache!r})\n")
    code["xaicore KernelShap, warm compile cache"] = cached
    out = []
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, KERAS_BACKEND="jax")
    with tempfile.TemporaryDirectory() as cache:
        for name, src in code.items():
            for _ in range(2 if "cache" in name else 1):   # the first run fills the cache
                run = subprocess.run([sys.executable, "-c", src.format(r=rows, cache=cache)],
                                     cwd=here, env=env, capture_output=True, text=True)
            sec = float(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else None
            out.append([name, rows, "-" if sec is None else f"{sec:.2f} s"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from threadpoolctl import threadpool_info

    blas = ", ".join(f"{i['internal_api']}:{i['num_threads']}" for i in threadpool_info())
    load0 = os.getloadavg()
    rng = np.random.default_rng(0)
    n = 16 if args.quick else 64
    cases = {
        "MLP 64-256-256-10": (mlp(), rng.normal(size=(4096, 64)).astype("float32"), None),
        "MLP 30-64-64-2": (small_mlp(), rng.normal(size=(4096, 30)).astype("float32"), None),
        "CNN 32x32x3": (cnn(), rng.normal(size=(64, 32, 32, 3)).astype("float32"),
                        xaicore.patch_groups((32, 32, 3), 8)),
    }
    rows = []
    for case, (model, data, groups) in cases.items():
        fn = xaicore.export(model)
        cnn_case = "CNN" in case
        X, background = data[:n if not cnn_case else n // 4], data[-32:]
        Xg = data[:n if cnn_case else (256 if args.quick else 4096)]
        lim = limits(fn, data[0])
        ms = methods(fn, X, Xg, background, groups)
        for kind in lim:                                              # warm-up
            for _, f in lim[kind]:
                jax.block_until_ready(f())
        rates = {k: [] for k in lim}
        got = {name: [] for name in ms}
        for _ in range(args.repeats):                                 # alternating rounds
            for kind in lim:
                rates[kind].append(max(r / timed(f) for r, f in lim[kind]))
            for name, (kind, f, r) in ms.items():
                got[name].append(r / timed(f))
        for name, (kind, _, r) in ms.items():
            best_lim, med_lim = max(rates[kind]), statistics.median(rates[kind])
            vs_sum = (f"{max(got[name]) / max(rates['summed grad']):.2f}"
                      if kind == "grad" else "-")
            rows.append([case, name, kind, f"{max(got[name]):.3g}", f"{best_lim:.3g}",
                         f"{max(got[name]) / best_lim:.2f}",
                         f"{statistics.median(got[name]) / med_lim:.2f}", vs_sum])
    load1 = os.getloadavg()
    print(environment())
    print(f"BLAS threads: {blas}; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; load before "
          f"{load0[0]:.2f}, after {load1[0]:.2f}; repeats {args.repeats}")
    print(table(rows, ["model", "method", "limit", "rows/s (best)", "limit rows/s (best)",
                       "fraction (best)", "fraction (median)",
                       "of the summed-output grad (best)"]))
    print()
    print(table(first_call_latency(), ["first call, fresh process", "rows", "export -> "
                                       "result"]))


if __name__ == "__main__":
    main()
