"""The spectral estimate's design beyond the singletons: the coalitions of 2 and ``M - 2``
players next (``sample_coalitions(first_classes=2)``), the same on every backend, and what
they buy: a game of interactions of order 4 at most is fixed by the rows of sizes 1, 2,
``M - 2`` and ``M - 1`` (closed-form truth)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from shapley_truth import unanimity_game

import xaicore
from xaicore import kernels as K

HOST = ("cpp", "numba", "numpy")


def _sizes(masks: np.ndarray) -> np.ndarray:
    s = masks.sum(axis=1)
    return np.minimum(s, masks.shape[1] - s)       # the class: s and M - s alike


@pytest.mark.parametrize("m, budget, paired, scheme", [
    (10, 150, True, "stratified"), (13, 400, True, "leverage"), (16, 700, False, "kernel"),
    (20, 1000, True, "leverage")])
def test_classes_one_and_two_come_first_then_the_scheme(m, budget, paired, scheme):
    out = [K.sample_coalitions(m, budget, paired=paired, seed=5, scheme=scheme,
                               backend=b, first_classes=2) for b in HOST]
    for c in out[1:]:
        np.testing.assert_array_equal(c.masks, out[0].masks)
        np.testing.assert_allclose(c.weights, out[0].weights, rtol=1e-12, atol=0)
    c = out[0]
    n1, n2 = 2 * m, m * (m - 1)
    cls = _sizes(c.masks)
    assert (cls[:n1] == 1).all() and (cls[n1:n1 + n2] == 2).all()
    assert len(np.unique(c.masks[:n1 + n2], axis=0)) == n1 + n2   # every one of them
    assert not np.isin(cls[n1 + n2:], (1, 2)).any()               # and none again
    assert c.n_exact >= n1 + n2 and n1 + n2 < len(c.masks) <= budget
    if paired:
        np.testing.assert_array_equal(c.masks[1::2], ~c.masks[0::2])
    # the enumerated rows carry their exact Shapley-kernel weights
    w = c.weights[n1:n1 + n2]
    total = sum((m - 1) / (s * (m - s)) for s in range(1, m))
    np.testing.assert_allclose(w, (m - 1) / (2 * (m - 2)) / math.comb(m, 2) / total,
                               rtol=1e-12)


@pytest.mark.parametrize("m, budget", [(20, 300), (30, 900), (13, 150)])
def test_where_class_two_does_not_fit_the_draw_is_the_singletons_one(m, budget):
    a = K.sample_coalitions(m, budget, seed=3, first_classes=2)
    b = K.sample_coalitions(m, budget, seed=3, first_classes=1)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_first_classes_is_checked(bad):
    with pytest.raises(ValueError, match="first_classes"):
        K.sample_coalitions(10, 100, first_classes=bad)


@pytest.mark.parametrize("m", [10, 14])
def test_a_game_of_order_four_is_fixed_by_classes_one_and_two(m):
    v, truth = unanimity_game(m, m, n_terms=30, max_order=4)
    v1 = v(np.ones((1, m), bool))[0]
    budget = 2 * m + m * (m - 1) + 10
    err = {}
    for first in (2, 1):
        c = K.sample_coalitions(m, budget, seed=1, first_classes=first)
        phi = K.solve_spectral(c.masks, None, v(c.masks)[None], 0.0, v1)[0]
        assert abs(phi.sum() - v1) < 1e-9                              # efficiency
        err[first] = np.abs(phi - truth).max()
    assert err[2] < 1e-3 * np.abs(truth).max()
    assert err[2] < err[1] / 10


def test_kernel_shap_draws_class_two_for_the_spectral_estimate_where_it_fits():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(10, 1)).astype(np.float32)
    fn = xaicore.from_jax(lambda x: x @ w + 0.3 * (x[:, :1] * x[:, 1:2] * x[:, 2:3]),
                          input_shape=(10,))
    ks = xaicore.KernelShap(fn, np.zeros((1, 10), np.float32), n_samples=150)
    assert ks.estimator == "spectral"
    assert (_sizes(ks.coalitions.masks[:110]) == np.repeat([1, 2], [20, 90])).all()
    lin = xaicore.KernelShap(fn, np.zeros((1, 10), np.float32), n_samples=150,
                             estimator="linear")
    assert (_sizes(lin.coalitions.masks) == 2).sum() < 90


@pytest.mark.parametrize("m, n_samples, first", [
    (20, 1022, 2), (20, 2046, 1), (30, 1022, 2), (30, 2046, 1), (60, 4094, 2),
    (10, 126, 2), (64, 4094, 2)])
def test_class_two_is_left_to_the_draw_where_it_would_leave_it_many_pairs(m, n_samples,
                                                                          first):
    """Enumerated where it leaves fewer than ``SPARSE_PAIRS`` pairs to the draw (or does
    not fit: the plan then keeps to the singletons); the regressions enumerate nothing
    first."""
    from xaicore.kernels._sparse_step import SPARSE_PAIRS
    from xaicore.methods._kernel_shap import default_first_classes

    assert default_first_classes("spectral", m, n_samples) == first
    rest = (n_samples - 2 * m - m * (m - 1)) // 2
    assert (first == 2) == (rest < SPARSE_PAIRS)
    assert default_first_classes("linear", m, n_samples) == 0
    assert default_first_classes("cubic", m, n_samples) == 0


def _tanh_network_game(m: int, seed: int):
    """A two-layer tanh network of 64 units (random weights) between a point and a
    baseline, as a game, and its exact Shapley values by enumeration."""
    rng = np.random.default_rng(seed)
    w1, w0 = rng.normal(size=(m, 64)) / np.sqrt(m), rng.normal(size=(64, 64)) / 8
    w2 = rng.normal(size=64) / 8
    x, b = rng.normal(size=m), rng.normal(size=m)

    def v(Z):
        return np.tanh(np.tanh(np.where(np.atleast_2d(Z), x, b) @ w1) @ w0 * 2) @ w2
    masks, op = K.exact_operator(m)
    return v, op @ v(masks)


def test_standard_errors_cover_where_class_two_is_whole():
    """13 players, 256 coalitions: the singletons, class 2 and 36 other pairs. The
    evidence weighs the priors by the orders up to 4, which those rows fix, and the
    smoothest ones were too sure of the rest (2-se coverage 0.83 on these games)."""
    m, inside = 13, []
    for g in range(8):
        v, truth = _tanh_network_game(m, g)
        ends = v(np.zeros(m, bool)), v(np.ones(m, bool))
        for seed in range(3):
            c = K.sample_coalitions(m, 256, seed=seed, first_classes=2)
            phi, se = K.solve_spectral(c.masks, None, v(c.masks)[None], *ends,
                                       return_se=True)
            inside.extend(np.abs(phi[0] - truth) <= 2 * se[0])
    assert np.mean(inside) >= 0.92
