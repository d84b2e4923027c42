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
from ._batching import default_max_batch


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


_ACTIVATIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def row_activations(fn: ModelFn, x: Any = None) -> int | None:
    """Elements of the largest intermediate value one row creates in the forward pass
    (e.g. ``L x 64`` for a ``Conv1D(64)`` over ``L`` embedded tokens): how much of the
    cache a row of the model takes, which its input size alone does not tell.

    Read from the forward pass traced abstractly at batches 1 and 2 (no FLOPs): each
    value's growth from one to two rows is its size per row; values that do not grow
    (weights, constants) do not count. The rows' shapes are ``x``'s when given (a model of
    free length, ``Input((None,))``, is traced at the call's length), else the input
    specs'. Computed once per model and row shape; ``None`` off CPU (only the CPU call
    sizes use it) and the input elements when the model cannot be traced so.
    """
    sizes = _activation_sizes(fn, x)
    return None if sizes is None else sizes[0]


def row_activation_total(fn: ModelFn, x: Any = None) -> int | None:
    """Elements of all the intermediate values one row creates in the forward pass (as
    :func:`row_activations` reads them, summed): what a backward pass keeps alive per row,
    the working set of a gradient call. ``None`` off CPU."""
    sizes = _activation_sizes(fn, x)
    return None if sizes is None else sizes[1]


def _activation_sizes(fn: ModelFn, x: Any) -> tuple[int, int] | None:
    """``(largest, total)`` elements per row of the forward pass's values (cached)."""
    if jax.default_backend() != "cpu":
        return None
    rows = _row_structs(fn, x)
    if rows is None:
        return row_elements(fn), row_elements(fn)
    key = tuple((r.shape, str(r.dtype)) for r in jax.tree_util.tree_leaves(rows))
    known = _ACTIVATIONS.setdefault(fn, {})
    if key in known:
        return known[key]
    size = max(1, sum(int(np.prod(r.shape)) for r in jax.tree_util.tree_leaves(rows)))
    try:
        one, two = (_value_sizes(jax.make_jaxpr(fn.apply_flat)(fn.params, jax.tree_util.tree_map(
            lambda r, b=b: jax.ShapeDtypeStruct((b, *r.shape), r.dtype), rows)).jaxpr)
            for b in (1, 2))
    except Exception:   # noqa: BLE001 - a hint for the batch size, never an error
        one = two = []
    growth = [b - a for a, b in zip(one, two)] if len(one) == len(two) else []
    known[key] = (max([size] + growth), size + sum(g for g in growth if g > 0))
    return known[key]


def model_batch(fn: ModelFn, x: Any = None, **kw: Any) -> int:
    """:func:`~xaicore.engine._batching.default_max_batch` for the rows of ``fn`` (shaped
    as ``x``'s where given): its input elements and its largest activation per row (and,
    for gradient calls, all its activations per row)."""
    leaves = jax.tree_util.tree_leaves(x) if x is not None else []
    key = ("batch", tuple((np.shape(a)[1:], getattr(a, "dtype", None)) for a in leaves),
           tuple(sorted(kw.items())), jax.default_backend())
    known = _ACTIVATIONS.setdefault(fn, {})
    if key not in known:   # per call it was ~0.1 ms of a small model's 0.5 ms saliency call
        if kw.get("gradient"):
            kw["activation_total"] = row_activation_total(fn, x)
        known[key] = default_max_batch(row_elements(fn), activations=row_activations(fn, x),
                                       **kw)
    return known[key]


def _row_structs(fn: ModelFn, x: Any) -> Any:
    """One row's ``ShapeDtypeStruct`` per input (a pytree like the model's inputs), from
    ``x`` where given, else from the specs; ``None`` when a row shape is unknown."""
    if x is not None:
        try:
            return jax.tree_util.tree_map(
                lambda a: jax.ShapeDtypeStruct(np.shape(a)[1:], np.asarray(a).dtype), x)
        except Exception:  # noqa: BLE001
            return None
    if any(s.shape is None or None in s.shape for s in fn.inputs):
        return None
    rows = _example_batch(fn.inputs, fn.structure, 1)
    return jax.tree_util.tree_map(lambda r: jax.ShapeDtypeStruct(r.shape[1:], r.dtype), rows)


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

