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
        id_range: For integer token ids read by an embedding: its ``input_dim`` (ids
            must lie in ``0..id_range - 1``); ``None`` when unknown or not ids.
    """

    name: str
    shape: tuple[int | None, ...] | None
    dtype: str
    id_range: int | None = None

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
            if self.id_range is not None:
                _check_ids(a, self.id_range, arg)
        elif a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            bad = np.argwhere(~np.isfinite(a))[0]
            raise InputError(f"{arg}: contains NaN or inf (first at index {tuple(bad.tolist())})")
        elif target.kind == "f" and a.dtype.kind in "iuf":
            _check_fits(a, target, arg)
        return a.astype(target, copy=False)


def _where(at: tuple[int, ...], second: str, rest: str | None = None) -> str:
    """``row 2, position 7`` for an index into ``[n, L]`` (``rest`` names the deeper
    elements of ``[n, ...]``: ``row 0, element (1, 2)``)."""
    if len(at) == 1:
        return f"row {at[0]}"
    if len(at) == 2:
        return f"row {at[0]}, {second} {at[1]}"
    return f"row {at[0]}, {rest or second} {at[1:]}"


def _check_ids(a: np.ndarray, id_range: int, arg: str) -> None:
    """Refuse token ids an embedding of ``id_range`` rows cannot look up (JAX would give
    NaN or clamp them silently), naming the first one's row and position."""
    bad = (a < 0) | (a >= id_range)
    if not bad.any():
        return
    at = tuple(int(i) for i in np.argwhere(bad)[0])
    raise InputError(f"{arg}: token id {int(a[at])} at {_where(at, 'position')} is outside "
                     f"the embedding's range 0..{id_range - 1}")


def _largest(dtype: np.dtype) -> float:
    """Largest magnitude a numeric dtype holds (inf where NumPy cannot tell)."""
    try:
        return float(np.finfo(dtype).max if dtype.kind == "f" else np.iinfo(dtype).max)
    except (TypeError, ValueError):
        return float("inf")


def _check_fits(a: np.ndarray, target: np.dtype, arg: str) -> None:
    """Refuse values the cast to ``target`` would turn into inf (``1e39`` in float32)."""
    limit = _largest(target)
    if limit >= _largest(a.dtype) or a.size == 0:
        return   # every value of a's dtype fits: nothing to scan
    over = np.abs(a.astype(np.float64, copy=False)) > limit
    if not over.any():
        return
    bad = tuple(int(i) for i in np.argwhere(over)[0])
    raise InputError(f"{arg}: value {a[bad]:g} at {_where(bad, 'column', 'element')} does "
                     f"not fit {target} (the model's input dtype holds magnitudes up to "
                     f"{limit:.4g}); rescale the data")


def _wrapped_input(x: Any, spec: TensorSpec) -> bool:
    """Whether ``x`` is a one-input model's array wrapped in a tuple or list (``[X]``, as
    Keras takes), rather than nested lists of numbers (``[[0.1, 0.2, 0.3]]``, one row).

    The wrapped element must itself be an array (not a list), of the input's rank
    when that is known: a one-row list of lists is an array-like, not a wrapper."""
    if not isinstance(x, (tuple, list)) or len(x) != 1:
        return False
    inner = x[0]
    if not hasattr(inner, "shape") or not hasattr(inner, "dtype"):
        return False
    rank = None if spec.shape is None else len(spec.shape) + 1
    return rank is None or len(inner.shape) == rank


def check_inputs(specs: Sequence[TensorSpec], structure: str, x: Any, arg: str = "X") -> Any:
    """Validate model inputs (an array, a tuple of arrays or a dict) against their specs.

    Returns:
        The inputs as NumPy arrays in the same structure (tuple for several inputs).
    """
    if structure == "single":
        if _wrapped_input(x, specs[0]):
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
