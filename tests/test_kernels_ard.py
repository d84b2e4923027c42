"""The per-player (ARD) priors of the spectral estimate against independent truths:
explicit Fourier features, the stationary prior they reduce to, exact games."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from xaicore import kernels as K
from xaicore.kernels import _ard


def _odd_sets(m):
    return [T for t in range(1, m + 1, 2) for T in itertools.combinations(range(m), t)]


def test_kernel_and_cross_covariance_match_explicit_fourier_features():
    rng = np.random.default_rng(0)
    m, n = 7, 9
    x = rng.choice([-1.0, 1.0], size=(n, m))
    w = rng.uniform(0.1, 3.0, size=m)
    c = rng.uniform(0.0, 1.0, size=(2, m + 1))
    c[:, 0::2] = 0.0                     # the even orders carry no Shapley value
    cov = np.empty((2, n, n))
    _ard._cov(x, w, c, cov, m)
    b = np.zeros_like(c)
    b[:, 1:] = c[:, 1:] * 2.0 / np.arange(1, m + 1)
    cross = np.empty((2, m, n))
    _ard._grad(x, w, b, cross, m)
    prior = np.empty((2, m, 1))
    _ard._grad(np.ones((1, m)), w, b * 2.0 / np.maximum(np.arange(m + 1), 1), prior, m)
    for h in range(2):       # the same sums, one odd term at a time
        var = {T: c[h, len(T)] * np.prod(w[list(T)]) for T in _odd_sets(m)}
        chi = {T: x[:, list(T)].prod(axis=1) for T in var}
        want = sum(var[T] * np.outer(chi[T], chi[T]) for T in var)
        np.testing.assert_allclose(cov[h], want, rtol=1e-12, atol=1e-12)
        for i in range(m):
            got = sum(2.0 / len(T) * var[T] * chi[T] for T in var if i in T)
            np.testing.assert_allclose(cross[h, i], got, rtol=1e-12, atol=1e-12)
            p = sum((2.0 / len(T)) ** 2 * var[T] for T in var if i in T)
            np.testing.assert_allclose(prior[h, i, 0], p, rtol=1e-12)


def test_uniform_weights_are_the_stationary_prior():
    m = 10
    rng = np.random.default_rng(1)
    c = K.sample_coalitions(m, 160, seed=0)
    d = K.spectral_design(c.masks)
    v = rng.normal(size=(len(c.masks), 2))
    y = np.concatenate([[[0.3, -0.2]], (v[d.pairs[:, 0]] - v[d.pairs[:, 1]]) / 2])
    for k, rho in enumerate(d.rho):
        mean, _, _ = _ard.ard_fits(d, y, np.full(m, 1.0 / m), [rho])
        np.testing.assert_allclose(mean[0], d.P[k] @ y, rtol=1e-7, atol=1e-9)


def _heredity_game(m, seed):
    """A smooth MLP game on a few strong players (the others weak): the players that
    matter are those that interact."""
    rng = np.random.default_rng(seed)
    scale = np.where(np.arange(m) < 4, 2.0, 0.15)
    W = rng.normal(size=(m, 16)) * scale[:, None]
    a = rng.normal(size=16)
    x, b = rng.normal(size=m), rng.normal(size=m)
    return lambda Z: np.tanh(np.where(Z, x, b) @ W) @ a


def _truth(f, m):
    masks, P = K.exact_operator(m)
    return P @ f(masks)


@pytest.mark.parametrize("m,budget", [(12, 128), (14, 256)])
def test_ard_lowers_the_error_on_games_of_few_interacting_players(m, budget):
    errs = {True: [], False: []}
    for seed in range(4):
        f = _heredity_game(m, seed)
        truth = _truth(f, m)
        ends = f(np.zeros((1, m), bool)), f(np.ones((1, m), bool))
        c = K.sample_coalitions(m, budget, seed=seed)
        d = K.spectral_design(c.masks)
        assert _ard.ard_applies(d)
        for on in errs:
            phi = K.solve_spectral(None, None, f(c.masks)[None], *ends, design=d, ard=on)
            errs[on].append(np.abs(phi[0] - truth).mean())
            np.testing.assert_allclose(phi.sum(), ends[1] - ends[0], rtol=1e-12, atol=1e-12)
    assert np.mean(errs[True]) < 0.8 * np.mean(errs[False]), errs


def test_ard_is_deterministic_exact_for_additive_games_and_off_at_full_enumeration():
    m = 9
    rng = np.random.default_rng(2)
    wts = rng.normal(size=m)
    c = K.sample_coalitions(m, 120, seed=3)
    d = K.spectral_design(c.masks)
    assert _ard.ard_applies(d) and d.a.shape[2] == m          # flat first order
    v = (c.masks @ wts)[None]
    a = K.solve_spectral(None, None, v, 0.0, wts.sum(), design=d, return_se=True)
    b = K.solve_spectral(None, None, v, 0.0, wts.sum(), design=d, return_se=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0][0], wts, atol=1e-8)
    full = K.spectral_design(np.array([z for z in itertools.product([0, 1], repeat=m)
                                       if 0 < sum(z) < m], dtype=bool))
    assert not _ard.ard_applies(full)


def test_ard_rows_on_their_own_and_outputs_on_their_own_scale():
    """Rows solved together give what each gives alone; an output's scale (1e6) changes
    neither the other output's values nor its own beyond the scale (the player weights
    come from each output's normalised estimate)."""
    m = 11
    c = K.sample_coalitions(m, 200, seed=4)
    d = K.spectral_design(c.masks)
    games = [(_heredity_game(m, s), _heredity_game(m, s + 10)) for s in range(3)]
    z0, z1 = np.zeros((1, m), bool), np.ones((1, m), bool)

    def values(scale):
        v = np.stack([np.stack([f(c.masks), scale * g(c.masks)], axis=1) for f, g in games])
        v0 = np.array([[f(z0)[0], scale * g(z0)[0]] for f, g in games])
        v1 = np.array([[f(z1)[0], scale * g(z1)[0]] for f, g in games])
        return v, v0, v1

    v, v0, v1 = values(1.0)
    together = K.solve_spectral(None, None, v, v0, v1, design=d)
    for i in range(3):
        one = K.solve_spectral(None, None, v[i:i + 1], v0[i:i + 1], v1[i:i + 1], design=d)
        np.testing.assert_allclose(together[i], one[0], rtol=1e-10, atol=1e-12)
    big = K.solve_spectral(None, None, *values(1e6), design=d)
    np.testing.assert_allclose(big[..., 0], together[..., 0], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(big[..., 1], 1e6 * together[..., 1], rtol=1e-7, atol=1e-4)


def test_one_fourier_ratio_with_moebius_priors():
    """A grid of one Fourier ratio and a Moebius prior (``rho`` a float, two priors) runs
    the step with that ratio, and stays exact on an additive game."""
    m = 10
    c = K.sample_coalitions(m, 120, seed=0)
    d = K.spectral_design(c.masks, rho=0.2, mobius=(0.3,))
    assert d.rho == 0.2 and _ard.ard_applies(d)
    wts = np.arange(m, dtype=np.float64)
    v = (c.masks @ wts)[None]
    phi = K.solve_spectral(None, None, v, 0.0, wts.sum(), design=d)
    np.testing.assert_allclose(phi[0], wts, atol=1e-8)
    f = _heredity_game(m, 0)
    ends = f(np.zeros((1, m), bool)), f(np.ones((1, m), bool))
    on = K.solve_spectral(None, None, f(c.masks)[None], *ends, design=d)
    off = K.solve_spectral(None, None, f(c.masks)[None], *ends, design=d, ard=False)
    assert not np.allclose(on, off)


def test_orders_of_negligible_prior_variance_are_left_out_exactly(monkeypatch):
    """The recurrences stop at the highest order whose prior variance is not negligible:
    the same kernel as the full recurrence where ``c`` is zero above that order, and the
    same fits as with no order left out; 64 players (past the former 32) run the step."""
    rng = np.random.default_rng(5)
    m, n = 20, 12
    x = rng.choice([-1.0, 1.0], size=(n, m))
    w = rng.uniform(0.1, 3.0, size=m)
    c = np.zeros((2, m + 1))
    c[:, 1:8:2] = rng.uniform(0.1, 1.0, size=(2, 4))          # orders 1, 3, 5, 7 only
    b = np.zeros_like(c)
    b[:, 1:] = c[:, 1:] * 2.0 / np.arange(1, m + 1)
    outs = {}
    for top in (7, m):
        cov, cross = np.empty((2, n, n)), np.empty((2, m, n))
        _ard._cov(x, w, c, cov, top)
        _ard._grad(x, w, b, cross, top)
        outs[top] = cov, cross
    for a, b_ in zip(outs[7], outs[m]):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-14)
    mm = 64
    cs = K.sample_coalitions(mm, 200, seed=1)
    d = K.spectral_design(cs.masks)
    assert _ard.ard_applies(d)
    f = _heredity_game(mm, 3)
    y = np.concatenate([[[(f(np.ones((1, mm), bool))[0] - f(np.zeros((1, mm), bool))[0]) / 2]],
                        ((f(cs.masks)[d.pairs[:, 0]] - f(cs.masks)[d.pairs[:, 1]]) / 2)[:, None]])
    pi = np.full(mm, 1.0 / mm)
    cut = _ard.ard_fits(d, y, pi, [0.002])
    monkeypatch.setattr(_ard, "NEGLIGIBLE", 0.0)
    full = _ard.ard_fits(d, y, pi, [0.002])
    for a, b_ in zip(cut, full):
        np.testing.assert_allclose(a, b_, rtol=1e-9, atol=1e-12)
