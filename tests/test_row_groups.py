"""Per-row players: each row of a call brings its own map of player ids (superpixels,
tokens), gathered on the device per (instance, coalition) pair; ``-1`` = not a player."""
from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest

import xaicore

H, W, C = 6, 6, 3


def _np_f(x: np.ndarray) -> np.ndarray:
    """A nonlinear game on images with interactions: [n, H, W, C] -> [n, 2]."""
    a = x[:, :3, :3].reshape(len(x), -1).mean(1)
    b = x[:, 3:, 2:].reshape(len(x), -1).mean(1)
    c = (x[..., 1] * np.linspace(-1, 1, W)[None, None]).reshape(len(x), -1).sum(1)
    return np.stack([a * b + np.tanh(c), np.sin(a + 2 * b)], axis=1)


def _jax_f(x):
    a = x[:, :3, :3].reshape(len(x), -1).mean(1)
    b = x[:, 3:, 2:].reshape(len(x), -1).mean(1)
    c = (x[..., 1] * jnp.linspace(-1, 1, W)[None, None]).reshape(len(x), -1).sum(1)
    return jnp.stack([a * b + jnp.tanh(c), jnp.sin(a + 2 * b)], axis=1)


FN = xaicore.from_jax(_jax_f, input_shape=(H, W, C))


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (n, H, W, C)).astype("float32")


def _maps(n: int, seed: int = 0, m: int = 5) -> np.ndarray:
    """Random pixel maps [n, H, W]; row i uses players 0..m-1-(i % 2) (fewer in odd rows),
    with a -1 pixel in row 0."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, H, W), np.int64)
    for i in range(n):
        k = m - (i % 2)
        g = np.concatenate([np.arange(k), rng.integers(0, k, H * W - k)])
        out[i] = rng.permutation(g).reshape(H, W)
    out[0, 0, 0] = -1
    return out


def _brute_shapley(x: np.ndarray, b: np.ndarray, g: np.ndarray, m: int) -> np.ndarray:
    """Shapley values of one row by enumeration: v(S) = f(x on players S, b elsewhere),
    pixels of id -1 always x. Returns [m, O]."""
    def v(s: tuple[int, ...]) -> np.ndarray:
        keep = np.isin(g, s) | (g < 0)
        return _np_f(np.where(keep[..., None], x, b)[None])[0]

    phi = np.zeros((m, 2))
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for r in range(m):
            for s in itertools.combinations(others, r):
                wgt = math.factorial(r) * math.factorial(m - r - 1) / math.factorial(m)
                phi[i] += wgt * (v(s + (i,)) - v(s))
    return phi


def test_exact_per_row_groups_equal_brute_force():
    X, B = _images(4), _images(1, seed=9)
    G = _maps(4)
    att = xaicore.ExactShap(FN, B, groups="per_call").explain(X, groups=G)
    assert att.values.shape == (4, 5, 2)
    for i in range(4):
        truth = _brute_shapley(X[i], B[0], G[i], 5)
        np.testing.assert_allclose(att.values[i], truth, atol=2e-6)
    assert att.stats["max_efficiency_gap"] < 1e-5
    np.testing.assert_array_equal(att.values[1, 4], 0.0)     # no pixel of player 4 in row 1
    np.testing.assert_array_equal(att.groups, G)


@pytest.mark.parametrize("cls, kw", [
    (xaicore.KernelShap, {"n_samples": 20}), (xaicore.PermutationShap, {}),
    (xaicore.ExactShap, {}), (xaicore.Lime, {"n_samples": 64})])
def test_same_map_per_row_equals_shared_map(cls, kw):
    X, B = _images(5), _images(3, seed=4)
    g = _maps(1, seed=2)[0]
    g[0, 0] = 1
    shared = cls(FN, B, groups=np.repeat(g[..., None], C, axis=2), **kw).explain(X)
    per_row = cls(FN, B, groups="per_call", **kw).explain(X, groups=np.repeat(g[None], 5, 0))
    np.testing.assert_allclose(per_row.values, shared.values, atol=1e-6)
    np.testing.assert_allclose(per_row.base_values, shared.base_values, atol=1e-6)


def test_one_compile_for_many_rows_and_maps():
    B = _images(2, seed=1)
    ks = xaicore.KernelShap(FN, B, groups="per_call", n_samples=30, max_batch=64)
    ks.explain(_images(6), groups=_maps(6, seed=1))
    first = ks.engine.compiled
    ks.explain(_images(6, seed=3), groups=_maps(6, seed=5))   # other rows, other maps
    assert ks.engine.compiled == first <= 2     # the coalitions' step, and v0's (-1 ids)


def test_kernel_shap_rows_with_fewer_players_keep_efficiency():
    X, B = _images(4), _images(2, seed=4)
    G = _maps(4, m=6)
    att = xaicore.KernelShap(FN, B, groups="per_call", n_samples=40,
                             estimator="linear").explain(X, groups=G)
    np.testing.assert_array_equal(att.values[1::2, 5], 0.0)
    assert att.stats["max_efficiency_gap"] < 1e-5
    np.testing.assert_array_equal(att.stderr[1::2, 5], 0.0)


def test_minus_one_means_always_present():
    X, B = _images(2), _images(1, seed=4)
    G = np.full((2, H, W), -1)
    G[:, :3, :3], G[:, 3:, :] = 0, 1
    att = xaicore.ExactShap(FN, B, groups="per_call").explain(X, groups=G)
    keep = (G < 0)[..., None]
    v0 = _np_f(np.where(keep, X, B))             # every player absent: -1 pixels from x
    np.testing.assert_allclose(att.base_values, v0, atol=1e-6)


@pytest.mark.parametrize("groups, match", [
    (np.zeros((3, H, W), int), r"^groups: expected per-row maps \[4, 6, 6, 3\]"),
    (np.zeros((4, H + 1, W), int), r"^groups: expected per-row maps .* got \[4, 7, 6\]"),
    (np.full((4, H, W), -2), r"^groups: player ids must be -1 \(not a player\) or >= 0"),
    (np.full((4, H, W), -1), r"^groups: expected at least one player"),
    (np.zeros((4, H, W)), r"^groups: expected integer player ids, got dtype float64"),
])
def test_bad_row_groups(groups, match):
    ks = xaicore.KernelShap(FN, _images(1), groups="per_call", n_samples=20)
    with pytest.raises(xaicore.InputError, match=match):
        ks.explain(_images(4), groups=groups)


def test_per_call_needs_groups_and_exact_limit():
    ks = xaicore.PermutationShap(FN, _images(1), groups="per_call")
    with pytest.raises(xaicore.InputError, match=r"^groups: this explainer was built"):
        ks.explain(_images(2))
    with pytest.raises(xaicore.InputError, match=r"^groups: ExactShap enumerates"):
        xaicore.ExactShap(FN, _images(1), groups="per_call").explain(
            _images(1), groups=np.arange(H * W).reshape(1, H, W) % 21)
