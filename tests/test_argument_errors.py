"""Every method's arguments are checked at the boundary, with the argument's name first.

Covers what a new user meets first: data given as lists, values float32 cannot hold,
a ``(rows, weights)`` background from :func:`xaicore.kmeans`, ints, seeds and booleans
of the wrong kind, and ``link="logit"`` on a model that does not return probabilities.
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


def regressor() -> keras.Model:
    """``y = sum(x)``: a score, not a probability."""
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.layers[0].set_weights([np.ones((5, 1), "float32"), np.zeros(1, "float32")])
    return model


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


# -- a (rows, weights) background ---------------------------------------------------------

@pytest.mark.parametrize("method", SHAPLEY)
def test_weighted_background_equals_repeated_rows(fn, method):
    rows, counts = B[:3], np.array([1, 2, 3])
    weighted = method(fn, (rows, counts.astype(float))).explain(X)
    repeated = method(fn, np.repeat(rows, counts, axis=0)).explain(X)
    np.testing.assert_allclose(weighted.values, repeated.values, atol=2e-6)
    np.testing.assert_allclose(weighted.base_values, repeated.base_values, atol=2e-6)
    assert weighted.params["background_rows"] == 3


def test_weighted_exact_shap_is_the_weighted_mean_of_baselines(fn):
    """With the identity link Shapley values are linear in the game: the weighted
    background's values are the weighted mean of each baseline row's values."""
    rows, w = xaicore.kmeans(B, 3)
    got = xaicore.ExactShap(fn, (rows, w)).explain(X).values
    by_hand = sum(wk * xaicore.ExactShap(fn, rows[k:k + 1]).explain(X).values
                  for k, wk in enumerate(w))
    np.testing.assert_allclose(got, by_hand, atol=2e-6)
    ks = xaicore.KernelShap(fn, xaicore.kmeans(B, 3)).explain(X).values  # exact: 2**5 - 2
    np.testing.assert_allclose(ks, by_hand, atol=2e-6)


def test_weighted_background_errors(fn):
    with pytest.raises(xaicore.InputError, match=r"^background: the weights .* >= 0"):
        xaicore.KernelShap(fn, (B[:2], np.array([1.0, -1.0])))
    with pytest.raises(xaicore.InputError, match=r"^background: the weights .* not all 0"):
        xaicore.KernelShap(fn, (B[:2], np.zeros(2)))
    with pytest.raises(xaicore.InputError, match=r"^background: could not be read"):
        xaicore.KernelShap(fn, (B[:2], np.ones(3)))    # not one weight per row
    with pytest.raises(xaicore.InputError, match=r"^background_size: the background is "
                                                 r"already weighted"):
        xaicore.KernelShap(fn, xaicore.kmeans(B, 3), background_size=2)


# -- ints ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, -1, 2.5, "3", True])
def test_background_size(fn, value):
    with pytest.raises(xaicore.InputError,
                       match=rf"^background_size: expected an int >= 1, got {value!r}"):
        xaicore.KernelShap(fn, B, background_size=value)


def test_kmeans_arguments():
    with pytest.raises(xaicore.InputError, match=r"^k: expected an int >= 1, got 2\.5"):
        xaicore.kmeans(B, 2.5)
    with pytest.raises(xaicore.InputError, match=r"^k: expected an int >= 1, got 0"):
        xaicore.kmeans(B, 0)
    with pytest.raises(xaicore.InputError, match=r"^k: expected 1\.\.6"):
        xaicore.kmeans(B, 7)
    with pytest.raises(xaicore.InputError, match=r"^seed: expected an int in \[0, 2\*\*32\)"):
        xaicore.kmeans(B, 2, seed=-1)


@pytest.mark.parametrize("option, value, message", [
    ("n_boot", "a", r"^n_boot: expected an int >= 0, got 'a'"),
    ("n_boot", -1, r"^n_boot: expected an int >= 0, got -1"),
    ("n_boot", 2.0, r"^n_boot: expected an int >= 0, got 2\.0"),
    ("n_boot", 1, r"^n_boot: expected 0 \(no standard errors\) or an int >= 2"),
    ("n_samples", 0, r"^n_samples: expected 'auto' or an int >= 1"),
    ("n_samples", 2.5, r"^n_samples: expected 'auto' or an int >= 1"),
    ("n_samples", "all", r"^n_samples: expected 'auto' or an int >= 1"),
    ("ridge", "a", r"^ridge: expected a finite number >= 0"),
    ("scheme", "bogus", r"^scheme: expected one of"),
    ("backend", "bogus", r"^backend: expected one of"),
])
def test_kernel_shap_options(fn, option, value, message):
    with pytest.raises(xaicore.InputError, match=message):
        xaicore.KernelShap(fn, B, **{option: value})


def test_n_boot_zero_switches_standard_errors_off(fn):
    att = xaicore.KernelShap(fn, B, n_samples=20, estimator="linear", n_boot=0).explain(X)
    assert att.stderr is None
    att = xaicore.KernelShap(fn, B, n_samples=20, estimator="linear", n_boot=2).explain(X)
    assert att.stderr is not None


@pytest.mark.parametrize("value", ["a", 2.0, True, 1])
def test_n_permutations(fn, value):
    with pytest.raises(xaicore.InputError, match=r"^n_permutations: expected an int >= 2"):
        xaicore.PermutationShap(fn, B, n_permutations=value)


def test_exact_shap_one_player_is_the_whole_difference(fn):
    att = xaicore.ExactShap(fn, B, groups=np.zeros(5, int)).explain(X)
    expect = np.asarray(fn(X)) - np.asarray(fn(B)).mean(axis=0)
    assert att.values.shape == (3, 1, 2)
    np.testing.assert_allclose(att.values[:, 0], expect, atol=1e-6)
    assert att.stats["max_efficiency_gap"] < 1e-6


# -- seeds and booleans, for every method -------------------------------------------------

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


@pytest.mark.parametrize("method", SEEDED, ids=lambda m: m.__name__)
@pytest.mark.parametrize("seed", [-1, 2 ** 32, 2 ** 64, 1.5, True, "0"])
def test_every_method_refuses_a_bad_seed(fn, method, seed):
    with pytest.raises(xaicore.InputError,
                       match=rf"^seed: expected an int in \[0, 2\*\*32\), got {seed!r}"):
        _make(method, fn, seed=seed)


@pytest.mark.parametrize("method", SEEDED, ids=lambda m: m.__name__)
def test_every_method_takes_the_largest_seed(fn, method):
    assert _make(method, fn, seed=np.uint32(2 ** 32 - 1)).seed == 2 ** 32 - 1


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


# -- link="logit" takes probabilities -----------------------------------------------------

@pytest.mark.parametrize("method", SHAPLEY)
def test_logit_link_refuses_a_regressor(method):
    fn = xaicore.export(regressor())
    background = np.full((3, 5), 0.64, "float32")        # f = 3.2 on every row
    with pytest.raises(xaicore.InputError,
                       match=r"^link: 'logit' needs outputs in \[0, 1\] \(probabilities\); "
                             r"the model returned 3\.2 for background row 0, output 0"):
        method(fn, background, link="logit")
    background[:2] = 0.1                                 # rows 0, 1 fine (0.5), row 2 not
    with pytest.raises(xaicore.InputError, match=r"returned 3\.2 for background row 2"):
        method(fn, background, link="logit")
    method(fn, background, link="identity")             # scores are fine without the link


def test_logit_link_takes_probabilities(fn):
    att = xaicore.KernelShap(fn, B, link="logit").explain(X)
    p = np.asarray(fn(X), np.float64)
    logit = np.log(p) - np.log1p(-p)
    np.testing.assert_allclose(att.values.sum(axis=1) + att.base_values, logit, atol=1e-4)


@pytest.mark.parametrize("method", SHAPLEY)
def test_logit_link_refuses_explained_rows_outside_0_1(method):
    fn = xaicore.export(regressor())
    background = np.full((3, 5), 0.1, "float32")         # f = 0.5: fine
    m = method(fn, background, link="logit")
    with pytest.raises(xaicore.InputError, match=r"^link: 'logit' needs outputs in \[0, 1\].*"
                                                 r"returned 3\.2 for X row 1, output 0"):
        m.explain(np.stack([background[0], np.full(5, 0.64, "float32")]))
