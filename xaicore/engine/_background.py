"""Background data: validation and a weighted k-means summary of large backgrounds."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_int, check_seed
from ..exporting._modelfn import ModelFn


def is_weighted(background: Any, rank: int | None = None) -> bool:
    """Whether ``background`` is a ``(rows, weights)`` pair (as :func:`kmeans` returns):
    a tuple or list of two, ``rows [K, ...]`` (of ``rank`` axes when known, else at
    least 2) and one weight per row, ``[K]``. A tuple of two rows has rows of equal rank,
    so it is not taken for a pair."""
    if not isinstance(background, (tuple, list)) or len(background) != 2:
        return False
    rows, weights = background
    try:
        r, w = np.ndim(rows), np.ndim(weights)
    except (TypeError, ValueError):  # ragged: not a pair of arrays
        return False
    if w != 1 or (r != rank if rank is not None else r < 2):
        return False
    return len(rows) == len(weights)


def split_weights(background: Any, rank: int | None = None
                  ) -> tuple[Any, np.ndarray | None]:
    """``(rows, weights)`` of a weighted background (the weights checked: finite, >= 0,
    not all 0, normalised to sum 1), or ``(background, None)`` for plain rows."""
    if not is_weighted(background, rank):
        return background, None
    rows, weights = background
    w = np.asarray(weights)
    if w.dtype.kind not in "biuf":
        raise InputError(f"background: the weights of a (rows, weights) background must be "
                         f"numbers, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise InputError(f"background: the weights of a (rows, weights) background must be "
                         f"finite, >= 0 and not all 0, got {w.tolist()[:10]}")
    return rows, w / w.sum()


def check_background(fn: ModelFn, background: Any) -> np.ndarray:
    """Validate a background set (or a single baseline row) against the model's input."""
    if fn.structure != "single":
        raise InputError("model: Shapley methods take single-input models; "
                         f"this one has inputs {list(fn.input_names)}")
    try:
        b = np.asarray(background) if not isinstance(background, np.ndarray) else background
    except (TypeError, ValueError) as e:  # ragged lists, objects
        raise InputError(f"background: could not be read as an array ({e}); expected rows "
                         f"{fn.inputs[0].dtype}{fn.inputs[0].shape_str()} or a (rows, "
                         "weights) pair as xaicore.kmeans returns") from None
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
