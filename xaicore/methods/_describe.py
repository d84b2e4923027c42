"""``describe(model)``: the per-layer table of a Keras model, and its weight histograms."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..exporting._capture import find_layer, leaf_paths
from ..results._plots_layers import plot_weight_histograms
from ._gradcam import _keras_model


def _output_shape(layer: Any) -> str:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):      # a shared layer, or never called
        return "?"
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return ", ".join(_shape(s) for s in shape)
    return _shape(shape)


def _shape(shape: Any) -> str:
    return "[" + ", ".join("n" if d is None else str(d) for d in shape) + "]"


class ModelDescription(list):
    """One dict per layer, in the model's order: ``name`` (``outer/inner`` in nested
    models), ``type``, ``output_shape``, ``params`` and ``weight_mean`` / ``weight_std`` /
    ``weight_min`` / ``weight_max`` over all the layer's weights (``None`` without any).
    ``print()`` shows it as a table; :meth:`plot` draws each layer's weight histogram."""

    def __init__(self, rows: list[dict], weights: list[tuple[str, np.ndarray]],
                 name: str) -> None:
        super().__init__(rows)
        self.weights = weights
        self.name = name

    @property
    def total_params(self) -> int:
        return int(sum(r["params"] for r in self))

    def __str__(self) -> str:
        heads = ["layer", "type", "output shape", "params", "mean", "std", "min", "max"]

        def num(v: Any) -> str:
            return "" if v is None else f"{v:.3g}"
        lines = [[r["name"], r["type"], r["output_shape"], f"{r['params']:,}",
                  num(r["weight_mean"]), num(r["weight_std"]), num(r["weight_min"]),
                  num(r["weight_max"])] for r in self]
        widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h)
                  for i, h in enumerate(heads)]
        right = {3, 4, 5, 6, 7}

        def fmt(cells: list[str]) -> str:
            return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
        rule = "-" * len(fmt(heads))
        return "\n".join([f"Model '{self.name}'", fmt(heads), rule, *map(fmt, lines), rule,
                          f"{self.total_params:,} parameters"])

    def __repr__(self) -> str:
        return str(self)

    def plot(self, *, bins: int = 40, columns: int = 3) -> Any:
        """A histogram of each layer's weights (layers with weights only). Returns the
        matplotlib Figure."""
        return plot_weight_histograms(self.weights, bins=bins, columns=columns)


def describe(model: Any) -> ModelDescription:
    """The per-layer table of a Keras model (or ``.keras`` path): name, type, output shape,
    parameter count and weight mean/std/min/max, nested models entered.

    Example:
        >>> print(xaicore.describe(model))            # doctest: +SKIP
        >>> xaicore.describe(model).plot()            # doctest: +SKIP
    """
    model = _keras_model(model)
    rows, weights = [], []
    for path in leaf_paths(model):
        layer = find_layer(model, path)
        arrays = [np.asarray(w, np.float64).ravel() for w in layer.get_weights()]
        flat = np.concatenate(arrays) if arrays else np.zeros(0)
        stats = ({"weight_mean": float(flat.mean()), "weight_std": float(flat.std()),
                  "weight_min": float(flat.min()), "weight_max": float(flat.max())}
                 if flat.size else dict.fromkeys(("weight_mean", "weight_std",
                                                  "weight_min", "weight_max")))
        rows.append({"name": path, "type": type(layer).__name__,
                     "output_shape": _output_shape(layer), "params": int(flat.size),
                     **stats})
        if flat.size:
            weights.append((path, flat))
    return ModelDescription(rows, weights, model.name)


def plot_weights(model: Any, *, bins: int = 40, columns: int = 3) -> Any:
    """``describe(model).plot()``: a histogram of each layer's weights."""
    return describe(model).plot(bins=bins, columns=columns)


__all__ = ["ModelDescription", "describe", "plot_weights"]
