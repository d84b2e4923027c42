"""Image plots: attributions painted back over the image as a diverging heat map.

matplotlib is imported inside the functions (``pip install "xaicore[plot]"``). Each draws on
the given ``ax`` (or a new figure) and returns the Axes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import InputError
from ._plot_common import _axes, _check_row, _pyplot, fit_title, row_label, select

if TYPE_CHECKING:  # pragma: no cover
    from ._attribution import Attribution


def _paint(vals: np.ndarray, groups: Any, img_shape: tuple[int, ...]) -> np.ndarray:
    """Per-player values painted back onto the ``[H, W]`` pixels through ``groups``."""
    g = np.asarray(groups)
    if g.dtype.kind not in "iu":
        raise InputError(f"groups: expected integer player ids, got dtype {g.dtype}")
    if g.shape not in (tuple(img_shape), tuple(img_shape[:2])):
        raise InputError(f"groups: expected the image's shape {list(img_shape)} (as made by "
                         f"xaicore.patch_groups), got {list(g.shape)}")
    if g.size and (g.min() < -1 or g.max() >= vals.size):
        raise InputError(f"groups: player ids must lie in 0..{vals.size - 1} (the values hold "
                         f"{vals.size} players per row; -1: no player), got "
                         f"{int(g.min())}..{int(g.max())}")
    painted = np.where(g >= 0, vals[np.maximum(g, 0)], 0.0)
    if g.ndim == 2:
        return painted
    heat = painted[..., 0].copy()
    for c in range(1, g.shape[2]):          # a player spanning channels counts once
        new = np.all(g[..., c:c + 1] != g[..., :c], axis=-1)
        heat += np.where(new, painted[..., c], 0.0)
    return heat


def heat_map(att: Attribution, row: int = 0, output: Any = None,
             groups: Any = None) -> np.ndarray:
    """The ``[H, W]`` map :func:`image` draws: per-pixel values summed over channels, or
    per-player values painted back through ``groups``."""
    data = np.asarray(att.data)
    if data.ndim not in (3, 4):
        raise InputError(f"data: plot_image needs images [n, H, W] or [n, H, W, C], got "
                         f"shape {list(data.shape)}")
    v, _, _, _ = select(att, output)
    row = _check_row(row, v.shape[0])
    img_shape = tuple(data.shape[1:])
    hw = img_shape[:2]
    vr = np.asarray(v[row], dtype=float)
    if groups is None and isinstance(att.params, dict) and att.params.get("groups") is not None:
        groups = att.params["groups"]
    if groups is None and att.groups is not None and vr.shape[:len(img_shape)] != img_shape:
        groups = np.asarray(att.groups)[row]
    if groups is not None:
        return _paint(vr.reshape(-1), groups, img_shape)
    if vr.shape == img_shape:
        return vr if vr.ndim == 2 else vr.sum(axis=-1)
    if vr.shape == hw:
        return vr
    if vr.size == int(np.prod(img_shape)):              # one player per element, flattened
        r = vr.reshape(img_shape)
        return r if r.ndim == 2 else r.sum(axis=-1)
    if vr.size == int(np.prod(hw)):
        return vr.reshape(hw)
    raise InputError(f"groups: the values hold {vr.size} players per row, not one per pixel "
                     f"of the {list(img_shape)} image; pass groups= the map used to explain "
                     f"(e.g. xaicore.patch_groups({img_shape}, patch))")


def _gray(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=float)
    if img.ndim == 3:
        if img.shape[2] >= 3:
            img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
        else:
            img = img.mean(axis=-1)
    lo, hi = np.nanmin(img), np.nanmax(img)
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def image(att: Attribution, row: int = 0, ax: Any = None, output: Any = None,
          cmap: str = "RdBu_r", overlay: bool = True, groups: Any = None,
          boundaries: bool = False) -> Any:
    """A diverging heat map of one image's attributions (symmetric about 0, with a colorbar),
    over the grayscale image when ``overlay`` (weak values let the image show through)."""
    heat = heat_map(att, row, output, groups)
    row = _check_row(row, np.asarray(att.values).shape[0])
    _, _, _, label = select(att, output)
    plt = _pyplot()
    from matplotlib.colors import Normalize

    ax = _axes(ax, (5.2, 4.4))
    vmax = float(np.nanmax(np.abs(heat))) if heat.size else 0.0
    vmax = vmax if vmax > 0 else 1e-12
    kw = {"cmap": cmap, "vmin": -vmax, "vmax": vmax, "interpolation": "nearest"}
    if overlay:
        ax.imshow(_gray(np.asarray(att.data)[row]), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        alpha = np.clip(0.15 + 0.8 * np.abs(heat) / vmax, 0.0, 1.0)
        im = ax.imshow(heat, alpha=alpha, **kw)
    else:
        im = ax.imshow(heat, **kw)
    im.set_gid("attribution")
    if boundaries:
        from ._image_views import boundaries as edges
        from ._image_views import segmentation
        seg = np.asarray(groups) if groups is not None else segmentation(att, row)
        seg = seg[..., 0] if seg.ndim == 3 else seg
        edge = edges(seg)
        rgba = np.zeros((*edge.shape, 4))
        rgba[edge] = (1.0, 0.85, 0.0, 0.9)               # yellow, as mark_boundaries
        ax.imshow(rgba, interpolation="nearest").set_gid("boundaries")
    sm = plt.cm.ScalarMappable(norm=Normalize(-vmax, vmax), cmap=cmap)
    reserve = _colorbar(ax, sm, vmax)
    ax.set_xticks([])
    ax.set_yticks([])
    label = row_label(att, row, label)
    if label and not label.startswith("output "):
        label = f"output {label!r}"
    fit_title(ax, f"{att.method}, row {row}", label, reserve=reserve)
    return ax


def _tick_text(x: float, _: Any = None) -> str:
    return f"{x:.2g}".replace("-", "\u2212")


def _colorbar(ax: Any, sm: Any, vmax: float) -> float:
    """A colour bar right of ``ax`` with ticks at -vmax, 0 and vmax, whose labels stay out
    of the plot on the right: on a figure without a layout engine (a grid of plots) ``ax``
    and the bar move left by what the tick labels and label need beyond the gap to the next
    axes (small type in a narrow cell). Returns the width in points a layout engine will
    take from ``ax`` for the bar."""
    import matplotlib as mpl
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import FuncFormatter

    from ._plot_common import _text_width
    fig = ax.figure
    w_pt = fig.get_size_inches()[0] * 72
    cell = ax.get_position(original=True)
    rc = mpl.rcParams
    narrow = cell.width * w_pt < 160
    tick_pt = 7.0 if narrow else FontProperties(size=rc["ytick.labelsize"]).get_size_in_points()
    label_pt = 8.0 if narrow else FontProperties(size=rc["axes.labelsize"]).get_size_in_points()
    ticks = [-vmax, 0.0, vmax]
    cb = fig.colorbar(sm, ax=ax, fraction=0.046, pad=0.04, ticks=ticks,
                      format=FuncFormatter(_tick_text))
    cb.set_label("attribution", fontsize=label_pt)
    cb.ax.tick_params(labelsize=tick_pt)
    extra = (max(_text_width(_tick_text(t), tick_pt, "normal") for t in ticks)
             + rc["ytick.major.size"] + rc["ytick.major.pad"] + 1.2 * label_pt
             + rc["axes.labelpad"] + 2.0)
    if fig.get_layout_engine() is not None:
        return extra + (0.046 + 0.04) * cell.width * w_pt
    right = 1.0                                         # the next axes on the right
    for other in fig.axes:
        o = other.get_position(original=True)
        if other is not ax and other is not cb.ax and o.x0 >= cell.x1 - 1e-9 \
                and o.y0 < cell.y1 and o.y1 > cell.y0:
            right = min(right, o.x0)
    shift = max(0.0, extra / w_pt - (right - cell.x1))
    if shift:
        p = ax.get_position(original=True)
        ax.set_position([p.x0, p.y0, max(p.width - shift, 0.2 * p.width), p.height])
        c = cb.ax.get_position(original=True)
        cb.ax.set_position([c.x0 - shift, c.y0, c.width, c.height])
    return 0.0
