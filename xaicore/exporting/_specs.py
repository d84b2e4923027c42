"""Input/output specifications of an exported model, and the checks built on them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .._errors import InputError, describe


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model, without the batch axis.

    Attributes:
        name: The tensor's name (Keras input name, ``"x"`` for plain callables).
        shape: Shape without the batch axis; ``None`` entries are free; ``None`` overall
            means unknown (plain callables).
        dtype: NumPy dtype name, e.g. ``"float32"`` or ``"int32"``.
    """

    name: str
    shape: tuple[int | None, ...] | None
    dtype: str

    def shape_str(self) -> str:
        if self.shape is None:
            return "[batch, ...]"
        return "[batch, " + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"

    def check(self, x: Any, arg: str) -> np.ndarray:
        """Validate one array against this spec and return it as a NumPy array.

        Checks: a batch axis, rank and fixed sizes, dtype kind (float inputs accept
        any real number and are cast to the spec's dtype; integer inputs need integers),
        and finiteness.

        Raises:
            InputError: naming ``arg``, what was expected and what was given.
        """
        try:
            a = np.asarray(x)
        except Exception as e:  # ragged lists, objects
            raise InputError(f"{arg}: could not be read as an array ({e}); "
                             f"expected {self.dtype}{self.shape_str()}") from None
        want = f"{self.dtype}{self.shape_str()}"
        if a.dtype.kind not in "biuf":
            raise InputError(f"{arg}: expected a numeric array {want}, got dtype {a.dtype}")
        if self.shape is not None:
            if a.ndim != len(self.shape) + 1:
                hint = (" (a single row needs a batch axis: use x[None])"
                        if a.ndim == len(self.shape) else "")
                raise InputError(f"{arg}: expected {want}, got {describe(a)}: rank "
                                 f"{a.ndim} instead of {len(self.shape) + 1}{hint}")
            for got, exp in zip(a.shape[1:], self.shape):
                if exp is not None and got != exp:
                    raise InputError(f"{arg}: expected {want}, got {describe(a)}")
        elif a.ndim < 1:
            raise InputError(f"{arg}: expected an array with a batch axis, got a scalar")
        if a.shape[0] == 0:
            raise InputError(f"{arg}: expected at least one row, got {describe(a)}")
        target = np.dtype(self.dtype)
        if target.kind in "iu":
            if a.dtype.kind not in "biu":
                raise InputError(f"{arg}: the model input '{self.name}' takes integer ids "
                                 f"({want}), got {describe(a)}")
        elif a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            bad = np.argwhere(~np.isfinite(a))[0]
            raise InputError(f"{arg}: contains NaN or inf (first at index {tuple(bad.tolist())})")
        return a.astype(target, copy=False)


def check_inputs(specs: Sequence[TensorSpec], structure: str, x: Any, arg: str = "X") -> Any:
    """Validate model inputs (an array, a tuple of arrays or a dict) against their specs.

    Returns:
        The inputs as NumPy arrays in the same structure (tuple for several inputs).
    """
    if structure == "single":
        if isinstance(x, (tuple, list)) and len(x) == 1 and not np.isscalar(x[0]):
            x = x[0]
        if isinstance(x, dict):
            raise InputError(f"{arg}: the model takes one input, got a dict")
        return specs[0].check(x, arg)
    names = [s.name for s in specs]
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        extra = [k for k in x if k not in names]
        if missing or extra:
            raise InputError(f"{arg}: expected a dict with keys {names}, "
                             f"missing {missing}, unexpected {extra}")
        items = [x[n] for n in names]
    elif isinstance(x, (tuple, list)) and len(x) == len(specs):
        items = list(x)
    else:
        raise InputError(f"{arg}: the model takes {len(specs)} inputs {names}: give a "
                         f"tuple of {len(specs)} arrays or a dict, got {type(x).__name__}")
    arrays = [s.check(a, f"{arg}[{s.name!r}]") for s, a in zip(specs, items)]
    n = {a.shape[0] for a in arrays}
    if len(n) != 1:
        raise InputError(f"{arg}: all inputs need the same number of rows, got "
                         f"{[a.shape[0] for a in arrays]}")
    if structure == "dict":
        return dict(zip(names, arrays))
    return tuple(arrays)


def batch_size(x: Any) -> int:
    """Number of rows of validated inputs."""
    if isinstance(x, dict):
        x = next(iter(x.values()))
    elif isinstance(x, (tuple, list)):
        x = x[0]
    return int(np.shape(x)[0])
