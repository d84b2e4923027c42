"""Closed-form truths: a sum of unanimity games as a JAX function, and brute-force Shapley.

The wide tabular case is ``f(x) = sum_k c_k prod_{i in S_k} x_i``. With a background row
``b`` the coalition game ``v(T) = f(x_T, b_-T)`` expands into Harsanyi dividends
``d(U) = c_k prod_{U} (x_i - b_i) prod_{S_k minus U} b_i`` for every ``U`` inside ``S_k``,
so its Shapley values are ``sum_{U containing i} d(U) / |U|`` (averaged over background
rows), and its integrated gradients are polynomial integrals that a Gauss-Legendre rule of
a few nodes computes exactly. Both are independent of xaicore's estimators.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import factorial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class UnanimityGame:
    """``f(x) = sum_k coef[k] * prod_{i in sets[k]} x_i`` on ``n_features`` inputs."""

    n_features: int
    sets: tuple[tuple[int, ...], ...]
    coef: np.ndarray

    @classmethod
    def random(cls, n_features: int, n_terms: int, max_order: int, seed: int
               ) -> "UnanimityGame":
        rng = np.random.default_rng(seed)
        sets = []
        for _ in range(n_terms):
            size = int(rng.integers(1, max_order + 1))
            sets.append(tuple(sorted(rng.choice(n_features, size, replace=False).tolist())))
        return cls(n_features, tuple(sets), rng.normal(size=n_terms))

    def apply(self) -> Callable[[Any], Any]:
        """The game as a pure JAX function ``x [n, d] -> [n, 1]`` (float32)."""
        width = max(len(s) for s in self.sets)
        idx = np.full((len(self.sets), width), self.n_features, np.int32)  # pad: a 1 column
        for k, s in enumerate(self.sets):
            idx[k, :len(s)] = s
        idx_j, coef = jnp.asarray(idx), jnp.asarray(self.coef, jnp.float32)

        def f(x: Any) -> Any:
            z = jnp.concatenate([x, jnp.ones((x.shape[0], 1), x.dtype)], axis=1)
            return (jnp.prod(z[:, idx_j], axis=2) @ coef)[:, None]
        return f

    def shapley(self, X: np.ndarray, background: np.ndarray) -> np.ndarray:
        """Exact Shapley values ``[n, d]`` of the interventional game over ``background``."""
        X, B = np.asarray(X, np.float64), np.asarray(background, np.float64)
        d = X[:, None, :] - B[None, :, :]                          # [n, k, d]
        bb = np.broadcast_to(B[None], d.shape)
        phi = np.zeros(d.shape)
        for c, s in zip(self.coef, self.sets):
            for r in range(1, len(s) + 1):
                for u in itertools.combinations(s, r):
                    rest = [i for i in s if i not in u]
                    div = c * np.prod(d[..., list(u)], axis=-1) * np.prod(bb[..., rest], axis=-1)
                    phi[..., list(u)] += (div / r)[..., None]
        return phi.mean(axis=1)

    def integrated_gradients(self, X: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        """Exact integrated gradients ``[n, d]`` from one ``baseline`` row (straight path)."""
        X, b = np.asarray(X, np.float64), np.asarray(baseline, np.float64).reshape(1, -1)
        t, w = np.polynomial.legendre.leggauss(8)                 # exact to degree 15
        t, w = (t + 1) / 2, w / 2
        z = b[None] + t[:, None, None] * (X - b)[None]           # [q, n, d]
        grad = np.zeros_like(z)
        for c, s in zip(self.coef, self.sets):
            for i in s:
                others = [j for j in s if j != i]
                grad[..., i] += c * np.prod(z[..., others], axis=-1)
        return (X - b) * np.tensordot(w, grad, axes=1)

    def expected_gradients(self, X: np.ndarray, background: np.ndarray) -> np.ndarray:
        """The expectation ExpectedGradients estimates: the mean IG over background rows."""
        return np.mean([self.integrated_gradients(X, b) for b in background], axis=0)


def masked_value_fn(apply: Callable, background: np.ndarray, groups: np.ndarray,
                    target: int) -> Callable[[Any, Any], Any]:
    """``value(z bool[s, M], x [*row]) -> v[s]``: mean over background rows of the model's
    ``target`` output with the players in ``z`` taken from ``x``, the others from the
    background. Plain JAX, written apart from xaicore's engine (the truth and the peers'
    game); jit it once, it serves every row."""
    bj = jnp.asarray(background)
    row = background.shape[1:]
    g = jnp.asarray(groups.reshape(row))
    k = background.shape[0]

    def value(z: Any, x: Any) -> Any:
        keep = z[:, g]                                             # [s, *row]
        rows = jnp.where(keep[:, None], x[None, None], bj[None])   # [s, k, *row]
        out = apply(rows.reshape((-1, *row)))
        return out.reshape(z.shape[0], k, -1)[:, :, target].mean(axis=1)
    return value


def brute_force_shapley(apply: Callable, X: np.ndarray, background: np.ndarray,
                        groups: np.ndarray, n_players: int, target: int,
                        chunk: int = 4096) -> np.ndarray:
    """Shapley values ``[n, M]`` by the definition: every one of the ``2**M`` coalitions
    evaluated, ``phi_i = sum_S w(|S|) (v(S + i) - v(S))`` summed in float64."""
    m = n_players
    codes = np.arange(2 ** m)
    masks = ((codes[:, None] >> np.arange(m)) & 1).astype(bool)   # [2**M, M]
    sizes = masks.sum(axis=1)
    w = np.array([factorial(s) * factorial(m - s - 1) / factorial(m) if s < m else 0.0
                  for s in range(m + 1)])
    out = np.zeros((len(X), m))
    value = jax.jit(masked_value_fn(apply, background, groups, target))
    for n, x in enumerate(X):
        pad = (-len(masks)) % chunk if len(masks) > chunk else 0
        z = np.concatenate([masks, masks[:pad]]) if pad else masks
        step = min(chunk, len(z))
        v = np.concatenate([np.asarray(value(z[i:i + step], x), np.float64)
                            for i in range(0, len(z), step)])[: len(masks)]
        for i in range(m):
            without = codes[(codes >> i) & 1 == 0]
            out[n, i] = np.sum(w[sizes[without]] * (v[without | (1 << i)] - v[without]))
    return out


def path_reference(apply: Callable, X: np.ndarray, baselines: np.ndarray, target: int,
                   n_points: int = 1024) -> np.ndarray:
    """Integrated gradients averaged over ``baselines`` by a plain-JAX midpoint rule of
    ``n_points`` (the reference of the gradient methods on trained models)."""
    grad = jax.jit(jax.vmap(jax.grad(lambda z: apply(z[None])[0, target])))  # one compile
    t = (np.arange(n_points) + 0.5) / n_points
    total = np.zeros(X.shape, np.float64)
    for b in baselines:
        for n, x in enumerate(X):
            pts = b[None] + t.reshape((-1,) + (1,) * x.ndim) * (x - b)[None]
            total[n] += (x - b) * np.asarray(grad(pts.astype(np.float32)), np.float64).mean(0)
    return total / len(baselines)
