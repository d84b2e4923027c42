"""Agreement of attributions with a reference (e.g. exact Shapley values), and the cost and
efficiency / completeness figures each result carries."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_int
from ..results._attribution import Attribution
from ._common import Score, check_rows, forward, model_fn, score


def _pair(attributions: Any, reference: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both as ``float64[n, D]`` (everything after the rows flattened), shapes checked."""
    def read(a: Any, arg: str) -> np.ndarray:
        v = a.values if isinstance(a, Attribution) else a
        try:
            v = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{arg}: expected a numeric array or an Attribution, got "
                             f"{type(v).__name__}") from None
        if v.ndim < 1 or v.shape[0] == 0:
            raise InputError(f"{arg}: expected values [n, ...] with at least one row, got "
                             f"{list(v.shape)}")
        return v
    a, r = read(attributions, "attributions"), read(reference, "reference")
    if a.shape != r.shape:
        raise InputError(f"reference: expected the shape of the attributions "
                         f"{list(a.shape)}, got {list(r.shape)}")
    return a.reshape(len(a), -1), r.reshape(len(r), -1)


def mean_abs_error(attributions: Any, reference: Any) -> Score:
    """Mean absolute error per row: ``mean_i |phi_i - ref_i|``."""
    a, r = _pair(attributions, reference)
    return score(np.abs(a - r).mean(axis=1))


def max_abs_error(attributions: Any, reference: Any) -> Score:
    """Largest absolute error per row: ``max_i |phi_i - ref_i|``."""
    a, r = _pair(attributions, reference)
    return score(np.abs(a - r).max(axis=1))


def relative_error(attributions: Any, reference: Any) -> Score:
    """Relative error per row: ``||phi - ref||_2 / ||ref||_2`` (NaN where ``ref`` is 0)."""
    a, r = _pair(attributions, reference)
    den = np.linalg.norm(r, axis=1)
    num = np.linalg.norm(a - r, axis=1)
    return score(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan))


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties share their mean rank) of each row."""
    n, d = a.shape
    order = np.argsort(a, axis=1, kind="stable")
    sa = np.take_along_axis(a, order, axis=1)
    ranks = np.empty((n, d))
    pos = np.arange(1, d + 1, dtype=np.float64)
    for i in range(n):        # ties: one pass per row over its sorted values
        new = np.r_[True, sa[i, 1:] != sa[i, :-1]]
        start = np.flatnonzero(new)
        ends = np.r_[start[1:], d]
        mean = (pos[start] + pos[ends - 1]) / 2
        ranks[i, order[i]] = np.repeat(mean, ends - start)
    return ranks


def spearman(attributions: Any, reference: Any) -> Score:
    """Spearman's rank correlation per row: Pearson's correlation of the average ranks of
    ``phi`` and ``ref`` (Spearman 1904); NaN where either row is constant."""
    a, r = _pair(attributions, reference)
    ra, rr = _ranks(a), _ranks(r)
    ra -= ra.mean(axis=1, keepdims=True)
    rr -= rr.mean(axis=1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rr * rr).sum(1))
    return score(np.where(den > 0, (ra * rr).sum(1) / np.where(den > 0, den, 1.0), np.nan))


def top_k_overlap(attributions: Any, reference: Any, k: int = 5) -> Score:
    """Share of the reference's ``k`` largest ``|ref_i|`` that are among the ``k`` largest
    ``|phi_i|``, per row: ``|top_k(|phi|) & top_k(|ref|)| / k`` (ties by index)."""
    a, r = _pair(attributions, reference)
    k = check_int(k, "k", 1)
    if k > a.shape[1]:
        raise InputError(f"k: expected 1..{a.shape[1]} (values per row), got {k}")
    ta = np.argsort(-np.abs(a), axis=1, kind="stable")[:, :k]
    tr = np.argsort(-np.abs(r), axis=1, kind="stable")[:, :k]
    hit = (ta[:, :, None] == tr[:, None, :]).any(axis=2).sum(axis=1)
    return score(hit / k)


def agreement(attributions: Any, reference: Any, *, k: int = 5) -> dict[str, Score]:
    """Every agreement figure of ``attributions`` with ``reference`` (e.g. ExactShap):
    ``{"mean_abs_error", "max_abs_error", "relative_error", "spearman",
    "top_k_overlap"}``, each a :class:`~xaicore.metrics.Score` per row."""
    return {"mean_abs_error": mean_abs_error(attributions, reference),
            "max_abs_error": max_abs_error(attributions, reference),
            "relative_error": relative_error(attributions, reference),
            "spearman": spearman(attributions, reference),
            "top_k_overlap": top_k_overlap(attributions, reference, k)}


_COST_KEYS = ("model_rows", "seconds", "max_efficiency_gap", "max_completeness_gap",
              "coalitions", "compiles")


def cost(attributions: Attribution) -> dict[str, float]:
    """What a result cost and its own error figures, from its ``stats``: ``model_rows``,
    ``seconds``, ``rows`` explained, ``model_rows_per_row``, and, where the method has
    them, ``max_efficiency_gap`` / ``max_completeness_gap`` (and ``coalitions``,
    ``compiles``)."""
    if not isinstance(attributions, Attribution):
        raise InputError(f"attributions: expected an xaicore.Attribution (its stats hold the "
                         f"cost), got {type(attributions).__name__}")
    s = attributions.stats
    out: dict[str, float] = {k: float(s[k]) for k in _COST_KEYS if k in s}
    out["rows"] = float(len(attributions.values))
    if "model_rows" in out:
        out["model_rows_per_row"] = out["model_rows"] / max(1.0, out["rows"])
    return out


def efficiency_gap(model: Any, X: Any, attributions: Attribution, *,
                   max_batch: int | None = None) -> Score:
    """Efficiency (completeness) gap per row: ``|sum_i phi_i - (f_t(x) - base)|``, with
    ``base`` the Attribution's ``base_values`` (the expected output for Shapley methods,
    ``f(baseline)`` for path methods); the largest over the outputs when all are explained
    (the ``max`` of ``per_row`` is ``stats["max_efficiency_gap"]`` up to float32)."""
    if not isinstance(attributions, Attribution):
        raise InputError(f"attributions: expected an xaicore.Attribution (it holds the base "
                         f"values), got {type(attributions).__name__}")
    fn, x = check_rows(model_fn(model), X)
    if len(x) != len(attributions.values):
        raise InputError(f"X: expected the {len(attributions.values)} rows the attributions "
                         f"explain, got {len(x)}")
    fx = forward(fn, x, attributions.target, max_batch or 1024)
    v = np.asarray(attributions.values, np.float64)
    base = np.asarray(attributions.base_values, np.float64)
    if attributions.target is None:                    # [n, *players, O]
        total = v.reshape(len(v), -1, v.shape[-1]).sum(axis=1)
        return score(np.abs(total - (fx - base)).max(axis=1))
    return score(np.abs(v.reshape(len(v), -1).sum(axis=1) - (fx - base)))
