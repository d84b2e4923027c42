"""numba twin of :func:`xaicore.kernels._sparse.search` for the sparse step's observations.

The sparse step searches the rows ``[z; ~z; 1]`` (every pair's coalition, its complement,
the full coalition). Here they stay implicit: a set's unanimity column is kept per pair as
``+1`` (the coalition holds the set), ``-1`` (the complement does) or ``0``, so every
product with the ``2 U + 1`` rows is one with the ``U`` pairs (``z' w`` by BLAS, the
complement's part a sum). The rounds are those of the NumPy reference, step for step (the
same candidates, lazy re-scoring, entry and removal rules, ties broken the same way);
the sums run in another order, so the scores agree to rounding only. The caller's
``check`` runs in Python between two calls of the compiled rounds.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._numba import cholesky_into
from ._sparse import MAX_ORDER
from ._sparse_bits import column, counts, overlap, pack, set_masks

_REFRESH = 5


@njit(cache=True)
def _key(p, n, base):
    """Sorted players ``p[:n]`` as one integer, in the order of Python's tuples."""
    k = 0
    for i in range(MAX_ORDER):
        k = k * base + (p[i] + 1 if i < n else 0)
    return k


@njit(cache=True)
def _column(zh, p, n, out):
    """``out[u]``: +1 where pair ``u``'s coalition holds players ``p[:n]``, -1 where its
    complement does, else 0; returns how many complements do."""
    neg = 0
    for u in range(zh.shape[0]):
        held = 0
        for i in range(n):
            held += zh[u, p[i]]
        out[u] = (held == n) - (held == 0)
        neg += held == 0
    return neg


@njit(cache=True)
def _masked(st, r, u_n, w):
    """``w``: the residual on a set's pair rows (complement rows negated); returns the
    complement rows' sum plus the full coalition's value."""
    c = 0.0
    for u in range(u_n):                 # branch-free: the same values, exactly
        s = st[u]
        b = r[u_n + u] * (s < 0)
        w[u] = r[u] * (s > 0) - b
        c += b
    return c + r[2 * u_n]


@njit(cache=True)
def _product(ztf, w):
    """``ztf @ w``: column by column when there are few (no packing of ``ztf``)."""
    s = w.shape[1]
    if s > 12:
        return ztf @ w
    out = np.empty((ztf.shape[0], s))
    col = np.empty(w.shape[0])
    for q in range(s):
        col[:] = w[:, q]
        out[:, q] = ztf @ col
    return out


@njit(cache=True)
def _solve(gram, rhs, k):
    """``(c, diag(inv))`` of OLS on Gram ``gram[:k, :k]`` (jittered Cholesky, else the
    eigen pseudo-inverse), as ``_LeastSquares.solve``."""
    g = gram[:k, :k].copy()
    tr = 0.0
    for i in range(k):
        tr += g[i, i]
    jit = 1e-10 * max(tr / k, 1e-300)
    low = np.zeros((k, k))
    if cholesky_into(g, k, jit, 0.0, low):
        li = np.zeros((k, k))
        for j in range(k):
            li[j, j] = 1.0 / low[j, j]
            for i in range(j + 1, k):
                s = 0.0
                for q in range(j, i):
                    s += low[i, q] * li[q, j]
                li[i, j] = -s / low[i, i]
        inv = li.T @ li
    else:
        ev, vec = np.linalg.eigh(g)
        cut = 1e-12 * np.max(np.abs(ev))
        inv = np.zeros((k, k))
        for q in range(k):
            if abs(ev[q]) > cut:
                inv += np.outer(vec[:, q], vec[:, q]) / ev[q]
    return inv @ rhs[:k].copy(), np.diag(inv).copy()


