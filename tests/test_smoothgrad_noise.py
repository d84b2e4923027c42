"""SmoothGrad's noise scale: the paper's noise level times the input's range, per feature
for tabular rows (features in their own units), per row for images; SmoothGrad is the
gradient on a linear model whatever the noise, and tends to Saliency as the noise shrinks."""
from __future__ import annotations

import jax.numpy as jnp
import keras
import numpy as np
import pytest

import xaicore


@pytest.fixture(scope="module")
def wine():
    """scikit-learn's wine data, raw: proline in the hundreds-thousands, hue about 1,
    nonflavanoid phenols in tenths (ships with scikit-learn: no download)."""
    datasets = pytest.importorskip("sklearn.datasets")
    X, _ = datasets.load_wine(return_X_y=True)
    return X.astype(np.float32)


def wine_mlp(X: np.ndarray, activation: str) -> keras.Model:
    """A tabular classifier as a new user builds one: normalisation, an MLP, softmax."""
    norm = keras.layers.Normalization()
    norm.adapt(X)
    init = keras.initializers.GlorotUniform(seed=0)
    return keras.Sequential([keras.Input((X.shape[1],)), norm,
                             keras.layers.Dense(16, activation=activation,
                                                kernel_initializer=init),
                             keras.layers.Dense(3, activation="softmax",
                                                kernel_initializer=init)])


def test_default_noise_is_per_feature_on_tabular_data(wine):
    X = wine[:40]
    model = wine_mlp(wine, "tanh")
    sal = xaicore.Saliency(model, abs=False).explain(X, target=0).values
    att = xaicore.SmoothGrad(model).explain(X, target=0)
    span = X.max(0) - X.min(0)
    np.testing.assert_allclose(att.stats["noise_sd"], np.broadcast_to(0.15 * span, X.shape),
                               rtol=1e-6)
    # same magnitude as the gradient (a row's range, ~1500 from proline, would push every
    # feature far off the data, saturate the softmax and shrink the values ~1000x)
    ratio = np.abs(att.values).mean(0) / np.abs(sal).mean(0)
    assert np.all(ratio > 0.3) and np.all(ratio < 3), ratio


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_small_noise_tends_to_saliency(wine, activation):
    X = wine[::9]
    model = wine_mlp(wine, activation)
    sal = xaicore.Saliency(model, abs=False).explain(X, target=1).values
    errs = [np.abs(xaicore.SmoothGrad(model, noise_level=s, n_samples=32).explain(
        X, target=1).values - sal).max() for s in (0.1, 1e-4)]
    scale = np.abs(sal).max()
    assert errs[1] < 1e-3 * scale and errs[0] > 10 * errs[1]


@pytest.mark.parametrize("noise_level", [1e-3, 1.0, 100.0])
def test_linear_model_smoothgrad_is_the_gradient(wine, noise_level):
    w = np.random.default_rng(0).normal(size=(13, 2)).astype(np.float32)
    fn = xaicore.from_jax(lambda x: x @ jnp.asarray(w), input_shape=(13,))
    for target in (0, None):
        att = xaicore.SmoothGrad(fn, noise_level=noise_level, n_samples=37,
                                 max_batch=16).explain(wine[:7], target=target)
        want = w[:, 0] if target == 0 else w
        np.testing.assert_allclose(att.values, np.broadcast_to(want, att.values.shape),
                                   rtol=1e-6, atol=1e-7)


def test_image_rows_keep_the_papers_per_row_range():
    X = np.random.default_rng(2).uniform(0, 1, size=(3, 4, 4, 2)).astype(np.float32)
    X[1] *= 255                                         # another image in 0-255
    fn = xaicore.from_jax(lambda x: jnp.sum(jnp.sin(x), axis=(1, 2, 3))[:, None],
                          input_shape=(4, 4, 2))
    att = xaicore.SmoothGrad(fn, noise_level=0.2, n_samples=4).explain(X, target=0)
    np.testing.assert_allclose(att.stats["noise_sd"],
                               0.2 * (X.max(axis=(1, 2, 3)) - X.min(axis=(1, 2, 3))),
                               rtol=1e-6)


def test_a_single_row_still_gets_noise():
    """One tabular row has no spread over rows: its features fall back to the row's own
    range (Smilkov et al.), so SmoothGrad does not silently equal Saliency."""
    import jax.numpy as jnp

    import xaicore
    from xaicore.methods._saliency import noise_scale

    x = np.array([[0.5, -1.0, 2.0]], np.float32)
    np.testing.assert_allclose(noise_scale(x, 0.15), 0.15 * 3.0)          # max - min = 3
    two = np.array([[0.5, -1.0, 2.0], [0.5, 1.0, 0.0]], np.float32)        # feature 0 constant
    np.testing.assert_allclose(noise_scale(two, 0.1)[:, 1:], [[0.2, 0.2], [0.2, 0.2]])
    np.testing.assert_allclose(noise_scale(two, 0.1)[:, 0], [0.3, 0.1])
    f = lambda z: jnp.tanh(3 * z).sum(axis=1, keepdims=True)  # noqa: E731
    sg = xaicore.SmoothGrad(f, n_samples=64, seed=0).explain(x, target=0).values
    sal = xaicore.Saliency(f, abs=False).explain(x, target=0).values
    assert np.abs(sg - sal).max() > 1e-3


