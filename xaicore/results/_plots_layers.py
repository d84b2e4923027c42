"""Plots of a model's layers: activations layer by layer, and weight histograms.

matplotlib is imported inside the functions (``pip install "xaicore[plot]"``). Both
return the matplotlib Figure.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._errors import InputError
from ._plot_common import _check_row, _pyplot

#: Feature maps drawn per convolutional layer (the first ones).
MAX_CHANNELS = 16


def plot_activations(acts: Mapping[str, Any], row: int = 0, *,
                     max_channels: int = MAX_CHANNELS) -> Any:
    """One row's activations, layer by layer (as :func:`xaicore.activations` returns
    them, in that order): a grid of feature maps for 2-D convolutional outputs
    ``[H, W, C]`` (the first ``max_channels`` channels), a heat map ``[L, C]`` for
    sequences, a heat-map row for dense outputs ``[d]``.

    Returns:
        The matplotlib Figure (one line of panels per layer).
    """
    if not isinstance(acts, Mapping) or not acts:
        raise InputError(f"acts: expected the dict xaicore.activations returns, got "
                         f"{type(acts).__name__}")
    n = min(np.shape(a)[0] for a in acts.values())
    row = _check_row(row, n)
    items = [(k, np.asarray(a[row], float)) for k, a in acts.items()]
    cols = max([min(max_channels, a.shape[-1]) if a.ndim == 3 else 1 for _, a in items])
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    heights = [1.6 if a.ndim >= 2 else 0.7 for _, a in items]
    fig = plt.figure(figsize=(max(6.0, 1.1 * cols), sum(heights) + 0.4 * len(items)),
                     layout="constrained")
    subs = fig.subfigures(len(items), 1, height_ratios=heights, squeeze=False)[:, 0]
    for sub, (name, a) in zip(subs, items):
        shape = "x".join(map(str, a.shape))
        if a.ndim == 3:                                  # [H, W, C]: feature maps
            k = min(max_channels, a.shape[-1])
            axes = sub.subplots(1, cols, squeeze=False)[0]
            lo, hi = float(a.min()), float(a.max())
            for c, ax in enumerate(axes):
                ax.set_axis_off()
                if c < k:
                    ax.imshow(a[..., c], cmap="viridis", vmin=lo, vmax=hi)
                    ax.set_title(f"ch {c}", fontsize=7)
            more = f", first {k} of {a.shape[-1]} channels" if k < a.shape[-1] else ""
            sub.suptitle(f"{name}  [{shape}]{more}", fontsize=9, x=0.01, ha="left")
            continue
        ax = sub.subplots()
        flat = a.reshape(1, -1) if a.ndim <= 1 else a.reshape(a.shape[0], -1).T
        im = ax.imshow(flat, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_yticks([] if a.ndim <= 1 else [0, flat.shape[0] - 1])
        if a.ndim >= 2:
            ax.set_ylabel("channel", fontsize=7)
            ax.set_xlabel("position", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        sub.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
        sub.suptitle(f"{name}  [{shape}]", fontsize=9, x=0.01, ha="left")
    return fig


def plot_weight_histograms(layers: Sequence[tuple[str, np.ndarray]], *,
                           bins: int = 40, columns: int = 3) -> Any:
    """A histogram of each layer's weights (all its weight arrays together).

    Args:
        layers: ``(name, flat weights)`` pairs, in the model's order.
        bins: Bins per histogram.
        columns: Panels per line.

    Returns:
        The matplotlib Figure.
    """
    if not layers:
        raise InputError("model: it has no weights to plot")
    plt = _pyplot()
    cols = min(columns, len(layers))
    rows = -(-len(layers) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows),
                             layout="constrained", squeeze=False)
    for ax in axes.ravel()[len(layers):]:
        ax.set_visible(False)
    for ax, (name, w) in zip(axes.ravel(), layers):
        w = np.asarray(w, float).ravel()
        ax.hist(w, bins=bins, color="#4c72b0")
        ax.set_title(f"{name} ({w.size} weights)", fontsize=8)
        ax.axvline(0.0, color="#9a9a9a", lw=0.8)
        ax.tick_params(labelsize=7)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    fig.suptitle("weights per layer", fontsize=10)
    return fig


__all__ = ["plot_activations", "plot_weight_histograms"]
