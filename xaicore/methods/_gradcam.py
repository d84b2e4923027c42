"""Layer methods: intermediate activations, Grad-CAM and layer integrated gradients.

A Keras model is split at a named layer into a *body* (``export(model, layers=[name])``,
which also returns the layer's output) and a *head* (``keras.Model(layer.output,
model.output)``, exported on its own), so gradients w.r.t. the layer's output are
gradients of the head: no patching of Keras internals.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ExportError, InputError
from ..engine._batching import default_max_batch, run_chunked
from ..engine._gradients import GradientEngine, check_finite, check_float_inputs
from ..engine._inputs import Prepared, row_elements
from ..exporting._export import export
from ..exporting._keras import export_keras_jax, is_keras_model
from ..exporting._modelfn import ModelFn
from ..results._attribution import Attribution
from ._base import Method
from ._gradient_base import GradientBatch, by_input, reference
from ._integrated_gradients import completeness_stats, integrated_gradients, quadrature


def _keras_model(model: Any, arg: str = "model") -> Any:
    """The Keras model (loading a ``.keras`` path); layer methods need the layer graph."""
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        import pathlib

        from ..exporting._export import _load_keras_file

        model = _load_keras_file(pathlib.Path(model).expanduser(), True)
    if not is_keras_model(model):
        raise ExportError(f"{arg}: layer methods need a Keras model (or a .keras path), got "
                          f"{type(model).__name__}")
    return model


def _layer_names(model: Any) -> list[str]:
    return [layer.name for layer in model.layers]


def _check_layer(model: Any, name: Any, arg: str) -> str:
    names = _layer_names(model)
    if not isinstance(name, str) or name not in names:
        raise ExportError(f"{arg}: no layer named {name!r} in model '{model.name}'; its "
                          f"layers are {names}")
    return name


def split(model: Any, layer: str) -> tuple[ModelFn, ModelFn]:
    """``(body, head)``: body returns ``(outputs, {layer: activation})``; head maps the
    layer's output to the model's outputs."""
    import keras

    model = _keras_model(model)
    _check_layer(model, layer, "layer")
    body = export(model, layers=[layer])
    functional = keras.Model(model.inputs, model.outputs) \
        if isinstance(model, keras.Sequential) else model
    try:
        head_model = keras.Model(functional.get_layer(layer).output, functional.outputs)
    except Exception as e:
        raise ExportError(f"layer: the model cannot be cut at '{layer}' (later layers also "
                          f"read earlier tensors, e.g. a skip connection): {e}") from e
    return body, export_keras_jax(head_model)


def activations(model: Any, X: Any, layers: Sequence[str], *,
                max_batch: int | None = None) -> dict[str, np.ndarray]:
    """Outputs of named intermediate layers for every row of ``X``, batched.

    Args:
        model: A Keras model or ``.keras`` path.
        X: Inputs ``[n, ...]`` (a tuple/dict for multi-input models).
        layers: Layer names.
        max_batch: Rows per device call.

    Returns:
        ``{name: array [n, ...]}``.

    Raises:
        ExportError: for a layer name the model does not have.
    """
    model = _keras_model(model)
    if isinstance(layers, str):
        layers = [layers]
    if not layers:
        raise InputError("layers: expected at least one layer name, got none")
    for name in layers:
        _check_layer(model, name, "layers")
    fn = export(model, layers=list(layers))
    x = fn.validate(X, "X")
    f = jax.jit(lambda p, part: fn.apply(p, part)[1])
    batch = max_batch or default_max_batch(row_elements(fn))
    return run_chunked(lambda part: f(fn.params, part), x, batch)


def _grads(head: ModelFn, params: Any, a: jax.Array, target: Any, all_outputs: bool
           ) -> tuple[jax.Array, jax.Array]:
    """``(d f_t / d a, bad)``: ``[K, r, ...]`` (K = outputs, or 1 with a target per row)
    and ``int32[r, 2]``, rows whose outputs, or (only) gradients, are not all finite."""
    y, vjp = jax.vjp(lambda z: head.apply_flat(params, z), a)
    if all_outputs:
        eye = jnp.eye(y.shape[1], dtype=y.dtype)[:, None, :]
        g = jax.vmap(vjp)(jnp.broadcast_to(eye, (y.shape[1], *y.shape)))[0]
    else:
        g = vjp(jax.nn.one_hot(target, y.shape[1], dtype=y.dtype))[0][None]
    bad_y = ~jnp.all(jnp.isfinite(y.reshape(y.shape[0], -1)), axis=1)
    bad_g = ~jnp.all(jnp.isfinite(jnp.moveaxis(g, 0, 1).reshape(y.shape[0], -1)), axis=1)
    return g, jnp.stack([bad_y, bad_g & ~bad_y], axis=1).astype(jnp.int32)


class GradCAM(GradientBatch, Method):
    """Grad-CAM (Selvaraju et al., 2017): channel weights = spatially averaged gradients
    of the target output w.r.t. a convolutional layer's output; the map is the ReLU of
    the weighted sum of channels, upsampled (bilinear) to the input's size.

    Args:
        model: A Keras model (channels-last feature maps) or ``.keras`` path.
        layer: Name of a convolutional layer (output ``[batch, H', W', C]``, or
            ``[batch, L', C]`` for 1-D inputs), usually the last one.
        max_batch: Rows per device call.

    Raises:
        ExportError: ``layer`` names no layer of the model, or the model cannot be cut
            there.
        InputError: ``layer``'s output is not a feature map like the input.
        NonFiniteError: (``explain``) the model's outputs or gradients are NaN or inf.
    """

    name = "GradCAM"

    def __init__(self, model: Any, *, layer: str, max_batch: int | None = None,
                 progress: bool | None = None) -> None:
        model = _keras_model(model)
        _check_layer(model, layer, "layer")
        act = tuple(model.get_layer(layer).output.shape[1:])
        spatial_in = tuple(model.inputs[0].shape[1:-1]) if len(model.inputs) == 1 else ()
        if not spatial_in or len(act) != len(spatial_in) + 1 \
                or any(d is None for d in spatial_in):
            shape_in = ", ".join(str(d) for d in model.inputs[0].shape[1:])
            raise InputError(f"layer: '{layer}' is not convolutional: its output is "
                             f"[batch, {', '.join(map(str, act))}], Grad-CAM needs a feature "
                             f"map [batch, *spatial, channels] of the same spatial rank as "
                             f"the (single) input [batch, {shape_in}]")
        self.body, self.head = split(model, layer)
        super().__init__(self.body, max_batch=max_batch, progress=progress)
        check_float_inputs(self.body)
        self.layer = layer
        self.out_size = tuple(int(d) for d in spatial_in)
        self._steps: dict[bool, Any] = {}

    def _step(self, all_outputs: bool) -> Any:
        if all_outputs not in self._steps:
            body, head, layer, size = self.body, self.head, self.layer, self.out_size

            def step(bp: Any, hp: Any, x: jax.Array, target: jax.Array) -> jax.Array:
                a = body.apply(bp, x)[1][layer]                       # [r, *s, C]
                g, bad = _grads(head, hp, a, target, all_outputs)     # [K, r, *s, C]
                axes = tuple(range(2, g.ndim - 1))
                w = g.mean(axis=axes)                                 # [K, r, C]
                cam = jax.nn.relu(jnp.einsum("kr...c,krc->kr...", a[None], w))
                cam = jax.image.resize(cam, (*cam.shape[:2], *size), "bilinear")
                return (jnp.moveaxis(cam, 0, -1) if all_outputs else cam[0]), bad

            self._steps[all_outputs] = jax.jit(step)
        return self._steps[all_outputs]

    @property
    def compiled(self) -> int:
        return sum(s._cache_size() for s in self._steps.values())

    def explain(self, X: Any, *, target: Any = None) -> Attribution:
        """Grad-CAM maps of each row of ``X``.

        Returns:
            An :class:`Attribution` with ``values`` ``[n, *input spatial shape]`` (and a
            trailing output axis when ``target`` is ``None``); ``base_values`` zeros.
        """
        t0 = time.perf_counter()
        prep = self._prepare(X, target)
        all_outputs = prep.target is None
        step = self._step(all_outputs)
        t = np.zeros(prep.n, np.int32) if all_outputs else prep.target.astype(np.int32)
        maps, bad = run_chunked(lambda part: step(self.body.params, self.head.params,
                                                  *part),
                                (prep.x, t), self._batch(prep.fn), progress=self.progress)
        check_finite(bad, 1)
        base = np.zeros((prep.n, prep.fn.n_outputs) if all_outputs else (prep.n,))
        stats = {"model_rows": prep.n, "compiles": self.compiled,
                 "seconds": time.perf_counter() - t0}
        return Attribution(values=maps, base_values=base, data=np.asarray(prep.x),
                           method=self.name, output_names=list(prep.fn.output_names),
                           target=prep.target, params={"layer": self.layer}, stats=stats)


class LayerIntegratedGradients(GradientBatch, Method):
    """Integrated gradients w.r.t. a layer's output: the path runs from the layer's
    activation at the baseline to its activation at ``x`` (captum's
    ``LayerIntegratedGradients``); completeness holds as for input IG.

    Args:
        model: A Keras model or ``.keras`` path.
        layer: Name of the layer.
        n_steps, method, baseline, max_batch: As in :class:`IntegratedGradients`
            (``baseline`` is in input space).
    """

    name = "LayerIntegratedGradients"

    def __init__(self, model: Any, *, layer: str, n_steps: int = 50,
                 method: str = "gausslegendre", baseline: Any = None,
                 max_batch: int | None = None, progress: bool | None = None) -> None:
        self.body, self.head = split(model, layer)
        super().__init__(self.body, max_batch=max_batch, progress=progress)
        quadrature(method, n_steps)
        self.layer, self.n_steps, self.method = layer, int(n_steps), method
        self.baseline = baseline
        self.engine = GradientEngine(self.head)
        self._act = jax.jit(lambda p, x: self.body.apply(p, x)[1][layer])

    def explain(self, X: Any, *, target: Any = None) -> Attribution:
        """Layer attributions ``[n, *layer shape]`` (+ trailing output axis for
        ``target=None``); ``stats`` as for :class:`IntegratedGradients`."""
        t0 = time.perf_counter()
        prep: Prepared = self._prepare(X, target)
        b = reference(self.baseline, prep.x, prep.fn, "baseline")
        batch = self._batch(prep.fn)

        def act(z: Any) -> np.ndarray:
            return run_chunked(lambda part: self._act(self.body.params, part), z, batch)
        ax, ab = act(prep.x), act(b)
        attr, p = integrated_gradients(self.engine, ax, ab, prep.target,
                                       n_steps=self.n_steps, method=self.method,
                                       max_batch=self._batch(self.head), progress=self.progress)
        fb, stats = completeness_stats(self.engine, attr, ax, ab, prep.target, batch,
                                       n_steps=self.n_steps, rows_per_call=p.model_rows,
                                       t0=t0)
        data = np.asarray(by_input(prep.x, prep.fn)[0][1])
        return Attribution(values=np.asarray(attr), base_values=fb, data=data,
                           method=self.name, output_names=list(prep.fn.output_names),
                           target=prep.target, params={"layer": self.layer,
                                                       "n_steps": self.n_steps,
                                                       "method": self.method}, stats=stats)


__all__ = ["GradCAM", "LayerIntegratedGradients", "activations", "split"]
