"""Coalition sampling: the plan (shared Python), the draws (one backend), the weights (shared).

The plan decides which coalition sizes are enumerated exactly (pairs of sizes ``s`` and
``M - s`` from the outside in, as KernelSHAP does) and how the rest of the budget is
spread over the remaining sizes; a backend (``cpp``, ``numba`` or ``numpy``) draws the
coalitions with the shared splitmix64 stream; the weights are then set here, once, from
what was drawn. So masks are identical across backends and so are the weights.

Weights are Horvitz-Thompson style: a drawn row's weight is its Shapley-kernel weight
divided by its expected multiplicity, so the weighted normal equations are unbiased
(``kernel``: with-replacement draws, merged, weight ~ multiplicity; ``leverage`` and
``stratified``: a fixed number of distinct draws per size, without replacement).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._rng import SplitMix64, stream_state

BACKENDS = ("cpp", "numba", "numpy")
#: public scheme name -> (size distribution, draw mode). Mode 0: with-replacement draws
#: (merged), mode 1: stratified by size, fixed count, without replacement.
_SCHEMES = {
    "kernel": ("kernel", 0),
    "leverage": ("uniform", 1),
    "stratified": ("kernel", 1),
    "leverage-draws": ("uniform", 0),  # measurement variant, not advertised
}
SCHEMES = ("kernel", "leverage", "stratified")
DEFAULT_SCHEME = "leverage"  # lowest error in the scheme study (benchmarks/bench_kernels.py)


@dataclass(frozen=True)
class Coalitions:
    """Coalitions ``[S, M]`` with their regression weights (empty and full excluded).

    Attributes:
        masks: ``bool[S, M]``, True = feature present. Rows ``[0, n_exact)`` are the
            enumerated sizes; with ``paired`` every row ``2k + 1`` is the complement of
            row ``2k``.
        weights: ``float64[S]``, Shapley-kernel weights (normalised so that the full
            enumeration sums to 1).
        n_exact: Number of leading rows enumerated exactly (fixed, no sampling error).
        stratum: ``int64[S]``, stratum id of each sampled row, -1 for enumerated rows.
        unit: ``int64[S]``, sampling-unit id (one per complement pair when paired), -1
            for enumerated rows.
        mult: ``int64[S]``, times the row's unit was drawn (1 without replacement).
        n_draws: Total draws made (counting duplicates).
        fraction: ``float64[K]``, share of each stratum's units that were drawn (the
            finite-population correction of the standard errors).
        scheme, paired, seed: How the coalitions were made.
    """

    masks: np.ndarray
    weights: np.ndarray
    n_exact: int
    stratum: np.ndarray
    unit: np.ndarray
    mult: np.ndarray
    n_draws: int
    fraction: np.ndarray
    scheme: str
    paired: bool
    seed: int

    @property
    def n_features(self) -> int:
        """Number of players ``M``."""
        return int(self.masks.shape[1])

    @property
    def exact(self) -> bool:
        """True when every coalition was enumerated (the fit is exact Shapley)."""
        return self.n_exact == self.masks.shape[0]


def _check_int(name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an int >= {lo}, got {value!r}")  # noqa: TRY004
    if value < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {value}")
    return int(value)


def check_backend(backend: str, allowed: tuple[str, ...] = BACKENDS) -> str:
    """Validate a backend name (ValueError naming ``backend``)."""
    if backend not in allowed:
        raise ValueError(f"backend: expected one of {allowed}, got {backend!r}")
    return backend


def min_budget(n_features: int) -> int:
    """Smallest accepted budget: ``2 * (M - 1)`` rows (``M - 1`` complement pairs)."""
    return 2 * (n_features - 1)


def _size_mass(m: int, s: int) -> float:
    """Total Shapley-kernel mass of size ``s``: ``(M - 1) / (s (M - s))``."""
    return (m - 1) / (s * (m - s))


def plan(m: int, budget: int, paired: bool, seed: int, scheme: str,
         first_classes: int = 0) -> dict:
    """Decide the enumerated classes and the sampling strata (pure, shared by backends).

    The classes of sizes ``s`` and ``M - s``, ``s = 1 .. first_classes``, go first, each
    enumerated where what is left of the budget holds it (and none after one that does
    not); short of class 1's ``2 M`` rows the whole budget is spent on it (as many of its
    pairs as fit, drawn without replacement in the stratified modes).
    """
    dist, mode = _SCHEMES[scheme]
    size_q = {s: (_size_mass(m, s) if dist == "kernel" else 1.0) for s in range(1, m)}
    classes = list(range(1, m // 2 + 1))
    rows = {s: (2 * math.comb(m, s) if 2 * s != m else math.comb(m, s)) for s in classes}
    qcls = {s: size_q[s] + (size_q[m - s] if 2 * s != m else 0.0) for s in classes}
    remaining = list(classes)
    left = budget
    enum: list[int] = []
    only_first = False     # the whole budget on class 1 (singletons, short of 2 M rows)
    if budget >= 2 ** m - 2:
        enum, remaining, left = classes, [], 0
    elif first_classes >= 1:
        only_first = left < rows[1]
        for s in range(1, min(first_classes, len(classes)) + 1):
            if only_first or left < rows[s]:
                break
            enum.append(s)
            left -= rows[s]
            remaining.pop(0)
    while remaining and not only_first:
        s = remaining[0]
        share = qcls[s] / sum(qcls[t] for t in remaining)
        if left * share / rows[s] < 1.0 - 1e-8:
            break
        enum.append(s)
        left -= rows[s]
        remaining.pop(0)
    # Strata: one per remaining class (paired) or per remaining size (unpaired).
    if paired:
        strata = remaining
        q = np.array([qcls[s] for s in strata], dtype=np.float64)
        units = [math.comb(m, s) // (2 if 2 * s == m else 1) for s in strata]
        mass = [_size_mass(m, s) / (2.0 if 2 * s == m else 1.0) for s in strata]
        n_units = left // 2
    else:
        strata = [t for s in remaining for t in ((s, m - s) if 2 * s != m else (s,))]
        q = np.array([size_q[s] for s in strata], dtype=np.float64)
        units = [math.comb(m, s) for s in strata]
        mass = [_size_mass(m, s) for s in strata]
        n_units = left
    k = len(strata)
    if only_first:
        q = np.where(np.isin(strata, (1, m - 1)), q, 0.0)
    q = q / q.sum() if k else q
    cdf = np.cumsum(q)
    if k:
        cdf[-1] = 1.0
    alloc = n_units * q
    counts = np.zeros(k, dtype=np.int64)
    if mode == 1 and k:
        u = SplitMix64(stream_state(seed, 2)).uniform()
        cum = np.concatenate([[0.0], np.cumsum(alloc)])
        cum[-1] = float(n_units)
        counts = (np.floor(cum[1:] + u) - np.floor(cum[:-1] + u)).astype(np.int64)
        counts = np.minimum(counts, np.array([min(x, 2 ** 62) for x in units],
                                             dtype=np.int64))
    return {"enum": np.array(enum, dtype=np.int64), "strata": np.array(strata, dtype=np.int64),
            "q": q, "cdf": cdf, "units": units, "alloc": alloc, "counts": counts, "mass": np.array(mass),
            "n_units": int(n_units), "mode": mode,
            "max_draws": int(100 * n_units + 1000), "state": stream_state(seed, 1)}


def finish(m: int, p: dict, raw: tuple, *, scheme: str, paired: bool, seed: int
           ) -> Coalitions:
    """Turn a backend's raw draws into :class:`Coalitions` (weights set here, once)."""
    masks, stratum, mult, n_draws = raw
    masks = np.ascontiguousarray(masks, dtype=np.uint8).view(np.bool_)
    stratum = np.asarray(stratum, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    n_exact = int(np.sum(stratum < 0))
    total = sum(_size_mass(m, s) for s in range(1, m))
    w = np.empty(masks.shape[0], dtype=np.float64)
    sizes = masks[:n_exact].sum(axis=1)
    for s in np.unique(sizes):
        w[:n_exact][sizes == s] = _size_mass(m, int(s)) / math.comb(m, int(s))
    k = stratum[n_exact:]
    if p["mode"] == 0:
        w[n_exact:] = mult[n_exact:] * p["mass"][k] / (n_draws * p["q"][k])
    else:
        w[n_exact:] = p["mass"][k] / p["alloc"][k]
    w /= total
    rows_per_unit = 2 if paired else 1
    unit = np.full(masks.shape[0], -1, dtype=np.int64)
    unit[n_exact:] = np.arange(masks.shape[0] - n_exact) // rows_per_unit
    drawn = np.bincount(k, minlength=len(p["units"])) // rows_per_unit
    fraction = np.array([d / u for d, u in zip(drawn.tolist(), p["units"])], dtype=np.float64)
    for a in (masks, w, stratum, unit, mult, fraction):
        a.flags.writeable = False
    return Coalitions(masks=masks, weights=w, n_exact=n_exact, stratum=stratum, unit=unit,
                      mult=mult, n_draws=int(n_draws), fraction=fraction, scheme=scheme,
                      paired=paired, seed=seed)


def sample_coalitions(n_features: int, budget: int, *, paired: bool = True, seed: int = 0,
                      scheme: str = DEFAULT_SCHEME, backend: str = "cpp",
                      min_rows: int | None = None, first_classes: int = 0) -> Coalitions:
    """Draw coalitions and Shapley-kernel weights for a KernelSHAP-type regression.

    Sizes whose coalitions all fit their share of the budget are enumerated exactly
    (pairs of sizes ``s``, ``M - s``, outside in); the rest are sampled without
    duplicates (complements paired when ``paired``). A budget of ``2**M - 2`` or more
    enumerates everything: the regression then gives exact Shapley values.

    Args:
        n_features: Number of players ``M`` (>= 2).
        budget: Most coalitions to return (``S <= budget``); at least ``2 * (M - 1)``
            (what a least-squares fit needs), or ``min_rows``.
        paired: Sample each coalition together with its complement.
        seed: Seed of the splitmix64 stream (same seed, same coalitions on every backend).
        scheme: ``"leverage"`` (Leverage SHAP, Musco & Witter 2025: every size gets the
            same share of the sampled budget, fixed count per size, no replacement),
            ``"kernel"`` (KernelSHAP/shap: sizes drawn from the Shapley kernel with
            replacement, duplicates merged) or ``"stratified"`` (Shapley-kernel share per
            size, fixed count per size, no replacement).
        backend: ``"cpp"``, ``"numba"`` or ``"numpy"`` (the slow reference).
        min_rows: The smallest budget accepted instead of ``2 * (M - 1)``, for estimators
            that need no full-rank regression (the spectral estimate takes any number of
            complement pairs).
        first_classes: Enumerate the classes of sizes ``s`` and ``M - s`` for ``s = 1 ..
            first_classes`` first, each where what is left of the budget holds all of it,
            then the scheme's draw. Class 1 is the coalitions of one player and their
            complements (``2 M`` rows; short of those, the whole budget goes to as many
            of them as fit); they give every Shapley value of a game of interactions of
            order 2 at most, ``(v({i}) - v({})) / 2 + (v(N) - v(N \\ {i})) / 2``. With
            ``k`` classes enumerated, the odd part of every coalition of those sizes fixes the Shapley
            values of any game of interactions of order ``2 k`` at most. ``KernelShap``'s
            spectral estimate takes 2 (``M (M - 1)`` rows for class 2) where that leaves
            fewer than 500 pairs to the draw, else 1.

    Returns:
        :class:`Coalitions`.

    Raises:
        ValueError: naming ``n_features``, ``budget``, ``scheme`` or ``backend``.

    Example:
        >>> c = sample_coalitions(10, 256, seed=1)
        >>> c.masks.shape[0] <= 256 and c.masks.shape[1] == 10
        True
    """
    m = _check_int("n_features", n_features, 2)
    lo = min_budget(m) if min_rows is None else int(min_rows)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)):
        raise ValueError(f"budget: expected an int >= {lo}, got {budget!r}")  # noqa: TRY004
    if budget < lo:
        why = "2 * (n_features - 1)" if min_rows is None else "min_rows"
        raise ValueError(f"budget: at least {lo} coalitions ({why}) are needed "
                         f"for n_features={m}, got {budget}")
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme: expected one of {SCHEMES}, got {scheme!r}")
    check_backend(backend)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed: expected an int, got {seed!r}")  # noqa: TRY004
    budget = int(min(int(budget), 2 ** m - 2))
    first = _check_int("first_classes", first_classes, 0)
    p = plan(m, budget, bool(paired), int(seed), scheme, first)
    if backend == "cpp":
        from .. import _core
        fn = _core.sample_raw
    elif backend == "numba":
        from ._numba import sample_raw as fn
    else:
        from ._numpy import sample_raw as fn
    raw = fn(m, p["enum"], p["strata"], p["cdf"], p["counts"], p["n_units"], bool(paired),
             p["mode"], np.uint64(p["state"]), p["max_draws"])
    return finish(m, p, raw, scheme=scheme, paired=bool(paired), seed=int(seed))
