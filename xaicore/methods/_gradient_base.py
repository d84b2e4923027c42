"""What the gradient method facades share: the batch default, baselines, the result."""
from __future__ import annotations

from typing import Any

import jax
import numpy as np

from .._errors import InputError, describe
from ..engine._inputs import Prepared, model_batch
from ..exporting._modelfn import ModelFn
from ..results._attribution import Attribution

tmap = jax.tree_util.tree_map


class GradientBatch:
    """Mixin for :class:`Method` facades: the default ``max_batch`` of gradient methods."""

    max_batch: int | None

    def _batch(self, fn: ModelFn, x: Any = None) -> int:
        return self.max_batch or model_batch(fn, x, gradient=True)


def by_input(tree: Any, fn: ModelFn) -> list[tuple[str, Any]]:
    """``(name, leaf)`` pairs in the model's input order (dicts are not sorted)."""
    names = fn.input_names
    if fn.structure == "dict":
        return [(n, tree[n]) for n in names]
    if fn.structure == "tuple":
        return list(zip(names, tree))
    return [(names[0], tree)]


def row_sums(tree: Any, all_outputs: bool) -> np.ndarray:
    """Sum of every row's attributions over all inputs: ``[n]`` or ``[n, O]``."""
    def one(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.float64)
        if all_outputs:
            return a.reshape(a.shape[0], -1, a.shape[-1]).sum(axis=1)
        return a.reshape(a.shape[0], -1).sum(axis=1)
    return sum(one(a) for a in jax.tree_util.tree_leaves(tree))


def reference(value: Any, x: Any, fn: ModelFn, arg: str) -> Any:
    """Broadcast a baseline to the rows of ``x``: ``None`` (zeros), a scalar, one row
    (``[...]`` or ``[1, ...]``) or one per row (``[n, ...]``), per input.

    Raises:
        InputError: naming ``arg``, the shapes accepted and the one given.
    """
    if value is None:
        return tmap(np.zeros_like, x)
    names = fn.input_names
    xs = [xi for _, xi in by_input(x, fn)]
    if fn.structure == "single":
        vals = [value]
    elif isinstance(value, dict):
        extra = [k for k in value if k not in names]
        if extra:
            raise InputError(f"{arg}: unexpected keys {extra}; the inputs are {list(names)}")
        vals = [value.get(k) for k in names]
    elif isinstance(value, (tuple, list)):
        if len(value) != len(names):
            raise InputError(f"{arg}: expected one baseline per input {list(names)}, got "
                             f"{len(value)}")
        vals = list(value)
    else:
        vals = [value] * len(names)
    labels = [arg] if fn.structure == "single" else [f"{arg}[{k!r}]" for k in names]
    pairs = list(zip(labels, vals, xs))
    out = []
    for name, v, xi in pairs:
        xi = np.asarray(xi)
        if v is None:
            out.append(np.zeros_like(xi))
            continue
        try:
            a = np.asarray(v, dtype=xi.dtype)
        except (TypeError, ValueError) as e:
            raise InputError(f"{name}: could not be read as a float array: {e}") from None
        row = xi.shape[1:]
        if a.shape == row or a.ndim == 0 or (a.ndim == xi.ndim and a.shape[0] == 1
                                             and a.shape[1:] == row):
            a = np.broadcast_to(a.reshape((1, *row)) if a.ndim else a, xi.shape)
        elif a.shape != xi.shape:
            dims = ", ".join(map(str, row))
            raise InputError(f"{name}: expected a scalar, one row [{dims}] or one per row "
                             f"[{xi.shape[0]}, {dims}], got {describe(a)}")
        if not np.all(np.isfinite(a)):
            raise InputError(f"{name}: contains NaN or inf")
        out.append(np.ascontiguousarray(a))
    if fn.structure == "dict":
        return dict(zip(names, out))
    return tuple(out) if fn.structure == "tuple" else out[0]


def _columns(prep: Prepared, data: Any) -> list[str] | None:
    """A DataFrame X's column names, when each column is one feature of a tabular input."""
    cols = prep.columns
    return cols if cols and np.ndim(data) == 2 and len(cols) == np.shape(data)[1] else None


def attribution(name: str, prep: Prepared, values: Any, base: np.ndarray,
                stats: dict, params: dict, stderr: Any = None) -> Attribution:
    """An :class:`Attribution` from per-input pytrees.

    ``values`` (and ``stderr``) hold the first input's attributions; for multi-input models
    every input's attributions are also in ``stats["values_<input name>"]`` (and
    ``stats["stderr_<input name>"]``).
    """
    fn = prep.fn
    pairs = by_input(values, fn)
    se_pairs = by_input(stderr, fn) if stderr is not None else []
    if len(pairs) > 1:
        stats.update({f"values_{k}": np.asarray(v) for k, v in pairs})
        stats.update({f"stderr_{k}": np.asarray(v) for k, v in se_pairs})
    if se_pairs:
        stats["stderr"] = np.asarray(se_pairs[0][1])
    data = by_input(prep.x, fn)[0][1]
    if prep.target is not None and np.ndim(base) == 2:
        base = base[np.arange(prep.n), prep.target]
    return Attribution(values=np.asarray(pairs[0][1]), base_values=np.asarray(base),
                       data=np.asarray(data), method=name, feature_names=_columns(prep, data),
                       output_names=list(fn.output_names), target=prep.target,
                       params=params, stats=stats)

