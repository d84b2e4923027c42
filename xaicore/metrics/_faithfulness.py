"""Faithfulness: deletion / insertion curves and their AUC, faithfulness correlation.

Each is a set of coalitions per row (the players kept at each step, or a random subset
removed), evaluated by :func:`~xaicore.metrics._engine.masked_outputs` in fixed-shape
device calls of at most ``max_batch`` model rows.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_float, check_int, check_seed
from ._common import Inputs, Score, choice, forward, prepare, removal_values, score
from ._engine import masked_outputs


def _counts(m: int, steps: int | None, fraction: float | None) -> np.ndarray:
    """Players removed (inserted) at each point of a curve: 0 .. m."""
    if steps is not None and fraction is not None:
        raise InputError(f"steps: give steps= or fraction=, not both (got steps={steps!r}, "
                         f"fraction={fraction!r})")
    if fraction is not None:
        f = check_float(fraction, "fraction")
        if not 0 < f <= 1:
            raise InputError(f"fraction: expected the share of players per step in (0, 1], "
                             f"got {fraction!r}")
        steps = int(np.ceil(1 / f - 1e-9))
        c = np.minimum(np.round(np.arange(steps + 1) * f * m), m).astype(np.int64)
        c[-1] = m
        return np.unique(c)
    steps = min(m, 20) if steps is None else check_int(steps, "steps", 1)
    if steps > m:
        raise InputError(f"steps: expected 1..{m} (the rows have {m} players), got {steps}")
    return np.round(np.linspace(0, m, steps + 1)).astype(np.int64)


def _ranks(phi: np.ndarray, order: str) -> np.ndarray:
    """Each player's place in the removal order, ``[n, M]`` (0 = first; ties by index)."""
    key = -phi if order == "morf" else phi
    idx = np.argsort(key, axis=1, kind="stable")
    ranks = np.empty_like(idx)
    np.put_along_axis(ranks, idx, np.arange(phi.shape[1])[None], axis=1)
    return ranks


def _curve(kind: str, model: Any, X: Any, attributions: Any, *, target: Any, order: str,
           baseline: Any, steps: int | None, fraction: float | None, groups: Any,
           background: Any, blur_sigma: float, max_batch: int | None) -> Score:
    order = choice(order, "order", ("morf", "lerf"))
    inp = prepare(model, X, attributions, target=target, groups=groups, max_batch=max_batch)
    ref = removal_values(baseline, inp.x, background=background, blur_sigma=blur_sigma)
    counts = _counts(inp.n_players, steps, fraction)
    ranks = _ranks(inp.phi, order)                                   # [n, M]
    first = ranks[:, None, :] < counts[None, :, None]                 # [n, S+1, M]
    keep = ~first if kind == "deletion" else first
    curves = masked_outputs(inp.fn, inp.x, ref, keep, inp.groups, inp.target, inp.batch)
    fractions = counts / inp.n_players
    auc = np.trapezoid(curves, fractions, axis=1) if hasattr(np, "trapezoid") \
        else np.trapz(curves, fractions, axis=1)
    return score(auc, curves=curves, fractions=fractions)


_CURVE_DOC = """

    Args:
        model: Anything :func:`xaicore.export` accepts (single input).
        X: The explained rows ``[n, ...]``.
        attributions: An :class:`~xaicore.Attribution` or an array: ``[n, *row]`` (one
            value per input element), or ``[n, M]`` with ``groups`` (patches,
            superpixels); either may carry a trailing output axis that ``target`` picks.
        target: The output the attributions explain (an int, one per row, or
            ``"predicted"``); default: the Attribution's own target.
        order: ``"morf"`` (most relevant first: largest value first) or ``"lerf"`` (least
            relevant first).
        baseline: The value a removed element takes: a number, one row, one row per
            explained row, ``"mean"`` (the mean of ``background``) or ``"blur"`` (the image
            blurred by a Gaussian of ``blur_sigma`` pixels).
        steps: Number of steps of the curve (default ``min(M, 20)``), players split as
            evenly as rounding allows; or ``fraction``: the share of players per step.
        groups: Player of each input element, one map ``[*row]`` or one per row
            ``[n, *row]`` (default: the Attribution's ``params["groups"]``, else each
            element its own player).
        max_batch: Model rows per device call.

    Returns:
        :class:`~xaicore.metrics.Score`: ``per_row`` the AUC of each row, ``mean``, the
        ``curves [n, S + 1]`` (model output of the target after each step) and their
        ``fractions [S + 1]``.
    """


