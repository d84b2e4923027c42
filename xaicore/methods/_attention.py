"""Attention weights of a model's MultiHeadAttention layers, and attention rollout.

What attention is and is not evidence of: an attention weight says how much of each key
position's value a query position mixed in at one layer, i.e. where the model *looked*.
It is not a measure of what the output *depends on*: attention distributions can be
changed a lot, or swapped for adversarial ones, with little change in the prediction,
and they often disagree with gradient and leave-one-out importance (Jain & Wallace,
2019, "Attention is not Explanation"); whether a given distribution is a faithful
explanation depends on the model and must be tested, not assumed (Wiegreffe & Pinter,
2019, "Attention is not not Explanation"). Read these weights as a description of the
computation; for what the output depends on, use an attribution method (KernelShap,
IntegratedGradients, LayerIntegratedGradients on the embedding) and compare.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from .._errors import ExportError, InputError
from ..engine._batching import check_max_batch, default_max_batch, run_chunked
from ..engine._inputs import row_elements
from ..exporting._capture import check_paths, find_layer, layer_paths
from ..exporting._keras import export_keras_jax, layer_names
from ..exporting._modelfn import ModelFn
from ..results._attribution import Attribution
from ._gradcam import _keras_model


def _attention_paths(model: Any) -> list[str]:
    import keras

    return [p for p in layer_paths(model)
            if isinstance(find_layer(model, p), keras.layers.MultiHeadAttention)]


def _chosen(model: Any, layers: Any) -> list[str]:
    found = _attention_paths(model)
    if layers is None:
        if not found:
            raise ExportError(f"model: '{model.name}' has no MultiHeadAttention layer in its "
                              f"graph (its layers are {layer_paths(model)}; attention "
                              "layers inside a custom layer's call cannot be reached)")
        return found
    names = list(layer_names(layers))
    if not names:
        raise InputError("layers: expected at least one layer name, got none")
    check_paths(model, names)
    for name in names:
        if name not in found:
            kind = type(find_layer(model, name)).__name__
            raise ExportError(f"layers: {name!r} is a {kind} layer, not MultiHeadAttention; "
                              f"the attention layers of model '{model.name}' are {found}")
    return names


def attention(model: Any, X: Any, layers: str | Sequence[str] | None = None, *,
              max_batch: int | None = None) -> dict[str, np.ndarray]:
    """The attention weights of the model's MultiHeadAttention layers on the rows of ``X``.

    Computed by the exported pure function: each attention layer runs its own computation
    with ``return_attention_scores=True`` inside the traced model (same weights, no
    rebuilding, inference mode, masks applied as the model applies them).

    Attention weights describe where the model looked, not what its output depends on
    (Jain & Wallace 2019; Wiegreffe & Pinter 2019): see this module's notes, and use an
    attribution method for the latter.

    Args:
        model: A Keras model or a ``.keras`` path.
        X: Inputs ``[n, ...]`` (a tuple/dict for multi-input models).
        layers: ``None`` (every MultiHeadAttention layer, in the model's order), a layer
            name, or a list of names (``outer/inner`` paths inside nested models).
        max_batch: Rows per device call.

    Returns:
        ``{layer name: float array [n, heads, L_query, L_key]}``; each row of the last
        axis sums to 1.

    Raises:
        ExportError: the model has no MultiHeadAttention layer (``model``), or a name is
            not one of them (``layers``).
    """
    max_batch = check_max_batch(max_batch)
    if isinstance(model, ModelFn):
        raise ExportError("model: attention() needs the Keras model (or a .keras path), "
                          "got a ModelFn")
    model = _keras_model(model)
    names = _chosen(model, layers)
    fn = export_keras_jax(model, scores=names)
    x = fn.validate(X, "X")
    f = jax.jit(lambda p, part: fn.apply(p, part)[1])
    batch = max_batch or default_max_batch(row_elements(fn))
    out = run_chunked(lambda part: f(fn.params, part), x, batch)
    return {k: out[k] for k in names}       # the pytree sorted the keys


def rollout(weights: Sequence[np.ndarray]) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020) of self-attention weights, first layer
    first: per layer the heads are averaged, the identity added (the residual
    connection) and the rows renormalised, ``Â = (mean_h A + I) / 2``; the layers are
    multiplied through, ``R = Â_L ... Â_1``. Returns ``R [n, L, L]`` (float64)."""
    out = None
    for i, w in enumerate(weights):
        a = np.asarray(w, np.float64).mean(axis=1)
        if a.shape[-1] != a.shape[-2] or (out is not None and a.shape != out.shape):
            raise InputError(f"layers: rollout needs self-attention of one sequence length "
                             f"through the layers; layer {i} has weights [n, L_query, "
                             f"L_key] = {list(a.shape)}")
        a = a + np.eye(a.shape[-1])
        a = a / a.sum(axis=-1, keepdims=True)
        out = a if out is None else a @ out
    return out


def attention_rollout(model: Any, X: Any, layers: str | Sequence[str] | None = None, *,
                      token: int | None = None, max_batch: int | None = None
                      ) -> Attribution:
    """Attention rollout as a per-token attribution: how much of each input position
    flows, through the attention layers, into the output positions.

    Like the weights it is made of, rollout describes the attention computation, not
    what the output depends on (Jain & Wallace 2019; Wiegreffe & Pinter 2019).

    Args:
        model, X, layers, max_batch: As in :func:`attention` (the layers are rolled out
            in the model's order, first to last).
        token: The output position to explain (e.g. ``0`` for a ``[CLS]`` token), or
            ``None`` for the mean over the positions (a model that averages them).

    Returns:
        An :class:`Attribution` with ``method="AttentionRollout"``, ``values [n, L]``
        (each row sums to 1), ``base_values`` zeros and ``stats["rollout"]`` the full
        ``[n, L, L]`` matrices.
    """
    t0 = time.perf_counter()
    model = _keras_model(model)
    w = attention(model, X, layers, max_batch=max_batch)
    order = {p: i for i, p in enumerate(layer_paths(model))}
    names = sorted(w, key=order.__getitem__)
    r = rollout([w[k] for k in names])
    n, length = r.shape[0], r.shape[-1]
    if token is None:
        values = r.mean(axis=1)
    elif isinstance(token, (int, np.integer)) and not isinstance(token, bool) \
            and -length <= token < length:
        values = r[:, int(token)]
    else:
        raise InputError(f"token: expected None or a position in 0..{length - 1}, got "
                         f"{token!r}")
    data = X[next(iter(X))] if isinstance(X, dict) else X[0] if isinstance(X, tuple) else X
    return Attribution(values=values, base_values=np.zeros(n), data=np.asarray(data),
                       method="AttentionRollout", params={"layers": names, "token": token},
                       stats={"rollout": r, "model_rows": n,
                              "seconds": time.perf_counter() - t0})


__all__ = ["attention", "attention_rollout", "rollout"]
