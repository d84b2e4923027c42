"""Bit-packed pairs for :mod:`xaicore.kernels._sparse_numba`: integer products by popcount.

A player's column over the ``U`` pairs is packed into ``ceil(U / 64)`` words (bit ``u``:
pair ``u``'s coalition holds the player); a set's unanimity column into two such masks,
``pos`` (the coalition holds the set: the AND of its players' words) and ``neg`` (the
complement does: the AND of their negations). Every integer product the search needs (a
set's children's counts, its Gram row) is then a popcount of ANDs, 64 pairs a word,
exactly the values of the float products it replaces.
"""
from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def _ctpop(typingctx, x):
    """LLVM's ``ctpop`` of a ``uint64`` (one instruction where the CPU has popcnt)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return types.uint64(types.uint64), codegen


@njit(cache=True)
def popcount(x):
    return np.int64(_ctpop(np.uint64(x)))


def pack(zh: np.ndarray) -> np.ndarray:
    """``uint64[M, W]``: each player's column of ``zh`` (``[U, M]``, 0/1) packed, bit ``u``
    of word ``u // 64`` at place ``u % 64``."""
    b = np.packbits(np.asarray(zh, bool).T, axis=1, bitorder="little")
    nw = (zh.shape[0] + 63) // 64
    out = np.zeros((b.shape[0], 8 * nw), np.uint8)
    out[:, :b.shape[1]] = b
    return out.view("<u8").astype(np.uint64)


@njit(cache=True)
def set_masks(zb, p, n, u_n, pos, neg):
    """``pos``, ``neg``: the masks of players ``p[:n]``'s unanimity column; returns how many
    complements hold the set (``neg``'s popcount)."""
    nw = zb.shape[1]
    full = np.uint64(0xFFFFFFFFFFFFFFFF)
    tail = u_n - 64 * (nw - 1)
    last = full if tail == 64 else (np.uint64(1) << np.uint64(tail)) - np.uint64(1)
    c = 0
    for w in range(nw):
        a, b = full, full
        for i in range(n):
            x = zb[p[i], w]
            a &= x
            b &= ~x
        if w == nw - 1:
            b &= last
        pos[w], neg[w] = a, b
        c += popcount(b)
    return c


@njit(cache=True)
def counts(zb, pos, neg, n_neg, out):
    """``out[j]``: the rows ``[z; ~z; 1]`` holding the set and player ``j``, less those the
    complement holds without ``j``: ``z_j' col + n_neg + 1`` (``col`` = +1 / -1 / 0)."""
    m, nw = zb.shape
    for j in range(m):
        c = 0
        for w in range(nw):
            x = zb[j, w]
            c += popcount(x & pos[w]) - popcount(x & neg[w])
        out[j] = c + n_neg + 1.0


@njit(cache=True)
def overlap(pa, na, pb, nb):
    """``1 + #(a * b > 0)`` over the pairs: two sets' entry of the Gram matrix."""
    g = 1
    for w in range(pa.shape[0]):
        g += popcount(pa[w] & pb[w]) + popcount(na[w] & nb[w])
    return g


@njit(cache=True)
def column(pos, neg, u_n, out):
    """``out[u]``: the set's unanimity column from its masks, +1 / -1 / 0 per pair."""
    for u in range(u_n):
        w, b = u // 64, np.uint64(u % 64)
        out[u] = np.int8((pos[w] >> b) & np.uint64(1)) - np.int8((neg[w] >> b) & np.uint64(1))
