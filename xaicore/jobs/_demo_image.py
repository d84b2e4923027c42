"""The image part of ``xaicore demo``: a small CNN on scikit-learn's 8x8 digits (they ship
inside scikit-learn), explained by Grad-CAM, KernelShap over 2x2 patches and integrated
gradients."""
from __future__ import annotations

import os
from typing import Any

import numpy as np


def _train_cnn(seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    import keras
    from sklearn.datasets import load_digits

    data = load_digits()
    X = (data.images / 16.0).astype("float32")[..., None]          # [n, 8, 8, 1] in [0, 1]
    y = data.target
    init = keras.initializers.GlorotUniform
    model = keras.Sequential([
        keras.Input((8, 8, 1), name="digit"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv",
                            kernel_initializer=init(seed=seed)),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax", kernel_initializer=init(seed=seed + 1)),
    ], name="digits_cnn")
    from ._demo import fit_classifier

    acc = fit_classifier(model, X, y, epochs=8, batch_size=64, seed=seed)
    print(f"\ntrained a Keras CNN on scikit-learn's digits: {len(X)} images of 8x8, "
          f"training accuracy {acc:.3f}")
    return model, X, y


def run_image_demo(out: str, seed: int = 0, n_explain: int = 8) -> dict:
    """Grad-CAM, KernelShap over patches and integrated gradients of the predicted digit."""
    from .. import methods as m
    from ..engine import patch_groups
    from ..exporting import export

    model, X, _ = _train_cnn(seed)
    fn = export(model)
    Xe = X[:n_explain]
    groups = patch_groups((8, 8, 1), 2)                    # 16 players: 2x2 patches
    explainers = {
        "GradCAM": m.GradCAM(model, layer="conv", progress=False),
        "KernelShap (2x2 patches)": m.KernelShap(fn, np.zeros((1, 8, 8, 1), "float32"),
                                                 groups=groups, n_samples=512, seed=seed,
                                                 progress=False),
        "IntegratedGradients (image)": m.IntegratedGradients(fn, n_steps=32, progress=False),
    }
    figures, rows = {}, []
    for name, e in explainers.items():
        att = e.explain(Xe, target="predicted")
        file = name.split(" ")[0] + ("_patches" if "patches" in name else "") + "_digits.npz"
        path = att.save(os.path.join(out, file))
        gap = next((float(v) for k, v in att.stats.items() if k.startswith("max_")
                    and "gap" in k), None)
        figures[name] = {"seconds": att.stats.get("seconds"), "path": str(path),
                         "max_gap": gap}
        rows.append([name, f"{att.stats.get('seconds', float('nan')):.2f}",
                     "-" if gap is None else f"{gap:.1e}", str(path)])
    from ._demo import _table

    print(f"attributions of the predicted digit for {len(Xe)} images:")
    print(_table(rows, ["method", "seconds", "max gap", "written to"]))
    return figures
