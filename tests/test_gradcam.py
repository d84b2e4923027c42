"""Grad-CAM on a model whose class evidence sits in a known region; activations; layer IG."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore
from xaicore.methods._gradcam import GradCAM, LayerIntegratedGradients, activations


def quadrant_model() -> keras.Model:
    """Class 1 = brightness of channel 0 in the top-left quadrant; channel 1 is ignored.

    A 2x2 stride-2 convolution copies each channel's 2x2 block sums into an 8x8 map, so
    the Grad-CAM map (8x8, upsampled to 16x16) must light up the bright square only.
    """
    inp = keras.Input((16, 16, 2))
    conv = keras.layers.Conv2D(2, 2, strides=2, activation="relu", name="conv")
    h = conv(inp)
    h = keras.layers.Flatten(name="flatten")(h)
    dense = keras.layers.Dense(2, name="dense")
    out = dense(h)
    model = keras.Model(inp, out)
    kernel = np.zeros((2, 2, 2, 2), np.float32)
    kernel[:, :, 0, 0] = kernel[:, :, 1, 1] = 1.0
    conv.set_weights([kernel, np.zeros(2, np.float32)])
    quadrant = np.zeros((8, 8, 2), np.float32)
    quadrant[:4, :4, 0] = 1.0
    w = np.stack([-quadrant.ravel(), quadrant.ravel()], axis=1) / 16.0
    dense.set_weights([w, np.zeros(2, np.float32)])
    return model


def images(n: int, seed: int = 0) -> np.ndarray:
    """Bright squares (channel 0) inside the top-left quadrant, a brighter distractor
    (channel 1) elsewhere, and low noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.1, size=(n, 16, 16, 2)).astype(np.float32)
    for i in range(n):
        r, c = rng.integers(0, 5, size=2)
        x[i, r:r + 3, c:c + 3, 0] = 1.0
        x[i, 10:14, 9:13, 1] = 3.0
    return x


@pytest.fixture(scope="module")
def model():
    return quadrant_model()


def test_gradcam_puts_its_maximum_on_the_evidence(model):
    X = images(6)
    assert np.all(np.argmax(model.predict(X, verbose=0), axis=1) == 1)
    cam = GradCAM(model, layer="conv", max_batch=4)
    att = cam.explain(X, target=1)
    assert att.values.shape == (6, 16, 16) and np.all(att.values >= 0)
    for img, heat in zip(X, att.values):
        r, c = np.unravel_index(np.argmax(heat), heat.shape)
        assert r < 8 and c < 8                                   # top-left quadrant
        assert heat[img[..., 0] >= 0.5].max() >= 0.9 * heat.max()   # on the square
        assert heat[img[..., 1] > 1].max() < 0.1 * heat.max()      # not the distractor
    both = cam.explain(X)
    assert both.values.shape == (6, 16, 16, 2)
    np.testing.assert_allclose(both.values[..., 1], att.values, atol=1e-6)
    assert both.values[..., 0].max() == 0.0   # class 0 evidence is negative: ReLU'd away
    assert cam.compiled == 2                  # one per target mode, padded chunk included


def test_activations_match_keras(model):
    X = images(5, seed=1)
    acts = activations(model, X, ["conv", "dense"], max_batch=2)
    sub = keras.Model(model.inputs, [model.get_layer("conv").output,
                                     model.get_layer("dense").output])
    want = sub.predict(X, verbose=0)
    np.testing.assert_allclose(acts["conv"], want[0], atol=1e-5)
    np.testing.assert_allclose(acts["dense"], want[1], atol=1e-5)


def test_layer_integrated_gradients_complete(model):
    X = images(4, seed=2)
    att = LayerIntegratedGradients(model, layer="conv", n_steps=8).explain(X, target=1)
    assert att.values.shape == (4, 8, 8, 2) and att.stats["max_completeness_gap"] < 1e-4


def test_sequential_model_and_layer_errors():
    seq = keras.Sequential([keras.Input((8, 8, 1)),
                            keras.layers.Conv2D(2, 3, activation="relu", name="c"),
                            keras.layers.Flatten(name="f"), keras.layers.Dense(3, name="d")])
    X = np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype(np.float32)
    assert GradCAM(seq, layer="c").explain(X, target=0).values.shape == (3, 8, 8)
    with pytest.raises(xaicore.ExportError, match="layer: no layer named 'nope'"):
        GradCAM(seq, layer="nope")
    for name in ("f", "d"):
        with pytest.raises(xaicore.InputError, match=f"layer: '{name}' is not convolutional"):
            GradCAM(seq, layer=name)
    with pytest.raises(xaicore.ExportError, match="layers"):
        activations(seq, X, ["c", "nope"])
    fn = xaicore.from_jax(lambda x: x.sum(axis=(1, 2, 3))[:, None], input_shape=(8, 8, 1))
    with pytest.raises(xaicore.ExportError, match="model"):
        GradCAM(fn, layer="c")
