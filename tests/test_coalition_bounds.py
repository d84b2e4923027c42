"""The coalition methods' two promises about the model calls: ``max_batch`` bounds every
one of them (whatever the background's size), and non-finite model outputs are refused."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import xaicore

W = np.random.default_rng(1).normal(size=(6, 2)).astype("float32")
COALITION_METHODS = [
    lambda f, b, **kw: xaicore.KernelShap(f, b, n_samples=40, seed=0, **kw),
    lambda f, b, **kw: xaicore.PermutationShap(f, b, n_permutations=4, seed=0, **kw),
    lambda f, b, **kw: xaicore.ExactShap(f, b, **kw),
    lambda f, b, **kw: xaicore.Lime(f, b, n_samples=60, seed=0, **kw),
]
IDS = ["KernelShap", "PermutationShap", "ExactShap", "Lime"]


def recording_model():
    """A small nonlinear JAX model that records the row count of every traced call."""
    seen: list[int] = []

    def f(x):
        seen.append(int(x.shape[0]))
        return jnp.tanh(x @ W) + 0.1 * (x[:, :1] * x[:, 1:2])

    return f, seen


@pytest.mark.parametrize("make", COALITION_METHODS, ids=IDS)
def test_max_batch_bounds_every_call_with_a_large_background(make):
    rng = np.random.default_rng(0)
    B = rng.normal(size=(100, 6)).astype("float32")
    X = rng.normal(size=(3, 6)).astype("float32")
    f, seen = recording_model()
    small = make(f, B, max_batch=10).explain(X)
    assert seen and max(seen) <= 10, f"model calls of {max(seen)} rows > max_batch=10"
    g, _ = recording_model()
    whole = make(g, B, max_batch=100_000).explain(X)
    np.testing.assert_allclose(small.values, whole.values, atol=2e-5)
    np.testing.assert_allclose(small.base_values, whole.base_values, atol=2e-6)


def test_background_blocks_are_balanced_and_weighted():
    from xaicore.engine._coalitions import background_blocks, plan

    p = plan(4, 8, 100, 85)       # 100 rows under a cap of 85: two blocks of 50, no padding
    assert (p.k, p.blocks) == (50, 2) and p.model_rows <= 85
    p = plan(4, 8, 7, 3)          # 7 rows, cap 3: three blocks of 3 (two padding rows)
    b, w = background_blocks(np.arange(7.0)[:, None], np.full(7, 1 / 7), p.k, p.blocks)
    assert b.shape == (3, 3, 1) and w.shape == (3, 3)
    assert np.isclose(w.sum(), 1.0) and np.all(w.ravel()[7:] == 0)


def log_model(x):
    return jnp.log(x[:, :2])      # NaN where a feature is negative


@pytest.mark.parametrize("make", COALITION_METHODS, ids=IDS)
def test_non_finite_model_outputs_are_refused(make):
    B = np.ones((4, 6), "float32")
    X = np.ones((3, 6), "float32")
    X[1, 0] = -1.0                      # row 1: log(-1) = NaN once feature 0 is present
    m = make(log_model, B)
    with pytest.raises(xaicore.NonFiniteError, match=r"^model: \d+ of \d+ outputs .* not "
                                                     r"finite .* row 1 of X"):
        m.explain(X)
    assert np.all(np.isfinite(m.explain(np.ones((2, 6), "float32")).values))


@pytest.mark.parametrize("make", COALITION_METHODS, ids=IDS)
def test_a_non_finite_background_output_is_refused(make):
    B = np.ones((4, 6), "float32")
    B[2, 1] = -1.0
    with pytest.raises(xaicore.NonFiniteError, match=r"^model: .* the first for row 2 of "
                                                     r"background"):
        make(log_model, B).explain(np.ones((2, 6), "float32"))


def test_predicted_target_compiles_its_forward_once():
    f, _ = recording_model()
    ks = xaicore.KernelShap(f, np.zeros((1, 6), "float32"), n_samples=20, seed=0)
    for n in (2, 2, 2):
        ks.explain(np.ones((n, 6), "float32"), target="predicted")
    assert ks._jit_forward._cache_size() == 1
