"""What every attribution method shares: export once, validate, resolve the target."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..engine._batching import check_max_batch, default_max_batch, run_chunked
from .._errors import InputError
from ..exporting._export import export
from ..exporting._modelfn import ModelFn, output_specs
from ..exporting._specs import TensorSpec, batch_size
from ..engine._targets import resolve_target


@dataclass(frozen=True)
class Prepared:
    """Validated inputs of one ``explain`` call."""

    x: Any                    # validated NumPy inputs (array, tuple or dict)
    n: int                    # rows
    target: np.ndarray | None  # one output index per row, or None for all outputs
    fn: ModelFn               # the model, with output specs known


def row_elements(fn: ModelFn) -> int:
    """Number of input elements of one row (all inputs together)."""
    total = 0
    for spec in fn.inputs:
        total += int(np.prod([d or 1 for d in (spec.shape or (1,))]))
    return max(total, 1)


def with_known_specs(fn: ModelFn, x: Any) -> ModelFn:
    """Fill in the specs of a plain JAX callable from a real batch."""
    if fn.inputs[0].shape is None:
        a = np.asarray(x)
        if a.ndim < 1:
            raise InputError("X: expected an array with a batch axis, got a scalar")
        spec = TensorSpec(fn.inputs[0].name, tuple(a.shape[1:]), fn.inputs[0].dtype)
        fn = ModelFn(apply=fn.apply, params=fn.params, inputs=(spec,), source=fn.source)
    if not fn.outputs:
        fn = fn.with_outputs(output_specs(fn.apply, fn.params, fn.inputs, fn.structure,
                                          fn.layers))
    return fn


def select(y: jax.Array, target: jax.Array | None) -> jax.Array:
    """Pick one output per row (``target`` int[n]) or keep all: ``[n]`` or ``[n, O]``."""
    if target is None:
        return y
    return jnp.take_along_axis(y, target[:, None], axis=1)[:, 0]


class Method:
    """Base of the method facades: holds the exported model and the memory knob.

    Args:
        model: Anything :func:`xaicore.export` accepts.
        max_batch: Model rows per device call (bounds device memory of every method).
        progress: Show a progress bar (``None``: only for long calls, if tqdm is there).
    """

    name = "Method"

    def __init__(self, model: Any, *, max_batch: int | None = None,
                 progress: bool | None = None) -> None:
        self.fn = export(model)
        self.max_batch = check_max_batch(max_batch)
        self.progress = progress

    def _batch(self, fn: ModelFn) -> int:
        return self.max_batch or default_max_batch(row_elements(fn))

    def _prepare(self, X: Any, target: Any) -> Prepared:
        fn = with_known_specs(self.fn, X)
        x = fn.validate(X, "X")
        n = batch_size(x)
        predict = None
        if isinstance(target, str):
            def predict() -> np.ndarray:
                f = jax.jit(fn.apply_flat)
                return run_chunked(lambda part: f(fn.params, part), x, self._batch(fn))
        t = resolve_target(target, n, fn.n_outputs, predict)
        return Prepared(x=x, n=n, target=t, fn=fn)

    @staticmethod
    def _timer() -> float:
        return time.perf_counter()