def test_a_background_sets_the_noise_whatever_rows_are_explained(wine):
    model = wine_mlp(wine, "tanh")
    sg = xaicore.SmoothGrad(model, background=wine, n_samples=16, seed=3)
    together = sg.explain(wine[:10], target=0)
    alone = sg.explain(wine[:1], target=0)
    span = wine.max(0) - wine.min(0)
    np.testing.assert_allclose(together.stats["noise_sd"], np.broadcast_to(0.15 * span,
                                                                           (10, 13)), rtol=1e-6)
    np.testing.assert_allclose(alone.stats["noise_sd"][0], together.stats["noise_sd"][0])
    # row 0 draws the same noise alone and in a batch: the same attribution
    np.testing.assert_allclose(alone.values[0], together.values[0], rtol=1e-5, atol=1e-9)
    plain = xaicore.SmoothGrad(model, n_samples=16, seed=3)
    assert not np.allclose(plain.explain(wine[:1], target=0).stats["noise_sd"],
                           alone.stats["noise_sd"])        # without it: the row's own range


def test_absolute_stdevs_like_captum():
    w = jnp.arange(1.0, 5.0)
    fn = xaicore.from_jax(lambda x: jnp.sin(x @ w)[:, None], input_shape=(4,))
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    att = xaicore.SmoothGrad(fn, stdevs=0.5, n_samples=8).explain(x, target=0)
    np.testing.assert_allclose(att.stats["noise_sd"], np.full((3, 4), 0.5))
    assert att.params["stdevs"] == 0.5
    with pytest.raises(xaicore.InputError, match="stdevs"):
        xaicore.SmoothGrad(fn, stdevs=-1.0)
    with pytest.raises(xaicore.InputError, match="background"):
        xaicore.SmoothGrad(fn, background=np.zeros((2, 5), np.float32))


def test_background_rows_are_checked_and_constant_features_take_xs_range():
    f = lambda x: jnp.tanh(x @ jnp.arange(1.0, 5.0))[:, None]  # noqa: E731
    X = np.array([[1, 100, 1000, 0.5], [2, 300, 1500, 0.7], [4, 200, 1200, 0.1]], np.float32)
    with pytest.raises(xaicore.InputError, match="at least 2 reference rows"):
        xaicore.SmoothGrad(xaicore.from_jax(f, input_shape=(4,)), background=X[:1])
    wide = np.ones((5, 6), np.float32) * np.arange(5, dtype=np.float32)[:, None]
    sg = xaicore.SmoothGrad(xaicore.from_jax(f), background=wide)   # row shape unknown then
    with pytest.raises(xaicore.InputError, match=r"background: rows of shape \[6\].*\[4\]"):
        sg.explain(X, target=0)
    bg = X.copy()
    bg[:, 3] = 0.5                                             # constant in the background
    att = xaicore.SmoothGrad(xaicore.from_jax(f, input_shape=(4,)), background=bg,
                             n_samples=4).explain(X, target=0)
    span = X.max(0) - X.min(0)
    np.testing.assert_allclose(att.stats["noise_sd"][0], 0.15 * span, rtol=1e-6)


@pytest.mark.parametrize("as_dict", [True, False])
def test_stdevs_one_per_input_like_captum(as_dict):
    from models import inputs_for, multi_io

    model = multi_io(as_dict=as_dict)
    X = inputs_for(model, n=3)
    sg = xaicore.SmoothGrad(model, stdevs=(0.1, 0.4), n_samples=4)
    att = sg.explain(X, target=0)
    np.testing.assert_allclose(att.stats["noise_sd"], np.full((3, 4), 0.1))   # input "a"
    assert att.params["stdevs"] == (0.1, 0.4)
    from xaicore.methods._saliency import noise_scale
    sd = noise_scale(X, 0.15, None, sg._stdevs())                    # what the sampler gets
    b = sd["b"] if as_dict else sd[1]
    np.testing.assert_allclose(b, np.full((3, 3), 0.4))
    with pytest.raises(xaicore.InputError, match=r"stdevs: expected one per model input \(2\)"):
        xaicore.SmoothGrad(model, stdevs=(0.1, 0.2, 0.3))
    with pytest.raises(xaicore.InputError, match="stdevs"):
        xaicore.SmoothGrad(model, stdevs=(0.1, -0.2))
