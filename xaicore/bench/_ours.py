"""xaicore's methods as bench entries: one explainer per (method, budget), timed warm."""
from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from .. import methods as xm
from ._suites import Case

#: name -> (kind, budget meaning). "coalition": budget = coalitions per row;
#: "gradient": budget = path steps / noise samples; "once": no budget.
METHODS = {
    "kernelshap": ("coalition", "coalitions per row"),
    "permutation": ("coalition", "about budget coalitions per row (permutations x (M-1))"),
    "exact": ("once", "all 2^M coalitions"),
    "lime": ("coalition", "samples per row"),
    "ig": ("gradient", "Gauss-Legendre steps"),
    "eg": ("gradient", "background x alpha samples"),
    "saliency": ("once", "one gradient"),
    "smoothgrad": ("gradient", "noise samples"),
}


def applies(method: str, case: Case) -> str | None:
    """``None`` if ``method`` runs on ``case``, else the reason it is skipped."""
    kind = METHODS[method][0]
    if kind == "gradient" or method == "saliency":
        if not case.gradients:
            return "integer (token) inputs have no gradient"
    if method == "exact" and case.n_players > 16:
        return f"M = {case.n_players} players > 16"
    return None


def build(method: str, case: Case, budget: int | None, seed: int) -> Any:
    """The configured explainer (its constructor is not timed)."""
    fn, bg, g = case.fn, case.background, case.groups
    m = case.n_players
    if method == "kernelshap":
        return xm.KernelShap(fn, bg, n_samples=budget, seed=seed, groups=g, n_boot=0,
                             progress=False)
    if method == "permutation":
        perms = max(2, 2 * round(budget / (2 * max(1, m - 1))))
        return xm.PermutationShap(fn, bg, n_permutations=perms, seed=seed, groups=g,
                                  progress=False)
    if method == "exact":
        return xm.ExactShap(fn, bg, groups=g, progress=False)
    if method == "lime":
        return xm.Lime(fn, bg, n_samples=budget, seed=seed, groups=g, progress=False)
    if method == "ig":
        return xm.IntegratedGradients(fn, n_steps=budget, baseline=bg[0], progress=False)
    if method == "eg":
        return xm.ExpectedGradients(fn, bg, n_samples=budget, seed=seed, progress=False)
    if method == "saliency":
        return xm.Saliency(fn, abs=False, progress=False)
    if method == "smoothgrad":
        return xm.SmoothGrad(fn, n_samples=budget, seed=seed, progress=False)
    raise KeyError(method)


def run(method: str, case: Case, budget: int | None, seed: int, repeats: int) -> dict:
    """Explain ``case.X`` once cold (first-call latency: compiles included), then
    ``repeats`` times warm; the warm median is the steady-state time."""
    explainer = build(method, case, budget, seed)
    t = time.perf_counter()
    att = explainer.explain(case.X, target=case.target)
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        att = explainer.explain(case.X, target=case.target)
        times.append(time.perf_counter() - t)
    values = np.asarray(att.values, np.float64)
    return {"values": values, "model_rows": int(att.stats["model_rows"]),
            "seconds": statistics.median(times), "first_call_seconds": first,
            "rows": len(case.X), "compiles": att.stats.get("compiles")}
