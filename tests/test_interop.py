"""Attribution.to_shap(): shap's own plots accept it (skipped when shap is absent)."""
from __future__ import annotations

import numpy as np
import pytest

import xaicore
from test_shapley import small_model


@pytest.fixture(scope="module")
def attribution():
    rng = np.random.default_rng(0)
    fn = xaicore.export(small_model())
    B = rng.normal(size=(6, 5)).astype("float32")
    X = rng.normal(size=(8, 5)).astype("float32")
    return xaicore.KernelShap(fn, B, n_samples=30, feature_names=list("abcde")) \
        .explain(X, target="predicted")


def test_shap_plots(attribution, tmp_path):
    shap = pytest.importorskip("shap")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    exp = attribution.to_shap()
    assert isinstance(exp, shap.Explanation)
    np.testing.assert_array_equal(exp.values, attribution.values)
    assert list(exp.feature_names) == list("abcde")
    shap.plots.bar(exp, show=False)
    plt.savefig(tmp_path / "bar.png")
    plt.close("all")
    shap.plots.waterfall(exp[0], show=False)
    plt.savefig(tmp_path / "waterfall.png")
    plt.close("all")
    assert (tmp_path / "bar.png").stat().st_size > 1000
    assert (tmp_path / "waterfall.png").stat().st_size > 1000
