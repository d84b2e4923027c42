"""Host solves with one BLAS thread and with all of them, on a quiet and on a loaded machine.

The host side of KernelShap (the spectral estimate with its posterior standard errors, the
linear estimate's bootstrap, the cubic solve) is many small matrix products. This times
each with OpenBLAS limited to 1 thread and to ``os.cpu_count()`` threads (threadpoolctl),
alternating rounds, best and median of ``--repeats``, first on the machine as it is, then
with ``os.cpu_count()`` busy-looping processes started by this script (a loaded machine:
other jobs, the device runtime's threads). xaicore runs its solves with one thread
(``xaicore.kernels._threads.one_blas_thread``); this is the measurement behind that choice.

    python benchmarks/bench_blas_threads.py [--repeats 5] [--rows 64]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from common import environment, table
from threadpoolctl import threadpool_limits

from xaicore import kernels as K


def cases(rows: int) -> dict:
    """name -> a callable running one host solve of ``rows`` rows (one output)."""
    rng = np.random.default_rng(0)
    out = {}
    for m, budget in ((30, 512), (100, 2048)):
        coal = K.sample_coalitions(m, budget, seed=0)
        v = rng.normal(size=(rows, coal.masks.shape[0], 1))
        v0, v1 = np.zeros((rows, 1)), rng.normal(size=(rows, 1))
        design = K.spectral_design(coal.masks)
        out[f"spectral + s.e., M={m}, S={budget}"] = (
            lambda v=v, v0=v0, v1=v1, d=design: K.solve_spectral(None, None, v, v0, v1,
                                                                 design=d, return_se=True))
        out[f"bootstrap s.e. (64), M={m}, S={budget}"] = (
            lambda c=coal, v=v, v0=v0, v1=v1: K.standard_errors(c, v, v0, v1, n_boot=64))
    coal = K.sample_coalitions(16, 512, seed=0, scheme="stratified")
    v = rng.normal(size=(rows, coal.masks.shape[0], 1))
    v0, v1 = np.zeros((rows, 1)), rng.normal(size=(rows, 1))
    cubic = K.cubic_design(coal.masks, coal.weights)
    out["cubic, M=16, S=512"] = (lambda: K.solve_cubic(coal.masks, coal.weights, v, v0, v1,
                                                       design=cubic))
    return out


def measure(runs: dict, repeats: int, threads: int) -> dict:
    """name -> {n_threads: [seconds per round]}, 1 and ``threads`` BLAS threads alternating."""
    got = {name: {1: [], threads: []} for name in runs}
    for name, f in runs.items():
        for n in (1, threads):
            with threadpool_limits(limits=n, user_api="blas"):
                f()                                                   # warm-up
    for _ in range(repeats):
        for name, f in runs.items():
            for n in (1, threads):
                with threadpool_limits(limits=n, user_api="blas"):
                    t = time.perf_counter()
                    f()
                    got[name][n].append(time.perf_counter() - t)
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=64)
    args = ap.parse_args()
    threads = os.cpu_count() or 2
    print(subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip())
    print(environment())
    runs = cases(args.rows)
    table_rows = []
    for load in ("as it is", f"{threads} busy processes"):
        procs = [] if load == "as it is" else [
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(threads)]
        time.sleep(0.5 if procs else 0)
        try:
            got = measure(runs, args.repeats, threads)
        finally:
            for p in procs:
                p.kill()
                p.wait()
        for name, by in got.items():
            one, many = by[1], by[threads]
            ms = lambda t: f"{min(t) * 1e3:.1f} / {statistics.median(t) * 1e3:.1f}"  # noqa: E731
            table_rows.append([load, name, ms(one), ms(many),
                               f"{statistics.median(many) / statistics.median(one):.2f}"])
    print(f"{args.rows} rows, one output; ms best / median of {args.repeats}")
    print(table(table_rows, ["machine", "host solve", "1 BLAS thread", f"{threads} threads",
                             f"median {threads} / 1"]))


if __name__ == "__main__":
    main()
