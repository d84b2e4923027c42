"""Bad input is refused at the boundary with a message naming the argument."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore
from models import mlp, multi_io


def test_missing_path(tmp_path):
    with pytest.raises(xaicore.ExportError, match=r"model: file not found.*nope\.keras"):
        xaicore.export(tmp_path / "nope.keras")


def test_string_that_is_no_file():
    with pytest.raises(xaicore.ExportError, match="model: file not found: 'a string'"):
        xaicore.export("a string")


def test_not_a_keras_file(tmp_path):
    p = tmp_path / "junk.keras"
    p.write_bytes(b"definitely not a zip archive")
    with pytest.raises(xaicore.ExportError, match="could not be loaded as a Keras model"):
        xaicore.export(p)
    q = tmp_path / "data.csv"
    q.write_text("1,2,3\n")
    with pytest.raises(xaicore.ExportError, match="not a Keras model file"):
        xaicore.export(str(q))


@pytest.mark.parametrize("obj", [3, 2.5, None, [1, 2], {"a": 1}])
def test_not_a_model(obj):
    with pytest.raises(xaicore.ExportError, match="model: expected a Keras 3 model"):
        xaicore.export(obj)


def test_sklearn_estimator_refused():
    lm = pytest.importorskip("sklearn.linear_model")
    with pytest.raises(xaicore.ExportError, match="LinearRegression"):
        xaicore.export(lm.LinearRegression())


def test_never_built():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(xaicore.ExportError, match="never built"):
        xaicore.export(model)


def test_unknown_layer_name():
    with pytest.raises(xaicore.ExportError, match=r"layers: no layer named 'nope'"):
        xaicore.export(mlp(), layers=["nope"])


def test_string_layers_refused():
    inp = keras.Input((1,), dtype="string")
    vec = keras.layers.StringLookup(vocabulary=["a", "b"])
    model = keras.Model(inp, vec(inp))
    with pytest.raises(xaicore.ExportError, match="StringLookup"):
        xaicore.export(model)


@pytest.mark.parametrize("bad, pattern", [
    (np.ones((2, 5), "float32"), r"X: expected float32\[batch, 6\], got float32\[2, 5\]"),
    (np.ones(6, "float32"), r"rank 1 instead of 2 .*x\[None\]"),
    (np.ones((2, 6, 1), "float32"), r"rank 3 instead of 2"),
    (np.array([["a"] * 6]), r"numeric array"),
    (np.full((2, 6), np.nan), r"NaN or inf"),
    (np.full((2, 6), np.inf), r"NaN or inf"),
    (np.ones((0, 6)), r"at least one row"),
])
def test_bad_inputs(bad, pattern):
    fn = xaicore.export(mlp())
    with pytest.raises(xaicore.InputError, match=pattern):
        fn.validate(bad)


def test_bad_multi_inputs():
    fn = xaicore.export(multi_io())
    with pytest.raises(xaicore.InputError, match=r"missing \['b'\]"):
        fn.validate({"a": np.ones((2, 4))})
    with pytest.raises(xaicore.InputError, match="same number of rows"):
        fn.validate({"a": np.ones((2, 4)), "b": np.ones((3, 3))})
    with pytest.raises(xaicore.InputError, match=r"X\['b'\]: expected float32\[batch, 3\]"):
        fn.validate({"a": np.ones((2, 4)), "b": np.ones((2, 2))})


def test_float_for_integer_input_refused():
    from models import embedding

    fn = xaicore.export(embedding())
    with pytest.raises(xaicore.InputError, match="integer ids"):
        fn.validate(np.ones((2, 9), "float32"))
