"""Coverage of the default spectral estimate's standard errors on the accuracy benchmark's
games (``accuracy_vs_shapiq.py``'s cases), at every budget: the share of players whose
error is within two standard errors (nominal 0.954 for a normal error), and the median
of ``|error| / se`` (nominal 0.674). No peer library needed. ``--sparse``: with the
sparse step (``solve_spectral(sparse=True)``, what ``KernelShap(sparse="auto")`` runs for a
model that costs far more than it; the same as without below 1000 coalitions).

    cd benchmarks && OPENBLAS_NUM_THREADS=1 PYTHONPATH=.. python coverage_spectral.py [--sparse]
"""
from __future__ import annotations

import argparse

import numpy as np
from accuracy_vs_shapiq import case_games, spectral_coalitions
from common import table

from xaicore import kernels as K


def cell(games: list, m: int, budget: int, seeds: int, sparse: bool = False
         ) -> tuple[float, float, float]:
    """(coverage, median |error| / se, mean absolute error) over rows, seeds, players."""
    inside, z, err = [], [], []
    for v, truth, _ in games:
        ends = (v(np.zeros((1, m), bool)), v(np.ones((1, m), bool)))
        for seed in range(seeds):
            c = spectral_coalitions(m, budget, seed)
            phi, se = K.solve_spectral(c.masks, None, v(c.masks)[None], *ends, return_se=True,
                                       sparse=sparse)
            e = np.abs(phi[0] - truth)
            inside.extend(e <= 2 * se[0])
            z.extend(e / np.maximum(se[0], 1e-300))
            err.append(e.mean())
    return float(np.mean(inside)), float(np.median(z)), float(np.mean(err))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rows", type=int, default=3)
    ap.add_argument("--budgets", default="64,128,256,512,1024,2048,4096")
    ap.add_argument("--cases", default="all")
    ap.add_argument("--sparse", action="store_true")
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    rows = []
    for label, m, games in case_games(args.cases, args.rows):
        for budget in budgets:
            if budget >= 2 ** m:
                continue
            cov, z, mae = cell(games, m, budget, args.seeds, args.sparse)
            rows.append([label, m, budget, f"{cov:.3f}", f"{z:.2f}", f"{mae:.3g}"])
            print(rows[-1], flush=True)
    covs = [float(r[3]) for r in rows]
    print(table(rows, ["case", "M", "B", "2-se coverage", "median |err|/se", "MAE"]))
    print(f"cells {len(covs)}, mean coverage {np.mean(covs):.3f}, lowest {min(covs):.3f}, "
          f"below 0.9: {sum(c < 0.9 for c in covs)}")


if __name__ == "__main__":
    main()
