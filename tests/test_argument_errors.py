"""Every method's arguments are checked at the boundary, with the argument's name first.

Covers what a new user meets first: data given as lists values float32 cannot hold,
and booleans of the wrong kind (``abs="no"`` is not False).
"""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore
from test_shapley import small_model

RNG = np.random.default_rng(0)
B = RNG.normal(size=(6, 5)).astype("float32")
X = RNG.normal(size=(3, 5)).astype("float32")
SHAPLEY = [xaicore.KernelShap, xaicore.PermutationShap, xaicore.ExactShap, xaicore.Lime]


@pytest.fixture(scope="module")
def fn():
    return xaicore.export(small_model())   # 5 inputs, 2 sigmoid outputs


def conv_model() -> keras.Model:
    inp = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(2, name="dense")(h))


# -- data given as lists -----------------------------------------------------------------

def test_list_of_lists_is_an_array(fn):
    row = [[0.1, 0.2, 0.3, 0.4, 0.5]]
    arr = np.asarray(row, "float32")
    ks = xaicore.KernelShap(fn, B.tolist(), n_samples=20)         # list-of-lists background
    ref = xaicore.KernelShap(fn, B, n_samples=20)
    np.testing.assert_array_equal(ks.explain(row).values, ref.explain(arr).values)
    np.testing.assert_array_equal(ks.explain(X.tolist()).values, ref.explain(X).values)
    one = xaicore.ExactShap(fn, B[:1].tolist()).explain(row)       # one-row background
    np.testing.assert_array_equal(one.values, xaicore.ExactShap(fn, B[:1]).explain(arr).values)
    sal = xaicore.Saliency(fn, abs=False)
    np.testing.assert_array_equal(sal.explain(row).values, sal.explain(arr).values)
    eg = xaicore.ExpectedGradients(fn, B[:1].tolist(), n_samples=4)
    np.testing.assert_array_equal(
        eg.explain(row).values, xaicore.ExpectedGradients(fn, B[:1], n_samples=4)
        .explain(arr).values)
    # an array wrapped in a one-element list or tuple (as Keras takes it) still works
    np.testing.assert_array_equal(ref.explain([X]).values, ref.explain(X).values)
    np.testing.assert_array_equal(ref.explain((X,)).values, ref.explain(X).values)


# -- values float32 cannot hold -----------------------------------------------------------

def test_values_beyond_float32_are_refused(fn):
    big = X.astype(np.float64)
    big[0, 3] = 1e39
    ks = xaicore.KernelShap(fn, B, n_samples=20)
    with pytest.raises(xaicore.InputError,
                       match=r"^X: value 1e\+39 at row 0, column 3 does not fit float32"):
        ks.explain(big)
    with pytest.raises(xaicore.InputError,
                       match=r"^X: value -1e\+39 at row 0, column 3 does not fit float32"):
        ks.explain(-big)
    with pytest.raises(xaicore.InputError, match=r"^background: value 1e\+39 at row 0, "
                                                 r"column 3 does not fit float32"):
        xaicore.ExactShap(fn, big)
    with pytest.raises(xaicore.InputError, match=r"^X: value 1e\+39 at row 0, column 3"):
        xaicore.Saliency(fn).explain(big)
    with pytest.raises(xaicore.InputError, match=r"^background: value 1e\+39 at row 0"):
        xaicore.ExpectedGradients(fn, big)
    fits = X.astype(np.float64)
    fits[0, 3] = 3e38                      # large, but a float32
    assert np.isfinite(ks.explain(fits).data).all()


# -- booleans, for every method -------------------------------------------------

def _make(method, fn, **kw):
    """Construct ``method`` on the small model (a conv model for the layer methods)."""
    if method in (xaicore.GradCAM, xaicore.LayerIntegratedGradients):
        return method(conv_model(), layer="conv", **kw)
    if method in SHAPLEY or method is xaicore.ExpectedGradients:
        return method(fn, B, **kw)
    return method(fn, **kw)


SEEDED = [xaicore.KernelShap, xaicore.PermutationShap, xaicore.ExactShap, xaicore.Lime,
          xaicore.SmoothGrad, xaicore.VarGrad, xaicore.ExpectedGradients]
ALL = SEEDED + [xaicore.Saliency, xaicore.GradientXInput, xaicore.IntegratedGradients,
                xaicore.GradCAM, xaicore.LayerIntegratedGradients]
BOOLS = [(xaicore.KernelShap, "paired"), (xaicore.PermutationShap, "antithetic"),
         (xaicore.Saliency, "abs")] + [(m, "progress") for m in ALL]


@pytest.mark.parametrize("method, option", BOOLS,
                         ids=[f"{m.__name__}-{o}" for m, o in BOOLS])
@pytest.mark.parametrize("value", ["no", 1, 0.0, "False"])
def test_every_boolean_option_refuses_a_non_bool(fn, method, option, value):
    want = "True, False or None" if option == "progress" else "True or False"
    with pytest.raises(xaicore.InputError,
                       match=rf"^{option}: expected {want}, got {value!r}"):
        _make(method, fn, **{option: value})


def test_boolean_options_keep_their_meaning(fn):
    g = np.asarray(xaicore.Saliency(fn, abs=False).explain(X, target=0).values)
    a = np.asarray(xaicore.Saliency(fn, abs=np.bool_(True)).explain(X, target=0).values)
    np.testing.assert_allclose(a, np.abs(g))
    assert xaicore.PermutationShap(fn, B, antithetic=False, n_permutations=3).antithetic \
        is False
    assert xaicore.KernelShap(fn, B, paired=np.bool_(False), progress=None).engine
