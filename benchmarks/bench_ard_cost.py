"""Host cost of the spectral estimate's per-player (ARD) priors, per row.

For M players and S coalitions (complement-paired, the KernelShap default draw): the
solve's time per row with ``ard=False`` and ``ard=True``, for 1 and 10 outputs (the
outputs of a row share one factorisation), best and median of 5 rounds, the two
alternating; and the step's FLOPs (:func:`xaicore.kernels._ard.ard_flops`), which
``KernelShap(ard="auto")`` weighs against the model's.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_ard_cost.py
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from xaicore import kernels as K
from xaicore.kernels._ard import ard_applies, ard_flops


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,16,20,32")
    ap.add_argument("--budgets", default="128,256,512")
    ap.add_argument("--rows", type=int, default=8)
    a = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.2f}, OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print("| M | S | outputs | ARD MFLOP | off ms/row (best, median) | on ms/row (best, median) |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for m in (int(x) for x in a.sizes.split(",")):
        for s in (int(x) for x in a.budgets.split(",")):
            c = K.sample_coalitions(m, s - 2, seed=0)
            d = K.spectral_design(c.masks)
            if not ard_applies(d):
                continue
            W = rng.normal(size=(m, 16))
            for o in (1, 10):
                A = rng.normal(size=(16, o))
                x = rng.normal(size=(a.rows, m))
                v = np.stack([np.tanh(np.where(c.masks, xi, 0.0) @ W) @ A for xi in x])
                v0 = np.tile(np.tanh(np.zeros((1, 16))) @ A, (a.rows, 1))
                v1 = np.stack([np.tanh(xi @ W) @ A for xi in x])
                K.solve_spectral(None, None, v[:1], v0[:1], v1[:1], design=d)   # compile
                t = {False: [], True: []}
                for _ in range(5):
                    for on in (False, True):
                        t0 = time.perf_counter()
                        K.solve_spectral(None, None, v, v0, v1, design=d, ard=on)
                        t[on].append((time.perf_counter() - t0) / a.rows * 1e3)
                f = {k: f"{min(x):.2f}, {np.median(x):.2f}" for k, x in t.items()}
                print(f"| {m} | {s} | {o} | {ard_flops(d) / 1e6:.1f} | {f[False]} | {f[True]} |",
                      flush=True)


if __name__ == "__main__":
    main()
