"""Host kernels: speed per backend (pytest-benchmark) and accuracy per sampling scheme.

Speed:    pytest benchmarks/bench_kernels.py --benchmark-enable
Accuracy: python benchmarks/bench_kernels.py [--seeds 20] [--games 4]
          (mean |phi - phi_exact| at equal budgets, schemes x M x budget, tanh-MLP games)
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pytest

from xaicore import kernels as K

BACKENDS = ("cpp", "numba", "numpy")


# ---------------------------------------------------------------- speed (pytest-benchmark)
@pytest.fixture(scope="module", autouse=True)
def _warm_numba():
    """Compile (or load from cache) the numba kernels before timing; prints the cost."""
    t = time.perf_counter()
    K.sample_coalitions(6, 20, backend="numba")
    c = K.sample_coalitions(6, 20)
    K.wls_operator(c.masks, c.weights, backend="numba")
    print(f"\nnumba first call (compile or cache load): {time.perf_counter() - t:.2f} s")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("budget", [256, 2048])
@pytest.mark.parametrize("m", [10, 16, 64])
def test_sample_coalitions(benchmark, m, budget, backend):
    benchmark.group = f"sample_coalitions M={m} S={budget}"
    benchmark(K.sample_coalitions, m, budget, seed=1, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("budget", [256, 2048])
@pytest.mark.parametrize("m", [10, 16, 64])
def test_wls_operator(benchmark, m, budget, backend):
    benchmark.group = f"wls_operator M={m} S={budget}"
    c = K.sample_coalitions(m, budget, seed=1)
    benchmark(K.wls_operator, c.masks, c.weights, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS + ("jax",))
@pytest.mark.parametrize("m", [16, 64])
def test_solve_wls(benchmark, m, backend):
    """Operator build + solve for 256 instances x 1 output at S = 2048."""
    benchmark.group = f"solve_wls M={m} S=2048 n=256"
    c = K.sample_coalitions(m, 2048, seed=1)
    v = np.random.default_rng(0).normal(size=(256, c.masks.shape[0], 1))
    v0, v1 = np.zeros((256, 1)), np.ones((256, 1))
    benchmark(K.solve_wls, c.masks, c.weights, v, v0, v1, backend=backend)


@pytest.mark.parametrize("m,budget", [(10, 256), (12, 512), (16, 1024)])
def test_solve_cubic(benchmark, m, budget):
    """The cubic estimate (per-row solve, NumPy/LAPACK) for 64 instances x 1 output."""
    benchmark.group = f"solve_cubic M={m} S={budget} n=64"
    c = K.sample_coalitions(m, budget, seed=1, scheme="stratified")
    v = np.random.default_rng(0).normal(size=(64, c.masks.shape[0], 1))
    benchmark(K.solve_cubic, c.masks, c.weights, v, np.zeros((64, 1)), np.ones((64, 1)))


# ---------------------------------------------------------------- accuracy (script)
def mlp_game(m: int, seed: int):
    """Random tanh MLP (m -> 32 -> 1) explained at a random x against a baseline b."""
    rng = np.random.default_rng(seed)
    W1, W2 = rng.normal(size=(m, 32)) / np.sqrt(m) * 2, rng.normal(size=32)
    x, b = rng.normal(size=m), rng.normal(size=m)
    return lambda Z: np.tanh(np.where(Z, x, b) @ W1) @ W2


def accuracy_table(ms=(10, 16), budgets=(64, 128, 256, 512, 1024), schemes=None,
                   n_seeds: int = 20, n_games: int = 4) -> dict:
    """Mean |phi - phi_exact| over games x seeds for each (scheme, M, budget)."""
    schemes = schemes or ("kernel", "stratified", "leverage", "leverage-draws")
    out = {}
    for m in ms:
        masks, P = K.exact_operator(m)
        games = [mlp_game(m, 100 + g) for g in range(n_games)]
        truths = [P @ f(masks) for f in games]
        for sch in schemes:
            for b in budgets:
                if b >= 2 ** m - 2:
                    continue
                errs = []
                for s in range(n_seeds):
                    c = K.sample_coalitions(m, b, seed=s, scheme=sch)
                    op = K.wls_operator(c.masks, c.weights)
                    for f, t in zip(games, truths):
                        v0, v1 = f(np.zeros((1, m), bool)), f(np.ones((1, m), bool))
                        phi = op[0] @ (f(c.masks) - v0) + op[1] * (v1 - v0)
                        errs.append(np.abs(phi - t).mean())
                out[sch, m, b] = (float(np.mean(errs)),
                                  float(np.std(errs) / np.sqrt(len(errs))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--games", type=int, default=4)
    a = ap.parse_args()
    res = accuracy_table(n_seeds=a.seeds, n_games=a.games)
    budgets = sorted({k[2] for k in res})
    print("| scheme | M | " + " | ".join(f"S={b}" for b in budgets) + " |")
    print("|---|---|" + "---|" * len(budgets))
    for sch, m in dict.fromkeys((k[0], k[1]) for k in res):
        cells = [f"{res[sch, m, b][0]:.4f}" if (sch, m, b) in res else "-" for b in budgets]
        print(f"| {sch} | {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
