"""Standard errors of the sampled KernelSHAP estimate by bootstrap over the sampled units.

Exactly enumerated rows are fixed (they carry no sampling error). Sampled units (a
coalition, or a coalition and its complement when paired) are resampled the way they
were drawn: with-replacement draws (``kernel``) are resampled as ``n_draws`` iid draws;
stratified draws (``leverage``, ``stratified``) are resampled within their stratum (``n - 1``
picks of ``n``, rescaled), their
weight perturbations shrunk by ``sqrt(1 - fraction drawn)`` (a finite-population
correction in the manner of Rao & Wu's rescaling bootstrap). Each
resample reweights the rows (``w * count / mult``), rebuilds the operator and re-solves;
the standard deviation over resamples is the standard error.
"""
from __future__ import annotations

import numpy as np

from ._numpy import operator_from_inverse, projected_gram
from ._rng import SplitMix64, stream_state
from ._sampling import _SCHEMES, Coalitions
from ._wls import _check_values, apply_operator


def _resample_counts(coal: Coalitions, n_boot: int, seed: int) -> np.ndarray:
    """``counts[n_boot, U]``: how often each sampled unit is picked in each resample."""
    first = coal.n_exact
    step = 2 if coal.paired else 1
    unit_rows = np.arange(first, coal.masks.shape[0], step)
    n_u = unit_rows.size
    mult = coal.mult[unit_rows]
    strat = coal.stratum[unit_rows]
    rng = SplitMix64(stream_state(seed, 3))
    counts = np.zeros((n_boot, n_u), dtype=np.float64)
    stratified = _SCHEMES[coal.scheme][1] == 1
    groups = [np.flatnonzero(strat == k) for k in np.unique(strat)] if stratified \
        else [np.repeat(np.arange(n_u), mult)]
    for b in range(n_boot):
        for g in groups:
            # Rao-Wu: n - 1 picks from a stratum of n (an unbiased variance), plain n
            # picks for iid draws; a stratum of one unit cannot show its variance.
            size = g.size - 1 if stratified else g.size
            if size > 0:
                picks = [g[rng.below(g.size)] for _ in range(size)]
                np.add.at(counts[b], picks, g.size / size)
            else:
                counts[b, g] = 1.0
    if stratified:  # without replacement: shrink each stratum's perturbation (Rao-Wu)
        shrink = np.sqrt(np.clip(1.0 - coal.fraction[strat], 0.0, 1.0))
        counts = 1.0 + shrink[None, :] * (counts - 1.0)
    return counts / mult[None, :]


def standard_errors(coalitions: Coalitions, v: np.ndarray, v0: np.ndarray, v1: np.ndarray,
                    *, n_boot: int = 64, ridge: float = 0.0, seed: int = 0) -> np.ndarray:
    """Bootstrap standard errors of :func:`solve_wls` on ``coalitions``.

    Args:
        coalitions: From :func:`sample_coalitions`.
        v: ``float[n, S, O]`` (or ``[n, S]``) coalition values.
        v0, v1: ``[n, O]`` or ``[O]``: values of the empty and full coalitions.
        n_boot: Resamples (>= 2). Cost: ``n_boot`` operator builds, ``O(S M^2)`` each.
        ridge: As given to the solve.
        seed: Seed of the resampling stream.

    Returns:
        ``se float64[n, M, O]`` (``[n, M]`` for 2-D ``v``); zeros when every coalition
        was enumerated (the fit is then exact).
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise ValueError(f"n_boot: expected an int >= 2, got {n_boot!r}")
    masks, w = coalitions.masks, coalitions.weights
    v, v0, v1, squeeze = _check_values(v, v0, v1, masks.shape[0])
    n, _, o = v.shape
    m = masks.shape[1]
    if coalitions.exact:
        se = np.zeros((n, m, o))
        return se[..., 0] if squeeze else se
    counts = _resample_counts(coalitions, int(n_boot), seed)
    step = 2 if coalitions.paired else 1
    phis = np.empty((n_boot, n, m, o))
    for b in range(n_boot):
        wb = w.copy()
        wb[coalitions.n_exact:] *= np.repeat(counts[b], step)
        H, alpha = projected_gram(masks, wb, ridge)
        T = np.linalg.pinv(H, rcond=1e-10, hermitian=True) - 1.0 / (alpha * m)
        P, c = operator_from_inverse(masks, wb, T)
        phis[b] = apply_operator(P, c, v, v0, v1)
    se = phis.std(axis=0, ddof=1)
    return se[..., 0] if squeeze else se
