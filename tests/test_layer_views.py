"""Activations in the model's order (nested models by path), their plot, describe(model)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore


def _digits(n: int) -> np.ndarray:
    datasets = pytest.importorskip("sklearn.datasets")
    return (datasets.load_digits().images[:n] / 16.0)[..., None].astype(np.float32)


def nested_cnn() -> keras.Model:
    """A CNN whose dense part is a nested model ``encoder``; names not in sorted order."""
    init = keras.initializers.GlorotUniform(seed=1)
    enc_in = keras.Input((16,))
    h = keras.layers.Dense(6, activation="tanh", kernel_initializer=init, name="dense_1")(enc_in)
    encoder = keras.Model(enc_in, keras.layers.Dense(4, kernel_initializer=init,
                                                     name="dense_0")(h), name="encoder")
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=init, name="zconv")(inp)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Conv2D(4, 2, activation="relu", kernel_initializer=init, name="aconv")(h)
    h = keras.layers.Flatten(name="flat")(h)
    return keras.Model(inp, keras.layers.Dense(3, kernel_initializer=init, name="logits")(
        encoder(h)), name="nested_cnn")


def test_activations_come_in_model_order_and_reach_nested_layers():
    model = nested_cnn()
    X = _digits(5)
    acts = xaicore.activations(model, X, max_batch=2)
    assert list(acts) == ["zconv", "pool", "aconv", "flat", "encoder/dense_1",
                          "encoder/dense_0", "logits"]
    np.testing.assert_allclose(acts["logits"], model.predict(X, verbose=0), atol=1e-5)
    enc = model.get_layer("encoder")
    inner = keras.Model(enc.inputs, enc.get_layer("dense_1").output)
    np.testing.assert_allclose(acts["encoder/dense_1"], inner.predict(acts["flat"], verbose=0),
                               atol=1e-5)
    picked = xaicore.activations(model, X, layers=["logits", "encoder/dense_0", "zconv"])
    assert list(picked) == ["logits", "encoder/dense_0", "zconv"]    # the order given
    with pytest.raises(xaicore.ExportError, match=r"^layers: no layer named 'dense_1' in "
                                                  r"model 'nested_cnn' \(inside a nested "
                                                  r"model: 'encoder/dense_1'\)"):
        xaicore.activations(model, X, layers="dense_1")


def test_plot_activations(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    acts = xaicore.activations(nested_cnn(), _digits(3))
    fig = xaicore.plot_activations(acts, row=1)
    fig.savefig(tmp_path / "activations.png")
    titles = [s._suptitle.get_text() for s in fig.subfigs]
    assert titles[0] == "zconv  [6x6x4]" and titles[-1] == "logits  [3]"
    with pytest.raises(xaicore.InputError, match=r"^row: expected an int in 0\.\.2"):
        xaicore.plot_activations(acts, row=3)


def test_describe_table_and_weight_histograms(tmp_path):
    model = nested_cnn()
    d = xaicore.describe(model)
    assert [r["name"] for r in d] == ["zconv", "pool", "aconv", "flat", "encoder/dense_1",
                                      "encoder/dense_0", "logits"]
    conv = d[0]
    w = np.concatenate([a.ravel() for a in model.get_layer("zconv").get_weights()])
    assert conv["type"] == "Conv2D" and conv["output_shape"] == "[n, 6, 6, 4]"
    assert conv["params"] == 3 * 3 * 1 * 4 + 4 == w.size
    np.testing.assert_allclose([conv["weight_mean"], conv["weight_std"], conv["weight_min"],
                                conv["weight_max"]], [w.mean(), w.std(), w.min(), w.max()],
                               rtol=1e-6)
    assert d[1]["params"] == 0 and d[1]["weight_mean"] is None
    assert d.total_params == model.count_params()
    text = str(d)
    assert "encoder/dense_1" in text and f"{model.count_params():,} parameters" in text
    lines = text.splitlines()
    assert len({len(line) for line in lines[1:3]}) == 1      # header as wide as the rule
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    fig = d.plot()
    assert len([a for a in fig.axes if a.get_visible()]) == 5   # the layers with weights
    fig.savefig(tmp_path / "weights.png")
    assert xaicore.plot_weights(model).axes[0].get_title() == "zconv (40 weights)"
