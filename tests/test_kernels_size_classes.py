"""The spectral estimate's design beyond the singletons: the coalitions of 2 and ``M - 2``
players next (``sample_coalitions(first_classes=2)``), the same on every backend, and what
they buy: a game of interactions of order 4 at most is fixed by the rows of sizes 1, 2,
``M - 2`` and ``M - 1`` (closed-form truth)."""
from __future__ import annotations

import math

import numpy as np
import pytest

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
    b = K.sample_coalitions(m, budget, seed=3, singletons=True)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_first_classes_is_checked(bad):
    with pytest.raises(ValueError, match="first_classes"):
        K.sample_coalitions(10, 100, first_classes=bad)


def _order_four_game(m: int, seed: int, n_terms: int = 30):
    """A sum of unanimity games of orders 1-4 and its Shapley values (closed form)."""
    rng = np.random.default_rng(seed)
    sets = [rng.choice(m, size=rng.integers(1, 5), replace=False) for _ in range(n_terms)]
    coef = rng.normal(size=n_terms)
    phi = np.zeros(m)
    for t, c in zip(sets, coef):
        phi[t] += c / len(t)
    return (lambda Z: sum(c * Z[:, t].all(axis=1) for t, c in zip(sets, coef)) * 1.0), phi


@pytest.mark.parametrize("m", [10, 14])
def test_a_game_of_order_four_is_fixed_by_classes_one_and_two(m):
    v, truth = _order_four_game(m, m)
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
