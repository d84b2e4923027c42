"""Counter-based Gaussian noise for the gradient samplers: cheap where the model is cheap.

JAX's threefry normal draw cost more than the forward and backward pass of a 30-feature
MLP (2.9 ms for 16384 x 30 numbers against 2.6 ms for the gradient of 16384 rows, 2-core
CPU), and SmoothGrad draws ``n_samples`` such vectors per row. Here each row gets two
32-bit words from JAX's key (one threefry call per row, not per sample), and every number
of the row's samples is a keyed integer hash of its (sample, element) counters, two
numbers a hash by the Box-Muller transform; the gradient engine draws a whole block's numbers at
once (:func:`block_normals`). SmoothGrad of 4096 rows x 32 samples on MLP 30-64-64-2
(alternating rounds, best of 9): 76 ms with the threefry draw keyed per sample, 57 ms
with this one, 40 ms with no noise at all, 25 ms for the bare gradient of as many rows.

* Bits: ``lowbias32`` (C. Wellons's hash-prospector mixer: xor-shift, multiply, twice) is
  a bijection of ``uint32``; an element's bits are ``mix(mix(mix(e ^ k1) ^ ks) + k0)``,
  with ``ks = mix(s + k0)`` the sample's word: within a sample the bits of distinct
  elements are distinct (a bijection of ``e``), samples differ by an XOR of their words
  ahead of two mixes, rows by their threefry words. The tests check moments, the
  normal law (Kolmogorov-Smirnov) and correlations within and across rows and samples.
* Normals: one 32-bit word gives two numbers by the Box-Muller transform: its top 20 bits
  ``u = (k + 1/2) / 2^20`` the radius ``rho = sqrt(-2 ln u)`` (``|z| <= 5.40``), the next 2
  the quadrant and the low 10 the angle within it (cell centres: 4096 angles), cosine
  and sine by polynomials on the quarter turn (error under 6e-8). Element ``j`` of a
  sample of ``n`` gets ``rho cos`` of word ``j`` and element ``j + ceil(n / 2)`` its
  ``rho sin``. Against ``sqrt(2) erfinv(2u - 1)`` of one word per number (``jax.random
  .normal``'s transform, used here before): half the words, a logarithm and a square
  root per pair instead of per number, no erfinv: a block's draw of 512 rows x 16
  samples x 30 (8 calls, 2M numbers) 6.3 -> 4.0 ms, and the SmoothGrad step of MLP
  30-64-64-2 on those (512 rows x 32 mirrored samples, 8 calls) 61.0 -> 54.3 ms, best of
  30 alternating rounds (the bare gradient of as many rows: 36.5 ms). The angle
  grid is integrated exactly enough by the trapezoid rule of a periodic function that
  the law of each number is the normal one to float32 precision (the tests check the
  map against float64, the moments, Kolmogorov-Smirnov and the independence of a
  word's two numbers).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_U = jnp.uint32


def mix(x: jax.Array) -> jax.Array:
    """``lowbias32``: a bijective avalanche mixer of ``uint32``."""
    x = x ^ (x >> 16)
    x = x * _U(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * _U(0x846CA68B)
    return x ^ (x >> 16)


def row_words(key: jax.Array) -> jax.Array:
    """The two ``uint32`` words a row's numbers are keyed by (one threefry call)."""
    return jax.random.bits(key, (2,), jnp.uint32)


def _bits(k0: jax.Array, k1: jax.Array, s: jax.Array, e: jax.Array) -> jax.Array:
    """Bits of element(s) ``e`` of sample(s) ``s`` under the row words ``k0, k1``
    (broadcasting)."""
    ks = mix(s.astype(_U) + k0)
    return mix(mix(mix(e.astype(_U) ^ k1) ^ ks) + k0)


def sample_bits(words: jax.Array, s: jax.Array, n: int) -> jax.Array:
    """``uint32[n]``: the bits of elements ``0..n-1`` of sample ``s`` of a row."""
    return _bits(words[0], words[1], jnp.asarray(s), jnp.arange(n, dtype=_U))


