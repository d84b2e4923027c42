"""numba kernels (compiled on first call, cached on disk): same outputs as :mod:`._numpy`.

Imported lazily by :mod:`xaicore.kernels` only when ``backend="numba"`` is asked for,
so ``import xaicore`` neither imports numba nor compiles anything.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV53 = 1.0 / 9007199254740992.0


@njit(cache=True)
def cholesky_into(a, k, add, floor, low):
    """The lower Cholesky factor of ``a[:k, :k] + add * I`` into ``low`` (zeros above
    the diagonal); ``False`` as soon as a pivot is not above ``floor``."""
    for j in range(k):
        d = a[j, j] + add
        for q in range(j):
            d -= low[j, q] * low[j, q]
        if not d > floor:
            return False
        d = np.sqrt(d)
        low[j, j] = d
        for i in range(j + 1, k):
            v = a[i, j]
            for q in range(j):
                v -= low[i, q] * low[j, q]
            low[i, j] = v / d
    return True


@njit(cache=True)
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _uniform(st):
    st[0] = st[0] + _GAMMA
    return np.float64(_mix(st[0]) >> np.uint64(11)) * _INV53


@njit(cache=True)
def _binom(n, k):
    r = 1
    for i in range(1, k + 1):
        r = r * (n - k + i) // i
    return r


@njit(cache=True)
def _hash(keys, row, words):
    h = np.uint64(0x243F6A8885A308D3)
    for k in range(words):
        h = _mix(h ^ keys[row, k]) + np.uint64(k)
    return h


@njit(cache=True)
def _find(table, keys, ids, n_keys, words):
    """Row id of key ``keys[n_keys]`` in the open-addressing ``table``, or -1."""
    mask = np.uint64(table.shape[0] - 1)
    i = _hash(keys, n_keys, words) & mask
    while table[i] >= 0:
        t = table[i]
        same = True
        for k in range(words):
            if keys[t, k] != keys[n_keys, k]:
                same = False
                break
        if same:
            return ids[t]
        i = (i + np.uint64(1)) & mask
    return -1


@njit(cache=True)
def _insert(table, keys, ids, n_keys, words, row_id):
    mask = np.uint64(table.shape[0] - 1)
    i = _hash(keys, n_keys, words) & mask
    while table[i] >= 0:
        i = (i + np.uint64(1)) & mask
    table[i] = n_keys
    ids[n_keys] = row_id


@njit(cache=True)
def _sample_raw(m, enum, strata, cdf, counts, n_units, paired, mode, state, max_draws):
    step = 2 if paired else 1
    cap = 0
    for s in enum:
        cap += 2 * (_binom(m, s) // (2 if 2 * s == m else 1))
    base = cap
    want = n_units if mode == 0 else counts.sum()
    cap += step * want
    masks = np.zeros((cap, m), dtype=np.uint8)
    stratum = np.full(cap, -1, dtype=np.int64)
    mult = np.ones(cap, dtype=np.int64)
    r = 0
    for s in enum:
        n = _binom(m, s) // (2 if 2 * s == m else 1)
        idx = np.arange(s)
        for t in range(n):
            masks[r + 1, :] = 1
            for j in idx:
                masks[r, j] = 1
                masks[r + 1, j] = 0
            r += 2
            i = s - 1
            while i >= 0 and idx[i] == m - s + i:
                i -= 1
            if i < 0:
                break
            idx[i] += 1
            for j in range(i + 1, s):
                idx[j] = idx[j - 1] + 1
    words = (m + 63) // 64
    size = 16
    while size < 2 * step * want + 2:
        size *= 2
    table = np.full(size, -1, dtype=np.int64)
    keys = np.zeros((step * want + 2, words), dtype=np.uint64)
    ids = np.zeros(step * want + 2, dtype=np.int64)
    n_keys = 0
    st = np.empty(1, dtype=np.uint64)
    st[0] = state
    perm = np.arange(m)
    K = strata.shape[0]
    n_draws = 0
    added = 0
    k = 0
    target = n_units
    if mode == 1:
        target = counts[0] if K > 0 else 0
    while K > 0:
        if mode == 0:
            if added >= n_units or n_draws >= max_draws:
                break
            u = _uniform(st)
            k = 0
            while k < K - 1 and not u < cdf[k]:
                k += 1
        else:
            if added >= target or n_draws >= max_draws:
                k += 1
                if k >= K or n_draws >= max_draws:
                    break
                added = 0
                target = counts[k]
                continue
        n_draws += 1
        s = strata[k]
        for i in range(s):
            j = i + np.int64(_uniform(st) * np.float64(m - i))
            tmp = perm[i]
            perm[i] = perm[j]
            perm[j] = tmp
        for w in range(words):
            keys[n_keys, w] = 0
        for i in range(s):
            keys[n_keys, perm[i] >> 6] |= np.uint64(1) << np.uint64(perm[i] & 63)
        hit = _find(table, keys, ids, n_keys, words)
        if hit >= 0:
            r0 = base + (hit - base) // step * step
            for q in range(r0, r0 + step):
                mult[q] += 1
            continue
        for i in range(s):
            masks[r, perm[i]] = 1
        _insert(table, keys, ids, n_keys, words, r)
        n_keys += 1
        stratum[r] = k
        r += 1
        if paired:
            for j in range(m):
                masks[r, j] = 1 - masks[r - 1, j]
            for w in range(words):
                keys[n_keys, w] = ~keys[n_keys - 1, w]
            if m % 64:
                keys[n_keys, words - 1] &= (np.uint64(1) << np.uint64(m % 64)) - np.uint64(1)
            _insert(table, keys, ids, n_keys, words, r)
            n_keys += 1
            stratum[r] = k
            r += 1
        added += 1
    return masks[:r], stratum[:r], mult[:r], n_draws


def sample_raw(m, enum, strata, cdf, counts, n_units, paired, mode, state, max_draws):
    """numba twin of :func:`xaicore.kernels._numpy.sample_raw` (same arguments and outputs)."""
    return _sample_raw(np.int64(m), np.asarray(enum, np.int64), np.asarray(strata, np.int64),
                       np.asarray(cdf, np.float64), np.asarray(counts, np.int64),
                       np.int64(n_units), bool(paired), np.int64(mode), np.uint64(state),
                       np.int64(max_draws))


@njit(cache=True)
def _wls_operator(masks, w, ridge):
    S, m = masks.shape
    G = np.zeros((m, m))
    members = np.empty(m, dtype=np.int64)
    size = np.zeros(S)
    for s in range(S):
        t = 0
        for j in range(m):
            if masks[s, j]:
                members[t] = j
                t += 1
        size[s] = t
        for a in range(t):
            for b in range(a, t):
                G[members[a], members[b]] += w[s]
    for a in range(m):
        for b in range(a + 1, m):
            G[b, a] = G[a, b]
    g = G.sum(axis=1)
    tot = g.sum()
    alpha = np.trace(G) / m
    if not alpha > 0:
        alpha = 1.0
    H = np.empty((m, m))
    for a in range(m):
        for b in range(m):
            H[a, b] = (G[a, b] - (g[a] + g[b]) / m + tot / (m * m)
                       + ridge * ((1.0 if a == b else 0.0) - 1.0 / m) + alpha / m)
    hmax = np.max(np.diag(H))
    L = np.zeros((m, m))
    if not cholesky_into(H, m, 0.0, 1e-11 * hmax, L):
        return np.zeros((m, S)), np.zeros(m), False
    Linv = np.linalg.inv(L)
    T = Linv.T @ Linv - 1.0 / (alpha * m)
    P = np.empty((m, S))
    cs = np.zeros(m)
    col = np.empty(m)
    for s in range(S):
        col[:] = 0.0
        for j in range(m):
            if masks[s, j]:
                col += T[j]
        col *= w[s]
        col -= col.mean()
        P[:, s] = col
        cs += col * size[s]
    c = (1.0 - cs) / m
    c += 1.0 / m - c.mean()
    return P, c, True


def wls_operator(masks: np.ndarray, weights: np.ndarray, ridge: float):
    """numba twin of the C++ ``wls_operator``: ``(P, c)`` or None when singular."""
    P, c, ok = _wls_operator(np.ascontiguousarray(masks, dtype=np.uint8),
                             np.ascontiguousarray(weights, dtype=np.float64), float(ridge))
    return (P, c) if ok else None
