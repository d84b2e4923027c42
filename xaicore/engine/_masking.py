"""Replacement values built from each instance itself: a per-row background of one row.

The Shapley methods and LIME take, besides background rows, a *masking* for absent
players that depends on the row being explained (lime's ``hide_color``, shap's image
maskers):

* a number ``c``: every absent element is ``c`` (lime's ``hide_color=c``);
* ``"mean"``: the instance's own mean colour (per channel for images ``[H, W, C]``, the
  mean over the leading axes for any row of rank >= 2, the row's mean for rank 1);
* ``"segment_mean"``: each player's own mean colour (per channel) over its elements in
  that row (lime's ``hide_color=None``);
* ``"blur"`` or ``("blur", sigma)``: a Gaussian-blurred copy of the image (``sigma`` in
  pixels, default ``max(H, W) / 10``; reflected edges).

Each is one replacement row per instance (``K = 1``), built on the host, streamed to the
device with the instances (see :class:`~xaicore.engine._coalitions.CoalitionEngine`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import InputError

MODES = ("mean", "segment_mean", "blur")


@dataclass(frozen=True)
class Masking:
    """A masking built from each row: ``mode`` in :data:`MODES` or ``"constant"``."""

    mode: str
    value: float = 0.0   # the constant, or the blur's sigma (0: the default)

    def describe(self) -> str:
        if self.mode == "constant":
            return f"constant {self.value:g}"
        if self.mode == "blur" and self.value:
            return f"blur sigma={self.value:g}"
        return self.mode


def masking_of(background: Any) -> Masking | None:
    """The :class:`Masking` a ``background`` argument names, or ``None`` for rows."""
    if isinstance(background, str):
        if background not in MODES:
            raise InputError(f"background: expected rows, a number or one of {MODES} (or "
                             f"('blur', sigma)), got {background!r}")
        return Masking(background)
    if isinstance(background, (int, float, np.integer, np.floating)) \
            and not isinstance(background, bool):
        if not np.isfinite(background):
            raise InputError(f"background: a constant must be finite, got {background!r}")
        return Masking("constant", float(background))
    if isinstance(background, tuple) and len(background) == 2 \
            and isinstance(background[0], str):
        mode, sigma = background
        if mode != "blur" or isinstance(sigma, bool) \
                or not isinstance(sigma, (int, float, np.integer, np.floating)) \
                or not np.isfinite(sigma) or sigma <= 0:
            raise InputError(f"background: expected ('blur', sigma > 0), got {background!r}")
        return Masking("blur", float(sigma))
    return None


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of images ``[n, H, W(, C)]`` over H and W (reflected)."""
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = x.astype(np.float64)
    for axis in (1, 2):
        size = out.shape[axis]
        pad = [(0, 0)] * out.ndim
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="reflect" if size > 1 else "edge")
        out = sum(k[i] * np.take(p, np.arange(i, i + size), axis=axis)
                  for i in range(2 * r + 1))
    return out


def replacement_rows(masking: Masking, x: np.ndarray, flat_groups: np.ndarray | None
                     ) -> np.ndarray:
    """One replacement row per instance ``[n, *row]``, in ``x``'s dtype.

    ``flat_groups`` (``int[n, E]``, ids ``-1..M-1``) is needed by ``"segment_mean"``.
    """
    x = np.asarray(x)
    n, row = x.shape[0], x.shape[1:]
    if masking.mode == "constant":
        return np.full_like(x, masking.value)
    if masking.mode == "mean":
        axes = tuple(range(1, x.ndim - 1)) if x.ndim > 2 else (1,)
        return np.broadcast_to(x.mean(axis=axes, keepdims=True, dtype=np.float64),
                               x.shape).astype(x.dtype)
    if masking.mode == "blur":
        if len(row) not in (2, 3):
            raise InputError(f"background: 'blur' needs images [n, H, W] or [n, H, W, C], "
                             f"got X of shape {list(x.shape)}")
        sigma = masking.value or max(row[0], row[1]) / 10.0
        return gaussian_blur(x, sigma).astype(x.dtype)
    # segment_mean: the mean of each (row, player, channel) over its elements
    if flat_groups is None:
        raise InputError("background: 'segment_mean' needs players (groups=)")
    e = flat_groups.shape[1]
    c = row[-1] if len(row) == 3 else 1
    ch = np.arange(e) % c
    m = int(flat_groups.max()) + 2                      # ids -1..M-1 -> 0..M
    key = (np.arange(n)[:, None] * m + flat_groups + 1) * c + ch[None, :]
    xf = x.reshape(n, e).astype(np.float64)
    sums = np.bincount(key.ravel(), weights=xf.ravel(), minlength=n * m * c)
    counts = np.bincount(key.ravel(), minlength=n * m * c)
    means = sums / np.maximum(counts, 1)
    return means[key].reshape(x.shape).astype(x.dtype)
