"""Grad-CAM on a model whose class evidence sits in a known region; activations; layer IG."""
from __future__ import annotations

import warnings

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


# -- saved Sequential models, ModelFn exported with layers=, vanishing gradients -----------

def small_sequential_cnn(softmax: bool = False) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=3)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(3, 3, activation="relu", kernel_initializer=init, name="c1"),
        keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=init, name="c2"),
        keras.layers.Flatten(name="f"),
        keras.layers.Dense(3, kernel_initializer=init, name="d",
                           activation="softmax" if softmax else None)])


def _digits(n: int) -> np.ndarray:
    """scikit-learn's 8x8 digit images, scaled to [0, 1]."""
    datasets = pytest.importorskip("sklearn.datasets")
    x = datasets.load_digits().images[:n] / 16.0
    return x[..., None].astype(np.float32)


def test_layer_methods_on_a_sequential_model_loaded_from_a_keras_file(tmp_path):
    seq = small_sequential_cnn()
    path = tmp_path / "seq.keras"
    seq.save(path)
    loaded = keras.saving.load_model(path)
    X = _digits(5)
    want = GradCAM(seq, layer="c2").explain(X, target=1).values
    assert np.abs(want).max() > 0
    for model in (loaded, path, str(path)):
        got = GradCAM(model, layer="c2").explain(X, target=1).values
        np.testing.assert_allclose(got, want, atol=1e-6)
    lig = LayerIntegratedGradients(seq, layer="c1", n_steps=8).explain(X, target=2)
    for model in (loaded, path):
        got = LayerIntegratedGradients(model, layer="c1", n_steps=8).explain(X, target=2)
        np.testing.assert_allclose(got.values, lig.values, atol=1e-6)
        assert got.stats["max_completeness_gap"] < 1e-4


def test_layer_methods_take_a_modelfn_exported_with_the_layer():
    seq = small_sequential_cnn()
    X = _digits(4)
    fn = xaicore.export(seq, layers=["c1", "c2"])
    np.testing.assert_allclose(GradCAM(fn, layer="c2").explain(X).values,
                               GradCAM(seq, layer="c2").explain(X).values, atol=1e-6)
    np.testing.assert_allclose(
        LayerIntegratedGradients(fn, layer="c1", n_steps=4).explain(X, target=0).values,
        LayerIntegratedGradients(seq, layer="c1", n_steps=4).explain(X, target=0).values,
        atol=1e-6)
    with pytest.raises(xaicore.ExportError, match=r"^model: a ModelFn needs to be exported "
                                                  r"from a Keras model with layers=\['f'\]"):
        GradCAM(fn, layer="f")


def test_gradcam_through_a_skip_connection_is_the_gradient_at_the_layer():
    """Grad-CAM where a later layer also reads the input: the weights are the gradients
    w.r.t. the layer's output, checked against the closed form of a linear model."""
    inp = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(2, 1, use_bias=False, name="conv")
    h = conv(inp)
    merged = keras.layers.Concatenate(name="cat")([h, inp])
    out = keras.layers.Dense(1, use_bias=False, name="dense")(
        keras.layers.GlobalAveragePooling2D(name="gap")(merged))
    model = keras.Model(inp, out)
    conv.set_weights([np.array([1.0, 2.0], np.float32).reshape(1, 1, 1, 2)])
    model.get_layer("dense").set_weights([np.array([[3.0], [-1.0], [5.0]], np.float32)])
    X = _digits(3)[:, 1:7, 1:7]
    cam = GradCAM(model, layer="conv").explain(X, target=0).values
    # d out / d h[..., c] = w_c / 36: cam = relu(sum_c w_c / 36 * h_c) = relu((3 - 2) x) / 36
    np.testing.assert_allclose(cam, np.maximum(X[..., 0], 0) / 36.0, atol=1e-6)


def test_gradcam_says_when_a_saturated_softmax_zeroes_the_maps():
    model = small_sequential_cnn(softmax=True)
    dense = model.get_layer("d")
    w, b = dense.get_weights()
    dense.set_weights([w * 1e4, b])          # probabilities of 0 and 1: gradients vanish
    X = _digits(4)
    assert np.all(model.predict(X, verbose=0).max(axis=1) == 1.0)
    with pytest.warns(UserWarning, match=r"GradCAM: the map of 4 of 4 rows is all zero "
                                         r"\(rows 0, 1, 2, 3\).*logits"):
        att = GradCAM(model, layer="c2").explain(X, target="predicted")
    np.testing.assert_array_equal(att.stats["zero_maps"], [0, 1, 2, 3])
    dense.set_weights([w, b])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        att = GradCAM(model, layer="c2").explain(X, target="predicted")
    assert att.stats["zero_maps"].size == 0
