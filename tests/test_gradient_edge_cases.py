"""Edge cases of the gradient methods found in review: plain callables with all outputs,
memory bound with all outputs, seeds, one-sample standard errors, job parts' noise."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import xaicore
from xaicore.jobs import _file_jobs as _jobs

W = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
X = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")


def f(x):
    return jnp.tanh(x @ W)


def test_plain_callable_all_outputs_matches_per_target():
    for cls in (xaicore.Saliency, xaicore.GradientXInput, xaicore.IntegratedGradients):
        every = cls(f).explain(X).values                       # [n, 6, 3]
        assert every.shape == (4, 6, 3), cls.__name__
        for t in range(3):
            one = cls(f).explain(X, target=t).values
            np.testing.assert_allclose(every[..., t], one, atol=1e-6, err_msg=cls.__name__)
    # the closed form of the saliency of tanh(x W): (1 - y^2) W
    y = np.tanh(X @ W)
    want = np.abs((1 - y ** 2)[:, None, :] * W[None])
    np.testing.assert_allclose(xaicore.Saliency(f).explain(X).values, want, atol=1e-6)


def test_all_outputs_respect_max_batch():
    att = xaicore.IntegratedGradients(f, n_steps=16, max_batch=48).explain(X)
    assert att.stats["rows_per_call"] * 3 <= 48                 # 3 outputs, one backward each
    one = xaicore.IntegratedGradients(f, n_steps=16, max_batch=48).explain(X, target=0)
    assert one.stats["rows_per_call"] * 3 > 48
    np.testing.assert_allclose(att.values[..., 0], one.values, atol=1e-6)


def test_seeds_beyond_32_bits_are_refused():
    for cls in (xaicore.SmoothGrad, xaicore.VarGrad):
        with pytest.raises(xaicore.InputError, match=r"seed: expected an int in \[0, 2\*\*32\)"):
            cls(f, seed=2 ** 32 + 1)
    with pytest.raises(xaicore.InputError, match="seed:"):
        xaicore.ExpectedGradients(f, X, seed=2 ** 40)
    a = xaicore.SmoothGrad(f, n_samples=4, seed=1).explain(X, target=0).values
    b = xaicore.SmoothGrad(f, n_samples=4, seed=2 ** 32 - 1).explain(X, target=0).values
    assert not np.allclose(a, b)


def test_one_sample_has_no_standard_error():
    se = xaicore.SmoothGrad(f, n_samples=1).explain(X, target=0).stderr
    assert np.all(np.isnan(se))
    se = xaicore.ExpectedGradients(f, X, n_samples=1).explain(X, target=0).stderr
    assert np.all(np.isnan(se))
    se = xaicore.SmoothGrad(f, n_samples=3).explain(X, target=0).stderr
    assert np.all(np.isfinite(se)) and np.all(se > 0)


def test_job_parts_draw_their_own_noise():
    seeds = {_jobs.part_seed(0, i) for i in range(100)}
    assert len(seeds) == 100 and all(0 <= s < 2 ** 32 for s in seeds)
    assert _jobs.part_seed(0, 1) == _jobs.part_seed(0, 1) != _jobs.part_seed(1, 1)


def test_variance_survives_a_large_mean_gradient():
    def g(x):
        return 0.5 * jnp.sum(x ** 2, axis=1, keepdims=True)

    f1 = xaicore.from_jax(g, input_shape=(6,))
    f2 = xaicore.from_jax(lambda x: g(x) + 1e4 * x.sum(axis=1, keepdims=True), input_shape=(6,))
    a = xaicore.VarGrad(f1, n_samples=64, seed=3).explain(X, target=0).values
    b = xaicore.VarGrad(f2, n_samples=64, seed=3).explain(X, target=0).values
    np.testing.assert_allclose(b, a, rtol=0.02, atol=1e-4)   # a constant gradient adds no spread
    s1 = xaicore.SmoothGrad(f1, n_samples=64, seed=3).explain(X, target=0).stderr
    s2 = xaicore.SmoothGrad(f2, n_samples=64, seed=3).explain(X, target=0).stderr
    np.testing.assert_allclose(s2, s1, rtol=0.02, atol=1e-4)
    # the gradient of g is x itself: the variance of x + noise is the noise variance
    # (tabular rows: noise_level x each feature's range over the rows explained). With
    # antithetic pairs a row's value is the mean of 32 squared draws: over 64 rows, a
    # relative standard error of sqrt(2 / 2048) = 0.031 (the bound is 4.8 of them)
    X64 = np.random.default_rng(2).normal(size=(64, 6)).astype("float32")
    v = xaicore.VarGrad(f1, n_samples=64, seed=3).explain(X64, target=0).values
    sd = 0.15 * (X64.max(axis=0) - X64.min(axis=0))
    np.testing.assert_allclose(v.mean(axis=0), sd ** 2, rtol=0.15)


def test_one_compile_for_many_row_counts():
    ig = xaicore.IntegratedGradients(f, n_steps=8, max_batch=64)
    for n in (5, 6, 7, 8):
        att = ig.explain(np.repeat(X, 2, axis=0)[:n], target=0)
        assert att.values.shape == (n, 6)
    assert ig.engine.compiled == 1
