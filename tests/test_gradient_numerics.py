"""Gradient methods on models whose outputs are scaled by 1e30-1e38 in float32: values and
standard errors stay finite where the true ones are representable, and equal a float64
computation of the same quantities (closed forms, or ``c`` times the unscaled model's)."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import xaicore

rng = np.random.default_rng(0)
W = rng.uniform(-0.9, 0.9, size=(4, 2)).astype(np.float32)
X = rng.normal(size=(6, 4)).astype(np.float32)
B = rng.normal(size=(8, 4)).astype(np.float32)
B[0] = 6.0             # draws of this row make |x - b| * grad > 3.4e38 at c = 1e38
SCALES = [1e30, 1e38]


def linear(c: float):
    return xaicore.from_jax(lambda x: c * (x @ jnp.asarray(W)), input_shape=(4,))


def tanh(c: float):
    return xaicore.from_jax(lambda x: c * jnp.tanh(x @ jnp.asarray(W)), input_shape=(4,))


@pytest.mark.parametrize("c", SCALES)
def test_smoothgrad_linear_closed_form(c):
    sg = xaicore.SmoothGrad(linear(c), n_samples=50).explain(X, target=1)
    truth = c * W[:, 1].astype(np.float64)                 # the gradient, whatever the noise
    np.testing.assert_allclose(sg.values, np.broadcast_to(truth, X.shape), rtol=1e-6)
    assert np.all(np.isfinite(sg.stderr)) and np.all(sg.stderr == 0)   # no spread at all
    vg = xaicore.VarGrad(linear(c), n_samples=50).explain(X, target=1)
    assert np.all(vg.values == 0)


@pytest.mark.parametrize("c", SCALES)
def test_expected_gradients_scaled(c):
    one = xaicore.ExpectedGradients(linear(1.0), B, n_samples=64, seed=2).explain(X)
    big = xaicore.ExpectedGradients(linear(c), B, n_samples=64, seed=2).explain(X)
    want = c * one.values.astype(np.float64)              # same draws: c times the values
    assert np.all(np.abs(want) < 3e38)                     # representable in float32
    assert np.all(np.isfinite(big.values)) and np.all(np.isfinite(big.stderr))
    np.testing.assert_allclose(big.values, want, rtol=1e-5, atol=1e-6 * c)
    np.testing.assert_allclose(big.stderr, c * one.stderr.astype(np.float64), rtol=1e-4)
    assert big.stderr.max() > 0.01 * c                    # a real spread, not zeros


@pytest.mark.parametrize("c", SCALES)
def test_expected_gradients_and_smoothgrad_tanh(c):
    for make in (lambda f: xaicore.ExpectedGradients(f, B, n_samples=32, seed=1),
                 lambda f: xaicore.SmoothGrad(f, n_samples=32, seed=1)):
        one, big = make(tanh(1.0)).explain(X, target=0), make(tanh(c)).explain(X, target=0)
        assert np.all(np.isfinite(big.values)) and np.all(np.isfinite(big.stderr))
        np.testing.assert_allclose(big.values, c * one.values.astype(np.float64),
                                   rtol=1e-4, atol=1e-6 * c)
        np.testing.assert_allclose(big.stderr, c * one.stderr.astype(np.float64),
                                   rtol=1e-3, atol=1e-6 * c)
def test_quadratic_smoothgrad_spread_closed_form():
    """``f = c/2 |x|^2``: the gradient at a noisy copy is ``c (x + e)``, so SmoothGrad's
    spread is ``c`` times the noise's; in float64, the noise's own spread is known."""
    c = 1e36
    f = xaicore.from_jax(lambda x: 0.5 * c * jnp.sum(x * x, 1, keepdims=True),
                         input_shape=(4,))
    sg = xaicore.SmoothGrad(f, n_samples=400, seed=5, antithetic=False).explain(X, target=0)
    assert np.all(np.isfinite(sg.stderr))
    sd = 0.15 * (X.max(0) - X.min(0)).astype(np.float64)   # the default noise scale
    np.testing.assert_allclose(sg.stderr * np.sqrt(399) / c, np.broadcast_to(sd, X.shape),
                               rtol=0.2)
    # antithetic pairs: c (x + e) and c (x - e) average to c x, exactly, with no spread
    anti = xaicore.SmoothGrad(f, n_samples=400, seed=5).explain(X, target=0)
    np.testing.assert_allclose(anti.values / c, X, rtol=1e-5, atol=1e-6)
    assert np.all(anti.stderr / c < 1e-5 * sd)
    unit = xaicore.from_jax(lambda x: 0.5 * jnp.sum(x * x, 1, keepdims=True), input_shape=(4,))
    vg = xaicore.VarGrad(unit, n_samples=400, seed=5).explain(X, target=0)  # still e's spread
    np.testing.assert_allclose(np.sqrt(vg.values), np.broadcast_to(sd, X.shape), rtol=0.2)


@pytest.mark.parametrize("n_samples", [64, 63])
@pytest.mark.parametrize("antithetic", [True, False])
def test_smoothgrad_of_a_sine_against_its_closed_form(antithetic, n_samples):
    """``f = sum sin(x)``: SmoothGrad's expectation is ``cos(x) exp(-sigma^2 / 2)``. Both
    noise schemes converge to it, their standard errors cover the error at about their
    nominal rate, and the antithetic pairs (``cos(x + e) + cos(x - e) = 2 cos x cos e``:
    the odd part cancels) err less at the same number of samples."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-3, 3, size=(256, 4)).astype(np.float32)
    f = xaicore.from_jax(lambda a: jnp.sum(jnp.sin(a), 1, keepdims=True), input_shape=(4,))
    sg = xaicore.SmoothGrad(f, stdevs=0.8, n_samples=n_samples, seed=11,
                            antithetic=antithetic).explain(x, target=0)
    truth = np.cos(x.astype(np.float64)) * np.exp(-0.8 ** 2 / 2)
    err = np.abs(sg.values - truth)
    covered = np.mean(err <= 1.96 * sg.stderr)
    assert 0.90 <= covered <= 0.99, covered
    other = xaicore.SmoothGrad(f, stdevs=0.8, n_samples=n_samples, seed=11,
                               antithetic=not antithetic).explain(x, target=0)
    anti, iid = (sg, other) if antithetic else (other, sg)
    assert np.mean(np.abs(anti.values - truth)) < 0.8 * np.mean(np.abs(iid.values - truth))
