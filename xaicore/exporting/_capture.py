"""Intermediate tensors of a Keras model: layer paths, and a model that also returns them.

The model's graph is re-run with ``keras.models.clone_model`` on the *same* layers (the
weights are shared, nothing is copied or rebuilt): its public ``call_function`` hook sees
every layer call of the graph, so the tensors captured are those the model's outputs
depend on, whichever node of a layer an earlier build or a reload left first (a
Sequential model loaded from a ``.keras`` file holds several). Nested graph models
(functional or Sequential) are entered the same way, so ``"encoder/dense_1"`` reaches a
layer inside the model ``encoder``.

Each captured layer output passes through a *tap*: the identity, except while
``apply_at`` evaluates the model with a shift, when the tap adds it. That is how the layer
methods take gradients w.r.t. a layer's output (the shift at 0) and evaluate the model at
another activation, on any graph (skip connections included) and on a ``ModelFn``.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._errors import ExportError

#: Serialises the trace-time shifts of the taps (a trace of one thread at a time).
LOCK = threading.RLock()


class Slot:
    """The shift a tap adds while a trace of ``apply_at`` runs (``None``: identity)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = None


def _tap_class() -> type:
    import keras

    global _TAP
    if _TAP is None:
        class XaicoreTap(keras.layers.Layer):
            """Identity in the graph; adds ``slot.value`` while xaicore evaluates a shift."""

            def __init__(self, slot: Slot, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self._slot = slot

            def call(self, x: Any) -> Any:
                shift = self._slot.value
                return x if shift is None else x + shift

            def compute_output_shape(self, shape: Any) -> Any:
                return shape

        _TAP = XaicoreTap
    return _TAP


_TAP = None
_SCORES = None


def _scores_class() -> type:
    """A layer that calls a MultiHeadAttention layer (its own weights) with
    ``return_attention_scores=True``. A new layer, because Keras counts a layer's outputs
    by its first call, which returned the attention output alone."""
    import keras

    global _SCORES
    if _SCORES is None:
        class XaicoreAttentionScores(keras.layers.Layer):
            def __init__(self, attention: Any, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.attention = attention

            def call(self, *args: Any, **kwargs: Any) -> Any:
                return self.attention(*args, **{**kwargs, "return_attention_scores": True})

            def compute_output_spec(self, *args: Any, **kwargs: Any) -> Any:
                return self.attention.compute_output_spec(
                    *args, **{**kwargs, "return_attention_scores": True})

        _SCORES = XaicoreAttentionScores
    return _SCORES


def is_graph_model(layer: Any) -> bool:
    """A functional or Sequential model (a graph of layers); subclassed models are not."""
    import keras

    if isinstance(layer, keras.Sequential):
        return True
    try:
        from keras.src.models.functional import Functional
    except ImportError:   # pragma: no cover - a later Keras
        return type(layer).__name__ == "Functional"
    return isinstance(layer, Functional)


def _is_input(layer: Any) -> bool:
    return type(layer).__name__ == "InputLayer"


def layer_paths(model: Any, prefix: str = "") -> list[str]:
    """Every layer's path, in the model's order: ``name`` at the top, ``outer/inner``
    inside nested graph models (which are listed themselves before their layers)."""
    out = []
    for layer in model.layers:
        if _is_input(layer):
            continue
        path = prefix + layer.name
        out.append(path)
        if is_graph_model(layer):
            out += layer_paths(layer, path + "/")
    return out


def leaf_paths(model: Any) -> list[str]:
    """The paths of :func:`layer_paths` without the nested models themselves."""
    nested = set()
    for path in layer_paths(model):
        if "/" in path:
            nested.add(path.rpartition("/")[0])
    return [p for p in layer_paths(model) if p not in nested]


def find_layer(model: Any, path: str) -> Any:
    layer = model
    for name in path.split("/"):
        layer = {sub.name: sub for sub in layer.layers}[name]
    return layer


def check_paths(model: Any, paths: Sequence[str], arg: str = "layers") -> None:
    """Refuse a name that is not a layer (or a ``outer/inner`` path) of the model."""
    known = layer_paths(model)
    for path in paths:
        if path not in known:
            inner = [p for p in known if p.rpartition("/")[2] == path and p != path]
            hint = f" (inside a nested model: {inner[0]!r})" if inner else ""
            raise ExportError(f"{arg}: no layer named {path!r} in model '{model.name}'"
                              f"{hint}; its layers are {known}")


@dataclass
class Tapped:
    """A Keras model returning ``[outputs, [captures]]``, and what it captured."""

    model: Any
    keys: list[str]                       # capture order of the second output
    taps: dict[str, Slot] = field(default_factory=dict)
    tensors: dict[str, Any] = field(default_factory=dict)   # key -> symbolic capture
    outputs: Any = None                   # the symbolic model outputs


def _as_functional(model: Any) -> Any:
    import keras

    if isinstance(model, keras.Sequential):
        return keras.Model(model.inputs, model.outputs, name=model.name)
    return model


def _graph_with_captures(model: Any, wants: dict[str, str], prefix: str,
                         taps: dict[str, Slot]) -> tuple[Any, list[str], dict, Any]:
    """Clone ``model``'s graph on its own layers, capturing ``wants`` (path relative to
    ``model`` -> ``"output"`` or ``"scores"``). Returns ``(model returning [outputs,
    [captures]], keys, {key: tensor}, outputs)``."""
    import keras

    captured: dict[str, Any] = {}
    nested: dict[int, tuple[Any, list[str]]] = {}   # id(new model) -> (model, its keys)
    here = {p: k for p, k in wants.items() if "/" not in p}
    inner: dict[str, dict[str, str]] = {}
    for p, k in wants.items():
        if "/" in p:
            head, _, rest = p.partition("/")
            inner.setdefault(head, {})[rest] = k

    def clone_function(layer: Any) -> Any:
        if layer.name in inner and is_graph_model(layer):
            sub, keys, _, _ = _graph_with_captures(layer, inner[layer.name],
                                                   prefix + layer.name + "/", taps)
            nested[id(sub)] = (sub, keys)
            return sub
        return layer

    def record(key: str, value: Any) -> None:
        if key in captured:
            raise ExportError(f"layers: {key!r} is called more than once in the model (a "
                              "shared layer): its output is not one tensor")
        captured[key] = value

    def call_function(layer: Any, *args: Any, **kwargs: Any) -> Any:
        kind = here.get(layer.name)
        if kind == "scores":
            if type(layer).__name__ != "MultiHeadAttention" and \
                    not hasattr(layer, "_compute_attention"):
                raise ExportError(f"layers: {prefix + layer.name!r} is a "
                                  f"{type(layer).__name__} layer, not MultiHeadAttention")
            kwargs = {k: v for k, v in kwargs.items() if k != "return_attention_scores"}
            proxy = _scores_class()(layer, name=f"xaicore_scores_{layer.name}")
            out, scores = proxy(*args, **kwargs)
            record(prefix + layer.name, scores)
            return out
        if id(layer) in nested:
            out, caps = layer(*args, **kwargs)
            for key, value in zip(nested[id(layer)][1], caps):
                record(key, value)
        else:
            out = layer(*args, **kwargs)
        if kind == "output":
            key = prefix + layer.name
            record(key, out)
            if isinstance(out, keras.KerasTensor):
                slot = Slot()
                taps[key] = slot
                out = _tap_class()(slot, name=f"xaicore_tap_{len(taps)}")(out)
        return out

    clone = keras.models.clone_model(_as_functional(model), clone_function=clone_function,
                                     call_function=call_function)
    keys = [prefix + p for p in wants]
    for key in keys:
        if key not in captured:
            raise ExportError(f"layers: {key!r} is not called on the way from the model's "
                              "inputs to its outputs")
    tensors = [captured[k] for k in keys]
    # the top level returns its outputs as a list (as the export expects), a nested model
    # as the layer it replaces does (one tensor, or its own structure)
    outputs = clone.outputs if not prefix else clone.output
    inputs = clone.inputs[0] if len(clone.inputs) == 1 else clone.input
    return (keras.Model(inputs, [outputs, tensors], name=model.name), keys, captured,
            clone.outputs)


def tapped(model: Any, outputs: Sequence[str] = (), scores: Sequence[str] = ()) -> Tapped:
    """``model`` re-run on its own layers, also returning the outputs of the layers at
    ``outputs`` and the attention scores of the MultiHeadAttention layers at ``scores``
    (paths as :func:`layer_paths` gives them), in that order.

    Raises:
        ExportError: a path names no layer, a shared layer, or a ``scores`` path a layer
            that is not MultiHeadAttention.
    """
    check_paths(model, [*outputs, *scores])
    wants = {**{p: "output" for p in outputs}, **{p: "scores" for p in scores}}
    taps: dict[str, Slot] = {}
    built, keys, tensors, outs = _graph_with_captures(model, wants, "", taps)
    return Tapped(model=built, keys=keys, taps=taps, tensors=tensors, outputs=outs)


__all__ = ["LOCK", "Slot", "Tapped", "check_paths", "find_layer", "is_graph_model",
           "layer_paths", "leaf_paths", "tapped"]
