"""Players of a Shapley game: which input elements move together (features, groups, patches)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError


def patch_groups(image_shape: tuple[int, ...], patch: int | tuple[int, int]) -> np.ndarray:
    """Groups for images: one player per ``patch x patch`` square (all channels together).

    Args:
        image_shape: ``(height, width)`` or ``(height, width, channels)`` of one image.
        patch: Patch size (int or ``(ph, pw)``); edge patches may be smaller.

    Returns:
        ``int32[image_shape]`` player ids, row-major over patches.

    Example:
        >>> patch_groups((4, 4, 3), 2)[..., 0]
        array([[0, 0, 1, 1],
               [0, 0, 1, 1],
               [2, 2, 3, 3],
               [2, 2, 3, 3]], dtype=int32)
    """
    if len(image_shape) not in (2, 3):
        raise InputError(f"image_shape: expected (height, width[, channels]), got {image_shape}")
    ph, pw = (patch, patch) if isinstance(patch, (int, np.integer)) else patch
    if ph < 1 or pw < 1:
        raise InputError(f"patch: expected a positive size, got {patch}")
    h, w = image_shape[:2]
    rows = np.arange(h) // ph
    cols = np.arange(w) // pw
    ids = (rows[:, None] * (-(-w // pw)) + cols[None, :]).astype(np.int32)
    if len(image_shape) == 3:
        ids = np.repeat(ids[:, :, None], image_shape[2], axis=2)
    return ids


def resolve_groups(groups: Any, row_shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Check ``groups`` against one input row and return (flat player ids, player count).

    ``None`` makes every input element its own player. Otherwise ``groups`` is an integer
    array of the row's shape (or of its size) with player ids ``0..M-1``, each used.
    """
    size = int(np.prod(row_shape)) if row_shape else 1
    if groups is None:
        return np.arange(size, dtype=np.int32), size
    g = np.asarray(groups)
    if g.dtype.kind not in "iu":
        raise InputError(f"groups: expected integer player ids, got dtype {g.dtype}")
    if g.shape != tuple(row_shape) and g.shape != (size,):
        raise InputError(f"groups: expected one player id per input element, shape "
                         f"{list(row_shape)} (or [{size}]), got shape {list(g.shape)}")
    g = g.reshape(-1).astype(np.int32)
    if g.min() < 0:
        raise InputError(f"groups: player ids must be >= 0, got {int(g.min())}")
    m = int(g.max()) + 1
    unused = np.setdiff1d(np.arange(m), g)
    if unused.size:
        raise InputError(f"groups: player ids must cover 0..{m - 1} with no gaps; "
                         f"ids {unused[:10].tolist()} are used by no input element")
    return g, m


def group_names(groups: Any, m: int, feature_names: Any, row_shape: tuple[int, ...]) -> list:
    """Names of the players: the given names, or ``f<i>`` / ``group<i>``."""
    if feature_names is not None:
        names = [str(n) for n in feature_names]
        if len(names) != m:
            raise InputError(f"feature_names: expected {m} names (one per player), "
                             f"got {len(names)}")
        return names
    prefix = "f" if groups is None else "group"
    return [f"{prefix}{i}" for i in range(m)]


def resolve_row_groups(groups: Any, n: int, row_shape: tuple[int, ...]
                       ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Check per-row player maps (one per row of a call) and return
    ``(flat ids int32[n, E], M, maps, active bool[n, M])``.

    ``groups`` is ``[n, *row]``, ``[n, E]`` (``E`` elements per row) or, for image rows
    ``[H, W, C]``, ``[n, H, W]`` (every channel of a pixel together). Ids are ``-1`` (not
    a player: the element always keeps the instance's value) or ``0..M-1``, ``M`` the
    largest id + 1 over the call; a row may leave ids unused (those players have no
    element there, so no effect). ``maps`` is the groups as given (for the result).
    """
    size = int(np.prod(row_shape)) if row_shape else 1
    try:
        g = np.asarray(groups)
    except (TypeError, ValueError) as e:
        raise InputError(f"groups: could not be read as an array ({e})") from None
    pixel = len(row_shape) == 3 and g.shape == (n, *row_shape[:2])
    shapes = [[n, *row_shape], [n, size]] + ([[n, *row_shape[:2]]] if len(row_shape) == 3
                                             else [])
    if g.shape[:1] != (n,) or not (pixel or g.shape in ((n, *row_shape), (n, size))):
        raise InputError(f"groups: expected per-row maps {' or '.join(map(str, shapes))} "
                         f"for {n} rows of shape {list(row_shape)}, got {list(g.shape)}")
    if g.dtype.kind not in "iu":
        raise InputError(f"groups: expected integer player ids, got dtype {g.dtype}")
    if g.size and int(g.min()) < -1:
        raise InputError(f"groups: player ids must be -1 (not a player) or >= 0, got "
                         f"{int(g.min())}")
    m = int(g.max()) + 1 if g.size else 0
    if m < 1:
        raise InputError("groups: expected at least one player (an id >= 0), got only -1")
    if m > 1 << 20:
        raise InputError(f"groups: expected at most {1 << 20} players, got ids up to {m - 1}")
    full = np.broadcast_to(g[..., None], (n, *row_shape)) if pixel else g
    flat = np.ascontiguousarray(full.reshape(n, size), dtype=np.int32)
    active = np.zeros((n, m + 1), dtype=bool)
    np.put_along_axis(active, np.where(flat < 0, m, flat), True, axis=1)
    maps = g.reshape(n, *row_shape) if g.shape == (n, size) else g
    return flat, m, maps, active[:, :m]
