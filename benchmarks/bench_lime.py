"""Speed of Lime as a share of the raw forward throughput, and against captum's Lime.

For an MLP on 64 features (64 players) and a CNN on 32x32x3 images (8x8 patches = 16
players): instances/s, model rows/s, the fraction of the jitted forward pass's best
rows/s on the same ModelFn, and instances/s of captum's ``Lime`` (same JAX model
function wrapped for torch, one baseline row, the same number of samples, every sample
in one forward call, scikit-learn ridge) when captum is installed.

    python benchmarks/bench_lime.py [--quick] [--n-samples 1000] [--repeats 3]

xaicore evaluates each distinct sample once (duplicates are fitted with their summed
weight), so with 16 players its model rows per instance are fewer than captum's.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from common import cnn, mlp, raw_forward_rate

import xaicore
from xaicore.methods._lime import Lime


def best_explain(explainer, X, repeats: int) -> tuple[float, object]:
    explainer.explain(X[:2])  # compile
    best, att = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        att = explainer.explain(X)
        best = min(best, time.perf_counter() - t)
    return best, att


def run_captum(fn, baseline, X, groups, n_samples: int) -> float | None:
    try:
        import torch
        from captum._utils.models.linear_model import SkLearnRidge
        from captum.attr import Lime as CaptumLime
    except ImportError:
        return None
    import jax

    f = jax.jit(fn.apply_flat)

    def forward(t):
        return torch.from_numpy(np.array(f(fn.params, t.numpy())))

    lime = CaptumLime(forward, interpretable_model=SkLearnRidge(alpha=1.0))
    mask = torch.from_numpy(np.asarray(groups).reshape(X.shape[1:]).astype(np.int64))[None]
    base = torch.from_numpy(baseline)
    kw = {"baselines": base, "feature_mask": mask, "n_samples": n_samples,
          "perturbations_per_eval": n_samples, "target": 0}
    lime.attribute(torch.from_numpy(X[:1]), **kw)  # compile
    t = time.perf_counter()
    for x in X:
        lime.attribute(torch.from_numpy(x[None]), **kw)
    return len(X) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer instances (a smoke run)")
    ap.add_argument("--n-samples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = 8 if args.quick else 64
    cases = [("mlp64", mlp(), (64,), None),
             ("cnn32 (16 patches)", cnn(), (32, 32, 3), xaicore.patch_groups((32, 32, 3), 8))]
    print("| model | players | inst/s | model rows/s | share of raw forward | "
          "captum Lime inst/s | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, model, shape, groups in cases:
        fn = xaicore.export(model)
        X = rng.normal(size=(n, *shape)).astype("float32")
        B = rng.normal(size=(1, *shape)).astype("float32")   # one baseline, as captum
        lime = Lime(fn, B, n_samples=args.n_samples, groups=groups)
        sec, att = best_explain(lime, X, args.repeats)
        raw, _ = raw_forward_rate(fn, X[0])
        rows = att.stats["model_rows"] / sec
        g = np.arange(int(np.prod(shape))) if groups is None else groups
        cap = run_captum(fn, B, X[: max(2, n // 8)], g, args.n_samples)
        speed = f"{n / sec / cap:.1f}x" if cap else "-"
        print(f"| {name} | {lime.n_players} | {n / sec:.1f} | {rows:.3g} | {rows / raw:.2f} | "
              f"{f'{cap:.1f}' if cap else '-'} | {speed} |")


if __name__ == "__main__":
    main()
