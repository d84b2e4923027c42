"""Exact Shapley values as one linear map over all ``2**M`` coalitions."""
from __future__ import annotations

import math

import numpy as np

#: Largest ``n_features`` of :func:`exact_operator`: at M = 20 ``P`` is 20 x 2**20
#: float64 (168 MB) and the masks 21 MB; each extra player doubles both.
MAX_EXACT_FEATURES = 20


def exact_operator(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """All coalitions and the Shapley operator: ``phi = P @ v`` over ``2**M`` values.

    Row ``i`` of ``masks`` holds feature ``j`` iff bit ``j`` of ``i`` is set (row 0 is
    the empty coalition, the last row the full one).
    ``P[j, S] = |S|-1! (M-|S|)! / M!`` if ``j in S`` else ``-|S|! (M-|S|-1)! / M!``,
    so every row of ``P`` sums to 0 and ``phi`` is exactly efficient.

    Args:
        n_features: ``M``, from 1 to :data:`MAX_EXACT_FEATURES`.

    Returns:
        ``(masks bool[2**M, M], P float64[M, 2**M])``.

    Raises:
        ValueError: naming ``n_features`` when it is not an int in ``[1, 20]``.

    Example:
        >>> masks, P = exact_operator(3)
        >>> masks.shape, P.shape
        ((8, 3), (3, 8))
    """
    if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) \
            or not 1 <= n_features <= MAX_EXACT_FEATURES:
        raise ValueError(f"n_features: exact Shapley enumerates 2**M coalitions and takes an "
                         f"int in [1, {MAX_EXACT_FEATURES}], got {n_features!r}")
    m = int(n_features)
    idx = np.arange(2 ** m, dtype=np.int64)
    masks = ((idx[:, None] >> np.arange(m)) & 1).astype(np.bool_)
    size = masks.sum(axis=1)
    f = math.factorial
    plus = np.array([f(s - 1) * f(m - s) / f(m) if s >= 1 else 0.0 for s in range(m + 1)])
    minus = np.array([f(s) * f(m - s - 1) / f(m) if s < m else 0.0 for s in range(m + 1)])
    P = np.where(masks.T, plus[size][None, :], -minus[size][None, :])
    return masks, P
