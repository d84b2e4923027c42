"""Layer methods: intermediate activations, Grad-CAM and layer integrated gradients.

The model is exported with the layer captured (``export(model, layers=[name])``, or a
:class:`ModelFn` so exported is given): its ``apply`` returns the layer's output, its
``apply_at`` evaluates the model with that output shifted (Grad-CAM's gradients are those
w.r.t. the shift at 0, on any graph, skip connections included), and its ``head(name)``
is the model from the layer's output on (layer integrated gradients run on it). No Keras
internals are patched, and nothing is rebuilt by hand: a Sequential model loaded from a
``.keras`` file works as the one in memory.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ExportError, InputError
from ..engine._batching import check_max_batch, default_max_batch, run_chunked
from ..engine._gradients import GradientEngine, check_finite, check_float_inputs
from ..engine._inputs import Prepared, row_elements
from ..exporting._capture import leaf_paths
from ..exporting._export import export
from ..exporting._keras import is_keras_model
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
        raise ExportError(f"{arg}: layer methods need a Keras model, a .keras path or a "
                          f"ModelFn exported with layers=, got {type(model).__name__}")
    return model


def with_layers(model: Any, layers: Sequence[str], arg: str = "layer",
                shift: bool = True) -> ModelFn:
    """``model`` exported with ``layers`` captured (a Keras model or path), or the
    :class:`ModelFn` given when it captures them (and, with ``shift``, can shift them)."""
    if isinstance(model, ModelFn):
        missing = [n for n in layers if n not in model.layers]
        if missing or (shift and model.apply_at is None):
            how = (f"it captures {list(model.layers)}" if model.layers
                   else "it captures no layer")
            raise ExportError(f"model: a ModelFn needs to be exported from a Keras model with "
                              f"layers={list(layers)!r} for this ({how}): "
                              f"xaicore.export(model, layers={list(layers)!r})")
        return model
    for name in layers:
        if not isinstance(name, str):
            raise ExportError(f"{arg}: expected a layer name (str), got "
                              f"{type(name).__name__} {name!r:.60}")
    try:
        return export(_keras_model(model), layers=list(layers))
    except ExportError as e:
        msg = str(e)
        if msg.startswith("layers: ") and arg != "layers":
            raise ExportError(f"{arg}: " + msg[len("layers: "):]) from e.__cause__
        raise


def _capture_shape(fn: ModelFn, layer: str) -> tuple:
    from ..exporting._modelfn import _example_batch

    out = jax.eval_shape(fn.apply, fn.params, _example_batch(fn.inputs, fn.structure))
    return tuple(out[1][layer].shape[1:])


def activations(model: Any, X: Any, layers: str | Sequence[str] = "all", *,
                max_batch: int | None = None) -> dict[str, np.ndarray]:
    """Outputs of intermediate layers for every row of ``X``, batched.

    Args:
        model: A Keras model, a ``.keras`` path, or a ModelFn exported with ``layers=``.
        X: Inputs ``[n, ...]`` (a tuple/dict for multi-input models).
        layers: ``"all"`` (every layer, nested models entered, in the model's order), a
            layer name, or a list of names; a layer inside a nested model by its path
            (``"encoder/dense_1"``).
        max_batch: Rows per device call.

    Returns:
        ``{name: array [n, ...]}``, in the model's order for ``"all"``, else in the order
        given.

    Raises:
        ExportError: for a layer name the model does not have.
    """
    max_batch = check_max_batch(max_batch)
    if isinstance(layers, str) and layers == "all":
        if isinstance(model, ModelFn):
            names = list(model.layers)
        else:
            model = _keras_model(model)
            names = leaf_paths(model)
    else:
        names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise InputError("layers: expected at least one layer name, got none")
    fn = with_layers(model, names, "layers", shift=False)
    x = fn.validate(X, "X")
    f = jax.jit(lambda p, part: {k: v for k, v in fn.apply(p, part)[1].items() if k in names})
    batch = max_batch or default_max_batch(row_elements(fn))
    out = run_chunked(lambda part: f(fn.params, part), x, batch)
    return {k: out[k] for k in names}        # run_chunked's pytree sorts the keys


def _grads(fn: ModelFn, params: Any, x: Any, layer: str, a: jax.Array, target: Any,
           all_outputs: bool) -> tuple[jax.Array, jax.Array]:
    """``(d f_t / d a, bad)``: ``[K, r, ...]`` (K = outputs, or 1 with a target per row)
    and ``int32[r, 2]``, rows whose outputs, or (only) gradients, are not all finite."""
    def at(shift: jax.Array) -> jax.Array:
        y = fn.apply_at(params, x, {layer: shift})[0]
        leaves = jax.tree_util.tree_leaves(y)
        flat = [jnp.reshape(v, (v.shape[0], -1)) for v in leaves]
        return flat[0] if len(flat) == 1 else jnp.concatenate(flat, axis=1)

    y, vjp = jax.vjp(at, jnp.zeros_like(a))
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

    The gradients are taken w.r.t. the layer's output where it is (any graph: skip
    connections and nested models included). Rows whose map is all zero (a saturated
    softmax makes every gradient vanish) are listed in ``stats["zero_maps"]`` and warned
    of: explain the logits (the model without its final softmax) instead.

    Args:
        model: A Keras model (channels-last feature maps), a ``.keras`` path, or a
            ModelFn exported with ``layers=[layer]``.
        layer: Name (or ``outer/inner`` path) of a convolutional layer (output
            ``[batch, H', W', C]``, or ``[batch, L', C]`` for 1-D inputs), usually the
            last one.
        max_batch: Rows per device call.

    Raises:
        ExportError: ``layer`` names no layer of the model.
        InputError: ``layer``'s output is not a feature map like the input.
        NonFiniteError: (``explain``) the model's outputs or gradients are NaN or inf.
    """

    name = "GradCAM"

    def __init__(self, model: Any, *, layer: str, max_batch: int | None = None,
                 progress: bool | None = None) -> None:
        body = with_layers(model, [layer])
        act = _capture_shape(body, layer)
        spec = body.inputs[0]
        spatial_in = tuple(spec.shape[:-1]) if len(body.inputs) == 1 and spec.shape else ()
        if not spatial_in or len(act) != len(spatial_in) + 1 \
                or any(d is None for d in spatial_in):
            shape_in = ", ".join(str(d) for d in (spec.shape or ()))
            raise InputError(f"layer: '{layer}' is not convolutional: its output is "
                             f"[batch, {', '.join(map(str, act))}], Grad-CAM needs a feature "
                             f"map [batch, *spatial, channels] of the same spatial rank as "
                             f"the (single) input [batch, {shape_in}]")
        self.body = body
        super().__init__(self.body, max_batch=max_batch, progress=progress)
        check_float_inputs(self.body)
        self.layer = layer
        self.out_size = tuple(int(d) for d in spatial_in)
        self._steps: dict[bool, Any] = {}

    def _step(self, all_outputs: bool) -> Any:
        if all_outputs not in self._steps:
            body, layer, size = self.body, self.layer, self.out_size

            def step(bp: Any, x: jax.Array, target: jax.Array) -> jax.Array:
                a = body.apply(bp, x)[1][layer]                       # [r, *s, C]
                g, bad = _grads(body, bp, x, layer, a, target, all_outputs)  # [K, r, *s, C]
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
        maps, bad = run_chunked(lambda part: step(self.body.params, *part),
                                (prep.x, t), self._batch(prep.fn), progress=self.progress)
        check_finite(bad, 1)
        base = np.zeros((prep.n, prep.fn.n_outputs) if all_outputs else (prep.n,))
        zero = _zero_maps(maps, all_outputs, self.layer)
        stats = {"model_rows": prep.n, "compiles": self.compiled, "zero_maps": zero,
                 "seconds": time.perf_counter() - t0}
        return Attribution(values=maps, base_values=base, data=np.asarray(prep.x),
                           method=self.name, output_names=list(prep.fn.output_names),
                           target=prep.target, params={"layer": self.layer}, stats=stats)


def _zero_maps(maps: np.ndarray, all_outputs: bool, layer: str) -> np.ndarray:
    """The rows whose map is all zero (for every output with ``target=None``), warned of."""
    flat = np.asarray(maps).reshape(len(maps), -1)
    rows = np.flatnonzero(~np.any(flat != 0, axis=1))
    if rows.size:
        shown = ", ".join(map(str, rows[:10])) + (", ..." if rows.size > 10 else "")
        warnings.warn(
            f"GradCAM: the map of {rows.size} of {len(maps)} rows is all zero (rows "
            f"{shown}): the gradients of the output w.r.t. '{layer}' vanish there (a "
            "saturated softmax: the predicted probability is 1 to float precision) or "
            "the layer's evidence for that output is all negative (the ReLU removes it). "
            "Explain the logits instead: the model without its final softmax, e.g. "
            "keras.Model(model.inputs, model.layers[-1].output) with the last Dense "
            "layer's activation removed (stats['zero_maps'] lists the rows)",
            stacklevel=3)
    return rows


class LayerIntegratedGradients(GradientBatch, Method):
    """Integrated gradients w.r.t. a layer's output: the path runs from the layer's
    activation at the baseline to its activation at ``x`` (captum's
    ``LayerIntegratedGradients``); completeness holds as for input IG.

    Args:
        model: A Keras model, a ``.keras`` path, or a ModelFn exported with
            ``layers=[layer]``.
        layer: Name (or ``outer/inner`` path) of the layer; nothing after it may read an
            earlier tensor (no skip connection around it).
        n_steps, method, baseline, max_batch: As in :class:`IntegratedGradients`
            (``baseline`` is in input space).
    """

    name = "LayerIntegratedGradients"

    def __init__(self, model: Any, *, layer: str, n_steps: int = 50,
                 method: str = "gausslegendre", baseline: Any = None,
                 max_batch: int | None = None, progress: bool | None = None) -> None:
        self.body = with_layers(model, [layer])
        if self.body.head is None:
            raise ExportError(f"model: this ModelFn ({self.body.source}) cannot be cut at "
                              f"'{layer}': export the Keras model on the JAX backend")
        self.head = self.body.head(layer)
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


__all__ = ["GradCAM", "LayerIntegratedGradients", "activations", "with_layers"]
