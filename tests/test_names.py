"""Users name the outputs (``output_names=``) and the features (``feature_names=``, or a
DataFrame's columns), and the names travel with the result to the plots and shap."""
from __future__ import annotations

import jax
import numpy as np
import pytest

import xaicore

W = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
FN = xaicore.from_jax(lambda p, x: jax.nn.softmax(x @ p), W)
X = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
SHAPLEY = [xaicore.KernelShap, xaicore.PermutationShap, xaicore.ExactShap, xaicore.Lime]


@pytest.mark.parametrize("method", SHAPLEY)
def test_output_names_name_the_outputs(method):
    att = method(FN, X[:3], output_names=["red", "white", "rose"]).explain(X)
    assert att.output_names == ["red", "white", "rose"]
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    ax = att.plot_bar(output="white")
    assert "white" in ax.get_title()


@pytest.mark.parametrize("bad,message", [
    (["a", "b"], r"^output_names: expected 3 names \(the model has 3 outputs\), got 2"),
    ("abc", r"^output_names: expected a list of names"),
])
def test_bad_output_names(bad, message):
    with pytest.raises(xaicore.InputError, match=message):
        xaicore.KernelShap(FN, X[:3], output_names=bad)


@pytest.mark.parametrize("method", SHAPLEY)
def test_dataframe_columns_name_the_features(method):
    pd = pytest.importorskip("pandas")
    cols = ["alcohol", "ash", "hue", "proline"]
    df = pd.DataFrame(X, columns=cols)
    assert method(FN, df.iloc[:3]).explain(X).feature_names == cols      # background's
    assert method(FN, X[:3]).explain(df).feature_names == cols           # X's
    assert method(FN, X[:3], feature_names=list("abcd")).explain(df).feature_names == \
        list("abcd")                                                     # the user's first
    plain = method(FN, X[:3]).explain(X).feature_names
    assert plain == ["f0", "f1", "f2", "f3"]


@pytest.mark.parametrize("method", [xaicore.Saliency, xaicore.IntegratedGradients,
                                    xaicore.GradientXInput])
def test_dataframe_columns_name_gradient_features(method):
    pd = pytest.importorskip("pandas")
    cols = ["alcohol", "ash", "hue", "proline"]
    att = method(FN).explain(pd.DataFrame(X, columns=cols), target=0)
    assert att.feature_names == cols and att.values.shape == (6, 4)
    assert method(FN).explain(X, target=0).feature_names is None
