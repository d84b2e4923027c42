"""Integrated gradients of text models, through the embedding: one value per token.

Token ids have no gradient, so the path runs in embedding space (captum's
``LayerIntegratedGradients`` on the embedding layer): from the embedding of a baseline
sequence (the mask/pad id at every real token, or zero vectors) to the embedding of ``x``;
the attributions of a token's embedding dimensions are summed into one value per token.
Completeness holds as for input IG: ``sum_tokens = f(x) - f(baseline)``.
Padding (``pad_id``, or ``mask`` false) keeps its own embedding in the baseline, so it has
no attribution and is no player.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._errors import InputError
from ..engine._batching import run_chunked
from ..engine._tokens import token_strings, valid_positions
from ..results._attribution import Attribution
from ._gradcam import LayerIntegratedGradients, _keras_model
from ._integrated_gradients import completeness_stats, integrated_gradients


def embedding_layer(model: Any) -> str:
    """The name of the Embedding layer that reads the model's (single) token input."""
    inputs = list(model.inputs)
    found = []
    for layer in model.layers:
        if type(layer).__name__ != "Embedding":
            continue
        try:
            reads = any(layer.input is t for t in inputs)
        except (AttributeError, ValueError):
            reads = False
        if reads:
            found.append(layer.name)
    if len(found) != 1:
        what = "no Embedding layer reads its input" if not found else \
            f"several Embedding layers read its inputs ({found})"
        raise InputError(f"layer: model '{model.name}': {what}; name the layer whose "
                         f"output to attribute through with layer=")
    return found[0]


class TokenIntegratedGradients(LayerIntegratedGradients):
    """Integrated gradients of a text model per token, through its embedding.

    Args:
        model: A Keras model taking integer token ids ``[n, L]`` (or a ``.keras`` path).
        layer: The embedding layer (``None``: the Embedding layer reading the input).
        baseline_id: The id whose embedding is the baseline of every real token (a mask
            or pad id); ``None``: zero vectors.
        pad_id: Padding id: those positions keep their embedding (no attribution); also
            given per call to :meth:`explain`.
        n_steps, method, max_batch, progress: As in :class:`IntegratedGradients`.

    Example:
        >>> ig = xaicore.TokenIntegratedGradients(model, baseline_id=1, pad_id=0)  # doctest: +SKIP
        >>> att = ig.explain(ids, target=1, vocab=vocab)                        # doctest: +SKIP
        >>> att.stats["max_completeness_gap"], att.to_html(0)                    # doctest: +SKIP
    """

    name = "TokenIntegratedGradients"

    def __init__(self, model: Any, *, layer: str | None = None, baseline_id: int | None = None,
                 pad_id: int | None = None, n_steps: int = 50, method: str = "gausslegendre",
                 max_batch: int | None = None, progress: bool | None = None) -> None:
        model = _keras_model(model)
        for arg, v in (("baseline_id", baseline_id), ("pad_id", pad_id)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))):
                raise InputError(f"{arg}: expected an int token id (or None), got {v!r}")
        layer = embedding_layer(model) if layer is None else layer
        super().__init__(model, layer=layer, n_steps=n_steps, method=method,
                         max_batch=max_batch, progress=progress)
        spec = self.fn.inputs[0]
        if self.fn.structure != "single" or np.dtype(spec.dtype).kind not in "iu":
            raise InputError(f"model: TokenIntegratedGradients takes one input of integer "
                             f"token ids, got inputs {list(self.fn.input_names)} of "
                             f"{[s.dtype for s in self.fn.inputs]}")
        if baseline_id is not None and spec.id_range is not None \
                and not 0 <= baseline_id < spec.id_range:
            raise InputError(f"baseline_id: token id {baseline_id} is outside the "
                             f"embedding's range 0..{spec.id_range - 1}")
        self.baseline_id, self.pad_id = baseline_id, pad_id

    def explain(self, X: Any, *, target: Any = None, pad_id: int | None = None,
                mask: Any = None, tokens: Any = None, vocab: Any = None) -> Attribution:
        """One value per token of each row of ``X`` (token ids ``[n, L]``).

        Args:
            X: Token ids ``[n, L]`` (checked against the embedding's range).
            target: As for every method.
            pad_id: Padding id (overrides the constructor's).
            mask: ``bool[n, L]``, ``True`` at real tokens.
            tokens, vocab: The token strings (per row) or the id -> string list, kept on
                the result for ``to_html``, ``plot_text`` and ``to_shap``.

        Returns:
            An :class:`Attribution` with ``values [n, L]`` (+ a trailing output axis for
            ``target=None``), 0 at padding; ``base_values = f(baseline)``; ``stats`` as
            :class:`IntegratedGradients` (``max_completeness_gap`` over the token sums).
        """
        t0 = time.perf_counter()
        prep = self._prepare(X, target)
        ids = np.asarray(prep.x)
        pad = self.pad_id if pad_id is None else pad_id
        keep = valid_positions(ids, pad, mask, "X")
        strings = token_strings(ids, tokens, vocab)
        batch = self._batch(prep.fn)

        def act(z: Any) -> np.ndarray:
            return run_chunked(lambda part: self._act(self.body.params, part), z, batch)
        ax = act(ids)
        if self.baseline_id is None:
            ab = np.where(keep[..., None], np.zeros_like(ax), ax)
        else:
            ab = act(np.where(keep, np.asarray(self.baseline_id, ids.dtype), ids))
        if ax.ndim != 3 or ax.shape[:2] != ids.shape:
            dims = ", ".join(map(str, ax.shape[1:]))
            raise InputError(f"layer: '{self.layer}' gives [batch, {dims}], not one vector "
                             f"per token [batch, {ids.shape[1]}, dim]")
        attr, p = integrated_gradients(self.engine, ax, ab, prep.target,
                                       n_steps=self.n_steps, method=self.method,
                                       max_batch=self._batch(self.head), progress=self.progress)
        values = np.asarray(attr).sum(axis=2)                  # [n, L(, O)]: per token
        fb, stats = completeness_stats(self.engine, values, ax, ab, prep.target, batch,
                                       n_steps=self.n_steps, rows_per_call=p.model_rows,
                                       t0=t0)
        return Attribution(values=values, base_values=fb, data=ids, method=self.name,
                           output_names=list(prep.fn.output_names), target=prep.target,
                           params={"layer": self.layer, "baseline_id": self.baseline_id,
                                   "pad_id": pad, "n_steps": self.n_steps,
                                   "method": self.method},
                           stats=stats, tokens=strings, token_mask=keep)


__all__ = ["TokenIntegratedGradients", "embedding_layer"]
