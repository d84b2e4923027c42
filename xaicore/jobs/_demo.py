"""``xaicore demo``: the main job on an embedded default (scikit-learn's wine data)."""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np


def _train_model(seed: int) -> tuple[Any, np.ndarray, np.ndarray, list[str]]:
    """A small Keras MLP trained on scikit-learn's wine data (ships with scikit-learn)."""
    try:
        from sklearn.datasets import load_wine
    except ImportError:
        raise SystemExit("xaicore demo needs scikit-learn (its data sets ship inside it): "
                         "pip install scikit-learn") from None
    import keras

    data = load_wine()
    X = data.data.astype("float32")
    X = (X - X.mean(0)) / X.std(0)
    y = data.target
    # Seeded initialisers and a seeded shuffle: no global RNG is touched (and
    # keras.utils.set_random_seed would import TensorFlow where it is installed).
    init = keras.initializers.GlorotUniform
    model = keras.Sequential([
        keras.Input((X.shape[1],), name="wine"),
        keras.layers.Dense(32, activation="relu", kernel_initializer=init(seed=seed)),
        keras.layers.Dropout(0.2, seed=seed),
        keras.layers.Dense(16, activation="relu", kernel_initializer=init(seed=seed + 1)),
        keras.layers.Dense(3, activation="softmax", kernel_initializer=init(seed=seed + 2)),
    ], name="wine_mlp")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    order = np.random.default_rng(seed).permutation(len(X))
    model.fit(X[order], y[order], epochs=60, batch_size=32, shuffle=False, verbose=0)
    acc = float(model.evaluate(X, y, verbose=0)[1])
    print(f"trained a Keras MLP on scikit-learn's wine data: {X.shape[0]} rows, "
          f"{X.shape[1]} features, 3 classes, training accuracy {acc:.3f}")
    return model, X, y, list(data.feature_names)


def _methods(model: Any, background: np.ndarray, seed: int) -> dict[str, Callable]:
    """Every attribution method available in this install, as name -> explain(X)."""
    from .. import methods

    out: dict[str, Callable] = {}
    factories = {
        "ExactShap": lambda: methods.ExactShap(model, background),
        "KernelShap": lambda: methods.KernelShap(model, background, n_samples=512,
                                                 seed=seed),
        "PermutationShap": lambda: methods.PermutationShap(model, background,
                                                           n_permutations=32, seed=seed),
        "IntegratedGradients": lambda: methods.IntegratedGradients(
            model, n_steps=32, baseline=background.mean(0)),
    }
    for name, make in factories.items():
        if hasattr(methods, name):
            explainer = make()
            out[name] = lambda X, e=explainer: e.explain(X, target="predicted")
    return out


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, sep, *body])


def run_demo(out: str = "xaicore-demo", n_explain: int = 32, seed: int = 0) -> dict:
    """Train, export, check against ``model.predict``, explain, print, save.

    Returns:
        A dict of figures (export gap, per-method seconds and gaps, saved paths).
    """
    from ..exporting import export

    t0 = time.perf_counter()
    model, X, _, names = _train_model(seed)
    fn = export(model)
    gap = float(np.abs(np.asarray(fn(X)) - model.predict(X, verbose=0)).max())
    print(f"exported to a pure JAX function: max |ModelFn - model.predict| = {gap:.2e}")
    if gap > 1e-5:
        raise SystemExit(f"export check failed: gap {gap:.2e} > 1e-5")
    rng = np.random.default_rng(seed)
    background = X[rng.choice(len(X), size=min(50, len(X)), replace=False)]
    Xe = X[:n_explain]
    os.makedirs(out, exist_ok=True)
    figures: dict[str, Any] = {"export_gap": gap, "methods": {}}
    results = {}
    for name, explain in _methods(fn, background, seed).items():
        att = explain(Xe)
        att.feature_names = names
        path = att.save(os.path.join(out, f"{name}.npz"))
        results[name] = att
        gaps = {k: v for k, v in att.stats.items() if k.startswith("max_") and "gap" in k}
        figures["methods"][name] = {"seconds": att.stats.get("seconds"), "path": str(path),
                                    **gaps}
    if not results:
        print("no attribution methods are available in this install")
        return figures
    rows = []
    for name, att in results.items():
        gap_key = next((k for k in att.stats if k.startswith("max_") and "gap" in k), None)
        top = ", ".join(f"{f} ({v:.3f})" for f, v in att.top_features(3))
        rows.append([name, f"{att.stats.get('seconds', float('nan')):.2f}",
                     f"{att.stats[gap_key]:.1e}" if gap_key else "-", top])
    print()
    print(f"attributions of the predicted class for {len(Xe)} wines "
          f"(mean |value| over rows; written to {out}/):")
    print(_table(rows, ["method", "seconds", "max gap", "top 3 features"]))
    if "ExactShap" in results:
        exact = results["ExactShap"].values
        errs = [[n, f"{np.abs(a.values - exact).mean():.2e}"] for n, a in results.items()
                if n != "ExactShap" and a.values.shape == exact.shape]
        if errs:
            print()
            print("mean |value - exact Shapley value|:")
            print(_table(errs, ["method", "error"]))
    print(f"\ndone in {time.perf_counter() - t0:.1f} s")
    return figures
