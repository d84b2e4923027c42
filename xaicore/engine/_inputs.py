"""The validated inputs of one call, and what the engines need to know of a model's rows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ..exporting._modelfn import ModelFn, traced, with_data_specs


@dataclass(frozen=True)
class Prepared:
    """Validated inputs of one ``explain`` call."""

    x: Any                    # validated NumPy inputs (array, tuple or dict)
    n: int                    # rows
    target: np.ndarray | None  # one output index per row, or None for all outputs
    fn: ModelFn               # the model, with output specs known
    columns: list[str] | None = None  # column names of a DataFrame X (feature names)


def column_names(data: Any) -> list[str] | None:
    """The column names of a pandas (or any ``.columns``-bearing) table, else ``None``."""
    cols = getattr(data, "columns", None)
    if cols is None or isinstance(data, np.ndarray):
        return None
    return [str(c) for c in cols]


def row_elements(fn: ModelFn) -> int:
    """Number of input elements of one row (all inputs together)."""
    total = 0
    for spec in fn.inputs:
        total += int(np.prod([d or 1 for d in (spec.shape or (1,))]))
    return max(total, 1)


def with_known_specs(fn: ModelFn, x: Any) -> ModelFn:
    """Fill in the specs of a plain JAX callable from a real batch (the row shape, and
    the integer dtype of integer data for a function of ids: see ``from_jax``)."""
    if fn.inputs[0].shape is None:
        a = np.asarray(x)
        if a.ndim < 1:
            raise InputError("X: expected an array with a batch axis, got a scalar")
        return with_data_specs(fn, a)
    if not fn.outputs:
        fn = traced(fn)
    return fn


def select(y: jax.Array, target: jax.Array | None) -> jax.Array:
    """Pick one output per row (``target`` int[n]) or keep all: ``[n]`` or ``[n, O]``."""
    if target is None:
        return y
    return jnp.take_along_axis(y, target[:, None], axis=1)[:, 0]

