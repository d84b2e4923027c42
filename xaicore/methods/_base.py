"""What every attribution method shares: export once, validate, resolve the target."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_bool
from ..engine._batching import check_max_batch, default_max_batch, run_chunked
from ..engine._inputs import Prepared, column_names, row_elements, with_known_specs
from ..engine._targets import resolve_target
from ..exporting._export import export
from ..exporting._modelfn import ModelFn, shared_forward
from ..exporting._specs import batch_size


def check_output_names(names: Any, fn: ModelFn) -> list[str] | None:
    """The user's ``output_names`` (one string per model output), or ``None``."""
    if names is None:
        return None
    if isinstance(names, str) or not hasattr(names, "__len__"):
        raise InputError(f"output_names: expected a list of names (one per output), got "
                         f"{names!r}")
    out = [str(n) for n in names]
    if fn.outputs and len(out) != fn.n_outputs:
        raise InputError(f"output_names: expected {fn.n_outputs} names (the model has "
                         f"{fn.n_outputs} outputs), got {len(out)}")
    return out


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
        max_batch = check_max_batch(max_batch)
        progress = check_bool(progress, "progress", allow_none=True)
        self.fn = export(model)
        self.max_batch = max_batch
        self.progress = progress

    def _batch(self, fn: ModelFn) -> int:
        return self.max_batch or default_max_batch(row_elements(fn))

    def _forward(self) -> Any:
        """The jitted forward pass of ``target="predicted"``, built once per explainer (a
        new ``jax.jit`` per call would compile on every call)."""
        if getattr(self, "_jit_forward", None) is None:   # shared by the model's explainers
            self._jit_forward = shared_forward(self.fn)
        return self._jit_forward

    def _prepare(self, X: Any, target: Any) -> Prepared:
        columns = column_names(X)
        fn = with_known_specs(self.fn, X)
        x = fn.validate(X, "X")
        n = batch_size(x)
        predict = None
        if isinstance(target, str):
            def predict() -> np.ndarray:
                f = self._forward()
                return run_chunked(lambda part: f(fn.params, part), x, self._batch(fn))
        t = resolve_target(target, n, fn.n_outputs, predict)
        return Prepared(x=x, n=n, target=t, fn=fn, columns=columns)

    @staticmethod
    def _timer() -> float:
        return time.perf_counter()
