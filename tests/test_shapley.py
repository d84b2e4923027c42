"""Shapley methods against independent truths: brute force, closed forms, efficiency."""
from __future__ import annotations

import jax.numpy as jnp
import keras
import numpy as np
import pytest

import xaicore
from shapley_truth import brute_force_shapley


def small_model(d: int = 5, o: int = 2, seed: int = 0) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential([
        keras.Input((d,)),
        keras.layers.Dense(12, activation="tanh", kernel_initializer=init),
        keras.layers.Dense(o, activation="sigmoid", kernel_initializer=init),
    ])


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    model = small_model()
    fn = xaicore.export(model)
    X = rng.normal(size=(4, 5)).astype("float32")
    B = rng.normal(size=(6, 5)).astype("float32")
    truth = brute_force_shapley(lambda z: np.asarray(fn(z.astype("float32"))), X, B)
    return fn, X, B, truth


def test_exact_equals_brute_force(setup):
    fn, X, B, truth = setup
    att = xaicore.ExactShap(fn, B).explain(X)
    assert att.values.shape == (4, 5, 2)
    np.testing.assert_allclose(att.values, truth, atol=2e-6)
    np.testing.assert_allclose(att.base_values, np.asarray(fn(B)).mean(0)[None].repeat(4, 0),
                               atol=1e-6)


@pytest.mark.parametrize("backend", ["cpp", "numba", "numpy"])
def test_kernel_full_budget_equals_exact(setup, backend):
    fn, X, B, truth = setup
    att = xaicore.KernelShap(fn, B, n_samples=2 ** 5 - 2, backend=backend).explain(X)
    np.testing.assert_allclose(att.values, truth, atol=1e-5)
    assert att.stats["max_efficiency_gap"] <= 1e-5


def test_permutation_converges_and_is_efficient(setup):
    fn, X, B, truth = setup
    errs = []
    for n_perm in (4, 64):
        att = xaicore.PermutationShap(fn, B, n_permutations=n_perm, seed=1).explain(X)
        assert att.stats["max_efficiency_gap"] <= 1e-5
        errs.append(np.abs(att.values - truth).mean())
    assert errs[1] < errs[0]


def test_linear_model_closed_form():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 1)).astype("float32")
    fn = xaicore.from_jax(lambda p, x: x @ p, jnp.asarray(w), input_shape=(8,))
    X = rng.normal(size=(3, 8)).astype("float32")
    B = rng.normal(size=(10, 8)).astype("float32")
    expected = w[:, 0] * (X - B.mean(0))
    for method in (xaicore.KernelShap(fn, B, n_samples=64, seed=3),
                   xaicore.PermutationShap(fn, B, n_permutations=4, seed=3),
                   xaicore.ExactShap(fn, B)):
        att = method.explain(X, target=0)
        np.testing.assert_allclose(att.values, expected, atol=2e-5, err_msg=method.name)


def test_kernel_error_decreases_with_budget():
    rng = np.random.default_rng(2)
    model = small_model(d=10, o=1, seed=4)
    fn = xaicore.export(model)
    X = rng.normal(size=(3, 10)).astype("float32")
    B = rng.normal(size=(4, 10)).astype("float32")
    exact = xaicore.ExactShap(fn, B).explain(X, target=0).values
    err = {}
    for budget in (32, 128, 512):
        err[budget] = np.mean([np.abs(xaicore.KernelShap(fn, B, n_samples=budget, seed=s)
                                      .explain(X, target=0).values - exact).mean()
                               for s in range(3)])
    assert err[512] < err[128] < err[32]


def test_same_seed_same_values(setup):
    fn, X, B, _ = setup
    a = xaicore.KernelShap(fn, B, n_samples=20, seed=7).explain(X).values
    b = xaicore.KernelShap(fn, B, n_samples=20, seed=7).explain(X).values
    c = xaicore.PermutationShap(fn, B, n_permutations=6, seed=7).explain(X).values
    d = xaicore.PermutationShap(fn, B, n_permutations=6, seed=7).explain(X).values
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, d)


