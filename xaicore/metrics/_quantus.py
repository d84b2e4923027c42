"""A Quantus ``explain_func``: xaicore's methods inside Quantus' metrics."""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import numpy as np

from .._errors import InputError
from ..exporting._export import export
from ..exporting._modelfn import ModelFn
from ._common import choice

#: Methods that need a background (a zero row is used when none is given).
_NEEDS_BACKGROUND = ("KernelShap", "PermutationShap", "ExactShap", "Lime", "ExpectedGradients")
_CACHE: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
_CACHE_SIZE = 4


def _methods() -> dict[str, type]:
    from ..methods._exact_shap import ExactShap
    from ..methods._expected_gradients import ExpectedGradients
    from ..methods._integrated_gradients import IntegratedGradients
    from ..methods._kernel_shap import KernelShap
    from ..methods._lime import Lime
    from ..methods._permutation_shap import PermutationShap
    from ..methods._saliency import GradientXInput, Saliency, SmoothGrad, VarGrad
    return {c.__name__: c for c in (ExactShap, ExpectedGradients, IntegratedGradients,
                                    KernelShap, Lime, PermutationShap, GradientXInput,
                                    Saliency, SmoothGrad, VarGrad)}


def _digest(obj: Any, h: Any) -> None:
    """Feed ``obj`` (arrays, containers, scalars) into the hash ``h``."""
    if isinstance(obj, dict):
        for k in sorted(obj, key=str):
            h.update(repr(k).encode())
            _digest(obj[k], h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"seq{len(obj)}".encode())
        for v in obj:
            _digest(v, h)
    elif hasattr(obj, "shape") and hasattr(obj, "dtype"):
        a = np.ascontiguousarray(np.asarray(obj))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    else:
        h.update(repr(obj).encode())


def weights_digest(model: Any) -> str:
    """A digest of the model's architecture and current weights: it changes when the
    weights are changed in place (Quantus' MPRT randomises a cloned model's layers one
    after another), unlike ``id(model)``."""
    h = hashlib.blake2b(digest_size=16)
    if isinstance(model, ModelFn):
        h.update(repr((model.inputs, model.outputs, id(model.apply))).encode())
        _digest(model.params, h)
    elif hasattr(model, "get_weights") and hasattr(model, "layers"):
        h.update(repr([(type(layer).__name__, layer.name) for layer in model.layers]).encode())
        _digest(model.get_weights(), h)
    else:
        h.update(f"{type(model).__name__}{id(model)}".encode())
    return h.hexdigest()


def _explainer(model: Any, name: str, options: dict) -> Any:
    """The explainer of ``name`` for ``model`` with ``options``; built (and the model
    exported) again only when the weights or the options change."""
    h = hashlib.blake2b(digest_size=16)
    _digest(options, h)
    key = (name, weights_digest(model), h.hexdigest())
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key][1]
    fn = export(model)
    cls = _methods()[name]
    if name in _NEEDS_BACKGROUND and "background" not in options:
        spec = fn.inputs[0]
        options = {**options, "background": np.zeros((1, *spec.shape), spec.dtype)}
    try:
        explainer = cls(fn, **options)
    except TypeError as e:
        raise InputError(f"kwargs: {name} does not take these options: {e}") from None
    _CACHE[key] = (model, explainer)   # the model kept alive: its id is not reused
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return explainer


def _layout(row: tuple[int, ...], given: tuple[int, ...]) -> str:
    """How the inputs' rows relate to the model's: ``"same"`` or ``"channel_first"``."""
    if given == row:
        return "same"
    if len(row) == 3 and given == (row[2], row[0], row[1]):
        return "channel_first"
    raise InputError(f"inputs: expected rows {list(row)} (the model's) or channel-first "
                     f"{[row[2], row[0], row[1]] if len(row) == 3 else list(row)}, got "
                     f"{list(given)}")


