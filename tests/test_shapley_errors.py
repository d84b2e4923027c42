"""Bad input to the Shapley methods is refused with a message naming the argument."""
from __future__ import annotations

import numpy as np
import pytest

import xaicore
from test_shapley import small_model


@pytest.fixture(scope="module")
def fn():
    return xaicore.export(small_model())


B = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")


@pytest.mark.parametrize("method", [xaicore.KernelShap, xaicore.PermutationShap,
                                    xaicore.ExactShap])
def test_bad_data(fn, method):
    with pytest.raises(xaicore.InputError, match="background: contains NaN"):
        method(fn, np.where(B > 1, np.nan, B))
    with pytest.raises(xaicore.InputError, match="background: expected at least one row"):
        method(fn, np.zeros((0, 5), "float32"))
    with pytest.raises(xaicore.InputError, match=r"background: expected float32\[batch, 5\]"):
        method(fn, np.zeros((3, 4), "float32"))
    m = method(fn, B)
    with pytest.raises(xaicore.InputError, match=r"X: expected float32\[batch, 5\]"):
        m.explain(np.zeros((2, 6)))
    with pytest.raises(xaicore.InputError, match="X: contains NaN or inf"):
        m.explain(np.full((2, 5), np.inf))
    with pytest.raises(xaicore.InputError, match="target: index 2 is out of range"):
        m.explain(B, target=2)
    with pytest.raises(xaicore.InputError, match="target: expected an int or one int per row"):
        m.explain(B, target=[0, 1])


def test_groups_must_cover(fn):
    with pytest.raises(xaicore.InputError, match="groups: player ids must cover"):
        xaicore.KernelShap(fn, B, groups=[0, 0, 2, 2, 3])
    with pytest.raises(xaicore.InputError, match="groups: expected one player id per"):
        xaicore.KernelShap(fn, B, groups=[0, 1, 2])


def test_budget_too_small(fn):
    with pytest.raises(xaicore.InputError, match="n_samples: .*budget"):
        xaicore.KernelShap(fn, B, n_samples=1)


def test_exact_refuses_many_players():
    fn = xaicore.from_jax(lambda x: x.sum(1, keepdims=True), input_shape=(21,))
    with pytest.raises(xaicore.InputError, match="at most M = 20 .*KernelShap"):
        xaicore.ExactShap(fn, np.zeros((1, 21), "float32"))


def test_bad_link_and_permutations(fn):
    with pytest.raises(xaicore.InputError, match="link: expected one of"):
        xaicore.KernelShap(fn, B, link="probit")
    with pytest.raises(xaicore.InputError, match="n_permutations: must be even"):
        xaicore.PermutationShap(fn, B, n_permutations=3)


def test_estimator_errors(fn):
    with pytest.raises(xaicore.InputError, match="estimator: expected one of"):
        xaicore.KernelShap(fn, B, estimator="quadratic")
    wide = np.random.default_rng(1).normal(size=(2, 30)).astype("float32")
    lin = xaicore.from_jax(lambda p, x: x @ p, np.ones((30, 1), "float32"), input_shape=(30,))
    with pytest.raises(xaicore.InputError, match="estimator: 'cubic' needs 3 to 24 players"):
        xaicore.KernelShap(lin, wide, n_samples=100, estimator="cubic")
    # 30 players: the default for paired coalitions is the spectral estimate, any size
    assert xaicore.KernelShap(lin, wide, n_samples=100).estimator == "spectral"
    assert xaicore.KernelShap(lin, wide, n_samples=100, paired=False).estimator == "linear"