def deletion(model: Any, X: Any, attributions: Any, *, target: Any = None,
             order: str = "morf", baseline: Any = 0.0, steps: int | None = None,
             fraction: float | None = None, groups: Any = None, background: Any = None,
             blur_sigma: float = 5.0, max_batch: int | None = None) -> Score:
    return _curve("deletion", model, X, attributions, target=target, order=order,
                  baseline=baseline, steps=steps, fraction=fraction, groups=groups,
                  background=background, blur_sigma=blur_sigma, max_batch=max_batch)


def insertion(model: Any, X: Any, attributions: Any, *, target: Any = None,
              order: str = "morf", baseline: Any = 0.0, steps: int | None = None,
              fraction: float | None = None, groups: Any = None, background: Any = None,
              blur_sigma: float = 5.0, max_batch: int | None = None) -> Score:
    return _curve("insertion", model, X, attributions, target=target, order=order,
                  baseline=baseline, steps=steps, fraction=fraction, groups=groups,
                  background=background, blur_sigma=blur_sigma, max_batch=max_batch)


deletion.__doc__ = """Deletion curve and its area (Petsiuk et al. 2018, "RISE"; Samek et al.
    2017, "MoRF"/"LeRF" region perturbation).

    Players are removed (set to ``baseline``) in the order of their attributions, ``k_s``
    players after step ``s``; the curve is the target output
    ``y_s = f_t(x with the first k_s players removed)``, from ``f_t(x)`` to
    ``f_t(baseline)``, and ``AUC = trapezoid(y_s, k_s / M)``. A faithful attribution
    makes the MoRF curve fall fast (small AUC) and the LeRF curve fall slowly.""" + _CURVE_DOC

insertion.__doc__ = """Insertion curve and its area (Petsiuk et al. 2018, "RISE").

    Players are put back into ``baseline`` in the order of their attributions: the curve
    is ``y_s = f_t(baseline with the first k_s players of x inserted)``, from
    ``f_t(baseline)`` to ``f_t(x)``, and ``AUC = trapezoid(y_s, k_s / M)``; a faithful
    attribution makes the MoRF insertion curve rise fast (large AUC).""" + _CURVE_DOC


def faithfulness_correlation(model: Any, X: Any, attributions: Any, *, target: Any = None,
                             subset_size: int | None = None, n_samples: int = 100,
                             baseline: Any = 0.0, groups: Any = None, background: Any = None,
                             blur_sigma: float = 5.0, seed: int = 0,
                             max_batch: int | None = None) -> Score:
    """Faithfulness correlation (Bhatt, Weller and Moura 2020, "Evaluating and Aggregating
    Feature-based Model Explanations", IJCAI).

    For ``n_samples`` random subsets ``S`` of ``subset_size`` players, set to ``baseline``::

        mu_F(x) = corr_S( sum_{i in S} phi_i ,  f_t(x) - f_t(x_{S <- baseline}) )

    (Pearson's correlation over the subsets, per row; NaN where either side is constant).
    Exact Shapley values of a linear model with the same baseline give 1.

    Args:
        model, X, attributions, target, baseline, groups, background, blur_sigma,
            max_batch: as :func:`deletion`.
        subset_size: Players per subset (default: a quarter of the players, at least 1).
        n_samples: Number of random subsets per row (at least 2).
        seed: Seed of the subsets.

    Returns:
        :class:`~xaicore.metrics.Score` of the correlation of each row.
    """
    n_samples = check_int(n_samples, "n_samples", 2)
    seed = check_seed(seed)
    inp = prepare(model, X, attributions, target=target, groups=groups, max_batch=max_batch)
    m = inp.n_players
    k = max(1, m // 4) if subset_size is None else check_int(subset_size, "subset_size", 1)
    if k > m:
        raise InputError(f"subset_size: expected 1..{m} (the rows have {m} players), got {k}")
    ref = removal_values(baseline, inp.x, background=background, blur_sigma=blur_sigma)
    removed = _random_subsets(inp, n_samples, k, seed)               # [n, S, M]
    y = masked_outputs(inp.fn, inp.x, ref, ~removed, inp.groups, inp.target, inp.batch)
    fx = forward(inp.fn, inp.x, inp.target, inp.batch)
    drop = fx[:, None] - y                                            # [n, S]
    total = np.einsum("nsm,nm->ns", removed, inp.phi)
    return score(_pearson(total, drop))


def _random_subsets(inp: Inputs, n_samples: int, k: int, seed: int) -> np.ndarray:
    """``bool[n, S, M]``: ``k`` players drawn without replacement per row and sample."""
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((inp.n, n_samples, inp.n_players)), axis=2)
    removed = np.zeros(order.shape, bool)
    np.put_along_axis(removed, order[:, :, :k], True, axis=2)
    return removed


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson's correlation of each row of ``a`` and ``b`` (NaN where one is constant)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / np.where(den > 0, den, 1), np.nan)