def quantus_explain_func(model: Any, inputs: np.ndarray, targets: Any, **kwargs: Any
                         ) -> np.ndarray:
    """An ``explain_func`` for Quantus (``pip install "xaicore[quantus]"``).

    ``metric(model=keras_model, x_batch=x, y_batch=y, explain_func=quantus_explain_func,
    explain_func_kwargs={"xai_method": "KernelShap", "n_samples": 512, ...})``. Quantus takes
    Keras 3 models on any backend (``tf.keras.Model`` is ``keras.Model`` under Keras 3), the
    JAX backend included; xaicore exports the model it is handed.

    Args:
        model: The Keras model (or anything :func:`xaicore.export` accepts) Quantus passes.
        inputs: ``[n, ...]`` in the model's layout or, for a channel-last image model
            ``[H, W, C]``, channel-first ``[n, C, H, W]`` (Quantus passes both: its metrics
            keep ``x_batch`` channel-first and hand some calls the model's layout).
        targets: The output to explain per row (an int or ``[n]`` ints).
        **kwargs: ``xai_method=`` (or ``method=``) the xaicore method's name,
            ``"Saliency"`` by default (``KernelShap``, ``PermutationShap``, ``ExactShap``,
            ``Lime``, ``IntegratedGradients``, ``ExpectedGradients``, ``GradientXInput``,
            ``SmoothGrad``, ``VarGrad``); every other keyword is an option of that class
            (``n_samples``, ``seed``, ``background`` in the model's layout (default one zero
            row), ``groups``, ...; ``IntegratedGradients``' own ``method=`` needs
            ``xai_method=``). ``channels``: see Returns. ``device`` (a Quantus argument)
            is ignored: JAX picks the device.

    Returns:
        ``float32`` attributions: for an image model of channel-last rows ``[H, W, C]``,
        one per pixel ``[n, H, W]`` (summed over the channels, as Quantus' own
        TensorFlow explanations by default): Quantus keeps its ``x_batch`` channel-first
        but hands some calls channel-last inputs, and only attributions without the
        channel axis pass its checks against both. Otherwise one per input element, in
        the inputs' layout. ``channels="keep"`` / ``"sum"`` forces one or the other.
        Per-player values (``groups=``) are painted back onto the elements first.

    The exported model and the explainer are cached on a digest of the model's weights
    (and the options), so a model whose weights change in place is exported again.
    """
    kwargs = dict(kwargs)
    kwargs.pop("device", None)
    channels = kwargs.pop("channels", "auto")
    name = kwargs.pop("xai_method", None)
    if name is None:
        name = kwargs.pop("method", "Saliency")
    methods = _methods()
    if name not in methods:
        raise InputError(f"xai_method: expected one of {sorted(methods)}, got {name!r}")
    explainer = _explainer(model, name, kwargs)
    fn = explainer.fn
    row = tuple(int(d) for d in fn.inputs[0].shape)
    x = np.asarray(inputs)
    layout = _layout(row, tuple(x.shape[1:]))
    if layout == "channel_first":
        x = np.moveaxis(x, 1, -1)
    t = np.asarray(targets).reshape(-1).astype(np.int64)
    target = int(t[0]) if t.size == 1 else t
    values = np.asarray(explainer.explain(np.ascontiguousarray(x), target=target).values)
    if values.shape[1:] != row:
        groups = kwargs.get("groups")
        if groups is None:
            raise InputError(f"xai_method: {name} returned values {list(values.shape)}, not "
                             f"one per input element {list(row)}")
        g = np.asarray(groups).reshape(-1)
        values = values[:, g].reshape(len(values), *row)
    channel_last = len(row) == 3 and row[2] < row[0] and row[2] < row[1]
    channels = choice(channels, "channels", ("auto", "sum", "keep"))
    if channels == "auto":
        channels = "sum" if channel_last else "keep"
    if channels == "sum" and len(row) == 3:
        return values.sum(axis=-1 if channel_last else 1).astype(np.float32)
    if layout == "channel_first":
        values = np.moveaxis(values, -1, 1)
    return values.astype(np.float32)


def channel_first_model(model: Any) -> Any:
    """A channel-first view ``[n, C, H, W]`` of a channel-last Keras image model, for
    Quantus (whose metrics keep ``x_batch`` channel-first and broadcast the attributions to
    it: with this view and ``channel_first=True`` every metric runs, with one attribution per
    input element).

    It shares the model's layers and weights (a ``Permute`` in front). A ``Sequential``
    model keeps its layers flat, so Quantus' MPRT randomises them one by one; another
    model becomes one nested layer (randomised at once).
    """
    import keras

    shape = tuple(model.input_shape[1:])
    if len(shape) != 3:
        raise InputError(f"model: expected an image model with rows [H, W, C], got rows "
                         f"{list(shape)}")
    h, w, c = shape
    inp = keras.Input((c, h, w))
    if isinstance(model, keras.Sequential):
        return keras.Sequential([inp, keras.layers.Permute((2, 3, 1)), *model.layers])
    return keras.Model(inp, model(keras.layers.Permute((2, 3, 1))(inp)))
