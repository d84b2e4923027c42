"""``export``: anything xaicore accepts as a model -> ``ModelFn``."""
from __future__ import annotations

import os
import pathlib
import sys
from typing import Any, Sequence

from .._errors import ExportError
from ._keras import export_keras_jax, is_keras_model, layer_names
from ._modelfn import ModelFn, from_jax


def _keras_backend() -> str:
    import keras

    return keras.backend.backend()


def _load_keras_file(path: pathlib.Path, safe_mode: bool) -> Any:
    if not path.exists():
        raise ExportError(f"model: file not found: '{path}'")
    if path.is_dir() or path.suffix not in (".keras", ".h5", ".hdf5"):
        raise ExportError(f"model: '{path}' is not a Keras model file (expected a .keras "
                          "or .h5 file saved by model.save)")
    import keras

    try:
        return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as e:
        hint = (" (it holds a Lambda layer: pass safe_mode=False only if you trust the file)"
                if "safe_mode" in str(e) else "")
        raise ExportError(f"model: '{path}' could not be loaded as a Keras model{hint}: "
                          f"{type(e).__name__}: {e}") from e


def export(model: Any, *, layers: str | Sequence[str] | None = None,
           safe_mode: bool = True) -> ModelFn:
    """Export a model once to a pure JAX function.

    Args:
        model: A built Keras 3 model, a path (``str`` or ``pathlib.Path``) to a ``.keras``
            file, an existing :class:`ModelFn`, or a plain JAX callable ``f(x) -> y``.
            Models from a TensorFlow-backend Keras are exported in a JAX-backend
            subprocess (a few seconds; requires nothing beyond the install).
        layers: Name (or names) of intermediate layers whose outputs ``apply`` also
            returns, as ``(outputs, {name: activation})``.
        safe_mode: Passed to ``keras.saving.load_model``; ``False`` allows Lambda layers
            from files you trust.

    Returns:
        A :class:`ModelFn` whose outputs equal ``model.predict`` (float32 tolerance).

    Raises:
        ExportError: naming the argument, the layer and the way out.

    Example:
        >>> fn = xaicore.export(model)             # doctest: +SKIP
        >>> y = fn(X)                              # == model.predict(X)
    """
    layers = layer_names(layers)
    if isinstance(model, ModelFn):
        if layers and layers != model.layers:
            raise ExportError("layers: a ModelFn cannot be re-exported with other layers; "
                              "export the Keras model instead")
        return model
    if isinstance(model, (str, os.PathLike)):
        path = pathlib.Path(model).expanduser()
        os.environ.setdefault("KERAS_BACKEND", "jax")
        if "keras" in sys.modules and _keras_backend() != "jax":
            from ._tf_bridge import export_tf_model

            return _from_bridge(export_tf_model(_load_keras_file(path, safe_mode),
                                                layers=layers, safe_mode=safe_mode))
        return export_keras_jax(_load_keras_file(path, safe_mode), layers, "keras-file")
    if is_keras_model(model):
        if _keras_backend() == "jax":
            return export_keras_jax(model, layers)
        if not model.built:
            raise ExportError(f"model: '{model.name}' was never built: call it on a batch "
                              "or call model.build(input_shape) before exporting")
        from ._tf_bridge import export_tf_model

        return _from_bridge(export_tf_model(model, layers=layers))
    if hasattr(model, "predict") or hasattr(model, "fit"):
        raise ExportError(f"model: expected a Keras 3 model, a .keras path or a JAX callable, "
                          f"got {type(model).__module__}.{type(model).__name__} (xaicore "
                          "explains Keras/JAX models; wrap other models as a JAX function "
                          "with xaicore.from_jax)")
    if callable(model) and not isinstance(model, type):
        if layers:
            raise ExportError("layers: only Keras models have named layers")
        return from_jax(model)
    raise ExportError(f"model: expected a Keras 3 model, a .keras path or a JAX callable, "
                      f"got {type(model).__name__} {model!r:.60}")


def _from_bridge(b: Any) -> ModelFn:
    from ._specs import TensorSpec

    inputs = tuple(TensorSpec(n, tuple(s), str(d))
                   for n, s, d in zip(b.input_names, b.input_shapes, b.input_dtypes))
    outputs = tuple(TensorSpec(f"output_{i}" if len(b.output_shapes) > 1 else "output",
                               tuple(s), str(d))
                    for i, (s, d) in enumerate(zip(b.output_shapes, b.output_dtypes)))
    structure = "single" if len(inputs) == 1 else getattr(b, "structure", "tuple")
    return ModelFn(apply=b.apply, params=b.params, inputs=inputs, outputs=outputs,
                   structure=structure, layers=tuple(getattr(b, "layers", ()) or ()),
                   source="keras-tf", meta={"export_seconds": b.seconds})
