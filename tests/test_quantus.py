"""Quantus' metrics with xaicore as the explain_func, on a small Keras CNN (JAX backend)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore
from xaicore.metrics import _quantus

quantus = pytest.importorskip("quantus")


def cnn() -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=0)
    return keras.Sequential([keras.Input((8, 8, 3)),
                             keras.layers.Conv2D(4, 3, activation="relu", kernel_initializer=init,
                                                 name="conv2d"),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(3, kernel_initializer=init, name="dense")])


@pytest.fixture(scope="module")
def batch():
    data = pytest.importorskip("skimage.data")
    img = data.astronaut()[::64, ::64][:8, :8].astype("float32") / 255   # [8, 8, 3]
    x = np.stack([img, img[::-1], img[:, ::-1], img.transpose(1, 0, 2)])
    return np.moveaxis(x, -1, 1), np.array([0, 1, 2, 0])                 # channel-first


def test_quantus_metrics_run_on_a_keras_cnn(batch):
    x, y = batch
    model = xaicore.channel_first_model(cnn())
    kw = {"xai_method": "Saliency"}
    common = {"model": model, "x_batch": x, "y_batch": y, "a_batch": None,
              "channel_first": True, "explain_func": xaicore.quantus_explain_func,
              "explain_func_kwargs": kw, "device": "cpu"}
    fc = quantus.FaithfulnessCorrelation(nr_runs=5, subset_size=8, disable_warnings=True)(
        **common)
    ms = quantus.MaxSensitivity(nr_samples=3, disable_warnings=True)(**common)
    mprt = quantus.MPRT(disable_warnings=True)(**common)
    assert np.all(np.isfinite(fc)) and len(ms) == 4 and np.all(np.array(ms) > 0)
    assert list(mprt) == ["original", "dense", "conv2d"]
    assert np.allclose(mprt["original"], 1.0)          # the model against itself
    assert np.all(np.asarray(mprt["conv2d"]) < 0.99)    # randomised weights: other maps


def test_layouts_and_the_attributions_match_xaicore(batch):
    x, y = batch
    model = cnn()
    direct = xaicore.Saliency(model).explain(np.moveaxis(x, 1, -1), target=y).values
    last = xaicore.quantus_explain_func(model, np.moveaxis(x, 1, -1), y)
    first = xaicore.quantus_explain_func(model, x, y)
    assert last.shape == first.shape == (4, 8, 8)      # channel-last model: per pixel
    assert np.allclose(first, direct.sum(-1), atol=1e-6)
    keep = xaicore.quantus_explain_func(model, x, y, channels="keep")
    assert np.allclose(keep, np.moveaxis(direct, -1, 1), atol=1e-6)
    view = xaicore.channel_first_model(model)
    assert np.allclose(xaicore.quantus_explain_func(view, x, y), keep, atol=1e-6)
    with pytest.raises(xaicore.InputError, match=r"^xai_method: expected one of"):
        xaicore.quantus_explain_func(model, x, y, xai_method="Magic")
    with pytest.raises(xaicore.InputError, match=r"^inputs: expected rows \[8, 8, 3\]"):
        xaicore.quantus_explain_func(model, x[:, :2], y)


def test_the_cache_exports_again_when_the_weights_change_in_place(batch):
    x, y = batch
    model = cnn()
    kw = {"xai_method": "KernelShap", "groups": xaicore.patch_groups((8, 8, 3), 4),
          "n_samples": 16, "seed": 0}
    opts = {k: v for k, v in kw.items() if k != "xai_method"}
    a = xaicore.quantus_explain_func(model, x, y, **kw)
    e1 = _quantus._explainer(model, "KernelShap", opts)
    assert _quantus._explainer(model, "KernelShap", opts) is e1        # same weights: cached
    layer = model.layers[0]
    layer.set_weights([w * -2.0 for w in layer.get_weights()])         # in place, same id
    assert _quantus._explainer(model, "KernelShap", opts) is not e1
    b = xaicore.quantus_explain_func(model, x, y, **kw)
    fresh = xaicore.KernelShap(model, np.zeros((1, 8, 8, 3), np.float32), groups=kw["groups"],
                               n_samples=16, seed=0).explain(np.moveaxis(x, 1, -1), target=y)
    painted = fresh.values[:, kw["groups"].reshape(-1)].reshape(4, 8, 8, 3).sum(-1)
    assert np.allclose(b, painted, atol=1e-5) and not np.allclose(a, b, atol=1e-3)
