"""Keras 3 (JAX backend) model -> ``ModelFn`` through ``stateless_call``."""
from __future__ import annotations

import re
import sys
import types
import weakref
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from .._errors import ExportError
from ._capture import LOCK, Tapped, tapped
from ._modelfn import ModelFn, output_specs
from ._specs import TensorSpec

# Layers that cannot enter a JAX function, and what to do instead.
_UNSUPPORTED = {
    "TextVectorization": "string inputs cannot enter a JAX function: vectorize the text "
                         "first and export the model that takes the integer ids",
    "StringLookup": "string inputs cannot enter a JAX function: look the strings up first "
                    "and export the model that takes the integer ids",
    "Hashing": "hash the raw inputs before the model and export the rest",
    "TFSMLayer": "a TensorFlow SavedModel layer runs only on TensorFlow: rebuild the model "
                 "in Keras 3 layers",
}


def is_keras_model(obj: Any) -> bool:
    """True for a Keras 3 model, without importing Keras if the user has not."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, keras.Model)


def layer_names(layers: Any) -> tuple[str, ...]:
    """The ``layers=`` argument as a tuple of names: one name, or a sequence of names."""
    if layers is None:
        return ()
    if isinstance(layers, str):
        return (layers,)
    try:
        names = tuple(layers)
    except TypeError:
        raise ExportError(f"layers: expected a layer name or a list of layer names, got "
                          f"{type(layers).__name__} {layers!r:.60}") from None
    for name in names:
        if not isinstance(name, str):
            raise ExportError(f"layers: expected layer names (str), got "
                              f"{type(name).__name__} {name!r:.60}")
    return names


def check_layer_names(model: Any, layers: Sequence[str]) -> None:
    """Refuse a name that is not a layer of the model (``outer/inner`` inside nested
    graph models)."""
    from ._capture import check_paths

    check_paths(model, layers)


def _all_layers(model: Any) -> list:
    out, stack = [], list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        out.append(layer)
        stack.extend(getattr(layer, "layers", []) or [])
    return out


def _check_layers(model: Any) -> None:
    for layer in _all_layers(model):
        why = _UNSUPPORTED.get(type(layer).__name__)
        if why:
            raise ExportError(f"model: layer '{layer.name}' ({type(layer).__name__}) cannot be "
                              f"exported to JAX: {why}")


# Names Keras makes up for an Input the user did not name (reloaded: the layer's name).
_AUTO_NAME = re.compile(r"^(keras_tensor|input_layer)(_\d+)?$")


def input_names(tensors: Sequence[Any]) -> list[str]:
    """The inputs' names as the user gave them to ``keras.Input(name=)``; otherwise
    ``x`` for a single input and ``input_<i>`` for several (not ``keras_tensor_22``)."""
    names = [str(getattr(t, "name", "") or "") for t in tensors]
    default = ["x"] if len(names) == 1 else [f"input_{i}" for i in range(len(names))]
    return [d if not n or _AUTO_NAME.match(n) else n for n, d in zip(names, default)]


def _id_ranges(model: Any) -> dict[int, int]:
    """``{id(input tensor): input_dim}`` of the integer inputs an Embedding layer reads
    directly (the smallest ``input_dim`` where several do): the ids they accept."""
    out: dict[int, int] = {}
    for layer in _all_layers(model):
        if type(layer).__name__ != "Embedding":
            continue
        try:
            t = layer.input
        except (AttributeError, ValueError):  # not called, or called more than once
            continue
        dim = int(layer.input_dim)
        out[id(t)] = min(dim, out.get(id(t), dim))
    return out


def _input_specs(model: Any) -> tuple[tuple[TensorSpec, ...], str]:
    inputs = getattr(model, "_inputs_struct", None)
    try:
        tensors = model.inputs
    except (AttributeError, ValueError):
        tensors = None
    if not tensors:
        raise ExportError(
            f"model: '{model.name}' has no symbolic inputs (a subclassed model called "
            "without an Input): wrap it, e.g. keras.Model(inp := keras.Input(shape), "
            "model(inp)), or use xaicore.from_jax")
    ranges = _id_ranges(model)
    specs = tuple(TensorSpec(name, tuple(t.shape[1:]), str(t.dtype), ranges.get(id(t)))
                  for name, t in zip(input_names(tensors), tensors))
    if len(tensors) == 1:
        return specs, "single"
    if isinstance(inputs, dict):
        specs = tuple(TensorSpec(str(k), tuple(v.shape[1:]), str(v.dtype),
                                 ranges.get(id(v)))
                      for k, v in inputs.items())
        return specs, "dict"
    return specs, "tuple"


def _offending_layer(tb: types.TracebackType | None) -> str | None:
    """The innermost Keras layer on a traceback (to name it in export errors)."""
    keras = sys.modules.get("keras")
    found = None
    while tb is not None and keras is not None:
        obj = tb.tb_frame.f_locals.get("self")
        if isinstance(obj, keras.layers.Layer) and not isinstance(obj, keras.Model):
            found = f"'{obj.name}' ({type(obj).__name__})"
        tb = tb.tb_next
    return found


#: model -> (its variables' shapes and specs, ``apply``, output specs): re-exports of an
#: unchanged model reuse one ``apply`` (and with it the compiled steps kept on it: see
#: :func:`xaicore.exporting._modelfn.shared_steps`) and skip tracing its outputs again; the
#: weights are copied afresh every time. ``apply`` holds its model weakly (the ModelFn
#: holds it), so the entry goes with the model.
_APPLY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def export_keras_jax(model: Any, layers: str | Sequence[str] | None = None,
                     source: str = "keras-jax", *, scores: Sequence[str] = ()) -> ModelFn:
    """Export a built Keras 3 model living in a JAX-backend process.

    The variables are copied (Keras donates its buffers to later ``predict``/``fit``
    calls), and the model runs through ``stateless_call(..., training=False)``, so Dropout
    is off and BatchNormalization uses its moving statistics. With ``layers`` (or, for
    :func:`xaicore.attention`, ``scores``: MultiHeadAttention layers whose attention
    weights are captured instead of their outputs) ``apply`` returns ``(outputs,
    {name: tensor})``, and ``apply_at`` / ``head`` are set (see :class:`ModelFn`).
    """
    if not model.built:
        raise ExportError(f"model: '{model.name}' was never built: call it on a batch or "
                          "call model.build(input_shape) before exporting")
    layers = layer_names(layers)
    _check_layers(model)
    inputs, structure = _input_specs(model)
    captures = (*layers, *scores)
    tap = tapped(model, layers, scores) if captures else None
    target = tap.model if tap else model

    def copy(vs: list) -> list:
        return [jnp.array(v.value, copy=True) for v in vs]

    params = (copy(target.trainable_variables), copy(target.non_trainable_variables))
    key = (tuple((tuple(p.shape), str(p.dtype)) for p in jax.tree_util.tree_leaves(params)),
           inputs, structure)
    known = None if captures else _APPLY.get(model)
    if known is not None and known[0] == key:   # the same apply: shared compiles
        _, apply, outputs = known
    else:
        apply, outputs = _traced_apply(model, target, tap, captures, params, inputs,
                                       structure)
        if not captures:
            _APPLY[model] = (key, apply, outputs)
    extra = _layer_access(tap, apply, model.name) if tap else {}
    return ModelFn(apply=apply, params=params, inputs=inputs, outputs=outputs,
                   structure=structure, layers=captures, source=source,
                   meta={"model_name": model.name}, owner=model, **extra)


def _traced_apply(model: Any, target: Any, tap: Tapped | None, captures: tuple,
                  params: Any, inputs: tuple, structure: str) -> tuple[Any, tuple]:
    """``apply(params, x)`` of ``target`` and its output specs (traced once). Without
    captures it holds the model weakly: it is cached for re-exports, which must not keep
    the model alive (each ModelFn holds it)."""
    held = (lambda t=target: t) if captures else weakref.ref(target)   # no strong cell

    def apply(params: Any, x: Any) -> Any:
        trainable, non_trainable = params
        m = held()
        if m is None:
            raise ExportError("model: the Keras model of this exported function was "
                              "deleted; keep the ModelFn (it keeps its model alive)")
        y, _ = m.stateless_call(trainable, non_trainable, x, training=False)
        if captures:
            outs, acts = y
            y = (outs[0] if len(outs) == 1 else outs, dict(zip(tap.keys, acts)))
        return y

    try:
        return apply, output_specs(apply, params, inputs, structure, captures)
    except ExportError:
        raise
    except Exception as e:
        where = _offending_layer(e.__traceback__)
        at = f" at layer {where}" if where else ""
        raise ExportError(f"model: '{model.name}' could not be traced as a JAX function{at}: "
                          f"{type(e).__name__}: {e}") from e


def _layer_access(tap: Tapped, apply: Any, name: str) -> dict:
    """``apply_at`` (the model with shifted layer outputs) and ``head`` (the model from a
    layer's output on) of a model exported with captured layers."""
    def apply_at(params: Any, x: Any, shift: dict) -> Any:
        for key in shift:
            if key not in tap.taps:
                raise ExportError(f"shift: {key!r} is not a captured layer output; the "
                                  f"captured layers are {list(tap.taps)}")
        with LOCK:
            old = {k: tap.taps[k].value for k in shift}
            try:
                for k, v in shift.items():
                    tap.taps[k].value = v
                return apply(params, x)
            finally:
                for k, v in old.items():
                    tap.taps[k].value = v

    def head(layer: str) -> ModelFn:
        import keras

        if layer not in tap.taps:
            raise ExportError(f"layer: {layer!r} is not a captured layer output; the "
                              f"captured layers are {list(tap.taps)}")
        try:
            cut = keras.Model(tap.tensors[layer], tap.outputs, name=f"{name}_head")
        except Exception as e:
            raise ExportError(f"layer: the model cannot be cut at {layer!r}: later layers "
                              f"also read tensors from before it (a skip connection): "
                              f"{e}") from e
        return export_keras_jax(cut)

    return {"apply_at": apply_at, "head": head}
