"""Resolution of the ``target`` argument shared by every method."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError


def resolve_target(target: Any, n_rows: int, n_outputs: int,
                   predict: Any = None) -> np.ndarray | None:
    """Turn ``target`` into one output index per row, or ``None`` for all outputs.

    Args:
        target: ``None`` (all outputs), an int, a sequence of ints (one per row), or
            ``"predicted"`` (the arg-max output of each row).
        n_rows: Number of rows explained.
        n_outputs: Number of model outputs (columns of ``ModelFn.apply_flat``).
        predict: Zero-argument callable returning ``[n_rows, n_outputs]`` outputs; needed
            for ``"predicted"``.

    Returns:
        ``int64[n_rows]`` or ``None``.
    """
    if target is None:
        return None
    if isinstance(target, str):
        if target != "predicted":
            raise InputError(f"target: expected None, an int, one int per row or "
                             f"'predicted', got {target!r}")
        if predict is None:
            raise InputError("target: 'predicted' is not available here")
        return np.asarray(np.argmax(np.asarray(predict()), axis=1), dtype=np.int64)
    t = np.asarray(target)
    if t.dtype.kind not in "iu" and not (t.dtype.kind == "f" and np.all(t == np.round(t))):
        raise InputError(f"target: expected integer output indices, got {t.dtype} {t!r:.60}")
    t = t.astype(np.int64)
    if t.ndim == 0:
        t = np.full(n_rows, int(t), dtype=np.int64)
    elif t.shape != (n_rows,):
        raise InputError(f"target: expected an int or one int per row (shape [{n_rows}]), "
                         f"got shape {list(t.shape)}")
    bad = (t < -n_outputs) | (t >= n_outputs)
    if np.any(bad):
        raise InputError(f"target: index {int(t[bad][0])} is out of range for a model with "
                         f"{n_outputs} output(s) (valid: 0..{n_outputs - 1})")
    return np.where(t < 0, t + n_outputs, t)