def _sincos_quarter(t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``sin`` and ``cos`` of ``a = t pi / 2`` for ``t`` in [0, 1] (Taylor to ``a^11`` and
    ``a^12``: error under 6e-8 on the quarter turn)."""
    a = t * np.float32(np.pi / 2)
    a2 = a * a
    sin = a * (1 + a2 * (np.float32(-1 / 6) + a2 * (np.float32(1 / 120) + a2 * (
        np.float32(-1 / 5040) + a2 * (np.float32(1 / 362880) + a2 * np.float32(
            -1 / 39916800))))))
    cos = 1 + a2 * (np.float32(-1 / 2) + a2 * (np.float32(1 / 24) + a2 * (
        np.float32(-1 / 720) + a2 * (np.float32(1 / 40320) + a2 * (np.float32(
            -1 / 3628800) + a2 * np.float32(1 / 479001600))))))
    return sin, cos


def normals_from_bits(bits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Two standard normal float32 arrays from uniform ``uint32`` bits (Box-Muller: top 20
    bits the radius, 2 the quadrant, 10 the angle within it; cell centres)."""
    u = ((bits >> 12).astype(jnp.float32) + 0.5) * np.float32(2.0 ** -20)
    rho = jnp.sqrt(np.float32(-2) * jnp.log(u))
    q = (bits >> 10) & _U(3)
    sin, cos = _sincos_quarter(((bits & _U(1023)).astype(jnp.float32) + 0.5)
                               * np.float32(2.0 ** -10))
    odd = (q & _U(1)) == 1                      # turn by q quarters: (c, s) -> (-s, c) ...
    c, s = jnp.where(odd, sin, cos), jnp.where(odd, cos, sin)
    c = jnp.where((q == 1) | (q == 2), -c, c)
    s = jnp.where(q >= 2, -s, s)
    return rho * c, rho * s


def _halves(a: jax.Array, b: jax.Array, n: int) -> jax.Array:
    """A sample's ``n`` numbers from its words' two numbers ``[..., ceil(n / 2)]``."""
    return jnp.concatenate([a, b], axis=-1)[..., :n]


def sample_normal(words: jax.Array, s: jax.Array, n: int, dtype: object) -> jax.Array:
    """``[n]`` standard normal numbers of sample ``s`` of the row keyed by ``words``."""
    bits = sample_bits(words, s, -(-n // 2))
    return _halves(*normals_from_bits(bits), n).astype(dtype)


def block_normals(key: jax.Array, idx: jax.Array, s: jax.Array, n: int) -> jax.Array:
    """``float32[r, len(s), n]``: the numbers :meth:`Draw.normals` gives samples ``s`` of
    rows ``idx`` (row keys folded from ``key``), drawn at once for a whole block.

    The draw runs in a conditional on a predicate XLA cannot fold (``idx[0] >= 0``):
    XLA's CPU backend fuses an elementwise producer into each of its consumers and
    recomputes it there (the noise of a mirrored pair was drawn twice inside the stack
    that builds the pair), optimization barriers do not stop that, and a conditional's
    result is a buffer. The transform runs on the ``[r, m, ceil(n / 2)]`` words as they
    are (flattening them to ``[r, m * h]`` first, as the inverse-CDF transform ran
    fastest, made XLA's CPU fusion of the two halves 7x slower than the whole draw).
    """
    words = jax.vmap(lambda i: row_words(jax.random.fold_in(key, i)))(idx)
    r, m, h = idx.shape[0], s.shape[0], -(-n // 2)

    def draw() -> jax.Array:   # the sample words [r, m, 1], the element ones [r, 1, h]
        bits = _bits(words[:, :1, None], words[:, 1:, None], s[None, :, None],
                     jnp.arange(h, dtype=_U)[None, None, :])
        return _halves(*normals_from_bits(bits), n).reshape((r, m * n))

    flat = jax.lax.cond(idx[0] >= 0, draw, lambda: jnp.zeros((r, m * n), jnp.float32))
    return flat.reshape((r, m, n))


class Draw:
    """The random source of one sample of one row, handed to the samplers.

    ``key`` is the JAX key of the sample (the row's key folded with the sample index,
    derived only if a sampler uses it); :meth:`normals` gives cheap counter-based
    Gaussian numbers for it: ``drawn``, the sample's numbers drawn ahead for the whole
    block (:func:`block_normals`), or else drawn here.
    """

    def __init__(self, row_key: jax.Array, s: jax.Array, drawn: jax.Array | None = None
                 ) -> None:
        self.row_key = row_key
        self.s = s
        self.drawn = drawn

    @property
    def key(self) -> jax.Array:
        return jax.random.fold_in(self.row_key, self.s)

    def normals(self, shapes: list[tuple[int, ...]], dtype: object) -> list[jax.Array]:
        """Standard normal arrays of the given shapes (one counter space for all)."""
        sizes = [int(np.prod(sh)) for sh in shapes]
        if self.drawn is not None and self.drawn.shape[-1] == sum(sizes):
            z = self.drawn.astype(dtype)
        else:
            z = sample_normal(row_words(self.row_key), self.s, max(1, sum(sizes)), dtype)
        out, at = [], 0
        for sh, k in zip(shapes, sizes):
            out.append(z[at:at + k].reshape(sh))
            at += k
        return out
