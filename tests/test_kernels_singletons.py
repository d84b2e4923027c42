"""The spectral estimate's design: every singleton and its complement first
(``sample_coalitions(first_classes=1)``), the same on every backend, and what it buys: a
game of pairwise interactions is fixed by those ``2 M`` rows (closed-form truth)."""
from __future__ import annotations

import numpy as np
import pytest
from shapley_truth import unanimity_game

import xaicore
from xaicore import kernels as K

HOST = ("cpp", "numba", "numpy")


def _is_singleton_or_complement(masks: np.ndarray) -> np.ndarray:
    sizes = masks.sum(axis=1)
    return (sizes == 1) | (sizes == masks.shape[1] - 1)


@pytest.mark.parametrize("m, budget, paired, scheme", [
    (12, 100, True, "stratified"), (30, 200, True, "leverage"), (64, 300, True, "kernel"),
    (20, 90, False, "stratified"), (100, 250, True, "leverage")])
def test_the_singletons_and_complements_come_first_then_the_scheme(m, budget, paired,
                                                                   scheme):
    out = [K.sample_coalitions(m, budget, paired=paired, seed=4, scheme=scheme,
                               backend=b, first_classes=1) for b in HOST]
    for c in out[1:]:
        np.testing.assert_array_equal(c.masks, out[0].masks)
        np.testing.assert_allclose(c.weights, out[0].weights, rtol=1e-12, atol=0)
    c = out[0]
    first = c.masks[:2 * m]
    assert c.n_exact >= 2 * m and _is_singleton_or_complement(first).all()
    assert len(np.unique(first, axis=0)) == 2 * m                  # every one of them
    assert not _is_singleton_or_complement(c.masks[2 * m:]).any()  # and none again
    assert len(c.masks) > 2 * m
    if paired:
        np.testing.assert_array_equal(c.masks[1::2], ~c.masks[0::2])
    # the enumerated rows carry their exact kernel weights: the linear fit still works
    plain = K.sample_coalitions(m, budget, paired=paired, seed=4, scheme=scheme)
    assert len(plain.masks) <= budget and len(c.masks) <= budget


@pytest.mark.parametrize("m, budget", [(40, 30), (64, 126), (100, 64), (9, 10)])
def test_short_of_two_m_rows_the_whole_budget_goes_to_distinct_singleton_pairs(m, budget):
    c = K.sample_coalitions(m, budget, seed=2, scheme="stratified", min_rows=2,
                            first_classes=1)
    assert len(c.masks) == 2 * (budget // 2)
    assert _is_singleton_or_complement(c.masks).all()
    np.testing.assert_array_equal(c.masks[1::2], ~c.masks[0::2])
    players = np.flatnonzero(c.masks[0::2].sum(axis=1) == 1)
    assert len(players) + np.sum(c.masks[0::2].sum(axis=1) == m - 1) == budget // 2
    assert len(np.unique(c.masks, axis=0)) == len(c.masks)           # no repeats
    again = K.sample_coalitions(m, budget, seed=2, scheme="stratified", min_rows=2,
                                first_classes=1)
    np.testing.assert_array_equal(again.masks, c.masks)              # same seed, same draw
    other = K.sample_coalitions(m, budget, seed=3, scheme="stratified", min_rows=2,
                                first_classes=1)
    if budget // 2 < m:
        assert not np.array_equal(other.masks, c.masks)


def _pairwise_game(m: int, seed: int):
    """``v(S) = sum_{i in S} a_i + sum_{i < j in S} A_ij`` and its Shapley values
    ``a_i + (1/2) sum_j A_ij`` (closed form)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=m)
    A = np.triu(rng.normal(size=(m, m)), 1) * 0.3
    phi = a + 0.5 * (A.sum(axis=0) + A.sum(axis=1))
    return (lambda Z: Z @ a + np.einsum("ki,ij,kj->k", Z * 1.0, A, Z * 1.0)), phi


@pytest.mark.parametrize("m", [12, 30, 64])
def test_the_spectral_estimate_of_a_pairwise_game_is_fixed_by_the_singletons(m):
    v, truth = _pairwise_game(m, m)
    v1 = v(np.ones((1, m), bool))[0]
    err = {}
    for singles in (True, False):
        c = K.sample_coalitions(m, 2 * m, seed=1, scheme="stratified", min_rows=2,
                                first_classes=int(singles))
        phi = K.solve_spectral(c.masks, None, v(c.masks)[None], 0.0, v1)[0]
        assert abs(phi.sum() - v1) < 1e-9                              # efficiency
        err[singles] = np.abs(phi - truth).max()
    assert err[True] < 0.01 * np.abs(truth).max()
    assert err[True] < err[False] / 10


def test_kernel_shap_draws_the_spectral_design_and_reports_it():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(24, 1)).astype(np.float32)
    fn = xaicore.from_jax(lambda x: x @ w, input_shape=(24,))
    X = rng.normal(size=(2, 24)).astype(np.float32)
    ks = xaicore.KernelShap(fn, np.zeros((1, 24), np.float32), n_samples=100)
    assert ks.estimator == "spectral"
    assert _is_singleton_or_complement(ks.coalitions.masks[:48]).all()
    assert not _is_singleton_or_complement(ks.coalitions.masks[48:]).any()
    att = ks.explain(X, target=0)        # a linear model: fixed by the singletons
    np.testing.assert_allclose(att.values, X * w[:, 0], atol=2e-3)
    lin = xaicore.KernelShap(fn, np.zeros((1, 24), np.float32), n_samples=100,
                             estimator="linear")
    assert _is_singleton_or_complement(lin.coalitions.masks).sum() < 48


def test_standard_errors_cover_where_the_singletons_cannot_tell_the_priors_apart():
    """30 players, 62 coalitions (the singletons, their complements and one more pair):
    the evidence cannot choose between the grid's priors, and the spread of the
    smoothest was too narrow (2-se coverage 0.85 on these games)."""
    m, inside = 30, []
    for g in range(12):
        v, truth = unanimity_game(m, 1000 * m + g)
        for seed in range(3):
            c = K.sample_coalitions(m, 62, seed=seed, scheme="stratified", min_rows=2,
                                    first_classes=1)
            phi, se = K.solve_spectral(c.masks, None, v(c.masks)[None], 0.0,
                                       v(np.ones((1, m), bool))[0], return_se=True)
            inside.extend(np.abs(phi[0] - truth) <= 2 * se[0])
    assert np.mean(inside) >= 0.92
