"""``xaicore demo``: the main job on an embedded default (scikit-learn's wine data), every
method; then the image methods on scikit-learn's digits (:mod:`._demo_image`)."""
from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np


def fit_classifier(model: Any, X: np.ndarray, y: np.ndarray, *, epochs: int,
                   batch_size: int, seed: int | None = None) -> float:
    """Compile and fit a demo classifier (rows in one seeded order, or as given with
    ``seed=None``; Keras' own shuffling off, no global RNG touched); its training accuracy."""
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    order = np.arange(len(X)) if seed is None else np.random.default_rng(seed).permutation(
        len(X))
    model.fit(X[order], y[order], epochs=epochs, batch_size=batch_size, shuffle=False,
              verbose=0)
    return float(model.evaluate(X, y, verbose=0)[1])


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
    acc = fit_classifier(model, X, y, epochs=60, batch_size=32, seed=seed)
    print(f"trained a Keras MLP on scikit-learn's wine data: {X.shape[0]} rows, "
          f"{X.shape[1]} features, 3 classes, training accuracy {acc:.3f}")
    return model, X, y, list(data.feature_names)


def _methods(model: Any, background: np.ndarray, seed: int) -> dict[str, Callable]:
    """Every tabular attribution method, as name -> explain(X) of the predicted class."""
    from .. import methods as m

    baseline = background.mean(0)
    factories = {
        "ExactShap": lambda: m.ExactShap(model, background, progress=False),
        "KernelShap": lambda: m.KernelShap(model, background, n_samples=512, seed=seed,
                                           progress=False),
        "PermutationShap": lambda: m.PermutationShap(model, background, n_permutations=32,
                                                     seed=seed, progress=False),
        "Lime": lambda: m.Lime(model, background, n_samples=1000, seed=seed, progress=False),
        "IntegratedGradients": lambda: m.IntegratedGradients(model, n_steps=32,
                                                             baseline=baseline, progress=False),
        "ExpectedGradients": lambda: m.ExpectedGradients(model, background, n_samples=64,
                                                         seed=seed, progress=False),
        "Saliency": lambda: m.Saliency(model, progress=False),
        "GradientXInput": lambda: m.GradientXInput(model, progress=False),
        "SmoothGrad": lambda: m.SmoothGrad(model, n_samples=32, seed=seed, progress=False),
        "VarGrad": lambda: m.VarGrad(model, n_samples=32, seed=seed, progress=False),
    }
    return {name: (lambda X, e=make(): e.explain(X, target="predicted"))
            for name, make in factories.items()}


#: Methods whose values estimate the Shapley values (compared with ExactShap).
SHAPLEY_ESTIMATES = ("KernelShap", "PermutationShap", "ExpectedGradients")


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, sep, *body])


def _explain_all(fn: Any, X: np.ndarray, background: np.ndarray, names: list[str],
                 seed: int, out: str) -> tuple[dict, dict]:
    figures: dict[str, Any] = {}
    results = {}
    for name, explain in _methods(fn, background, seed).items():
        att = explain(X)
        att.feature_names = names
        path = att.save(os.path.join(out, f"{name}.npz"))
        results[name] = att
        gaps = {k: v for k, v in att.stats.items() if k.startswith("max_") and "gap" in k}
        figures[name] = {"seconds": att.stats.get("seconds"), "path": str(path), **gaps}
    return results, figures


def _print_results(results: dict, n: int, out: str) -> None:
    rows = []
    for name, att in results.items():
        gap_key = next((k for k in att.stats if k.startswith("max_") and "gap" in k), None)
        top = ", ".join(f"{f} ({v:.3f})" for f, v in att.top_features(3))
        rows.append([name, f"{att.stats.get('seconds', float('nan')):.2f}",
                     f"{att.stats[gap_key]:.1e}" if gap_key else "-", top])
    print()
    print(f"attributions of the predicted class for {n} wines "
          f"(mean |value| over rows; written to {out}/):")
    print(_table(rows, ["method", "seconds", "max gap", "top 3 features"]))
    exact = results["ExactShap"].values
    errs = [[name, f"{np.abs(results[name].values - exact).mean():.2e}"]
            for name in SHAPLEY_ESTIMATES]
    print()
    print("mean |value - exact Shapley value| (ExpectedGradients estimates the Shapley values "
          "of the model's local linearisation, so it is not expected to reach 0):")
    print(_table(errs, ["method", "error"]))


def run_demo(out: str = "xaicore-demo", n_explain: int = 32, seed: int = 0,
             images: bool = True) -> dict:
    """Train, export, check against ``model.predict``, explain with every method, print,
    save; then (``images``) the image methods on a small CNN trained on scikit-learn's
    digits.

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
    results, methods = _explain_all(fn, Xe, background, names, seed, out)
    figures: dict[str, Any] = {"export_gap": gap, "methods": methods}
    _print_results(results, len(Xe), out)
    if images:
        from ._demo_image import run_image_demo

        figures["methods"].update(run_image_demo(out, seed))
        from ._demo_text import run_text_demo

        figures["methods"].update(run_text_demo(out, seed))
    print(f"\ndone in {time.perf_counter() - t0:.1f} s")
    return figures
