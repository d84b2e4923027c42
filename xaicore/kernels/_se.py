"""Standard errors of the sampled KernelSHAP estimate by bootstrap over the sampled units.

Exactly enumerated rows are fixed (they carry no sampling error). Sampled units (a
coalition, or a coalition and its complement when paired) are resampled the way they
were drawn: with-replacement draws (``kernel``) are resampled as ``n_draws`` iid draws;
stratified draws (``leverage``, ``stratified``) are resampled within their stratum (``n - 1``
picks of ``n``, rescaled), their
weight perturbations shrunk by ``sqrt(1 - fraction drawn)`` (a finite-population
correction in the manner of Rao & Wu's rescaling bootstrap). Each
resample reweights the rows (``w * count / mult``), rebuilds the operator and re-solves;
the standard deviation over resamples is the standard error. All resamples are built
and solved together (plain matrix products over blocks of resamples).
"""
from __future__ import annotations

import numpy as np

from ._rng import GAMMA, INV53, MUL1, MUL2, stream_state
from ._sampling import _SCHEMES, Coalitions
from ._wls import _check_values


def _uniforms(state: int, count: int) -> np.ndarray:
    """The next ``count`` :meth:`SplitMix64.uniform` draws from ``state``, vectorised
    (the same 64-bit wrap-around arithmetic in numpy ``uint64``: bit for bit the same)."""
    with np.errstate(over="ignore"):
        z = np.uint64(state) + np.uint64(GAMMA) * np.arange(1, count + 1, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(MUL1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MUL2)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * INV53


def _resample_counts(coal: Coalitions, n_boot: int, seed: int) -> np.ndarray:
    """``counts[n_boot, U]``: how often each sampled unit is picked in each resample."""
    first = coal.n_exact
    step = 2 if coal.paired else 1
    unit_rows = np.arange(first, coal.masks.shape[0], step)
    n_u = unit_rows.size
    mult = coal.mult[unit_rows]
    strat = coal.stratum[unit_rows]
    counts = np.zeros((n_boot, n_u), dtype=np.float64)
    stratified = _SCHEMES[coal.scheme][1] == 1
    groups = [np.flatnonzero(strat == k) for k in np.unique(strat)] if stratified \
        else [np.repeat(np.arange(n_u), mult)]
    # Rao-Wu: n - 1 picks from a stratum of n (an unbiased variance), plain n picks for
    # iid draws; a stratum of one unit cannot show its variance. The stream is read in
    # the order resample by resample, group by group, pick by pick.
    sizes = [g.size - 1 if stratified else g.size for g in groups]
    per_boot = sum(sizes)
    u = _uniforms(stream_state(seed, 3), n_boot * per_boot).reshape(n_boot, per_boot)
    rows = np.arange(n_boot)[:, None]
    off = 0
    for g, size in zip(groups, sizes):
        if size > 0:
            picks = g[(u[:, off:off + size] * g.size).astype(np.int64)]   # [n_boot, size]
            np.add.at(counts, (np.broadcast_to(rows, picks.shape), picks), g.size / size)
            off += size
        else:
            counts[:, g] = 1.0
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
        n_boot: Resamples (>= 2). Cost: ``n_boot`` operator builds, ``O(S M^2)`` each,
            and ``n_boot`` solves, ``O(S M n O)`` each, as stacked products.
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
    wb = np.repeat(w[None, :], n_boot, axis=0)                         # [B, S]
    wb[:, coalitions.n_exact:] *= np.repeat(counts, step, axis=1)
    # The resamples in blocks, each block with the steps of projected_gram and
    # operator_from_inverse batched into plain matrix products. P_b = T_b Z^T W_b is never
    # formed: phi_b = centre(T_b (Z^T W_b) Y) + c_b dv, and the constant part of T_b
    # (-11^T / (alpha M)) drops out in the centring (each column of P_b sums to 0).
    z = masks.astype(np.float64)
    s_all, first = z.shape[0], coalitions.n_exact
    y = np.empty((s_all, n * o + 1))                                   # [S, R + 1]
    y[:, :-1] = (v - v0[:, None, :]).transpose(1, 0, 2).reshape(s_all, n * o)
    y[:, -1] = z.sum(axis=1)                                           # gives c_b
    dv = (v1 - v0).reshape(n * o)
    alpha_all = (wb @ z.sum(axis=1)) / m                               # trace(G_b) / M
    alpha_all = np.where(alpha_all > 0, alpha_all, 1.0)
    zwe = z[:first].T * w[:first]                                      # exact rows: fixed
    g_fixed, a_fixed = zwe @ z[:first], zwe @ y[:first]
    zs, ws, ys = z[first:], w[first:], y[first:]
    if step == 2 and np.array_equal(masks[first + 1::2], ~masks[first::2]):
        # A pair (z, 1 - z) with one count k adds k (w_a + w_b) z z^T to G and k z (w_a y_a
        # - w_b y_b)^T to Z^T W Y, up to terms along 1 (1 v^T + v 1^T in G, 1 e^T in
        # Z^T W Y) that the projections Pi (.) Pi and the centring remove exactly: half
        # the work.
        zu, gw = zs[0::2], ws[0::2] + ws[1::2]
        d = ws[0::2, None] * ys[0::2] - ws[1::2, None] * ys[1::2]
        ku = counts
    else:
        zu, gw, d = zs, ws, ws[:, None] * ys
        ku = np.repeat(counts, step, axis=1)
    zut = np.ascontiguousarray(zu.T)                                   # [M, U]
    u = zu.shape[0]
    pi = np.eye(m) - 1.0 / m
    # Spread over resamples accumulated block by block (Chan et al.'s pairwise update):
    # memory ~ M x n O, not n_boot x M x n O, and blocks small enough to stay in cache.
    seen, mean, m2 = 0, np.zeros((m, n * o)), np.zeros((m, n * o))
    chunk = max(1, (1 << 18) // (m * max(u, 1)))                       # ~2 MB blocks
    for b0 in range(0, n_boot, chunk):
        b1 = min(b0 + chunk, n_boot)
        k = b1 - b0
        kb = ku[b0:b1]
        G = ((zut[None] * (kb * gw)[:, None, :]).reshape(k * m, u) @ zu).reshape(k, m, m)
        alpha = alpha_all[b0:b1, None, None]
        Hp = _pinv(pi @ (G + g_fixed) @ pi + ridge * pi + alpha / m)
        zy = (zut[None] * kb[:, None, :]).reshape(k * m, u) @ d        # [k M, R + 1]
        fit = Hp @ (zy.reshape(k, m, -1) + a_fixed)
        fit -= fit.mean(axis=1, keepdims=True)                         # [k, M, R + 1]
        c = (1.0 - fit[:, :, -1]) / m                                  # [k, M]
        c += 1.0 / m - c.mean(axis=1, keepdims=True)
        phis = fit[:, :, :-1] + c[:, :, None] * dv[None, None, :]      # [k, M, R]
        b_mean = phis.mean(axis=0)
        b_m2 = ((phis - b_mean) ** 2).sum(axis=0)
        delta = b_mean - mean
        mean += delta * (k / (seen + k))
        m2 += b_m2 + delta ** 2 * (seen * k / (seen + k))
        seen += k
    se = np.sqrt(m2 / (n_boot - 1)).reshape(m, n, o).transpose(1, 0, 2)
    return se[..., 0] if squeeze else se


def _pinv(H: np.ndarray) -> np.ndarray:
    """``pinv(H, rcond=1e-10, hermitian=True)`` of a stack of symmetric matrices, by an
    LU inverse where ``||H||_F ||H^-1||_F`` (a bound on the condition number) is below
    1e8, so no eigenvalue would be cut by the pseudo-inverse (the same matrix to
    rounding, several times faster); the pseudo-inverse for the rest."""
    try:
        Hi = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(H, rcond=1e-10, hermitian=True)
    bound = np.linalg.norm(H, axis=(1, 2)) * np.linalg.norm(Hi, axis=(1, 2))
    bad = ~(np.isfinite(bound) & (bound < 1e8))
    if bad.any():
        Hi[bad] = np.linalg.pinv(H[bad], rcond=1e-10, hermitian=True)
    return Hi
