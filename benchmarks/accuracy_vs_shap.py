"""Error against exact Shapley values at equal model evaluations: xaicore vs shap.

For M = 10 and M = 16 features (a Keras MLP with interactions, a background of 8 rows),
budgets 64..1024 coalitions per instance: mean absolute error of KernelShap (xaicore, with
its default cubic estimator and with the plain linear one) and
shap.KernelExplainer (l1_reg=False: plain Kernel SHAP, its most accurate setting) against
xaicore.ExactShap, averaged over seeds. ExactShap itself is checked against an
independent brute-force formula in the tests.

    python benchmarks/accuracy_vs_shap.py [--seeds 5]
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

from common import environment, table

import xaicore


def model(d: int, seed: int = 0):
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential([keras.Input((d,)),
                             keras.layers.Dense(32, activation="tanh", kernel_initializer=init),
                             keras.layers.Dense(32, activation="tanh", kernel_initializer=init),
                             keras.layers.Dense(1, kernel_initializer=init)])


def shap_values(fn, B, X, budget: int, seed: int) -> np.ndarray | None:
    try:
        import shap
    except ImportError:
        return None
    import jax

    f = jax.jit(fn.apply_flat)
    explainer = shap.KernelExplainer(lambda z: np.asarray(f(fn.params, z.astype("float32"))),
                                     B, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sv = explainer.shap_values(X, nsamples=budget, l1_reg=False, silent=True)
    return np.asarray(sv).reshape(len(X), -1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--scheme", default=None)
    args = ap.parse_args()
    rows = []
    for d in (10, 16):
        rng = np.random.default_rng(d)
        fn = xaicore.export(model(d))
        B = rng.normal(size=(8, d)).astype("float32")
        X = rng.normal(size=(args.rows, d)).astype("float32")
        exact = xaicore.ExactShap(fn, B).explain(X, target=0).values
        for budget in (64, 128, 256, 512, 1024):
            if budget >= 2 ** d - 2:
                continue
            ours: dict = {"cubic": [], "linear": []}
            theirs = []
            for seed in range(args.seeds):
                for est, errs in ours.items():
                    ks = xaicore.KernelShap(fn, B, n_samples=budget, seed=seed, n_boot=0,
                                            scheme=args.scheme, estimator=est)
                    errs.append(np.abs(ks.explain(X, target=0).values - exact).mean())
                sv = shap_values(fn, B, X, budget, seed)
                if sv is not None:
                    theirs.append(np.abs(sv - exact).mean())
            c, lin = float(np.mean(ours["cubic"])), float(np.mean(ours["linear"]))
            t = float(np.mean(theirs)) if theirs else float("nan")
            rows.append([d, budget, c, lin, t, round(c / t, 3) if theirs else "-",
                         round(lin / t, 3) if theirs else "-"])
            print(rows[-1], flush=True)
    print(environment())
    print(table(rows, ["M", "budget", "xaicore cubic MAE", "xaicore linear MAE",
                       "shap KernelExplainer MAE", "ratio cubic / shap",
                       "ratio linear / shap"]))


if __name__ == "__main__":
    main()
