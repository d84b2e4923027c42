"""Every gradient method refuses a model that returns NaN or inf on the points it
evaluates (``NonFiniteError``, counting them and naming the first row of X) instead of
returning NaN attributions without a word."""
from __future__ import annotations

import jax.numpy as jnp
import keras
import numpy as np
import pytest

import xaicore

X = np.random.default_rng(0).uniform(1.0, 2.0, size=(5, 3)).astype(np.float32)
X[:, 0] = [50.0, 60.0, -1.0, 55.0, -2.0]          # log(x0): NaN from row 2 on
BACKGROUND = np.abs(X[[0, 1, 3]])
MSG = (r"^model: [1-9]\d* of {total} evaluated outputs were not finite \(NaN or inf\); the "
       r"first at row 2 of X: attributions of such a model mean nothing — check the "
       r"model's inputs/range \(e\.g\. a log of a negative")


def log_model():
    return xaicore.from_jax(lambda x: jnp.log(x[:, :1]) + x[:, 1:].sum(1, keepdims=True),
                            input_shape=(3,))


@pytest.mark.parametrize("make, per_row", [
    (lambda f: xaicore.IntegratedGradients(f, n_steps=16, baseline=BACKGROUND[0]), 16),
    (lambda f: xaicore.ExpectedGradients(f, BACKGROUND, n_samples=40), 40),
    (lambda f: xaicore.Saliency(f), 1),
    (lambda f: xaicore.GradientXInput(f), 1),
    (lambda f: xaicore.SmoothGrad(f, n_samples=20), 20),
    (lambda f: xaicore.VarGrad(f, n_samples=20), 20)],
    ids=["IG", "EG", "Saliency", "GradientXInput", "SmoothGrad", "VarGrad"])
@pytest.mark.parametrize("target", [0, None])
def test_input_methods_refuse_nan_outputs(make, per_row, target):
    method = make(log_model())
    with pytest.raises(xaicore.NonFiniteError, match=MSG.format(total=5 * per_row)):
        method.explain(X, target=target)
    att = method.explain(X[[0, 1, 3]], target=target)     # the finite rows still work
    assert np.all(np.isfinite(att.values))


def test_exact_counts_and_gradients_of_finite_outputs():
    with pytest.raises(xaicore.NonFiniteError, match=r"^model: 2 of 5 evaluated outputs"):
        xaicore.Saliency(log_model()).explain(X)
    sqrt = xaicore.from_jax(lambda x: jnp.sqrt(x[:, :1]), input_shape=(3,))
    Z = np.abs(X)
    Z[3, 0] = 0.0                                    # sqrt(0) = 0, its gradient inf
    with pytest.raises(xaicore.NonFiniteError,
                       match=r"^model: 1 of 5 evaluated gradients \(of finite outputs\) "
                             r"were not finite \(NaN or inf\); the first at row 3 of X"):
        xaicore.Saliency(sqrt).explain(Z, target=0)


def test_baseline_and_background_outputs_are_checked():
    with pytest.raises(xaicore.NonFiniteError,
                       match=r"^model: 1 of 1 evaluated outputs .* row 0 of baseline"):
        xaicore.IntegratedGradients(log_model()).explain(
            np.abs(X[:1]), target=0)          # log(0) at the (zero) baseline: -inf
    with pytest.raises(xaicore.NonFiniteError, match=r"row 1 of background"):
        xaicore.ExpectedGradients(log_model(), X[[0, 2]], n_samples=4).base_value()


def log_cnn() -> keras.Model:
    inp = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(2, 3, use_bias=False, kernel_initializer="ones", name="conv")(inp)
    h = keras.layers.Lambda(lambda t: keras.ops.log(t), name="log")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(2, kernel_initializer="ones")(h))


@pytest.mark.parametrize("cls, kwargs, per_row", [
    (xaicore.GradCAM, {}, 1), (xaicore.LayerIntegratedGradients, {"baseline": 0.5}, 50)])
def test_layer_methods_refuse_nan_outputs(cls, kwargs, per_row):
    images = np.ones((4, 6, 6, 1), np.float32)
    images[2] *= -1                                  # negative activations: log NaN
    method = cls(log_cnn(), layer="conv", **kwargs)
    with pytest.raises(xaicore.NonFiniteError, match=MSG.format(total=4 * per_row)):
        method.explain(images, target=0)
    assert np.all(np.isfinite(method.explain(images[:2], target=0).values))


@pytest.mark.parametrize("steps, max_batch", [(16, None), (16, 4), (8, 3)])
def test_gradients_of_finite_outputs_counted_in_sums(steps, max_batch):
    """A non-finite gradient at one point of many (the path's midpoint, where the output
    is a finite 0 and its gradient inf) is found through the samples' sums, in the first
    block of samples and in later ones, and counted exactly."""
    f = xaicore.from_jax(lambda x: jnp.sqrt(jnp.abs(x[:, :1])), input_shape=(3,))
    Z = np.abs(X)
    Z[:, 0] = 1.0
    base = np.array([-1.0, 0.0, 0.0], np.float32)     # the path crosses 0 at alpha = 1/2
    ig = xaicore.IntegratedGradients(f, n_steps=steps, method="riemann_left",
                                     baseline=base, max_batch=max_batch)
    with pytest.raises(xaicore.NonFiniteError,
                       match=rf"^model: 5 of {5 * steps} evaluated gradients \(of finite "
                             r"outputs\) were not finite \(NaN or inf\); the first at row 0"):
        ig.explain(Z, target=0)
    mid = xaicore.IntegratedGradients(f, n_steps=steps, method="riemann_middle",
                                      baseline=base, max_batch=max_batch)
    assert np.all(np.isfinite(mid.explain(Z, target=0).values))
