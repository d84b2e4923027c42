"""Speed of KernelShap and PermutationShap as a share of the raw forward throughput.

For an MLP on 64 features and a CNN on 32x32x3 images (8x8 patches = 16 players):
instances/s, model rows/s, the fraction of the jitted forward pass's best rows/s on the
same ModelFn, and the speed-up over shap.KernelExplainer (same model function, same
background, same number of coalitions) when shap is installed.

    python benchmarks/bench_shapley.py [--quick] [--repeats 3] [--n-boot 64]

Every figure counts the whole ``explain`` (empty and full coalitions, the coalition pass,
the host solve and, for KernelShap, its bootstrap standard errors). Raw forward and
explainers are timed in alternating rounds, the best round of each counts.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from common import environment, mlp, cnn, raw_forward_rate, table

import xaicore


def time_explain(explainer, X) -> tuple[float, object]:
    """Wall time of one full ``explain`` (every stage: v0, v1, coalitions, solve, errors)."""
    t = time.perf_counter()
    att = explainer.explain(X)
    return time.perf_counter() - t, att


def run_shap(fn, background, X, n_samples: int) -> float | None:
    try:
        import shap
    except ImportError:
        return None
    import jax

    f = jax.jit(fn.apply_flat)
    shape = background.shape[1:]

    def predict(z: np.ndarray) -> np.ndarray:
        return np.asarray(f(fn.params, z.reshape((-1, *shape)).astype("float32")))

    flat_bg = background.reshape(len(background), -1)
    explainer = shap.KernelExplainer(predict, flat_bg)
    Xf = X.reshape(len(X), -1)
    explainer.shap_values(Xf[:1], nsamples=n_samples, silent=True)  # compile
    t = time.perf_counter()
    explainer.shap_values(Xf, nsamples=n_samples, silent=True)
    return len(X) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer instances (a smoke run)")
    ap.add_argument("--n-samples", type=int, default=512)
    ap.add_argument("--n-boot", type=int, default=64,
                    help="KernelShap bootstrap resamples (64: the library default)")
    ap.add_argument("--background", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3,
                    help="rounds; each times the raw forward and every explainer once, "
                         "the best of the rounds counts for both sides alike")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n_x = 4 if args.quick else 32
    cases = {
        "MLP 64 features": (xaicore.export(mlp()), rng.normal(size=(256, 64)), None),
        "CNN 32x32x3, 8x8 patches": (xaicore.export(cnn()),
                                     rng.normal(size=(256, 32, 32, 3)),
                                     xaicore.patch_groups((32, 32, 3), 8)),
    }
    ks = {"n_samples": args.n_samples, "n_boot": args.n_boot}
    rows = []
    for name, (fn, data, groups) in cases.items():
        data = data.astype("float32")
        B, X = data[: args.background], data[args.background: args.background + n_x]
        shap_rate = run_shap(fn, B, X[: max(2, n_x // 8)], args.n_samples) \
            if groups is None else None
        # The linear estimate (with its bootstrap standard errors) on every model; where
        # estimator="auto" picks the cubic estimate (M <= 16) it gets a row of its own.
        methods = [("KernelShap", xaicore.KernelShap, {**ks, "estimator": "linear"}),
                   ("KernelShap (default: spectral, ard='auto')", xaicore.KernelShap, ks),
                   ("KernelShap (spectral, ard=False)", xaicore.KernelShap,
                    {**ks, "ard": False})]
        if groups is not None:
            methods.append(("KernelShap (cubic)", xaicore.KernelShap,
                            {**ks, "estimator": "cubic"}))
        methods.append(("PermutationShap", xaicore.PermutationShap, {"n_permutations": 16}))
        explainers = [cls(fn, B, groups=groups, progress=False, **kw)
                      for _, cls, kw in methods]
        for e in explainers:
            e.explain(X)  # compile (the chunk shapes depend on the call's size)
        limit, best = 0.0, [float("inf")] * len(explainers)
        atts: list = [None] * len(explainers)
        for _ in range(args.repeats):
            limit = max(limit, raw_forward_rate(fn, X[0], repeats=1)[0])
            for i, e in enumerate(explainers):
                dt, atts[i] = time_explain(e, X)
                best[i] = min(best[i], dt)
        for (label, cls, _), dt, att, e in zip(methods, best, atts, explainers):
            if "spectral" in label:
                label += f" [ARD {'on' if e.ard else 'off'}]"
            inst, model_rows = len(X) / dt, att.stats["model_rows"] / dt
            speedup = inst / shap_rate if (shap_rate and label == "KernelShap") else None
            rows.append([name, label, att.stats["coalitions"], inst, model_rows,
                         limit, model_rows / limit,
                         "-" if speedup is None else f"{speedup:.1f}x"])
    print(environment())
    print(table(rows, ["model", "method", "coalitions", "instances/s", "model rows/s",
                       "raw forward rows/s", "fraction of raw", "vs shap Kernel"]))


if __name__ == "__main__":
    main()
