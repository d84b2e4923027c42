"""Flat memory: peak RSS of one KernelShap ``explain`` (standard errors on) as rows grow.

Each size runs in a fresh process: build the MLP (64 features, 10 outputs), export it,
explain ``n`` rows with all outputs and standard errors, report the peak RSS
(``ru_maxrss``) and the RSS before the call, so the growth is the call's own. The output
arrays themselves (values and standard errors, ``n x 64 x 10`` float64 each) grow with the
rows by necessity; the table lists them so the rest can be read off.

    python benchmarks/bench_memory.py [--rows 1000 10000 100000] [--n-samples 256]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys
os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np, xaicore
sys.path.insert(0, {here!r})
from common import mlp
n, s = {n}, {s}
fn = xaicore.export(mlp())
X = np.random.default_rng(0).normal(size=(n, 64)).astype("float32")
ks = xaicore.KernelShap(fn, X[:4], n_samples=s, seed=0, progress=False)
ks.explain(X[:8])                                          # compile, warm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
att = ks.explain(X)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = (att.values.nbytes + att.stats["stderr"].nbytes) / 2**20
print(json.dumps({{"rows": n, "before_mb": before, "peak_mb": peak, "outputs_mb": out,
                  "estimator": ks.estimator, "seconds": att.stats["seconds"]}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--n-samples", type=int, default=256)
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    print(f"load {os.getloadavg()[0]:.2f}; KernelShap n_samples={args.n_samples}, 4 "
          "background rows, all 10 outputs, standard errors on")
    print("| rows | estimator | RSS before call (MB) | peak RSS (MB) | growth (MB) | "
          "of which output arrays (MB) | seconds |")
    print("|---|---|---|---|---|---|---|")
    for n in args.rows:
        run = subprocess.run([sys.executable, "-c", CHILD.format(here=here, n=n,
                                                                  s=args.n_samples)],
                             capture_output=True, text=True, cwd=here)
        if run.returncode:
            print(f"| {n} | failed: {run.stderr.strip().splitlines()[-1]} |")
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"| {n} | {r['estimator']} | {r['before_mb']:.0f} | {r['peak_mb']:.0f} | "
              f"{r['peak_mb'] - r['before_mb']:.0f} | {r['outputs_mb']:.0f} | "
              f"{r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
