"""The cubic (third-order regression-adjusted) Shapley estimate against exact enumeration."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from xaicore import kernels as K


def _order3_game(m: int, seed: int):
    """A random game with terms of order 0..3 (even ones included), as a set function."""
    rng = np.random.default_rng(seed)
    terms = [(T, rng.normal()) for r in (1, 2, 3) for T in itertools.combinations(range(m), r)]
    return lambda Z: sum(c * np.prod(Z[:, list(T)], axis=1) for T, c in terms)


def _tanh_game(m: int, seed: int):
    rng = np.random.default_rng(seed)
    W, a = rng.normal(size=(m, 32)) * 2 / np.sqrt(m), rng.normal(size=32)
    x, b = rng.normal(size=m), rng.normal(size=m)
    return lambda Z: np.tanh(np.where(Z, x, b) @ W) @ a


def _truth(f, m):
    masks, P = K.exact_operator(m)
    return P @ f(masks)


def _ends(f, m):
    return f(np.zeros((1, m), bool)), f(np.ones((1, m), bool))


def test_exact_for_order_three_games_once_determined():
    m = 8                                     # 8 linear + 56 cubic terms < 120 pairs
    f = _order3_game(m, 0)
    c = K.sample_coalitions(m, 240, seed=1)
    v0, v1 = _ends(f, m)
    phi = K.solve_cubic(c.masks, c.weights, f(c.masks)[None], v0, v1, lam=1e-10)[0]
    np.testing.assert_allclose(phi, _truth(f, m), atol=1e-6)
    lin = K.solve_wls(c.masks, c.weights, f(c.masks)[None], v0, v1)[0]
    assert np.abs(lin - _truth(f, m)).max() > 1e-3   # the linear fit is not exact here


def test_linear_game_exact_and_efficiency():
    m = 7
    w = np.arange(1.0, m + 1)
    c = K.sample_coalitions(m, 30, seed=2)
    v = np.stack([c.masks @ w, -(c.masks @ w)], axis=-1)[None]          # [1, S, 2]
    phi = K.solve_cubic(c.masks, c.weights, v, np.zeros(2), np.array([w.sum(), -w.sum()]))
    np.testing.assert_allclose(phi[0, :, 0], w, atol=1e-8)
    np.testing.assert_allclose(phi[0, :, 1], -w, atol=1e-8)
    f = _tanh_game(m, 1)
    v0, v1 = _ends(f, m)
    phi = K.solve_cubic(c.masks, c.weights, f(c.masks)[None], v0, v1)
    np.testing.assert_allclose(phi.sum(axis=1), v1 - v0, atol=1e-10)


@pytest.mark.parametrize("m,budget", [(10, 128), (12, 256)])
def test_lower_error_than_linear_on_a_smooth_game(m, budget):
    lin_err, cub_err = [], []
    for g in range(3):
        f = _tanh_game(m, 10 + g)
        truth, (v0, v1) = _truth(f, m), _ends(f, m)
        for seed in range(4):
            c = K.sample_coalitions(m, budget, seed=seed)
            v = f(c.masks)[None]
            lin_err.append(np.abs(K.solve_wls(c.masks, c.weights, v, v0, v1)[0] - truth).mean())
            cub_err.append(np.abs(K.solve_cubic(c.masks, c.weights, v, v0, v1)[0]
                                  - truth).mean())
    assert np.mean(cub_err) < 0.8 * np.mean(lin_err), (np.mean(cub_err), np.mean(lin_err))


def test_rows_are_independent_and_errors():
    m = 6
    f, g = _tanh_game(m, 3), _tanh_game(m, 4)
    c = K.sample_coalitions(m, 40, seed=0)
    v = np.stack([f(c.masks), g(c.masks)])                               # [2, S]
    v0 = np.array([_ends(f, m)[0][0], _ends(g, m)[0][0]])
    v1 = np.array([_ends(f, m)[1][0], _ends(g, m)[1][0]])
    both = K.solve_cubic(c.masks, c.weights, v, v0, v1)
    alone = K.solve_cubic(c.masks, c.weights, v[1:], v0[1:], v1[1:])
    np.testing.assert_allclose(both[1], alone[0], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="masks"):
        K.solve_cubic(c.masks[:, :2], c.weights, v, v0, v1)
    with pytest.raises(ValueError, match="lam"):
        K.solve_cubic(c.masks, c.weights, v, v0, v1, lam=0.0)
    with pytest.raises(ValueError, match=r"^v: expected"):
        K.solve_cubic(c.masks, c.weights, v[:, :-1], v0, v1)


def test_players_never_separated_fall_back_to_the_linear_answer():
    m = 5
    c = K.sample_coalitions(m, 8, seed=0, scheme="stratified")    # players 3, 4 always together
    assert np.all(c.masks[:, 3] == c.masks[:, 4])
    v = np.random.default_rng(0).normal(size=(2, c.masks.shape[0]))
    phi = K.solve_cubic(c.masks, c.weights, v, np.zeros(2), np.ones(2))
    np.testing.assert_allclose(phi, K.solve_wls(c.masks, c.weights, v, 0.0, 1.0), atol=1e-10)
    np.testing.assert_allclose(phi[:, 3], phi[:, 4], atol=1e-10)   # shared credit
    for seed in range(20):                                         # never blows up
        for mm, b in ((4, 6), (6, 10), (8, 14)):
            c = K.sample_coalitions(mm, b, seed=seed, scheme="stratified")
            vv = np.random.default_rng(seed).normal(size=(2, c.masks.shape[0]))
            p = K.solve_cubic(c.masks, c.weights, vv, np.zeros(2), np.ones(2))
            assert np.abs(p).max() < 100 and np.allclose(p.sum(axis=1), 1.0)