@njit(cache=True)
def _residual(t, st, act, k, c, u_n):
    """``t - X c`` on the ``2 U + 1`` rows, ``X`` the active sets' columns."""
    r = t.copy()
    tot = 0.0
    xa = np.zeros(u_n)
    xb = np.zeros(u_n)
    for q in range(k):
        row, cq = st[act[q]], c[q]
        tot += cq
        for u in range(u_n):
            s = row[u]
            xa[u] += cq * (s > 0)
            xb[u] += cq * (s < 0)
    for u in range(u_n):
        r[u] -= xa[u]
        r[u_n + u] -= xb[u]
    r[2 * u_n] -= tot
    return r


@njit(cache=True)
def _rounds(zh, zb, ztf, t, max_terms, width, max_rounds, every, pen, rnd0, resume,
            sets, slen, keys, st, pos, neg, cnt, num, fresh, act, gram, rhs, tabu, r, ints,
            flts):
    """Rounds ``rnd0..`` of the search (see :func:`search_pairs`); returns the round to
    check next (the caller checks, then resumes there) or 0 when the search ended."""
    u_n, m = zh.shape
    n_obs = 2 * u_n + 1
    base = m + 1
    h, k, nt, crounds = ints[0], ints[1], ints[2], ints[3]
    rss = flts[0]
    width2, wide = 2 * width, 12 * width
    cand_key = np.empty(wide + width2, np.int64)
    cand_sc = np.empty(wide + width2)
    cand_p = np.empty((wide + width2, MAX_ORDER), np.int64)
    cand_n = np.empty(wide + width2, np.int64)
    p = np.empty(MAX_ORDER, np.int64)
    out = 0
    for rnd in range(rnd0, max_rounds + 1):
        if every > 0 and rnd % every == 0 and not (resume and rnd == rnd0):
            out = rnd
            break
        s2 = max(rss / max(n_obs - k, 1), 1e-300)
        # single players: the best 2 width by score, then those not skipped
        d = r[:u_n] - r[u_n:2 * u_n]
        nums = ztf @ d + (r[u_n:2 * u_n].sum() + r[2 * u_n])
        sc1 = np.zeros(m)
        for i in range(m):
            sc1[i] = nums[i] ** 2 / (u_n + 1.0)
        order = np.argsort(-sc1, kind="mergesort")
        nc = 0
        for q in range(min(width2, m)):
            i = order[q]
            p[0] = i
            kk = _key(p, 1, base)
            if not _skipped(kk, keys, act, k, tabu, nt):
                cand_key[nc], cand_sc[nc], cand_n[nc] = kk, sc1[i], 1
                cand_p[nc, 0] = i
                nc += 1
        # children of the sets seen: proposals (fresh for the stale ones), best 12 width exact
        if h > 0:
            redo = np.zeros(h, np.bool_)
            for q in range(h):
                redo[q] = (not fresh[q]) or crounds % _REFRESH == 0
            crounds += 1
            idx = np.flatnonzero(redo)
            w = np.empty((u_n, idx.size))
            cst = np.empty(idx.size)
            w1 = np.empty(u_n)
            for q in range(idx.size):
                cst[q] = _masked(st[idx[q]], r, u_n, w1)
                w[:, q] = w1
            got = _product(ztf, w)
            now = np.zeros(h, np.bool_)
            for q in range(idx.size):
                num[:, idx[q]] = got[:, q] + cst[q]
                fresh[idx[q]] = True
                now[idx[q]] = True
            top_s = np.full(wide, -1.0)
            top_f = np.full(wide, -1, np.int64)
            for j in range(m):
                for q in range(h):
                    cn = cnt[j, q]
                    s = num[j, q] ** 2 / max(cn, 1.0) if cn > 0 else 0.0
                    if slen[q] >= MAX_ORDER:
                        s = 0.0
                    else:
                        for i in range(slen[q]):
                            if sets[q, i] == j:
                                s = 0.0
                    if s > top_s[wide - 1]:
                        at = wide - 1
                        while at > 0 and top_s[at - 1] < s:
                            top_s[at], top_f[at] = top_s[at - 1], top_f[at - 1]
                            at -= 1
                        top_s[at], top_f[at] = s, j * h + q
            slot = np.full(h, -1, np.int64)      # the masked residuals scored exactly
            wc = np.empty((wide, u_n))
            cc = np.empty(wide)
            nw = 0
            for c in range(wide):
                if not top_s[c] > 0.0:
                    break
                j, q = top_f[c] // h, top_f[c] % h
                if now[q]:
                    e = num[j, q]
                else:
                    if slot[q] < 0:
                        slot[q] = nw
                        cc[nw] = _masked(st[q], r, u_n, wc[nw])
                        nw += 1
                    e = np.dot(ztf[j], wc[slot[q]]) + cc[slot[q]]
                cn = cnt[j, q]
                s = e * e / cn if cn > 0 else 0.0
                n_p, ins = 0, False
                for i in range(slen[q]):
                    if not ins and j < sets[q, i]:
                        p[n_p] = j
                        n_p += 1
                        ins = True
                    p[n_p] = sets[q, i]
                    n_p += 1
                if not ins:
                    p[n_p] = j
                    n_p += 1
                kk = _key(p, n_p, base)
                if _skipped(kk, keys, act, k, tabu, nt):
                    continue
                at = -1
                for q2 in range(nc):
                    if cand_key[q2] == kk:
                        at = q2
                if at < 0:
                    if s > 0.0:
                        cand_key[nc], cand_sc[nc], cand_n[nc] = kk, s, n_p
                        cand_p[nc, :n_p] = p[:n_p]
                        nc += 1
                elif s > cand_sc[at]:
                    cand_sc[at] = s
        # the best width candidates above the entry threshold, by score then set
        chosen = np.empty(width, np.int64)
        nb = 0
        used = np.zeros(nc, np.bool_)
        while nb < width:
            bi = -1
            for q in range(nc):
                if used[q] or not cand_sc[q] > pen * s2:
                    continue
                if bi < 0 or cand_sc[q] > cand_sc[bi] or (
                        cand_sc[q] == cand_sc[bi] and cand_key[q] < cand_key[bi]):
                    bi = q
            if bi < 0:
                break
            used[bi] = True
            chosen[nb] = bi
            nb += 1
        if nb == 0 or k + nb > max_terms:
            break
        for b in range(nb):
            ci = chosen[b]
            kk = cand_key[ci]
            at = -1
            for q in range(h):
                if keys[q] == kk:
                    at = q
            if at < 0:                       # a new set: its column and children's counts
                at = h
                sets[at, :] = -1
                sets[at, :cand_n[ci]] = cand_p[ci, :cand_n[ci]]
                slen[at], keys[at] = cand_n[ci], kk
                n_neg = set_masks(zb, sets[at], slen[at], u_n, pos[at], neg[at])
                column(pos[at], neg[at], u_n, st[at])
                counts(zb, pos[at], neg[at], n_neg, cnt[:, at])
                fresh[at] = False
                h += 1
            for q in range(k):               # its Gram row and right-hand side
                g = overlap(pos[act[q]], neg[act[q]], pos[at], neg[at])
                gram[q, k], gram[k, q] = g, g
            tt = 0.0
            for u in range(u_n):
                s = st[at, u]
                tt += t[u] * (s > 0) + t[u_n + u] * (s < 0)
            gram[k, k], rhs[k] = overlap(pos[at], neg[at], pos[at], neg[at]), tt + t[2 * u_n]
            act[k] = at
            k += 1
        c, dinv = _solve(gram, rhs, k)
        r[:] = _residual(t, st, act, k, c, u_n)
        s2 = max(np.dot(r, r) / max(n_obs - k, 1), 1e-300)
        nt, j = 0, 0                         # drop the terms below the t-statistic
        kept = np.empty(k, np.int64)
        for q in range(k):
            if c[q] ** 2 >= 0.5 * pen * s2 * max(dinv[q], 1e-300):
                kept[j], act[j], rhs[j] = q, act[q], rhs[q]
                j += 1
            else:
                tabu[nt] = act[q]
                nt += 1
        if nt > 0:
            sub = gram[:k, :k].copy()
            for a in range(j):
                for b in range(j):
                    gram[a, b] = sub[kept[a], kept[b]]
            k = j
            c, dinv = _solve(gram, rhs, k) if k > 0 else (c, dinv)
            r[:] = _residual(t, st, act, k, c, u_n) if k > 0 else t
        rss = np.dot(r, r)
    ints[0], ints[1], ints[2], ints[3] = h, k, nt, crounds
    flts[0] = rss
    return out


