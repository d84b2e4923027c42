"""Background data: validation and a weighted k-means summary of large backgrounds."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_int, check_seed
from ..exporting._modelfn import ModelFn


def check_background(fn: ModelFn, background: Any) -> np.ndarray:
    """Validate a background set (or a single baseline row) against the model's input."""
    if fn.structure != "single":
        raise InputError("model: Shapley methods take single-input models; "
                         f"this one has inputs {list(fn.input_names)}")
    b = np.asarray(background) if not isinstance(background, np.ndarray) else background
    spec = fn.inputs[0]
    if spec.shape is not None and b.ndim == len(spec.shape):
        b = b[None]  # one baseline row
    if b.ndim >= 1 and b.shape[0] == 0:
        raise InputError("background: expected at least one row, got an empty array "
                         f"of shape {list(b.shape)}")
    return spec.check(b, "background")


def kmeans(data: np.ndarray, k: int, *, seed: int = 0, n_iter: int = 25
           ) -> tuple[np.ndarray, np.ndarray]:
    """Summarise a background set by ``k`` weighted centroids (Lloyd's algorithm).

    Like ``shap.kmeans``: each centroid is replaced by the nearest real row (so categorical
    or integer features keep valid values) and weighted by its cluster's size.

    Returns:
        ``(rows [k, ...], weights [k])`` with weights summing to 1.
    """
    k, seed = check_int(k, "k", 1), check_seed(seed)
    x = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
    if k > len(x):
        raise InputError(f"k: expected 1..{len(x)} (rows of the background), got {k}")
    rng = np.random.default_rng(seed)
    centers = x[rng.choice(len(x), size=k, replace=False)]
    for _ in range(n_iter):
        d = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
        label = d.argmin(1)
        new = np.array([x[label == j].mean(0) if np.any(label == j) else centers[j]
                        for j in range(k)])
        if np.allclose(new, centers):
            break
        centers = new
    d = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    label = d.argmin(1)
    nearest = d.argmin(0)
    weights = np.bincount(label, minlength=k).astype(np.float64)
    keep = weights > 0
    rows = np.asarray(data)[nearest[keep]]
    return rows, weights[keep] / weights[keep].sum()
