"""splitmix64: the one random stream shared bit for bit by the cpp, numba and numpy kernels.

Every backend implements the same three steps (64-bit wrap-around arithmetic):

* ``next``: ``state += GAMMA``; mix ``state`` with the splitmix64 finaliser;
* ``uniform``: ``(next() >> 11) * 2**-53`` (a double in ``[0, 1)``);
* ``below(n)``: ``floor(uniform() * n)`` for ``n < 2**53`` (IEEE products are the same
  in C++, numba and Python, so the integers are too).

Streams are keyed: ``stream_state(seed, key)`` gives independent starting states for
the sampler (key 1) and the per-stratum rounding (key 2), so no global RNG is ever read.
"""
from __future__ import annotations

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
MUL1 = 0xBF58476D1CE4E5B9
MUL2 = 0x94D049BB133111EB
INV53 = 1.0 / 9007199254740992.0


def mix64(z: int) -> int:
    """splitmix64 finaliser of a 64-bit integer."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * MUL1) & MASK64
    z = ((z ^ (z >> 27)) * MUL2) & MASK64
    return z ^ (z >> 31)


def stream_state(seed: int, key: int) -> int:
    """Starting state of the stream ``key`` for ``seed`` (any Python int seed)."""
    return mix64((int(seed) & MASK64) ^ mix64(key * GAMMA))


class SplitMix64:
    """Pure-Python splitmix64 (the reference the compiled backends reproduce).

    Example:
        >>> r = SplitMix64(stream_state(0, 1)); 0.0 <= r.uniform() < 1.0
        True
    """

    def __init__(self, state: int) -> None:
        self.state = int(state) & MASK64

    def next(self) -> int:
        """Next raw 64-bit output."""
        self.state = (self.state + GAMMA) & MASK64
        return mix64(self.state)

    def uniform(self) -> float:
        """Next double in ``[0, 1)`` with 53 random bits."""
        return (self.next() >> 11) * INV53

    def below(self, n: int) -> int:
        """Next integer in ``[0, n)`` (``n < 2**53``)."""
        return int(self.uniform() * n)
