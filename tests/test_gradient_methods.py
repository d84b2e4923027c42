"""Saliency, gradient x input, SmoothGrad, VarGrad and expected gradients against truths:
closed forms of a linear model, float64 finite differences, seeds, standard errors."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xaicore
from xaicore.methods._expected_gradients import ExpectedGradients
from xaicore.methods._integrated_gradients import IntegratedGradients
from xaicore.methods._saliency import GradientXInput, Saliency, SmoothGrad, VarGrad

W = np.array([[1.0, 2.0], [-1.0, 0.5], [3.0, -2.0], [0.25, 1.5]], np.float32)


@pytest.fixture(scope="module")
def linear():
    fn = xaicore.from_jax(lambda x: x @ jnp.asarray(W) - 1.0, input_shape=(4,))
    rng = np.random.default_rng(0)
    return fn, rng.normal(size=(6, 4)).astype(np.float32), \
        rng.normal(loc=0.5, size=(40, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def smooth():
    w1 = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    w2 = np.random.default_rng(2).normal(size=(5, 2)).astype(np.float32)
    fn = xaicore.from_jax(lambda x: jnp.tanh(x @ w1) @ w2 + 0.1 * (x ** 2).sum(1, keepdims=True),
                          input_shape=(4,))
    return fn, np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)


def test_linear_closed_forms(linear):
    fn, X, _ = linear
    att = Saliency(fn, abs=False).explain(X)
    np.testing.assert_allclose(att.values, np.broadcast_to(W, (6, 4, 2)), atol=1e-6)
    np.testing.assert_allclose(Saliency(fn).explain(X, target=1).values,
                               np.broadcast_to(np.abs(W[:, 1]), (6, 4)), atol=1e-6)
    np.testing.assert_allclose(GradientXInput(fn).explain(X, target=0).values, X * W[:, 0],
                               atol=1e-6)


def test_gradients_match_float64_finite_differences():
    rng = np.random.default_rng(5)
    w1, w2 = rng.normal(size=(3, 6)), rng.normal(size=(6, 2))
    with jax.enable_x64(True):
        fn = xaicore.from_jax(lambda x: jnp.tanh(x @ w1) @ w2 + jnp.sin(x).sum(1)[:, None],
                              input_shape=(3,), dtype="float64")
        X = rng.normal(size=(4, 3))
        att = Saliency(fn, abs=False).explain(X)
        assert att.values.dtype == np.float64
        h, eye = 1e-6, np.eye(3)
        fd = np.stack([(np.asarray(fn(X + h * eye[i])) - np.asarray(fn(X - h * eye[i])))
                       / (2 * h) for i in range(3)], axis=1)                # [n, 3, O]
        np.testing.assert_allclose(att.values, fd, atol=1e-8)
        ig = IntegratedGradients(fn, n_steps=40).explain(X, target=1)
        assert ig.stats["max_completeness_gap"] < 1e-10


def test_smoothgrad_vargrad_seeded_and_tend_to_saliency(smooth):
    fn, X = smooth
    sal = Saliency(fn, abs=False).explain(X, target=0).values
    a = SmoothGrad(fn, n_samples=16, seed=3).explain(X, target=0)
    b = SmoothGrad(fn, n_samples=16, seed=3, max_batch=8).explain(X, target=0)
    c = SmoothGrad(fn, n_samples=16, seed=4).explain(X, target=0)
    np.testing.assert_allclose(a.values, b.values, atol=1e-6)   # chunking-independent
    assert np.abs(a.values - c.values).max() > 1e-4 and a.stderr.shape == a.values.shape
    errs = [np.abs(SmoothGrad(fn, noise_level=s, n_samples=16).explain(X, target=0).values
                   - sal).max() for s in (0.3, 0.003)]
    assert errs[0] > 10 * errs[1] and errs[1] < 1e-2
    vg = VarGrad(fn, noise_level=0.003, n_samples=16, seed=1)
    small = vg.explain(X, target=0).values
    np.testing.assert_array_equal(small, vg.explain(X, target=0).values)
    large = VarGrad(fn, noise_level=0.3, n_samples=16, seed=1).explain(X, target=0).values
    assert small.max() < 1e-3 * large.max()


def test_expected_gradients_linear_within_stderr(linear):
    fn, X, B = linear
    att = ExpectedGradients(fn, B, n_samples=256, seed=0).explain(X, target=1)
    truth = W[:, 1] * (X - B.mean(0))
    err = np.abs(att.values - truth)
    assert np.all(err < 4 * att.stderr + 1e-6) and att.stderr.max() < 0.25
    np.testing.assert_allclose(att.base_values, (B @ W[:, 1] - 1.0).mean(), atol=1e-5)
    again = ExpectedGradients(fn, B, n_samples=256, seed=0, max_batch=100).explain(
        X, target=1)
    np.testing.assert_allclose(att.values, again.values, atol=1e-6)
    noisy = ExpectedGradients(fn, B, n_samples=64, stdevs=0.1).explain(X)
    assert noisy.values.shape == (6, 4, 2) and noisy.stderr.shape == (6, 4, 2)
    # input noise of mean 0: the same closed form, within the (larger) standard errors
    noisy = ExpectedGradients(fn, B, n_samples=256, seed=1, stdevs=0.5).explain(X, target=1)
    assert np.all(np.abs(noisy.values - truth) < 4 * noisy.stderr + 1e-6)
    assert noisy.stderr.mean() > 1.05 * att.stderr.mean()   # the noise adds its own spread


def test_rows_per_call_bounded(smooth):
    fn, X = smooth
    for method in (SmoothGrad(fn, n_samples=30, max_batch=8),
                   ExpectedGradients(fn, X, n_samples=30, max_batch=8),
                   Saliency(fn, max_batch=2)):
        att = method.explain(X)
        assert att.stats["rows_per_call"] <= method.max_batch
        assert method.engine.compiled == 1


@pytest.mark.parametrize("antithetic", [True, False])
def test_smoothgrad_does_not_depend_on_the_chunking(smooth, antithetic):
    """Noise is keyed by global row and sample: one chunk, or small chunks of few sample
    blocks each, give the same attributions."""
    fn, X = smooth
    kw = dict(n_samples=12, seed=3, antithetic=antithetic)
    whole = SmoothGrad(fn, **kw).explain(X, target=0).values
    chunked = SmoothGrad(fn, max_batch=8, **kw).explain(X, target=0).values
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
    assert not np.allclose(whole[0], whole[1])


@pytest.mark.parametrize("make, arg", [
    (lambda fn, X: SmoothGrad(fn, n_samples=0), "n_samples"),
    (lambda fn, X: SmoothGrad(fn, noise_level=-0.1), "noise_level"),
    (lambda fn, X: VarGrad(fn, seed=-1), "seed"),
    (lambda fn, X: ExpectedGradients(fn, X, stdevs=float("nan")), "stdevs"),
    (lambda fn, X: ExpectedGradients(fn, X[:, :3]), "background"),
    (lambda fn, X: ExpectedGradients(fn, X, n_samples=1.5), "n_samples"),
    (lambda fn, X: Saliency(fn).explain(X[:, :3]), "X"),
    (lambda fn, X: Saliency(fn).explain(X, target=7), "target")])
def test_bad_input(smooth, make, arg):
    fn, X = smooth
    with pytest.raises(xaicore.InputError, match=rf"^{arg}:"):
        make(fn, X)
