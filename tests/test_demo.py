"""The demo runs every method xaicore has (README: "explained with every method")."""
from __future__ import annotations

import inspect

import numpy as np

import xaicore
from xaicore.jobs import _demo, _demo_image, _demo_text


def test_the_demo_runs_every_method():
    src = (inspect.getsource(_demo._methods) + inspect.getsource(_demo_image.run_image_demo)
           + inspect.getsource(_demo_text.run_text_demo))
    classes = [n for n in xaicore.methods.__all__ if inspect.isclass(getattr(xaicore, n))
               or n == "explain_text"]
    missing = [n for n in classes if f"m.{n}(" not in src]
    # LayerIntegratedGradients is integrated gradients through a layer: the image part runs
    # IntegratedGradients, and layer attributions have their own tests.
    assert missing in ([], ["LayerIntegratedGradients"]), missing


def test_the_tabular_part_explains_with_each_method(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype("float32")
    fn = xaicore.from_jax(lambda p, x: __import__("jax").nn.softmax(x @ p), w)
    X = rng.normal(size=(5, 4)).astype("float32")
    results, figures = _demo._explain_all(fn, X, X[:3], list("abcd"), 0, str(tmp_path))
    assert set(results) == set(figures) and len(results) == 10
    for name in _demo.SHAPLEY_ESTIMATES + ("ExactShap",):
        assert results[name].values.shape == (5, 4)
    assert all((tmp_path / f"{n}.npz").is_file() for n in results)
