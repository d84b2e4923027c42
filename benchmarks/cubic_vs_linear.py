"""Cubic vs linear KernelShap estimator on other model families (guards the default).

For Keras MLPs (M -> 64 -> 64 -> 1) with ReLU and GELU activations, a background of 16
rows and 8 instances: the whole game table (all 2^M coalitions) is evaluated once through
the engine, then each estimator is run on the sampled coalitions of 6 seeds and compared
with exact Shapley values (mean absolute error), at equal numbers of coalitions.

    python benchmarks/cubic_vs_linear.py
"""
from __future__ import annotations

import numpy as np

from common import environment, table

import xaicore
from xaicore import kernels


def _codes(masks: np.ndarray) -> np.ndarray:
    return (masks.astype(np.int64) << np.arange(masks.shape[1])).sum(axis=1)


def game(d: int, act: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential([keras.Input((d,)),
                              keras.layers.Dense(64, activation=act, kernel_initializer=init),
                              keras.layers.Dense(64, activation=act, kernel_initializer=init),
                              keras.layers.Dense(1, kernel_initializer=init)])
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(16, d)).astype("float32")
    X = rng.normal(size=(8, d)).astype("float32")
    ex = xaicore.ExactShap(model, B)
    masks = ((np.arange(2 ** d)[:, None] >> np.arange(d)) & 1).astype(bool)
    return ex.engine.values(X, masks, 1 << 16)[..., 0], ex.explain(X, target=0).values


def main() -> None:
    rows = []
    for act in ("relu", "gelu"):
        for d in (10, 14):
            v, exact = game(d, act, 7)
            v0, v1 = v[:, 0], v[:, -1]
            for budget in (64, 256, 1024):
                if budget >= 2 ** d - 2:
                    continue
                lin, cub = [], []
                for seed in range(6):
                    c = kernels.sample_coalitions(d, budget, seed=seed, scheme="leverage")
                    vs = v[:, _codes(c.masks)]
                    lin.append(np.abs(kernels.solve_wls(c.masks, c.weights, vs, v0, v1)
                                      - exact).mean())
                    c = kernels.sample_coalitions(d, budget, seed=seed, scheme="stratified")
                    vs = v[:, _codes(c.masks)]
                    cub.append(np.abs(kernels.solve_cubic(c.masks, c.weights, vs, v0, v1)
                                      - exact).mean())
                rows.append([act, d, budget, float(np.mean(lin)), float(np.mean(cub)),
                             round(float(np.mean(cub) / np.mean(lin)), 2)])
                print(rows[-1], flush=True)
    print(environment())
    print(table(rows, ["activation", "M", "budget", "linear MAE", "cubic MAE",
                       "cubic / linear"]))


if __name__ == "__main__":
    main()
