"""The split-half check of the spectral estimate's standard errors
(:mod:`xaicore.kernels._spectral`): a design whose pairs are enough for a flat first
order in each half also holds the posterior operators of the two halves (every other
pair, each with the full coalition); their two estimates of a row must differ by no
more than their own spreads say."""
from __future__ import annotations

from typing import Any

import numpy as np


def split_half_ratio(d: Any, y: np.ndarray, w: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``[n, O]``, at least 1: the factor on the variance of the estimate from the
    observations ``y [n, U + 1, O]`` (scaled; prior weights ``w`` and ML scales ``q``, both
    ``[G, n, O]``) by the split-half check of ``d.halves``.

    The two halves of the pairs give two estimates, each with its own posterior spread,
    under the full data's prior weights and scales; where they differ by more than their
    spreads say (mean over players of the squared difference over the sum of the
    variances, above 1), the variance is scaled by that ratio. The grid's priors can all
    be too sure of a game's high orders (2-se coverage 0.76-0.80 on the benchmark's text
    model at 4094 coalitions: the evidence weighs the smoothest priors, whose means agree
    with the others' but whose spread is a third or less); the halves' disagreement
    measures what they miss. One-sided: it cannot see a bias both halves share (as at the
    smallest budgets, where both shrink to the prior), and it never shrinks a spread.
    """
    est = []
    for h, ph, vh in d.halves:
        n, m, o = y.shape[0], ph.shape[1], y.shape[2]
        yh = y[:, h].transpose(1, 0, 2).reshape(len(h), n * o)
        mean = np.zeros((n, m, o))
        second = np.zeros_like(mean)
        for k in range(ph.shape[0]):
            if w[k].max() < 1e-9:          # a prior no row weighs: nothing to add
                continue
            pk = (ph[k] @ yh).reshape(m, n, o).transpose(1, 0, 2)
            mean += w[k][:, None, :] * pk
            second += w[k][:, None, :] * (pk ** 2 + vh[k][None, :, None] * q[k][:, None, :])
        est.append((mean, np.maximum(second - mean ** 2, 0.0)))
    (a, va), (b, vb) = est
    spread = np.mean(va + vb, axis=1)
    ratio = np.mean((a - b) ** 2, axis=1) / np.where(spread > 0, spread, np.inf)
    return np.maximum(ratio, 1.0)

