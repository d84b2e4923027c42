"""KernelShap's ``ard`` option: where ``"auto"`` turns the per-player priors on (a model
that costs far more than the step) and off (a tiny model), and what it changes."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore
from xaicore._errors import InputError
from xaicore.kernels._ard import ard_flops
from xaicore.methods._ard_choice import CPU_RATIO, model_flops_per_row


def _dense(widths, seed=0):
    init = keras.initializers.GlorotUniform(seed=seed)
    layers = [keras.Input((widths[0],))]
    layers += [keras.layers.Dense(w, activation="tanh", kernel_initializer=init)
               for w in widths[1:-1]]
    layers.append(keras.layers.Dense(widths[-1], kernel_initializer=init))
    return keras.Sequential(layers)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(20, 12)).astype("float32")


def test_auto_follows_the_models_cost(data):
    big = xaicore.export(_dense([12, 1024, 1024, 2]))
    tiny = xaicore.export(_dense([12, 4, 1]))
    bg = data[:8]
    kb = xaicore.KernelShap(big, bg, n_samples=128, seed=0, progress=False)
    kt = xaicore.KernelShap(tiny, bg, n_samples=128, seed=0, progress=False)
    kb.explain(data[8:9])
    kt.explain(data[8:9])
    # the rule, from XLA's FLOPs of one forward row (2 per multiply-add of the layers)
    per_big = model_flops_per_row(big, data[0])
    assert per_big >= 2 * (12 * 1024 + 1024 * 1024)
    for k, per in ((kb, per_big), (kt, model_flops_per_row(tiny, data[0]))):
        want = per * 128 * 8 >= CPU_RATIO * ard_flops(k.spectral)
        assert k.ard is want
    assert kb.ard and not kt.ard


def test_true_and_false_and_what_they_change(data):
    fn = xaicore.export(_dense([12, 16, 1], seed=1))
    on = xaicore.KernelShap(fn, data[:4], n_samples=128, ard=True, progress=False)
    off = xaicore.KernelShap(fn, data[:4], n_samples=128, ard=False, progress=False)
    a, b = on.explain(data[10:13]), off.explain(data[10:13])
    assert on.ard and not off.ard
    assert not np.allclose(a.values, b.values)
    fx = np.asarray(fn(data[10:13])).reshape(3, -1)
    for att in (a, b):         # both efficient: the sum is f(x) - E f(background)
        total = att.values.reshape(3, 12, -1).sum(axis=1) + att.base_values.reshape(3, -1)
        np.testing.assert_allclose(total, fx, rtol=1e-5, atol=1e-5)
    again = xaicore.KernelShap(fn, data[:4], n_samples=128, ard=True, progress=False)
    np.testing.assert_array_equal(again.explain(data[10:13]).values, a.values)


def test_bad_ard_names_the_argument(data):
    fn = xaicore.export(_dense([12, 4, 1]))
    with pytest.raises(InputError, match=r"ard: expected 'auto', True or False, got 'yes'"):
        xaicore.KernelShap(fn, data[:4], ard="yes")
