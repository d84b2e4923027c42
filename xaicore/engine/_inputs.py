"""The validated inputs of one call, and what the engines need to know of a model's rows."""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ..exporting._modelfn import ModelFn, _example_batch, traced, with_data_specs


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


_ACTIVATIONS: "weakref.WeakKeyDictionary[ModelFn, int]" = weakref.WeakKeyDictionary()


def row_activations(fn: ModelFn) -> int:
    """Elements of the largest intermediate value one row creates in the forward pass
    (e.g. ``L x 64`` for a ``Conv1D(64)`` over ``L`` embedded tokens): how much of the
    cache a row of the model takes, which its input size alone does not tell.

    Read from the forward pass traced abstractly at batches 1 and 2 (no FLOPs): each
    value's growth from one to two rows is its size per row; values that do not grow
    (weights, constants) do not count. Computed once per model; the input elements when
    the model cannot be traced so (unknown shapes).
    """
    if fn in _ACTIVATIONS:
        return _ACTIVATIONS[fn]
    size = row_elements(fn)
    if all(s.shape is not None for s in fn.inputs):
        try:
            one, two = (_value_sizes(jax.make_jaxpr(fn.apply_flat)(
                fn.params, _example_batch(fn.inputs, fn.structure, b)).jaxpr)
                for b in (1, 2))
        except Exception:   # noqa: BLE001 - a hint for the batch size, never an error
            one = two = []
        if len(one) == len(two):
            size = max([size] + [b - a for a, b in zip(one, two)])
    _ACTIVATIONS[fn] = size
    return size


def _value_sizes(jaxpr: Any) -> list[int]:
    """Element counts of every value a jaxpr computes, nested jaxprs included, in order."""
    out: list[int] = []
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            out.append(int(np.prod(getattr(v.aval, "shape", ()) or (1,))))
        for p in eqn.params.values():
            for sub in (p if isinstance(p, (list, tuple)) else (p,)):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    out += _value_sizes(inner)
    return out


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

