"""Compile once: a notebook that explains 3, 7, 10 and then 64 rows with one explainer
compiles its device step at most twice (the instance axis is bucketed), and results do
not depend on the bucketing."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import xaicore

W = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
X = np.random.default_rng(1).normal(size=(64, 6)).astype("float32")


def f(x):
    return jnp.tanh(x @ W)


@pytest.mark.parametrize("make", [
    lambda: xaicore.IntegratedGradients(f, n_steps=50),
    lambda: xaicore.Saliency(f),
    lambda: xaicore.SmoothGrad(f, n_samples=32, seed=0),
    lambda: xaicore.ExpectedGradients(f, X[:8], n_samples=32, seed=0),
], ids=["IntegratedGradients", "Saliency", "SmoothGrad", "ExpectedGradients"])
def test_gradient_methods_compile_at_most_twice(make):
    m = make()
    for n in (3, 7, 10, 64):
        m.explain(X[:n], target=0)
    assert m.engine.compiled <= 2, m.engine.compiled


def test_kernel_shap_compiles_at_most_twice():
    ks = xaicore.KernelShap(f, X[:16], n_samples=512, seed=0)
    for n in (3, 7, 10, 64):
        ks.explain(X[:n], target="predicted")
    assert ks.engine.compiled <= 2, ks.engine.compiled
    # the forward passes (target="predicted", the full coalition) are bucketed too
    assert ks._jit_forward._cache_size() <= 2 and ks.engine._predict._cache_size() <= 2


def test_many_chunks_per_call_give_the_same_values():
    """More rows than one chunk holds: chunks loop on the device, padded ones skipped."""
    small = xaicore.IntegratedGradients(f, n_steps=8, max_batch=16)      # 2 rows a chunk
    big = xaicore.IntegratedGradients(f, n_steps=8, max_batch=100_000)
    a, b = small.explain(X[:37], target=1), big.explain(X[:37], target=1)
    np.testing.assert_allclose(a.values, b.values, atol=1e-6)
    assert a.stats["rows_per_call"] <= 16
