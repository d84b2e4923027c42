"""Bootstrap standard errors of the sampled Shapley regression are honest."""
from __future__ import annotations

import numpy as np
import pytest

from xaicore import kernels as K


def _game(m: int, seed: int):
    rng = np.random.default_rng(seed)
    W, a = rng.normal(size=(m, 32)) * 2 / np.sqrt(m), rng.normal(size=32)
    x, b = rng.normal(size=m), rng.normal(size=m)
    return lambda Z: np.tanh(np.where(Z, x, b) @ W) @ a


@pytest.mark.parametrize("scheme,paired,budget", [("leverage", True, 200),
                                                   ("kernel", False, 150)])
def test_standard_errors_cover(scheme, paired, budget):
    m, reps = 10, 200
    f = _game(m, 5)
    masks, P = K.exact_operator(m)
    truth = P @ f(masks)
    v0, v1 = f(np.zeros((1, m), bool)), f(np.ones((1, m), bool))
    phis, ses = [], []
    for s in range(reps):
        c = K.sample_coalitions(m, budget, seed=s, scheme=scheme, paired=paired)
        v = f(c.masks)[None, :]
        phis.append(K.solve_wls(c.masks, c.weights, v, v0, v1)[0])
        ses.append(K.standard_errors(c, v, v0, v1, n_boot=48, seed=s)[0])
    phis, ses = np.array(phis), np.array(ses)
    coverage = np.mean(np.abs(phis - truth) <= 2 * ses)
    assert 0.85 <= coverage <= 0.99, coverage
    ratio = ses.mean(axis=0) / phis.std(axis=0)
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio


def test_standard_errors_shapes_exact_and_seeded():
    f = _game(6, 0)
    full = K.sample_coalitions(6, 62)
    v = np.stack([f(full.masks), -f(full.masks)], axis=-1)[None]
    se = K.standard_errors(full, v, np.zeros((1, 2)), np.ones((1, 2)))
    assert se.shape == (1, 6, 2) and np.all(se == 0)
    c = K.sample_coalitions(6, 30, seed=1)
    v = np.stack([f(c.masks), -f(c.masks)], axis=-1)[None]
    v1 = np.array([1.0, -1.0])  # output 1 is exactly minus output 0: same errors
    a = K.standard_errors(c, v, np.zeros(2), v1, n_boot=16, seed=3)
    b = K.standard_errors(c, v, np.zeros(2), v1, n_boot=16, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1, 6, 2) and np.all(a > 0)
    np.testing.assert_allclose(a[..., 0], a[..., 1], rtol=1e-10)
    with pytest.raises(ValueError, match="n_boot"):
        K.standard_errors(c, v, 0.0, 1.0, n_boot=1)
    with pytest.raises(ValueError, match=r"^v: expected"):
        K.standard_errors(c, v[:, :-1], 0.0, 1.0)
