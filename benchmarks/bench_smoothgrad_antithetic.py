"""SmoothGrad's error at equal samples: antithetic noise pairs against independent copies.

For each model and noise level, the mean absolute error of SmoothGrad with
``n_samples`` copies (antithetic pairs ``x + e``, ``x - e``, the default, and independent
copies, ``antithetic=False``) against a reference of ``--reference`` antithetic copies
(another seed), averaged over ``--seeds`` seeds, on 64 rows. Models: 64- and 30-feature
MLPs (untrained, Glorot weights; standard normal rows) and MLPs trained on scikit-learn's
breast-cancer data (30 features, ReLU / tanh / GELU). Below 1: antithetic better.

    python benchmarks/bench_smoothgrad_antithetic.py [--n-samples 32] [--seeds 8]
"""
from __future__ import annotations

import argparse

import numpy as np
from bench_all_methods import small_mlp
from common import environment, mlp, table

import xaicore


def cancer_models():
    """``{name: (model, rows)}``: MLPs trained on the standardised breast-cancer data."""
    import keras
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = data.data.astype("float32")
    X = (X - X.mean(0)) / X.std(0)
    out = {}
    for act in ("relu", "tanh", "gelu"):
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((30,)), keras.layers.Dense(64, activation=act),
                              keras.layers.Dense(64, activation=act), keras.layers.Dense(2)])
        m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(X, data.target, epochs=30, verbose=0)
        out[f"MLP cancer {act}"] = (m, X)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-samples", type=int, default=32)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--reference", type=int, default=4096)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    models = {"MLP 64-256-256-10": (mlp(), rng.normal(size=(64, 64)).astype("float32")),
              "MLP 30-64-64-2": (small_mlp(), rng.normal(size=(64, 30)).astype("float32")),
              **cancer_models()}
    rows = []
    for name, (model, data) in models.items():
        fn = xaicore.export(model)
        X = data[:64]
        for level in (0.05, 0.15, 0.3):
            def run(n, seed, anti, ref=data, fn=fn, level=level, X=X):
                sg = xaicore.SmoothGrad(fn, noise_level=level, n_samples=n, seed=seed,
                                        background=ref, antithetic=anti, progress=False)
                return sg.explain(X, target=0).values.astype(np.float64)
            truth = run(args.reference, 10_000, True)
            err = {a: np.mean([np.abs(run(args.n_samples, s, a) - truth).mean()
                               for s in range(args.seeds)]) for a in (True, False)}
            rows.append([name, level, f"{err[False]:.4g}", f"{err[True]:.4g}",
                         f"{err[True] / err[False]:.2f}"])
            print(rows[-1], flush=True)
    print(environment())
    print(f"n_samples {args.n_samples}, {args.seeds} seeds, reference {args.reference} "
          "antithetic copies")
    print(table(rows, ["model", "noise level", "MAE independent", "MAE antithetic",
                       "ratio"]))


if __name__ == "__main__":
    main()
