"""Superpixels: one segmentation per image, the per-row players of image explanations.

``quickshift``, ``slic`` and ``felzenszwalb`` run through scikit-image (``pip install
"xaicore[image]"``, imported here only); ``grid`` needs nothing.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_seed

METHODS = ("quickshift", "slic", "felzenszwalb", "grid")

#: lime_image's segmentation (``SegmentationAlgorithm("quickshift", kernel_size=4,
#: max_dist=200, ratio=0.2)``) and scikit-image's defaults for the others.
DEFAULTS: dict[str, dict[str, Any]] = {
    "quickshift": {"kernel_size": 4, "max_dist": 200, "ratio": 0.2},
    "slic": {"n_segments": 100, "compactness": 10.0, "start_label": 0},
    "felzenszwalb": {"scale": 1, "sigma": 0.8, "min_size": 20},
}


def _grid(h: int, w: int, patch: Any) -> np.ndarray:
    if patch is None:
        patch = max(1, -(-min(h, w) // 8))                 # about an 8 x 8 grid
    ph, pw = (patch, patch) if isinstance(patch, (int, np.integer)) else tuple(patch)
    if isinstance(ph, bool) or ph < 1 or pw < 1:
        raise InputError(f"patch: expected a positive size (int or (ph, pw)), got {patch!r}")
    cols = -(-w // pw)
    return (np.arange(h)[:, None] // ph * cols + np.arange(w)[None, :] // pw)


def superpixels(images: Any, method: str = "quickshift", *, seed: int = 0,
                **options: Any) -> np.ndarray:
    """One label map per image: the players of ``explain(X, groups=...)``.

    Args:
        images: ``[n, H, W, C]`` (C = 1 or 3; quickshift converts 1 channel to RGB as
            lime does) or grayscale ``[n, H, W]``.
        method: ``"quickshift"`` (lime_image's default, with lime's ``kernel_size=4,
            max_dist=200, ratio=0.2``), ``"slic"``, ``"felzenszwalb"`` or ``"grid"``
            (``patch=`` pixels square, default ``ceil(min(H, W) / 8)``).
        seed: Seed of the random tie-breaking of quickshift (the others are
            deterministic).
        **options: Passed to the scikit-image function (overriding the defaults).

    Returns:
        ``int32[n, H, W]``; image ``i`` has labels ``0..M_i-1``, each used.

    Example:
        >>> segs = xaicore.superpixels(X, "slic", n_segments=50)      # doctest: +SKIP
        >>> att = xaicore.Lime(model, "segment_mean", groups="per_call"
        ...                    ).explain(X, groups=segs)              # doctest: +SKIP
    """
    if method not in METHODS:
        raise InputError(f"method: expected one of {METHODS}, got {method!r}")
    seed = check_seed(seed)
    try:
        x = np.asarray(images)
    except (TypeError, ValueError) as e:
        raise InputError(f"images: could not be read as an array ({e})") from None
    if x.ndim not in (3, 4) or x.dtype.kind not in "biuf":
        raise InputError(f"images: expected numeric images [n, H, W, C] or [n, H, W], got "
                         f"{x.dtype} of shape {list(x.shape)}")
    if x.ndim == 4 and x.shape[3] not in (1, 3):
        raise InputError(f"images: expected 1 or 3 channels (grayscale or RGB) for "
                         f"{method!r}, got {x.shape[3]} channels (shape {list(x.shape)})")
    n, h, w = x.shape[:3]
    if method == "grid":
        unknown = set(options) - {"patch"}
        if unknown:
            raise InputError(f"options: 'grid' takes patch=, got {sorted(unknown)}")
        g = _grid(h, w, options.get("patch"))
        return np.ascontiguousarray(np.broadcast_to(g, (n, h, w)), dtype=np.int32)
    try:
        from skimage import segmentation
    except ImportError as e:
        raise ImportError(f"superpixels({method!r}) needs scikit-image: pip install "
                          "'xaicore[image]' (or use method='grid')") from e
    kw = {**DEFAULTS[method], **options}
    rgb = x if x.ndim == 4 else x[..., None]
    if method == "quickshift":
        rgb = np.repeat(rgb, 3, axis=3) if rgb.shape[3] == 1 else rgb   # lime's gray2rgb
        kw.setdefault("rng", seed)
    f = getattr(segmentation, method)
    out = np.empty((n, h, w), np.int32)
    for i in range(n):        # scikit-image segments one image at a time
        try:
            seg = f(rgb[i].astype(np.float64), channel_axis=-1, **kw)
        except TypeError as e:
            raise InputError(f"options: {method!r} refused them ({e})") from None
        out[i] = np.unique(seg, return_inverse=True)[1].reshape(h, w)
    return out
