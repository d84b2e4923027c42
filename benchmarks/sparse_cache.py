"""Development cache for the spectral estimator: the benchmark's games, coalitions and values.

Builds (once) every cell of ``accuracy_vs_shapiq.py`` -- per case, budget, row and seed
the spectral estimator's coalitions (same draw as that script), their values, the two
end values and the exact truth -- plus shapiq's best MAE per cell, so that estimator
variants can be compared on the same coalitions in seconds, without Keras or shapiq:

    PYTHONPATH=..:. python sparse_cache.py --out /tmp/sparse_cache           # build
    then ``load(out)`` from a Python with xaicore only.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle

import numpy as np


def build(out: str, seeds: int, rows: int, budgets: list, cases: str, shapiq: bool) -> None:
    """Write ``out/<case>_<M>.pkl``: a list of cells, each with its instances."""
    from accuracy_vs_shapiq import SHAPIQ, case_games, shapiq_values, spectral_coalitions

    os.makedirs(out, exist_ok=True)
    for label, m, games in case_games(cases, rows):
        cells = []
        for budget in budgets:
            if budget >= 2 ** m:
                continue
            inst, peer = [], {}
            for r, (v, truth, _) in enumerate(games):
                ends = (float(v(np.zeros((1, m), bool))[0]), float(v(np.ones((1, m), bool))[0]))
                for seed in range(seeds):
                    c = spectral_coalitions(m, budget, seed)
                    inst.append({"row": r, "seed": seed, "masks": c.masks,
                                 "y": v(c.masks), "ends": ends, "truth": truth})
                    if shapiq:
                        for k, (phi, _) in shapiq_values(v, m, budget, seed, SHAPIQ).items():
                            peer.setdefault(k, []).append(float(np.abs(phi - truth).mean()))
            cells.append({"case": label, "M": m, "budget": budget, "inst": inst,
                          "shapiq": {k: float(np.mean(e)) for k, e in peer.items()}})
            best = min(cells[-1]["shapiq"].items(), key=lambda kv: kv[1], default=None)
            print(label, m, budget, best, flush=True)
        with open(os.path.join(out, f"{label.replace(' ', '_')}_{m}.pkl"), "wb") as fh:
            pickle.dump(cells, fh)


def load(out: str, cases: str = "all") -> list:
    """Every cached cell (a list of dicts), optionally only the cases matching ``cases``."""
    cells = []
    for f in sorted(os.listdir(out)):
        if f.endswith(".pkl") and (cases == "all" or any(k in f for k in cases.split(","))):
            with open(os.path.join(out, f), "rb") as fh:
                cells += pickle.load(fh)
    return cells


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/sparse_cache")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=2)
    ap.add_argument("--budgets", default="64,128,256,512,1024,2048,4096")
    ap.add_argument("--cases", default="all")
    ap.add_argument("--no-shapiq", action="store_true")
    a = ap.parse_args()
    build(a.out, a.seeds, a.rows, [int(b) for b in a.budgets.split(",")], a.cases,
          not a.no_shapiq)
    print(json.dumps({"out": a.out}))


if __name__ == "__main__":
    main()
