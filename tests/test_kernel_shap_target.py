"""A targeted call solves for the targeted output only, with the values of a full call."""
from __future__ import annotations

import numpy as np
import pytest
from models import mlp

import xaicore


@pytest.mark.parametrize("estimator", ["spectral", "cubic", "linear"])
def test_target_solves_one_output(estimator, monkeypatch):
    fn = xaicore.export(mlp(6, 3, seed=2))
    rng = np.random.default_rng(0)
    X, B = rng.normal(size=(5, 6)).astype("float32"), rng.normal(size=(4, 6)).astype("float32")
    ks = xaicore.KernelShap(fn, B, n_samples=24, seed=3, estimator=estimator)
    full = ks.explain(X)                                          # [5, 6, 3]
    seen = []
    original = ks._estimate

    def spy(v, v0, v1):
        seen.append((v.shape[-1], v0.shape, v1.shape))
        return original(v, v0, v1)

    monkeypatch.setattr(ks, "_estimate", spy)
    pred = ks.explain(X, target="predicted")
    per_row = ks.explain(X, target=[0, 1, 2, 1, 0])
    assert seen == [(1, (5, 1), (5, 1))] * 2                      # one output solved
    rows = np.arange(5)
    t = np.asarray(pred.target)
    np.testing.assert_allclose(pred.values, full.values[rows, :, t], atol=1e-9)
    np.testing.assert_allclose(pred.base_values, full.base_values[rows, t], atol=1e-9)
    np.testing.assert_allclose(per_row.values, full.values[rows, :, [0, 1, 2, 1, 0]], atol=1e-9)
    assert pred.values.shape == (5, 6) and pred.stats["max_efficiency_gap"] < 1e-5
    if "stderr" in full.stats:
        np.testing.assert_allclose(pred.stats["stderr"], full.stats["stderr"][rows, :, t],
                                   rtol=1e-6, atol=1e-12)
