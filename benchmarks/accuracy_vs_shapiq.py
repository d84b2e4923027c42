"""Error against exact Shapley values at equal model evaluations: xaicore vs shapiq.

Games none of the estimators were tuned on: Keras MLPs (tanh, ReLU, GELU; random
weights) over standardised scikit-learn data (wine 13, diabetes 10, breast cancer 16 and
20 features), a Keras CNN over 16 patches of a scikit-image picture, a Keras self-attention
text model over 20 tokens of real English (windows of scikit-learn's breast-cancer data
description; a token out of the coalition is the mask id), and sums of unanimity games
(interactions of order 1-5) at 30, 60 and 100 players, and MLPs over the 64 pixels of
scikit-learn's digits. Interventional values with one baseline row:
``v(S) = f(x_S, b_rest)``. Truth: exact enumeration (``2**M`` model rows, M <= 20), the
closed form (unanimity games), or for the 64 pixels the mean of 40 000 antithetic
permutations (:func:`permutation_truth`; its standard error is printed, 1.2-1.7e-4,
under a tenth of the smallest error of any estimator there). Every estimator gets the
same number of model evaluations ``B`` per row: shapiq's budget counts the empty and full
coalitions, so xaicore samples ``B - 2`` coalitions and evaluates those two besides. Cells: mean
absolute error over rows and seeds; ``ratio`` = best xaicore estimator / best shapiq
approximator (< 1: xaicore is better). xaicore's estimators: the spectral estimate as
``solve_spectral`` gives it by default (with its per-player priors where they apply),
with its sparse step too where that applies (``spectral sparse``: what ``KernelShap``'s
``sparse="auto"`` runs for a model that costs far more than the step), the cubic and the
linear regression; the spectral estimate without the per-player priors is a reference.

Run with a Python that has shapiq (1.8 needs Python >= 3.12) and xaicore importable:

    PYTHONPATH=. python benchmarks/accuracy_vs_shapiq.py --quick      # small table
    PYTHONPATH=. python benchmarks/accuracy_vs_shapiq.py --seeds 5    # the full table
"""
from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
from common import table

from xaicore import kernels as K
from xaicore.kernels._sparse_step import sparse_applies
from xaicore.methods._kernel_shap import default_first_classes, default_scheme

#: ``(name, data, activation, players)`` of every case (models, then closed-form games)
CASES = [("mlp wine tanh", "wine", "tanh", 13), ("mlp wine relu", "wine", "relu", 13),
         ("mlp diabetes gelu", "diabetes", "gelu", 10),
         ("mlp cancer relu", "cancer", "relu", 16), ("mlp cancer tanh", "cancer", "tanh", 20),
         ("cnn patches", "cnn", "relu", 16), ("text attention", "text", "gelu", 20),
         ("mlp digits relu", "digits", "relu", 64), ("mlp digits tanh", "digits", "tanh", 64),
         ("unanimity", "u", None, 30), ("unanimity", "u", None, 60),
         ("unanimity", "u", None, 100)]

XAICORE = ("spectral", "cubic", "linear")
SHAPIQ = ("RegressionMSR", "OddSHAP", "ProxySHAP", "PolySHAP", "LeverageSHAP", "KernelSHAP",
          "PermutationSamplingSV")


