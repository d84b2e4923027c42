"""Host kernels: cross-backend agreement, exactness against brute force, input errors."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from xaicore import kernels as K

HOST = ("cpp", "numba", "numpy")


def _game(m: int, seed: int = 0):
    """A small tanh MLP explained at x against baseline b: ``f(mask)`` -> ``[n_rows]``."""
    rng = np.random.default_rng(seed)
    W, a = rng.normal(size=(m, 12)), rng.normal(size=12)
    x, b = rng.normal(size=m), rng.normal(size=m)
    return lambda Z: np.tanh(np.where(Z, x, b) @ W) @ a


def _brute_shapley(f, m: int) -> np.ndarray:
    """Shapley values by the subset formula with factorial weights (independent truth)."""
    phi = np.zeros(m)
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for k in range(m):
            wk = math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m)
            for sub in itertools.combinations(others, k):
                z = np.zeros(m, bool)
                z[list(sub)] = True
                zi = z.copy()
                zi[i] = True
                phi[i] += wk * (f(zi[None])[0] - f(z[None])[0])
    return phi


def _solve(coal, f, backend="cpp"):
    m = coal.n_features
    v0, v1 = f(np.zeros((1, m), bool)), f(np.ones((1, m), bool))
    return K.solve_wls(coal.masks, coal.weights, f(coal.masks)[None, :, None], v0, v1,
                       backend=backend)[0, :, 0]


@pytest.mark.parametrize("m,budget,paired,scheme", [
    (10, 256, True, "kernel"), (10, 256, True, "leverage"), (10, 200, False, "stratified"),
    (16, 1024, True, "leverage"), (16, 700, False, "kernel"), (64, 2048, True, "leverage"),
    (70, 300, True, "kernel"), (6, 62, True, "leverage"), (7, 40, False, "leverage")])
def test_backends_agree(m, budget, paired, scheme):
    out = [K.sample_coalitions(m, budget, paired=paired, seed=3, scheme=scheme, backend=b)
           for b in HOST]
    for c in out[1:]:
        np.testing.assert_array_equal(c.masks, out[0].masks)
        np.testing.assert_allclose(c.weights, out[0].weights, rtol=1e-12, atol=0)
        assert c.n_exact == out[0].n_exact and c.n_draws == out[0].n_draws
    f = _game(m)
    phis = [_solve(out[0], f, b) for b in HOST]
    for p in phis[1:]:
        np.testing.assert_allclose(p, phis[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(_solve(out[0], f, "jax"), phis[0], rtol=0, atol=1e-5)


def test_operators_agree_and_jax_jits():
    jax = pytest.importorskip("jax")
    c = K.sample_coalitions(12, 500, seed=1)
    ops = [K.wls_operator(c.masks, c.weights, ridge=r, backend=b) for b in HOST for r in (0, .1)]
    for (P, cc) in ops[2::2]:
        np.testing.assert_allclose(P, ops[0][0], atol=1e-12)
        np.testing.assert_allclose(cc, ops[0][1], atol=1e-12)
    P, cc = ops[0]
    v = np.random.default_rng(0).normal(size=(3, P.shape[1], 2))
    v0, v1 = np.zeros((3, 2)), np.ones((3, 2))
    got = jax.jit(K.solve_wls_jax)(P, cc, v, v0, v1)
    np.testing.assert_allclose(np.asarray(got), K.solve_wls(c.masks, c.weights, v, v0, v1),
                               atol=1e-5)


def test_seeded_deterministic_and_seeds_differ():
    a = K.sample_coalitions(12, 300, seed=5)
    b = K.sample_coalitions(12, 300, seed=5)
    c = K.sample_coalitions(12, 300, seed=6)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.masks[a.n_exact:], c.masks[c.n_exact:])


@pytest.mark.parametrize("m", [2, 3, 5, 8])
@pytest.mark.parametrize("scheme", K.SCHEMES)
def test_full_budget_is_exact_shapley(m, scheme):
    f = _game(m, seed=m)
    truth = _brute_shapley(f, m)
    coal = K.sample_coalitions(m, 2 ** m + 10, seed=0, scheme=scheme)
    assert coal.exact and coal.masks.shape[0] == 2 ** m - 2
    np.testing.assert_allclose(_solve(coal, f), truth, atol=1e-10)
    masks, P = K.exact_operator(m)
    np.testing.assert_allclose(P @ f(masks), truth, atol=1e-12)


@pytest.mark.parametrize("scheme", K.SCHEMES)
@pytest.mark.parametrize("paired", [True, False])
def test_linear_game_and_efficiency(scheme, paired):
    m = 11
    rng = np.random.default_rng(2)
    w, x, b = rng.normal(size=m), rng.normal(size=m), rng.normal(size=m)
    coal = K.sample_coalitions(m, 200, paired=paired, seed=4, scheme=scheme)
    assert coal.n_exact < coal.masks.shape[0]  # some rows were sampled
    phi = _solve(coal, lambda Z: np.where(Z, x, b) @ w)
    np.testing.assert_allclose(phi, w * (x - b), atol=1e-10)
    f = _game(m)
    v = f(coal.masks)[None, :, None] * np.array([1.0, -3.0])
    v0 = f(np.zeros((1, m), bool))[:, None] * np.array([1.0, -3.0])
    v1 = f(np.ones((1, m), bool))[:, None] * np.array([1.0, -3.0])
    phi = K.solve_wls(coal.masks, coal.weights, v, v0, v1, ridge=0.3)
    np.testing.assert_allclose(phi.sum(axis=1), v1 - v0, atol=1e-10)


@pytest.mark.parametrize("scheme", K.SCHEMES)
def test_error_decreases_with_budget(scheme):
    m = 10
    f = _game(m, seed=7)
    masks, P = K.exact_operator(m)
    truth = P @ f(masks)
    err = [np.mean([np.abs(_solve(K.sample_coalitions(m, b, seed=s, scheme=scheme), f)
                           - truth).mean() for s in range(12)]) for b in (64, 256, 900)]
    assert err[0] > err[1] > err[2]


@pytest.mark.parametrize("scheme", K.SCHEMES)
@pytest.mark.parametrize("paired", [True, False])
def test_no_duplicates_complements_paired(scheme, paired):
    c = K.sample_coalitions(9, 300, paired=paired, seed=1, scheme=scheme)
    assert len(np.unique(c.masks, axis=0)) == c.masks.shape[0] <= 300
    sizes = c.masks.sum(1)
    assert sizes.min() >= 1 and sizes.max() <= 8
    assert np.all(c.weights > 0)
    np.testing.assert_array_equal(c.masks[1:c.n_exact:2], ~c.masks[0:c.n_exact:2])
    if paired:
        np.testing.assert_array_equal(c.masks[1::2], ~c.masks[0::2])


def test_kernel_merges_duplicates():
    c = K.sample_coalitions(8, 200, seed=0, scheme="kernel")
    assert c.mult.max() > 1 and c.n_draws > (c.masks.shape[0] - c.n_exact) // 2


def test_batched_matches_shared_and_lime():
    c = K.sample_coalitions(8, 100, seed=2)
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, c.masks.shape[0], 2))
    v0, v1 = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    shared = K.solve_wls(c.masks, c.weights, v, v0, v1)
    zs = np.broadcast_to(c.masks, (4,) + c.masks.shape)
    ws = np.broadcast_to(c.weights, (4, c.masks.shape[0]))
    np.testing.assert_allclose(K.solve_wls_batched(zs, ws, v, v0, v1), shared, atol=1e-10)
    coef = rng.normal(size=8)
    y = 0.7 + c.masks @ coef
    lime = K.solve_wls_batched(zs[:1], ws[:1], y[None], constrained=False)
    np.testing.assert_allclose(lime[0], coef, atol=1e-10)
    shrunk = K.solve_wls_batched(zs[:1], ws[:1], y[None], constrained=False, ridge=1.0)
    assert np.abs(shrunk).sum() < np.abs(lime).sum()


def test_singular_design_gets_min_norm_and_stays_efficient():
    masks = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 1, 0], [0, 0, 0, 1]], bool)
    y = np.array([[1.0, 2.0, 4.0, 0.5]])
    for b in HOST:
        phi = K.solve_wls(masks, np.ones(4), y, 0.0, 3.0, backend=b)
        assert abs(phi.sum() - 3.0) < 1e-12 and abs(phi[0, 0] - phi[0, 1]) < 1e-12


@pytest.mark.parametrize("call,name", [
    (lambda: K.sample_coalitions(1, 10), "n_features"),
    (lambda: K.sample_coalitions(10, 17), "budget"),
    (lambda: K.sample_coalitions(10, 2.5), "budget"),
    (lambda: K.sample_coalitions(10, 64, scheme="magic"), "scheme"),
    (lambda: K.sample_coalitions(10, 64, backend="cuda"), "backend"),
    (lambda: K.wls_operator(np.ones((5, 3), bool), np.ones(4)), "weights"),
    (lambda: K.wls_operator(np.ones(5, bool), np.ones(5)), "masks"),
    (lambda: K.wls_operator(np.ones((5, 3), bool), np.ones(5), ridge=-1), "ridge"),
    (lambda: K.solve_wls(np.ones((5, 3), bool), np.ones(5), np.ones((2, 4, 1)), 0, 1), "v"),
    (lambda: K.solve_wls(np.ones((5, 3), bool), np.ones(5), np.ones((2, 5, 1)),
                         np.ones((3, 1)), 1), "v0"),
    (lambda: K.solve_wls(np.ones((5, 3), bool), np.ones(5), np.ones((2, 5)), 0, 1,
                         backend="tpu"), "backend"),
    (lambda: K.solve_wls_batched(np.ones((5, 3), bool), np.ones(5), np.ones((5, 1))), "masks"),
    (lambda: K.exact_operator(21), "n_features"),
])
def test_bad_input_names_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()


def test_exact_operator_rows():
    masks, P = K.exact_operator(4)
    assert masks.shape == (16, 4) and not masks[0].any() and masks[-1].all()
    np.testing.assert_allclose(P.sum(axis=1), 0.0, atol=1e-15)
    np.testing.assert_allclose(P[:, -1].sum() - P[:, 0].sum(), 2.0, atol=1e-15)
