"""Superpixel KernelShap (per-row groups) vs a shared patch grid, as fractions of the raw
forward throughput, on the CNN of ``bench_shapley.py`` (32x32x3).

    python benchmarks/bench_superpixels.py [--quick] [--repeats 5] [--n-samples 512]

Both explainers use the same number of players M (16: 8x8 patches shared, or 16 SLIC
superpixels per image when scikit-image is installed, else a per-row shuffled grid), the
same background and budget. Rounds alternate raw forward / shared / per-row; best and
median over the rounds are printed, with ``uptime``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import time

import numpy as np

from common import cnn, environment, raw_forward_rate, table

import xaicore


def _photos(n: int) -> np.ndarray | None:
    """``n`` 32x32 crops of scikit-image's astronaut (a real photograph), or None."""
    try:
        from skimage import data
    except ImportError:
        return None
    img = data.astronaut()[::4, ::4] / 255.0                       # 128 x 128
    return np.stack([img[(i // 4) * 32 % 96:][:32, (i % 4) * 24:][:, :32]
                     for i in range(n)]).astype("float32")


def _segments(X: np.ndarray, m: int, seed: int) -> np.ndarray:
    try:
        segs = xaicore.superpixels(X, "slic", n_segments=m)
    except ImportError:
        segs = np.stack([np.random.default_rng(seed + i).permutation(m)[g] for i, g in
                         enumerate(xaicore.superpixels(X, "grid", patch=8))])
    return segs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n-samples", type=int, default=512)
    ap.add_argument("--background", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    fn = xaicore.export(cnn())
    data = rng.uniform(0, 1, (256, 32, 32, 3)).astype("float32")
    n_x = 4 if args.quick else 32
    B, X = data[: args.background], data[args.background: args.background + n_x]
    photos = _photos(n_x)
    X = X if photos is None else photos
    segs = _segments(X, 16, 0)
    kw = {"n_samples": args.n_samples, "estimator": "linear", "n_boot": 0,
          "progress": False}
    shared = xaicore.KernelShap(fn, B, groups=xaicore.patch_groups((32, 32, 3), 8), **kw)
    per_row = xaicore.KernelShap(fn, B, groups="per_call", **kw)
    runs = {"shared 8x8 grid": lambda: shared.explain(X),
            "per-row superpixels": lambda: per_row.explain(X, groups=segs)}
    atts = {k: f() for k, f in runs.items()}               # compile
    times: dict = {k: [] for k in runs}
    limits = []
    for _ in range(args.repeats):
        limits.append(raw_forward_rate(fn, X[0], repeats=1)[0])
        for k, f in runs.items():
            t = time.perf_counter()
            atts[k] = f()
            times[k].append(time.perf_counter() - t)
    limit = max(limits)
    rows = []
    for k, ts in times.items():
        mr = atts[k].stats["model_rows"]
        best, med = min(ts), float(np.median(ts))
        rows.append([k, atts[k].values.shape[1], mr, mr / best, mr / med, limit,
                     mr / best / limit, mr / med / limit])
    print(environment())
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
          if os.name == "posix" else "n/a")
    print(table(rows, ["players", "M (max)", "model rows", "rows/s best", "rows/s median",
                       "raw forward rows/s", "fraction best", "fraction median"]))


if __name__ == "__main__":
    main()
