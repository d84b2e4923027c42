"""Host cost of the spectral estimate's per-row sparse step (``solve_spectral(sparse=...)``).

Per case (players M, budget B, game): the design is built once, then the solve of ``--rows``
rows (one output each, a different game per row) is timed with ``sparse=False`` and
``sparse=True``, alternating, ``--repeats`` rounds after a warm-up (which also compiles
the numba kernels); ms a row, best and median. OpenBLAS is held to one thread (as
xaicore's solves are) and ``uptime``'s load is printed before and after. Games: sums of 40
unanimity terms of orders 1-5 (``accuracy_vs_shapiq.py``'s; terms found and kept) and a
two-layer tanh MLP of the players (the search gives up).

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_sparse_step.py \
        [--repeats 5] [--rows 20] [--save est.npz] [--compare est.npz] [--profile CASE]

``--save`` writes every case's estimates, ``--compare`` checks them against a saved file
(the A/B of two versions of the code: run one with ``--save``, the other with
``--compare``); ``--profile`` runs cProfile on one case's sparse solve instead.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from xaicore import kernels as K  # noqa: E402

CASES = [(100, 4096, "unanimity"), (100, 4096, "mlp"), (20, 4096, "unanimity"),
         (20, 4096, "mlp"), (100, 1024, "unanimity"), (100, 1024, "mlp")]


def unanimity_game(m: int, row: int, n_terms: int = 40):
    """``accuracy_vs_shapiq.py``'s game: 40 unanimity terms of orders 1-5."""
    rng = np.random.default_rng(1000 * m + row)
    sets = [rng.choice(m, size=rng.integers(1, 6), replace=False) for _ in range(n_terms)]
    coef = rng.normal(size=n_terms)
    return lambda z: sum(c * z[:, s].all(axis=1) for s, c in zip(sets, coef)).astype(float)


def mlp_game(m: int, row: int):
    """The tests' MLP game: two tanh layers of 32 units on a row and a baseline."""
    rng = np.random.default_rng(row)
    w, a = rng.normal(size=(m, 32)) * 2 / np.sqrt(m), rng.normal(size=32)
    w2 = rng.normal(size=(32, 32)) / np.sqrt(32)
    x, b = rng.normal(size=m), rng.normal(size=m)
    return lambda z: np.tanh(np.tanh(np.where(z, x, b) @ w) @ w2) @ a


def build(m: int, budget: int, game: str, rows: int):
    """The design and the values ``(v [rows, S, 1], v0, v1 [rows, 1])`` of one case."""
    c = K.sample_coalitions(m, budget - 2, seed=0)
    d = K.spectral_design(c.masks)
    make = unanimity_game if game == "unanimity" else mlp_game
    fs = [make(m, r) for r in range(rows)]
    v = np.stack([f(c.masks) for f in fs])[:, :, None]
    v0 = np.array([[f(np.zeros((1, m), bool))[0]] for f in fs])
    v1 = np.array([[f(np.ones((1, m), bool))[0]] for f in fs])
    return d, v, v0, v1


def solve(case, sparse: bool):
    d, v, v0, v1 = case
    return K.solve_spectral(None, None, v, v0, v1, design=d, sparse=sparse)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--save")
    ap.add_argument("--compare")
    ap.add_argument("--profile", help="e.g. 100,4096,unanimity")
    args = ap.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime: {load}\nOPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"rows={args.rows}, repeats={args.repeats}", flush=True)
    with threadpool_limits(limits=1, user_api="blas"):
        if args.profile:
            import cProfile
            import pstats
            m, budget, game = args.profile.split(",")
            case = build(int(m), int(budget), game, args.rows)
            solve(case, True)
            prof = cProfile.Profile()
            prof.runcall(solve, case, True)
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            return
        ref = dict(np.load(args.compare)) if args.compare else None
        saved = {}
        print(f"{'case':<22} {'off best':>9} {'off med':>8} {'on best':>8} {'on med':>8}"
              f"  (ms a row)  max|on - ref|")
        for m, budget, game in CASES:
            name = f"M={m} B={budget} {game}"
            case = build(m, budget, game, args.rows)
            on = solve(case, True)
            solve(case, False)
            times = {False: [], True: []}
            for _ in range(args.repeats):
                for sparse in (False, True):
                    t = time.perf_counter()
                    solve(case, sparse)
                    times[sparse].append((time.perf_counter() - t) * 1e3 / args.rows)
            key = f"{m}_{budget}_{game}"
            saved[key] = on
            diff = "" if ref is None else f"{np.abs(on - ref[key]).max():.1e}"
            print(f"{name:<22} {min(times[False]):9.2f} {statistics.median(times[False]):8.2f}"
                  f" {min(times[True]):8.2f} {statistics.median(times[True]):8.2f}"
                  f"              {diff}", flush=True)
        if args.save:
            np.savez(args.save, **saved)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"uptime: {load}")


if __name__ == "__main__":
    main()
