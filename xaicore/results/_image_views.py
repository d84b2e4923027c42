"""Views of image attributions over segments: lime's ``get_image_and_mask``, segment
boundaries, and per-player values painted back onto pixels (for ``shap.plots.image``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import InputError
from ._plot_common import _check_row

if TYPE_CHECKING:  # pragma: no cover
    from ._attribution import Attribution


def segmentation(att: Attribution, row: int) -> np.ndarray:
    """The ``[H, W]`` segment map of one row (from ``att.groups``)."""
    if att.groups is None:
        raise InputError("groups: this Attribution holds no segmentation (its players were "
                         "not groups); explain with groups= (e.g. xaicore.superpixels)")
    g = np.asarray(att.groups)[row]
    data = np.asarray(att.data)
    if data.ndim not in (3, 4):
        raise InputError(f"data: expected images [n, H, W] or [n, H, W, C], got shape "
                         f"{list(data.shape)}")
    if g.shape == data.shape[1:3]:
        return g
    if g.ndim == 3 and g.shape == data.shape[1:] and np.all(g == g[..., :1]):
        return g[..., 0]
    raise InputError(f"groups: expected one segment per pixel ([H, W] = "
                     f"{list(data.shape[1:3])}, or the same id in every channel), got a map "
                     f"of shape {list(g.shape)}")


def _weights(att: Attribution, row: int, label: Any) -> np.ndarray:
    v = np.asarray(att.values)[row]
    if att.target is not None:
        t = int(np.asarray(att.target)[row])
        if label is not None and label != t and label != _name(att, t):
            raise InputError(f"label: this Attribution explains output {t} of row {row} "
                             f"only, got label={label!r}")
        return v.reshape(-1)
    if v.ndim != 2:
        return v.reshape(-1)
    names = att.output_names or []
    if label is None:
        raise InputError(f"label: expected an output index 0..{v.shape[1] - 1} or name "
                         f"(every output was explained), got None")
    if isinstance(label, str) and label in names:
        label = names.index(label)
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) \
            or not 0 <= label < v.shape[1]:
        raise InputError(f"label: expected an output index 0..{v.shape[1] - 1} or one of "
                         f"{names}, got {label!r}")
    return v[:, int(label)]


def _name(att: Attribution, t: int) -> Any:
    names = att.output_names or []
    return names[t] if t < len(names) else None


def image_and_mask(att: Attribution, row: int = 0, label: Any = None,
                   positive_only: bool = True, negative_only: bool = False,
                   num_features: int = 5, hide_rest: bool = False, min_weight: float = 0.0,
                   hide_color: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """lime's ``ImageExplanation.get_image_and_mask`` on this row's segments and values
    (segments ranked by |value|); ``hide_rest`` fills the rest with ``hide_color``."""
    row = _check_row(row, np.asarray(att.values).shape[0])
    if positive_only and negative_only:
        raise InputError("positive_only: positive_only and negative_only cannot both be True")
    segments = segmentation(att, row)
    image = np.asarray(att.data)[row]
    w = _weights(att, row, label)
    order = np.argsort(-np.abs(w), kind="stable")
    exp = [(int(f), float(w[f])) for f in order]
    mask = np.zeros(segments.shape, segments.dtype)
    temp = np.full(image.shape, float(hide_color)) if hide_rest else image.copy()
    if positive_only or negative_only:
        if positive_only:
            fs = [f for f, x in exp if x > 0 and x > min_weight]
        else:
            fs = [f for f, x in exp if x < 0 and abs(x) > min_weight]
        for f in fs[:num_features]:
            temp[segments == f] = image[segments == f].copy()
            mask[segments == f] = 1
        return temp, mask
    for f, x in exp[:num_features]:
        if np.abs(x) < min_weight:
            continue
        c = 0 if x < 0 else 1
        mask[segments == f] = -1 if x < 0 else 1
        temp[segments == f] = image[segments == f].copy()
        temp[segments == f, c] = np.max(image)
    return temp, mask


def boundaries(segments: np.ndarray) -> np.ndarray:
    """``bool[H, W]``: pixels whose right or lower neighbour lies in another segment (a
    line one pixel wide between two segments)."""
    s = np.asarray(segments)
    edge = np.zeros(s.shape, bool)
    edge[:, :-1] |= s[:, :-1] != s[:, 1:]
    edge[:-1, :] |= s[:-1, :] != s[1:, :]
    return edge


def painted_values(att: Attribution) -> np.ndarray | None:
    """Per-player values spread back onto the input elements, ``[n, *data.shape[1:]]``
    (and the output axis): each element of a player gets the player's value over its
    number of elements in that row, so each row still sums to its total (``-1``: 0).
    ``None`` when the values are already per element or there are no groups."""
    data, v = np.asarray(att.data), np.asarray(att.values)
    if att.groups is None or v.shape[:data.ndim] == data.shape:
        return None
    n, row = data.shape[0], data.shape[1:]
    g = np.asarray(att.groups)
    if g.shape[1:] == row[:2] and len(row) == 3:
        g = np.broadcast_to(g[..., None], (n, *row))
    flat = g.reshape(n, -1)
    m = v.shape[1]
    vals = v.reshape(n, m, -1)                                    # [n, M, O or 1]
    counts = np.stack([np.bincount(f[f >= 0], minlength=m) for f in flat])   # [n, M]
    per = vals / np.maximum(counts, 1)[..., None]
    idx = np.where(flat < 0, m, flat)
    per = np.concatenate([per, np.zeros((n, 1, per.shape[2]))], axis=1)
    out = np.take_along_axis(per, idx[..., None], axis=1)         # [n, E, O]
    tail = () if v.ndim == 2 else (v.shape[2],)
    return out.reshape((n, *row, *tail))