def test_targets(setup):
    fn, X, B, truth = setup
    ex = xaicore.ExactShap(fn, B)
    np.testing.assert_allclose(ex.explain(X, target=1).values, truth[:, :, 1], atol=2e-6)
    rows = np.array([0, 1, 1, 0])
    np.testing.assert_allclose(ex.explain(X, target=rows).values,
                               truth[np.arange(4), :, rows], atol=2e-6)
    pred = np.asarray(fn(X)).argmax(1)
    att = ex.explain(X, target="predicted")
    np.testing.assert_array_equal(att.target, pred)


def test_groups_and_patches():
    rng = np.random.default_rng(3)
    fn = xaicore.from_jax(lambda x: jnp.tanh(x.reshape(len(x), -1)).sum(1, keepdims=True)
                          * x[:, 0, 0, :1], input_shape=(4, 4, 2))
    groups = xaicore.patch_groups((4, 4, 2), 2)
    X = rng.normal(size=(2, 4, 4, 2)).astype("float32")
    B = np.zeros((1, 4, 4, 2), "float32")
    att = xaicore.ExactShap(fn, B, groups=groups).explain(X, target=0)
    truth = brute_force_shapley(lambda z: np.asarray(fn(z.reshape(-1, 4, 4, 2)
                                                        .astype("float32"))), X, B, groups)
    assert att.values.shape == (2, 4)
    np.testing.assert_allclose(att.values, truth[:, :, 0], atol=1e-5)


def test_one_compile_for_many_chunks(setup):
    fn, X, B, _ = setup
    X = np.repeat(X, 5, axis=0)[:17]  # 17 rows: several chunks, a padded last one
    ks = xaicore.KernelShap(fn, B, n_samples=20, max_batch=6 * 4)  # 4 coalitions a call
    ks.explain(X)
    ks.explain(X[:9])
    assert ks.engine.compiled == 1


def test_save_load_roundtrip(setup, tmp_path):
    fn, X, B, _ = setup
    att = xaicore.KernelShap(fn, B, n_samples=20, feature_names=list("abcde")).explain(X)
    path = att.save(tmp_path / "att.npz")
    back = xaicore.Attribution.load(path)
    np.testing.assert_array_equal(back.values, att.values)
    np.testing.assert_array_equal(back.stderr, att.stderr)
    assert back.feature_names == list("abcde") and back.method == "KernelShap"
    assert back.stats["max_efficiency_gap"] == att.stats["max_efficiency_gap"]


def test_kernel_estimators(setup):
    fn, X, B, truth = setup
    auto = xaicore.KernelShap(fn, B, n_samples=16, seed=1).explain(X)
    lin = xaicore.KernelShap(fn, B, n_samples=16, seed=1, estimator="linear").explain(X)
    cub = xaicore.KernelShap(fn, B, n_samples=16, seed=1, estimator="cubic").explain(X)
    unp = xaicore.KernelShap(fn, B, n_samples=16, seed=1, paired=False)
    full = xaicore.KernelShap(fn, B, n_samples=30, estimator="cubic").explain(X)
    assert auto.params["estimator"] == "spectral" and auto.stats["stderr"].shape == (4, 5, 2)
    assert cub.params["estimator"] == "cubic" and "stderr" not in cub.stats
    assert lin.params["estimator"] == "linear" and lin.stats["stderr"].shape == (4, 5, 2)
    assert unp.estimator == "cubic"                 # unpaired: no spectral estimate
    assert full.params["estimator"] == "linear"     # full enumeration: exact either way
    with pytest.raises(xaicore.InputError, match=r"^estimator: 'spectral' needs complement"):
        xaicore.KernelShap(fn, B, n_samples=16, paired=False, estimator="spectral")
    for att in (auto, lin, cub):
        assert att.stats["max_efficiency_gap"] < 1e-5
        assert np.abs(att.values - truth).max() < 0.05
