"""Argument checks shared by every part: each returns the clean value or raises an
:class:`~xaicore.InputError` that names the argument, what is expected and what was given.

The lowest layer beside :mod:`xaicore._errors`: it imports nothing else of xaicore.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import InputError, NonFiniteError


def check_int(value: Any, arg: str, low: int) -> int:
    """A Python int ``>= low``, or an InputError naming ``arg``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise InputError(f"{arg}: expected an int >= {low}, got {value!r}")
    return int(value)


def check_bool(value: Any, arg: str, *, allow_none: bool = False) -> Any:
    """A real ``bool`` (or NumPy bool), or an InputError naming ``arg``: ``"no"`` is not False.

    With ``allow_none``, ``None`` (an automatic choice, as ``progress=None``) passes too."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        want = "True, False or None" if allow_none else "True or False"
        raise InputError(f"{arg}: expected {want}, got {value!r}")
    return bool(value)


def check_seed(value: Any, arg: str = "seed") -> int:
    """A seed a JAX key holds exactly (``0 <= seed < 2**32``), or an InputError.

    Every method takes seeds in this one range (the coalition sampler and the JAX keys
    alike), so a seed outside it is refused rather than folded onto another."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) \
            or not 0 <= value < 2 ** 32:
        why = (" (a JAX random key keeps 32 bits: larger seeds would collide)"
               if isinstance(value, (int, np.integer)) and not isinstance(value, bool)
               and value >= 2 ** 32 else "")
        raise InputError(f"{arg}: expected an int in [0, 2**32), got {value!r}{why}")
    return int(value)


def check_float(value: Any, arg: str, low: float = 0.0) -> float:
    """A finite float ``>= low``, or an InputError naming ``arg``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not np.isfinite(value) or value < low:
        raise InputError(f"{arg}: expected a finite number >= {low}, got {value!r}")
    return float(value)



def check_finite(values: np.ndarray, what: str, rows: str) -> np.ndarray:
    """``values`` (model outputs, rows first) if all finite, else a NonFiniteError that
    counts the NaN/inf outputs and names the first row of ``rows`` they came from."""
    finite = np.isfinite(values)
    if finite.all():
        return values
    bad = ~finite
    row = int(np.argwhere(bad.reshape(bad.shape[0], -1).any(axis=1))[0, 0])
    raise NonFiniteError(
        f"model: {int(bad.sum())} of {bad.size} outputs on {what} were not finite (NaN or "
        f"inf), the first for row {row} of {rows}: attributions of such a model mean nothing;"
        " check the model's range on these inputs (e.g. a log of a negative, a division by "
        "zero)")
