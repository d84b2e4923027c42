"""Explaining text models by token: the token positions of each row are the players,
padding is none, and the token strings travel with the result."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .._errors import InputError
from ..engine._tokens import check_ids, token_groups, token_strings, valid_positions
from ..results._attribution import Attribution
from ._shapley_base import ShapleyMethod
from ._text_gradients import TokenIntegratedGradients


def explain_text(explainer: Any, X: Any, *, target: Any = None, pad_id: int | None = None,
                 mask: Any = None, tokens: Any = None, vocab: Any = None) -> Attribution:
    """Attributions per token of each row of token ids ``X [n, L]``.

    Absent tokens take the explainer's background: for text, build the Shapley methods
    with ``background=mask_id`` (every absent token becomes the mask id), or with
    background sequences ``[K, L]``; :class:`TokenIntegratedGradients` uses its
    ``baseline_id``.

    Args:
        explainer: A Shapley method or Lime built on the text model with no ``groups``
            (each position a player), or a :class:`TokenIntegratedGradients`.
        X: Integer token ids ``[n, L]`` (checked against the embedding's range).
        target: As for every method.
        pad_id: Padding id: those positions are no players of their row (always taken
            from ``x``) and get value 0.
        mask: ``bool[n, L]``, ``True`` at real tokens (e.g. an attention mask).
        tokens: The string of every position, one list of ``L`` per row; or
        vocab: the string of every id (``vocab[id]``).

    Returns:
        An :class:`Attribution` with ``values [n, L]`` (+ a trailing output axis for
        ``target=None``), ``tokens`` and ``token_mask``, for ``to_html``, ``plot_text``
        and ``to_shap`` (``shap.plots.text(att.to_shap()[0])``).

    Example:
        >>> ks = xaicore.KernelShap(model, background=1, n_samples=512)  # doctest: +SKIP
        >>> att = xaicore.explain_text(ks, ids, pad_id=0, vocab=vocab, target=1)  # doctest: +SKIP
    """
    if isinstance(explainer, TokenIntegratedGradients):
        return explainer.explain(X, target=target, pad_id=pad_id, mask=mask, tokens=tokens,
                                 vocab=vocab)
    if not isinstance(explainer, ShapleyMethod):
        raise InputError(f"explainer: expected a Shapley method, Lime or "
                         f"TokenIntegratedGradients, got {type(explainer).__name__}")
    ids = check_ids(explainer.fn.validate(X, "X"), "X")   # dtype, the embedding's range
    length = ids.shape[1]
    shared = explainer.groups      # the constructor's map (n_players follows each call)
    if not explainer.per_call and not np.array_equal(shared, np.arange(length)):
        raise InputError(f"explainer: was built with groups= ({int(shared.max()) + 1} "
                         f"players); "
                         f"for text build it without groups (or with groups='per_call'), so "
                         f"that the {length} token positions are the players")
    _check_mask_id(explainer)
    keep = valid_positions(ids, pad_id, mask, "X")
    strings = token_strings(ids, tokens, vocab)
    if keep.all() and not explainer.per_call:
        att = explainer.explain(ids, target=target)
    else:
        att = explainer.explain(ids, target=target, groups=token_groups(ids, mask=keep))
    stats = dict(att.stats)
    if isinstance(stats.get("stderr"), np.ndarray):
        stats["stderr"] = _to_length(stats["stderr"], length)
    names = [f"pos{j}" for j in range(length)]
    return replace(att, values=_to_length(np.asarray(att.values), length), stats=stats,
                   feature_names=names, tokens=strings, token_mask=keep,
                   params={**att.params, "pad_id": pad_id})


def _to_length(a: np.ndarray, length: int) -> np.ndarray:
    """Values of ``M <= L`` players (no row had a token at the last positions) as
    ``[n, L, ...]``: those positions get 0."""
    if a.shape[1] >= length:
        return a
    pad = [(0, 0)] * a.ndim
    pad[1] = (0, length - a.shape[1])
    return np.pad(a, pad)


def _check_mask_id(explainer: ShapleyMethod) -> None:
    """A constant background (``background=mask_id``) must be an id the embedding has."""
    masking, spec = explainer.masking, explainer.fn.inputs[0]
    if masking is None or masking.mode != "constant" or spec.id_range is None:
        return
    c = masking.value
    if c != int(c) or not 0 <= c < spec.id_range:
        raise InputError(f"background: the mask id {c:g} is not a token id of the "
                         f"embedding's range 0..{spec.id_range - 1}")


__all__ = ["explain_text"]