@njit(cache=True)
def _skipped(kk, keys, act, k, tabu, nt):
    for q in range(k):
        if keys[act[q]] == kk:
            return True
    for q in range(nt):
        if keys[tabu[q]] == kk:
            return True
    return False


def odd_parts(zh: np.ndarray, sets: list) -> np.ndarray:
    """``float[U, K]``: the sets' odd parts at the pairs, ``(a_T(z) - a_T(~z)) / 2``."""
    z8 = np.ascontiguousarray(zh, dtype=np.uint8)
    out = np.empty((len(sets), z8.shape[0]), np.int8)
    for k, s in enumerate(sets):
        _column(z8, np.asarray(s, np.int64), len(s), out[k])
    return out.T / 2.0


def search_pairs(zh: np.ndarray, ztf: np.ndarray, t: np.ndarray, max_terms: int, *,
                 width: int = 4, max_rounds: int = 100, check=None, every: int = 6,
                 zb: np.ndarray | None = None) -> list:
    """:func:`xaicore.kernels._sparse.search` on the rows ``[zh; ~zh; 1]``.

    Args:
        zh: ``bool[U, M]`` the pairs' coalitions.
        ztf: ``float64[M, U]`` the same, transposed (shared by every row of a design).
        t: ``float[2 U + 1]`` the values of the rows less the empty coalition's.
        max_terms, width, max_rounds, check, every: as for ``search``.
        zb: ``uint64[M, W]`` the same, bit-packed (:func:`._sparse_bits.pack`; shared
            by every row of a design; packed here if None).

    Returns:
        The sets (tuples of players), singletons included, as ``search`` returns them.
    """
    u_n, m = zh.shape
    top = float(np.max(np.abs(t))) if t.size else 0.0
    if not top > 0.0:
        return []
    t = np.ascontiguousarray(t / top, dtype=np.float64)
    cap_h = max_rounds * width + 1
    cap_k = min(max_terms + width, cap_h) + 1
    sets = np.full((cap_h, MAX_ORDER), -1, np.int64)
    slen, keys = np.zeros(cap_h, np.int64), np.zeros(cap_h, np.int64)
    st = np.zeros((cap_h, u_n), np.int8)
    z8 = np.ascontiguousarray(zh, dtype=np.uint8)
    zb = pack(zh) if zb is None else zb      # bit-packed pairs: the integer products
    pos = np.zeros((cap_h, zb.shape[1]), np.uint64)
    neg = np.zeros_like(pos)
    cnt, num = np.zeros((m, cap_h)), np.zeros((m, cap_h))
    fresh = np.zeros(cap_h, np.bool_)
    act, tabu = np.zeros(cap_k, np.int64), np.zeros(cap_k, np.int64)
    gram, rhs = np.zeros((cap_k, cap_k)), np.zeros(cap_k)
    r = t.copy()
    ints, flts = np.zeros(4, np.int64), np.array([float(t @ t)])
    rnd, resume = 1, False
    while True:
        rnd = _rounds(z8, zb, ztf, t, int(max_terms), int(width), int(max_rounds),
                      int(every) if check is not None else 0, 2.0 * np.log(float(m) * m),
                      rnd, resume, sets, slen, keys, st, pos, neg, cnt, num, fresh, act, gram,
                      rhs, tabu, r, ints, flts)
        found = [tuple(int(x) for x in sets[a, :slen[a]]) for a in act[:ints[1]]]
        if rnd == 0:
            return found
        if not check(found):
            return []
        resume = True
