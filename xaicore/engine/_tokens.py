"""Token players: the positions of each row of token ids, padding excluded, and the
strings of the tokens (given per row, or looked up in a vocabulary)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError, describe


def check_ids(ids: Any, arg: str = "X") -> np.ndarray:
    """Token ids as an integer array ``[n, L]`` (rows of token positions)."""
    try:
        a = np.asarray(ids)
    except (TypeError, ValueError) as e:
        raise InputError(f"{arg}: expected integer token ids [n, length], could not read "
                         f"them as an array ({e})") from None
    if a.dtype.kind not in "iu" or a.ndim != 2 or 0 in a.shape:
        raise InputError(f"{arg}: expected integer token ids [n, length] (at least one row "
                         f"and one position), got {describe(a)}")
    return a


def valid_positions(ids: Any, pad_id: int | None = None, mask: Any = None,
                    arg: str = "X") -> np.ndarray:
    """``bool[n, L]``: which positions hold a real token (not ``pad_id``, and where
    ``mask`` is true); every position when both are ``None``."""
    a = check_ids(ids, arg)
    keep = np.ones(a.shape, bool)
    if pad_id is not None:
        if isinstance(pad_id, bool) or not isinstance(pad_id, (int, np.integer)):
            raise InputError(f"pad_id: expected an int token id (or None), got {pad_id!r}")
        keep &= a != pad_id
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != a.shape or m.dtype.kind not in "biu" or not np.isin(m, (0, 1)).all():
            raise InputError(f"mask: expected {a.shape[0]} rows of {a.shape[1]} booleans "
                             f"(True at real tokens) like {arg}, got {describe(m)}")
        keep &= m.astype(bool)
    return keep


def token_groups(ids: Any, pad_id: int | None = None, mask: Any = None) -> np.ndarray:
    """Per-row players of token ids: player ``j`` is position ``j``; padding is no player.

    Args:
        ids: Integer token ids ``[n, L]``.
        pad_id: The padding id: positions holding it are no players of their row.
        mask: ``bool[n, L]``, ``True`` at real tokens (an attention mask); positions where
            it is ``False`` are no players either.

    Returns:
        ``int32[n, L]`` groups: the position at a player, ``-1`` ("always taken from
        x") at padding, as the Shapley methods' per-row ``groups=`` take them.

    Example:
        >>> token_groups([[5, 9, 0, 0], [3, 0, 0, 0]], pad_id=0)
        array([[ 0,  1, -1, -1],
               [ 0, -1, -1, -1]], dtype=int32)
    """
    keep = valid_positions(ids, pad_id, mask, "ids")
    pos = np.broadcast_to(np.arange(keep.shape[1], dtype=np.int32), keep.shape)
    return np.where(keep, pos, np.int32(-1)).astype(np.int32)


def token_strings(ids: np.ndarray, tokens: Any = None, vocab: Any = None) -> np.ndarray | None:
    """The string of every token position, ``str[n, L]``, or ``None`` when neither
    ``tokens`` (one list of ``L`` strings per row) nor ``vocab`` (id -> string) is given.

    Raises:
        InputError: for both given, tokens of the wrong number of rows or length, a
            vocabulary without an entry for some id.
    """
    if tokens is None and vocab is None:
        return None
    n, length = ids.shape
    if tokens is not None and vocab is not None:
        raise InputError("tokens: give the token strings (tokens=) or a vocabulary "
                         "(vocab=), not both")
    if vocab is not None:
        if isinstance(vocab, (str, bytes)) or not hasattr(vocab, "__len__"):
            raise InputError(f"vocab: expected a list of strings (the string of each id), "
                             f"got {type(vocab).__name__}")
        words = np.asarray([str(v) for v in vocab], dtype=str)
        bad = (ids < 0) | (ids >= len(words))
        if bad.any():
            r, p = (int(i) for i in np.argwhere(bad)[0])
            raise InputError(f"vocab: has {len(words)} entries (ids 0..{len(words) - 1}); "
                             f"token id {int(ids[r, p])} at row {r}, position {p} has none")
        return words[ids]
    if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__len__") \
            or len(tokens) != n:
        got = f"{len(tokens)} rows" if hasattr(tokens, "__len__") and \
            not isinstance(tokens, (str, bytes)) else type(tokens).__name__
        raise InputError(f"tokens: expected one list of {length} strings per row ({n} rows), "
                         f"got {got}")
    for r, row in enumerate(tokens):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__") \
                or len(row) != length:
            got = f"{len(row)} strings" if hasattr(row, "__len__") and \
                not isinstance(row, (str, bytes)) else repr(row)[:40]
            raise InputError(f"tokens: expected {length} strings (one per position) in row "
                             f"{r}, got {got}")
    return np.asarray([[str(t) for t in row] for row in tokens], dtype=str).reshape(n, length)
