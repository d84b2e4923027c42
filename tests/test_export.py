"""Export: ModelFn equals model.predict; jit, vmap and grad work; the export is a copy."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import xaicore
from models import ALL, cnn, inputs_for, mlp


def _flat(y) -> np.ndarray:
    leaves = jax.tree_util.tree_leaves(y)
    return np.concatenate([np.asarray(v).reshape(len(v), -1) for v in leaves], axis=1)


@pytest.fixture(scope="module", params=sorted(ALL))
def case(request):
    model = ALL[request.param]()
    x = inputs_for(model, n=5)
    return request.param, model, x, xaicore.export(model)


def test_matches_predict(case):
    name, model, x, fn = case
    np.testing.assert_allclose(_flat(fn(x)), _flat(model.predict(x, verbose=0)),
                               atol=1e-5, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(fn.apply_flat(fn.params, x), _flat(model.predict(x, verbose=0)),
                               atol=1e-5, rtol=1e-5)
    assert fn.n_outputs == _flat(model.predict(x, verbose=0)).shape[1]


def test_jit_vmap(case):
    name, model, x, fn = case
    ref = _flat(fn(x))
    np.testing.assert_allclose(_flat(jax.jit(fn.apply)(fn.params, x)), ref, atol=1e-5)
    # vmap over a leading axis of single-row batches
    x1 = jax.tree_util.tree_map(lambda a: a[:, None], x)
    out = jax.vmap(lambda row: fn.apply_flat(fn.params, row))(x1)
    np.testing.assert_allclose(np.asarray(out)[:, 0], ref, atol=1e-5)


def test_grad_wrt_float_inputs(case):
    name, model, x, fn = case
    if fn.inputs[0].dtype.startswith("int"):
        pytest.skip("integer token inputs have no gradient")
    g = jax.grad(lambda x: fn.apply_flat(fn.params, x)[:, 0].sum())(x)
    for leaf, xin in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(x)):
        assert leaf.shape == xin.shape and np.all(np.isfinite(leaf))
        assert np.abs(leaf).max() > 0


def test_export_survives_fit_and_predict():
    model = mlp()
    model.compile("adam", "mse")
    x = np.random.default_rng(1).normal(size=(32, 6)).astype("float32")
    fn = xaicore.export(model)
    before = np.asarray(fn(x))
    model.fit(x, np.ones((32, 3)), epochs=2, verbose=0)
    after_fit = model.predict(x, verbose=0)
    assert np.abs(after_fit - before).max() > 1e-3  # the model changed ...
    np.testing.assert_array_equal(np.asarray(fn(x)), before)  # ... the export did not


def test_inference_mode_dropout_off_batchnorm_moving_stats():
    model = mlp()
    model.compile("adam", "mse")
    x = np.random.default_rng(2).normal(size=(64, 6)).astype("float32") * 3 + 1
    model.fit(x, np.zeros((64, 3)), epochs=1, verbose=0)  # moves the BN statistics
    fn = xaicore.export(model)
    y1, y2 = np.asarray(fn(x)), np.asarray(fn(x))
    np.testing.assert_array_equal(y1, y2)  # deterministic: no dropout
    np.testing.assert_allclose(y1, model(x, training=False), atol=1e-5)


def test_gradient_matches_finite_differences_float64():
    with jax.enable_x64(True):
        model = keras.Sequential([
            keras.Input((4,), dtype="float64"),
            keras.layers.Dense(6, activation="softplus", dtype="float64"),
            keras.layers.Dense(2, activation="sigmoid", dtype="float64")])
        fn = xaicore.export(model)
        x = np.random.default_rng(3).normal(size=(3, 4))
        f = lambda x: fn.apply_flat(fn.params, x)[:, 1].sum()  # noqa: E731
        g = np.asarray(jax.grad(f)(jnp.asarray(x)))
        eps = 1e-6
        fd = np.zeros_like(x)
        for idx in np.ndindex(*x.shape):
            e = np.zeros_like(x)
            e[idx] = eps
            fd[idx] = (f(x + e) - f(x - e)) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_layers_returns_intermediate_outputs():
    model = cnn()
    x = inputs_for(model, n=3)
    fn = xaicore.export(model, layers=["conv1", "pool"])
    y, acts = fn(x)
    np.testing.assert_allclose(y, model.predict(x, verbose=0), atol=1e-5)
    sub = keras.Model(model.inputs, model.get_layer("pool").output)
    np.testing.assert_allclose(acts["pool"], sub.predict(x, verbose=0), atol=1e-5)
    assert acts["conv1"].shape == (3, 12, 12, 8)
    np.testing.assert_allclose(fn.apply_flat(fn.params, x), y, atol=1e-6)


def test_sequential_layers():
    model = mlp()
    fn = xaicore.export(model, layers=[model.layers[0].name])
    y, acts = fn(np.ones((2, 6), "float32"))
    assert acts[model.layers[0].name].shape == (2, 16)


def test_keras_file_roundtrip(tmp_path):
    model = cnn()
    path = tmp_path / "cnn.keras"
    model.save(path)
    x = inputs_for(model, n=4)
    for p in (path, str(path)):
        fn = xaicore.export(p)
        assert fn.source == "keras-file"
        np.testing.assert_allclose(fn(x), model.predict(x, verbose=0), atol=1e-5)


def test_plain_jax_callables():
    w = jnp.arange(6.0).reshape(3, 2)
    fn = xaicore.from_jax(lambda p, x: jnp.tanh(x @ p), w, input_shape=(3,))
    assert fn.outputs[0].shape == (2,)
    x = np.ones((4, 3), "float32")
    np.testing.assert_allclose(fn(x), np.tanh(x @ np.asarray(w)), atol=1e-6)
    g = xaicore.export(lambda x: (x**2).sum(axis=1, keepdims=True))
    assert g.source == "jax" and np.asarray(g(x)).shape == (4, 1)
    assert xaicore.export(fn) is fn
