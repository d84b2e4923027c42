"""KernelShap's ``ard`` and ``sparse`` options: where ``"auto"`` turns the per-player
priors and the sparse step on (a model that costs far more than the step) and off (a tiny
model), and what they change."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore
from xaicore._errors import InputError
from xaicore.kernels._ard import ard_flops
from xaicore.kernels._sparse_step import sparse_applies, sparse_seconds
from xaicore.methods._step_cost import CPU_RATIO, HOST_FLOPS, model_flops_per_row


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


def test_sparse_auto_follows_the_models_cost(data):
    """At 1024 coalitions (511 pairs: the sparse step applies) the big model's 8192 rows
    an instance cost far more than the step's bound for its 2 outputs; the tiny one's do
    not; at 128 coalitions the step does not apply at all."""
    big = xaicore.export(_dense([12, 1024, 1024, 2]))
    tiny = xaicore.export(_dense([12, 4, 1]))
    bg = data[:8]
    kb = xaicore.KernelShap(big, bg, n_samples=1024, seed=0, progress=False)
    kt = xaicore.KernelShap(tiny, bg, n_samples=1024, seed=0, progress=False)
    for k, fn in ((kb, big), (kt, tiny)):
        assert sparse_applies(k.spectral)
        step = HOST_FLOPS * sparse_seconds(k.spectral) * fn.n_outputs
        want = model_flops_per_row(fn, data[0]) * 1024 * 8 >= CPU_RATIO * step
        assert k.sparse is want
    assert kb.sparse and not kt.sparse
    few = xaicore.KernelShap(big, bg, n_samples=128, progress=False)
    assert not sparse_applies(few.spectral) and few.sparse is False
    forced = xaicore.KernelShap(tiny, bg, n_samples=1024, sparse=True, progress=False)
    assert forced.sparse is True
    on = kb.explain(data[8:10])
    off = xaicore.KernelShap(big, bg, n_samples=1024, sparse=False, progress=False)
    assert on.params["sparse"] is True
    np.testing.assert_allclose(on.values, off.explain(data[8:10]).values,  # nothing sparse
                               rtol=1e-6, atol=1e-7)                       # in an MLP game


def test_cost_of_a_shape_polymorphic_export(data):
    """A model exported through the TensorFlow bridge (``jax.export`` with a symbolic
    batch: the road of every TensorFlow-backend Keras model; a JAX-backend model takes it
    here) has its FLOPs counted too (its lowered form has no cost analysis: the compiled
    one's is used), the same as the direct export's."""
    from xaicore.exporting._export import _from_bridge
    from xaicore.exporting._tf_bridge import export_tf_model

    model = _dense([12, 64, 2])
    bridged = _from_bridge(export_tf_model(model))
    want = model_flops_per_row(xaicore.export(model), data[0])
    assert want >= 2 * (12 * 64 + 64 * 2)
    assert model_flops_per_row(bridged, data[0]) == pytest.approx(want, rel=0.2)


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
    with pytest.raises(InputError, match=r"sparse: expected 'auto', True or False, got 1"):
        xaicore.KernelShap(fn, data[:4], sparse=1)