def keras_game(kind: str, act: str, m: int, row: int, seed: int = 0):
    """An MLP (or CNN) game on real data, as ``v(Z bool[k, M]) -> float[k]``, and its truth."""
    import jax
    import keras

    import xaicore

    init = keras.initializers.GlorotUniform(seed=seed)
    if kind == "cnn":
        from skimage import data, transform
        img = transform.resize(data.astronaut(), (16, 16, 3), anti_aliasing=True)
        x = img.astype("float32")
        b = np.full_like(x, x.mean())
        groups = (np.arange(16)[:, None] // 4 * 4 + np.arange(16)[None, :] // 4)
        model = keras.Sequential([keras.Input((16, 16, 3)),
                                  keras.layers.Conv2D(8, 3, activation=act, kernel_initializer=init),
                                  keras.layers.Conv2D(8, 3, activation=act, kernel_initializer=init),
                                  keras.layers.GlobalAveragePooling2D(),
                                  keras.layers.Dense(1, kernel_initializer=init)])
        fn = xaicore.export(model)
        f = jax.jit(fn.apply_flat)

        def v(Z):
            keep = Z[:, groups][..., None]                       # [k, 16, 16, 1]
            return np.asarray(f(fn.params, np.where(keep, x, b).astype("float32")))[:, 0]
    else:
        from sklearn import datasets
        X = {"wine": datasets.load_wine, "diabetes": datasets.load_diabetes,
             "cancer": datasets.load_breast_cancer, "digits": datasets.load_digits}[kind]() \
            .data[:, :m]
        sd = X.std(0)                                  # digits: some pixels are constant
        X = ((X - X.mean(0)) / np.where(sd > 0, sd, 1.0)).astype("float32")
        x, b = X[row], X[(row + 17) % len(X)]
        model = keras.Sequential([keras.Input((m,)),
                                  keras.layers.Dense(64, activation=act, kernel_initializer=init),
                                  keras.layers.Dense(64, activation=act, kernel_initializer=init),
                                  keras.layers.Dense(1, kernel_initializer=init)])
        fn = xaicore.export(model)
        f = jax.jit(fn.apply_flat)

        def v(Z):
            return np.asarray(f(fn.params, np.where(Z, x, b).astype("float32")))[:, 0]
    m = 16 if kind == "cnn" else m
    def game(Z):
        return v(np.atleast_2d(np.asarray(Z, bool))).astype(np.float64)
    if m > 20:
        return game, permutation_truth(game, m, 40000, seed=row), m
    masks, P = K.exact_operator(m)
    vals = np.concatenate([v(masks[i:i + 8192]) for i in range(0, len(masks), 8192)])
    return game, P @ vals, m


def permutation_truth(v, m: int, n_perm: int, seed: int, block: int = 500) -> np.ndarray:
    """Shapley values by ``n_perm`` permutations in antithetic pairs (each with its
    reverse), for games too large to enumerate; prints the estimate's standard error
    (from the spread of its blocks' means)."""
    rng = np.random.default_rng(10_000 + seed)
    means = []
    for _ in range(max(2, n_perm // (2 * block))):
        order = np.argsort(rng.random((block, m)), axis=1)
        order = np.concatenate([order, order[:, ::-1]])
        k = len(order)
        Z = np.zeros((k, m + 1, m), bool)                 # the prefixes of each permutation
        for j in range(m):
            Z[np.arange(k), j + 1:, order[:, j]] = True
        gain = np.diff(v(Z.reshape(-1, m)).reshape(k, m + 1), axis=1)
        phi = np.zeros((k, m))
        phi[np.arange(k)[:, None], order] = gain
        means.append(phi.mean(axis=0))
    means = np.array(means)
    se = means.std(axis=0, ddof=1).mean() / np.sqrt(len(means))
    print(f"  permutation truth, M={m}: {2 * block * len(means)} permutations, mean standard "
          f"error {se:.2g}", flush=True)
    return means.mean(axis=0)


def text_game(row: int, m: int = 20, seed: int = 0):
    """A text model (random weights: embedding, a convolution over neighbouring words,
    self-attention, pooling) over ``m`` tokens of real text, the ``row``-th window of the
    words of scikit-learn's breast-cancer description; players are the positions, and a
    position out of the coalition holds the mask id."""
    import re

    import jax
    import keras
    from sklearn import datasets

    import xaicore

    words = re.findall(r"[a-z]+", datasets.load_breast_cancer().DESCR.lower())
    vocab = {w: i + 1 for i, w in enumerate(sorted(set(words)))}       # 0: the mask id
    start = (37 * row) % (len(words) - m)
    x = np.array([vocab[w] for w in words[start:start + m]], np.int32)
    init = keras.initializers.GlorotUniform(seed=seed)
    tok = keras.Input((m,), dtype="int32")
    h = keras.layers.Embedding(len(vocab) + 1, 16, embeddings_initializer=keras.initializers
                               .RandomNormal(stddev=1.0, seed=seed))(tok)
    h = keras.layers.Conv1D(16, 3, padding="same", activation="gelu",   # word order counts
                            kernel_initializer=init)(h)
    a = keras.layers.MultiHeadAttention(2, 8, kernel_initializer=init)(h, h)
    h = keras.layers.LayerNormalization()(h + a)
    h = keras.layers.Dense(32, activation="gelu", kernel_initializer=init)(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(tok, keras.layers.Dense(1, kernel_initializer=init)(h))
    fn = xaicore.export(model)
    f = jax.jit(fn.apply_flat)

    def v(Z):
        Z = np.atleast_2d(np.asarray(Z, bool))
        return np.asarray(f(fn.params, np.where(Z, x, 0).astype(np.int32)))[:, 0] \
            .astype(np.float64)
    masks, P = K.exact_operator(m)
    vals = np.concatenate([v(masks[i:i + 16384]) for i in range(0, len(masks), 16384)])
    return v, P @ vals, m


def unanimity_game(m: int, row: int, n_terms: int = 40):
    rng = np.random.default_rng(1000 * m + row)
    sets = [rng.choice(m, size=rng.integers(1, 6), replace=False) for _ in range(n_terms)]
    coef = rng.normal(size=n_terms)
    phi = np.zeros(m)
    for T, c in zip(sets, coef):
        phi[T] += c / len(T)

    def v(Z):
        Z = np.atleast_2d(np.asarray(Z, bool))
        return sum(c * Z[:, T].all(axis=1) for T, c in zip(sets, coef)).astype(np.float64)
    return v, phi, m


def case_games(which: str, rows: int):
    """``(label, M, games)`` of each selected case (``"all"``, or comma-separated parts of
    ``"<name> <M>"``), ``rows`` games (instances) each."""
    sel = CASES if which == "all" else [
        c for c in CASES if any(k in f"{c[0]} {c[3]}" for k in which.split(","))]
    for label, kind, act, m in sel:
        games = [unanimity_game(m, r) if kind == "u" else text_game(r, m) if kind == "text"
                 else keras_game(kind, act, m, r) for r in range(rows)]
        yield label, games[0][2], games


def spectral_coalitions(m: int, budget: int, seed: int, est: str = "spectral"):
    """KernelShap's draw for an estimator (the spectral one by default) at ``budget``
    evaluations (the empty and full coalitions counted: ``budget - 2`` sampled; below a
    regression's smallest budget too)."""
    n = budget - 2
    return K.sample_coalitions(m, n, seed=seed, scheme=default_scheme(est, n),
                               min_rows=2 if n < K.min_budget(m) else None,
                               first_classes=default_first_classes(est, m, n))


def xaicore_values(v, m: int, budget: int, seed: int) -> dict:
    out = {}
    ends = v(np.zeros((1, m), bool)), v(np.ones((1, m), bool))
    for est in XAICORE:
        if est == "cubic" and m > 16:
            continue
        small = budget - 2 < K.min_budget(m)   # below a regression's smallest budget:
        if small and est != "spectral":        # the spectral estimate still takes it
            continue
        c = spectral_coalitions(m, budget, seed, est)     # KernelShap's choice
        y = v(c.masks)[None]
        t = time.perf_counter()
        if est == "spectral":
            d = K.spectral_design(c.masks)        # both timed with the design
            build = time.perf_counter() - t
            t0 = time.perf_counter()
            ref = K.solve_spectral(None, None, y, *ends, design=d, ard=False)
            out["ref spectral no ARD"] = (ref[0], build + time.perf_counter() - t0)
            if sparse_applies(d):     # KernelShap's sparse="auto" where the model is dear
                t0 = time.perf_counter()
                sp = K.solve_spectral(None, None, y, *ends, design=d, sparse=True)
                out["spectral sparse"] = (sp[0], build + time.perf_counter() - t0)
            t = time.perf_counter() - build
            phi = K.solve_spectral(None, None, y, *ends, design=d)
        elif est == "cubic":
            phi = K.solve_cubic(c.masks, c.weights, y, *ends)
        else:
            phi = K.solve_wls(c.masks, c.weights, y, *ends)
        out[est] = (phi[0], time.perf_counter() - t)
    return out


def shapiq_values(v, m: int, budget: int, seed: int, which) -> dict:
    import shapiq

    v0 = float(v(np.zeros((1, m), bool))[0])
    out = {}
    for name in which:
        cls = getattr(shapiq.approximator, name, None)
        if cls is None:
            continue
        kw = {"n": m, "random_state": seed}
        if name in ("RegressionMSR",):
            kw["index"] = "SV"
        if name == "ProxySHAP":
            kw.update(index="SV", max_order=1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                iv = cls(**kw).approximate(budget, lambda Z: v(Z) - v0)
                out[name] = (np.array([iv[(i,)] for i in range(m)]), time.perf_counter() - t)
        except Exception as e:  # noqa: BLE001  (a peer that fails on a cell is reported)
            print(f"  {name} failed at M={m}, B={budget}: {e!r}"[:200], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--budgets", default="64,128,256,512,1024,2048,4096")
    ap.add_argument("--quick", action="store_true", help="2 seeds, 1 row, 3 budgets")
    ap.add_argument("--cases", default="all")
    ap.add_argument("--json", default="accuracy_vs_shapiq.json")
    ap.add_argument("--peers-from", default=None,
                    help="a JSON of an earlier run with the same --seeds and --rows: take "
                         "shapiq's errors from its cells (the peers' estimates depend only "
                         "on the games and seeds) and run xaicore's estimators alone")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.rows, args.budgets = 2, 1, "128,512,2048"
    budgets = [int(b) for b in args.budgets.split(",")]
    stored = {}
    if args.peers_from:
        with open(args.peers_from) as fh:
            old = json.load(fh)
        version = old["shapiq"]
        stored = {(c["case"], c["M"], c["budget"]): c for c in old["cells"]}
    else:
        import shapiq
        version = shapiq.__version__
    rows, records = [], []
    for label, m, games in case_games(args.cases, args.rows):
        for budget in budgets:
            if budget >= 2 ** m:
                continue
            err: dict = {}
            secs: dict = {}
            for v, truth, _ in games:
                for seed in range(args.seeds):
                    res = xaicore_values(v, m, budget, seed)
                    if not stored:
                        res.update({f"shapiq {k}": val for k, val in
                                    shapiq_values(v, m, budget, seed, SHAPIQ).items()})
                    for k, (phi, s) in res.items():
                        err.setdefault(k, []).append(float(np.abs(phi - truth).mean()))
                        secs.setdefault(k, []).append(s)
            mae = {k: float(np.mean(e)) for k, e in err.items()}
            host = {k: float(np.mean(s)) for k, s in secs.items()}
            if stored:
                was = stored[(label, m, budget)]
                mae.update({k: e for k, e in was["mae"].items() if k.startswith("shapiq")})
                host.update({k: t for k, t in was["host_seconds"].items()
                             if k.startswith("shapiq")})
            ours = min(((mae[k], k) for k in mae if not k.startswith(("shapiq", "ref "))),
                       default=(float("nan"), "-"))
            theirs = min(((mae[k], k) for k in mae if k.startswith("shapiq")),
                         default=(float("nan"), "-"))
            rows.append([label, m, budget, ours[1], ours[0], mae.get("spectral"),
                         theirs[1].replace("shapiq ", ""), theirs[0], ours[0] / theirs[0],
                         mae.get("spectral", np.nan) / theirs[0],
                         mae.get("ref spectral no ARD", np.nan) / theirs[0]])
            records.append({"case": label, "M": m, "budget": budget, "mae": mae,
                            "host_seconds": host})
            print(rows[-1], flush=True)
    print(f"shapiq {version}" + (f" (errors from {args.peers_from})" if stored else ""))
    print(table(rows, ["case", "M", "B", "best xaicore", "MAE", "spectral MAE",
                       "best shapiq", "MAE", "ratio best/best", "ratio spectral/best",
                       "ratio spectral without ARD/best"]))
    with open(args.json, "w") as fh:
        json.dump({"shapiq": version, "cells": records}, fh, indent=1)


if __name__ == "__main__":
    main()
