"""Explaining rows where they already live in Ray (``pip install xaicore[ray]``).

:class:`ExplainBatches` is a stateful transform for Ray Data: each worker builds it once
(exports the model, builds the explainer) and then explains batch after batch::

    ds = ray.data.read_parquet("rows.parquet")
    out = ds.map_batches(xaicore.ExplainBatches, concurrency=4, batch_size=1024,
                         fn_constructor_kwargs={"model": "model.keras",
                                                "background": background,
                                                "method": "kernelshap",
                                                "options": {"n_samples": 512}})

Each output batch is the input batch plus ``values``, ``base_values`` and, when one
output is explained per row, ``target``. The job engine's actors (``engine="ray"``) are
built the same way (:func:`build_worker`).
"""
from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Any

import numpy as np

from .._errors import InputError
from ._options import METHODS, build_explainer, check_method, check_options


def export_payload(payload: tuple[str, Any]) -> Any:
    """The ModelFn of what a job ships to a worker: ``("bytes", .keras file contents)``,
    ``("file", path)``, ``("keras", model)`` or ``("modelfn", fn)``."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    from ..exporting import export

    kind, obj = payload
    if kind == "bytes":
        with tempfile.TemporaryDirectory(prefix="xaicore-") as d:
            path = pathlib.Path(d) / "model.keras"
            path.write_bytes(obj)
            return export(path)
    if kind in ("file", "keras"):
        return export(obj)
    return obj


def build_worker(payload: tuple[str, Any], method: str, background: np.ndarray | None,
                 seed: int, options: dict) -> tuple[Any, Any]:
    fn = export_payload(payload)
    return fn, build_explainer(method, fn, background, seed, options, False)


class ExplainBatches:
    """``ds.map_batches(ExplainBatches, fn_constructor_kwargs={...})``: explains each batch.

    Args:
        model: A ``.keras`` path (readable by every worker), a Keras model or a ModelFn.
        background: Background rows (an array) for the methods that take one.
        method: One of ``xaicore.jobs.METHODS``.
        target: ``"predicted"``, an output index, or ``None``/``"all"`` (every output).
        seed: The method's seed. Noise methods (SmoothGrad, ...) draw the same noise for
            the same place in every batch: use :func:`xaicore.explain_dataset` to give
            each part its own.
        options: Further keyword arguments of the method.
        columns: The batch's feature columns (stacked in this order), or one column name
            holding whole rows; ``None``: every column (one column holding rows, or all of
            them stacked).
    """

    def __init__(self, model: Any, background: Any = None, *, method: str = "kernelshap",
                 target: Any = "predicted", seed: int = 0, options: dict | None = None,
                 columns: list[str] | str | None = None) -> None:
        method = check_method(method)
        options = check_options(method, dict(options or {}))
        if METHODS[method][1] and background is None:
            raise InputError(f"background: {method} needs background rows (an array)")
        if not METHODS[method][1] and background is not None:
            raise InputError(f"background: {method} takes no background")
        if isinstance(model, (str, os.PathLike)):
            payload: tuple[str, Any] = ("file", str(model))
        else:
            from ..exporting._modelfn import ModelFn

            payload = ("modelfn" if isinstance(model, ModelFn) else "keras", model)
        bg = None if background is None else np.asarray(background)
        if bg is not None and bg.dtype == np.float64:
            bg = bg.astype(np.float32)
        self.fn, self.explainer = build_worker(payload, method, bg, seed, options)
        self.target = None if target == "all" else target
        self.columns = columns

    def rows(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        cols = self.columns
        if isinstance(cols, str):
            return np.asarray(batch[cols])
        if cols is None:
            if len(batch) == 1 and np.asarray(next(iter(batch.values()))).ndim >= 2:
                return np.asarray(next(iter(batch.values())))
            cols = list(batch)
        missing = [c for c in cols if c not in batch]
        if missing:
            raise InputError(f"columns: the batch has no column {missing[0]!r}; it has: "
                             f"{', '.join(batch)}")
        return np.stack([np.asarray(batch[c]) for c in cols], axis=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = self.rows(batch)
        if x.dtype == np.float64:
            x = x.astype(np.float32)
        att = self.explainer.explain(x, target=self.target)
        out = dict(batch)
        out["values"], out["base_values"] = att.values, att.base_values
        if att.target is not None:
            out["target"] = np.asarray(att.target)
        return out
