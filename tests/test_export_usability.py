"""Export, as a new user first meets it: one layer name, plain callables, integer ids,
input names in messages."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore


def _two_dense() -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=0)
    inp = keras.Input((4,), name="feat")
    h = keras.layers.Dense(3, activation="tanh", kernel_initializer=init, name="hidden")(inp)
    return keras.Model(inp, keras.layers.Dense(2, kernel_initializer=init, name="out")(h))


# -- layers= takes one name ----------------------------------------------------------------

def test_layers_takes_a_single_name():
    model = _two_dense()
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4)
    fn = xaicore.export(model, layers="hidden")
    assert fn.layers == ("hidden",)
    y, acts = fn(x)
    assert list(acts) == ["hidden"]
    sub = keras.Model(model.inputs, model.get_layer("hidden").output)
    np.testing.assert_allclose(acts["hidden"], sub.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(y, model.predict(x, verbose=0), atol=1e-6)
    assert xaicore.export(fn, layers="hidden") is fn   # the same layers: no re-export


def test_single_unknown_name_is_named_whole():
    with pytest.raises(xaicore.ExportError, match=r"^layers: no layer named 'nope' in "
                                                  r"model '.*'; its layers are \[.*'hidden'"):
        xaicore.export(_two_dense(), layers="nope")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_bridge_takes_a_single_name_and_checks_it_before_spawning():
    from xaicore.exporting._tf_bridge import export_tf_model

    with pytest.raises(xaicore.ExportError, match=r"^layers: no layer named 'nope' in "
                                                  r"model '.*'; its layers are \[.*'hidden'"):
        export_tf_model(_two_dense(), layers="nope")


@pytest.mark.parametrize("bad, pattern", [
    (3, r"^layers: expected a layer name or a list of layer names, got int 3"),
    (["hidden", 2], r"^layers: expected layer names \(str\), got int 2"),
])
def test_layers_of_the_wrong_type(bad, pattern):
    with pytest.raises(xaicore.ExportError, match=pattern):
        xaicore.export(_two_dense(), layers=bad)


# -- plain callables JAX cannot trace ------------------------------------------------------

X4 = np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4)


def _numpy_inside(x):
    return np.asarray(x).sum(1, keepdims=True)


@pytest.mark.parametrize("make", [
    lambda f: xaicore.KernelShap(f, X4).explain(X4),
    lambda f: xaicore.Saliency(f).explain(X4),
    lambda f: xaicore.from_jax(f, input_shape=(4,)),
])
def test_numpy_inside_a_callable_is_an_export_error(make):
    with pytest.raises(xaicore.ExportError, match=r"^(model|apply): could not be traced by JAX "
                                                  r"on float32\[batch, 4\].*TracerArray"
                                                  r".*jax\.numpy"):
        make(_numpy_inside)


@pytest.mark.parametrize("make", [
    lambda f: xaicore.KernelShap(f, X4).explain(X4),
    lambda f: xaicore.Saliency(f).explain(X4),
    lambda f: xaicore.from_jax(f, input_shape=(4,)),
])
def test_callable_without_a_batch_axis_is_an_export_error(make):
    import jax.numpy as jnp

    with pytest.raises(xaicore.ExportError, match=r"^(model|apply): returns shape \(\) on a "
                                                  r"batch of 2 rows.*\[n, outputs\] or \[n\]"):
        make(lambda x: jnp.sum(x))
    with pytest.raises(xaicore.ExportError, match=r"returns shape \(4,\) on a batch of 2"):
        make(lambda x: jnp.sum(x, axis=0))


def test_a_batch_of_one_output_per_row_is_fine():
    import jax.numpy as jnp

    att = xaicore.KernelShap(lambda x: jnp.sum(x, axis=1), X4[:1]).explain(X4)
    np.testing.assert_allclose(att.values[..., 0], X4 - X4[:1], atol=1e-5)


# -- a plain callable of integer ids -------------------------------------------------------

TABLE = np.array([0.0, 1.5, -2.0, 0.25, 3.0, -0.5, 1.0, 2.5, -1.25, 0.75], "float32")
IDS = np.array([[1, 2, 3, 4, 5, 6], [9, 8, 7, 6, 5, 4], [0, 0, 1, 1, 2, 2]], np.int32)


def _ids_model(x):
    import jax.numpy as jnp

    e = jnp.take(jnp.asarray(TABLE), x, axis=0)                      # [n, 6]
    return jnp.stack([e.sum(1), (e * jnp.arange(1.0, 7.0)).sum(1)], axis=1)


@pytest.mark.parametrize("method", [xaicore.KernelShap, xaicore.ExactShap])
def test_integer_ids_take_their_dtype_from_the_data(method):
    att = method(_ids_model, np.zeros((1, 6), np.int32)).explain(IDS)
    e = TABLE[IDS] - TABLE[0]                       # additive: phi_i = f_i(x_i) - f_i(b_i)
    truth = np.stack([e, e * np.arange(1.0, 7.0)], axis=2)
    np.testing.assert_allclose(att.values, truth, atol=1e-5)
    exported = xaicore.export(_ids_model)         # export(f) takes the same road
    np.testing.assert_allclose(method(exported, IDS[:2]).explain(IDS).values,
                               xaicore.ExactShap(_ids_model, IDS[:2]).explain(IDS).values,
                               atol=1e-5)


def test_integer_data_for_a_float_function_stays_float():
    import jax.numpy as jnp

    fn = xaicore.Saliency(lambda x: jnp.tanh(x).sum(1, keepdims=True))
    g = fn.explain(np.array([[0, 1, 2]], np.int64)).values
    np.testing.assert_allclose(np.squeeze(g), 1 - np.tanh([0.0, 1.0, 2.0]) ** 2, rtol=1e-5)


def test_explicit_float_dtype_names_the_way_out():
    f = xaicore.from_jax(_ids_model, dtype="float32")
    with pytest.raises(xaicore.ExportError, match=r"^model: could not be traced by JAX on "
                                                  r"float32\[batch, 6\].*dtype='int32'"):
        xaicore.KernelShap(f, np.zeros((1, 6), np.int32)).explain(IDS)


# -- input names: the user's, else x -------------------------------------------------------

def _int_sequential(name: str | None = None) -> keras.Model:
    return keras.Sequential([keras.Input((5,), dtype="int32", name=name),
                             keras.layers.Embedding(9, 2), keras.layers.Flatten(),
                             keras.layers.Dense(1)])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' own, while saving
def test_sequential_input_is_called_x_in_messages(tmp_path):
    from models import mlp

    model = _int_sequential()
    assert model.inputs[0].name.startswith("keras_tensor")   # what Keras calls it
    fn = xaicore.export(model)
    assert fn.input_names == ("x",)
    with pytest.raises(xaicore.InputError, match=r"^X: the model input 'x' takes integer "
                                                 r"ids \(int32\[batch, 5\]\)"):
        fn.validate(np.ones((2, 5), "float32"))
    with pytest.raises(xaicore.InputError, match=r"^X: the model input 'x' takes integer"):
        xaicore.Saliency(model).explain(np.zeros((2, 5), "int32"))
    assert xaicore.export(mlp()).input_names == ("x",)
    model.save(tmp_path / "seq.keras")             # reloaded, Keras names it input_layer
    assert xaicore.export(tmp_path / "seq.keras").input_names == ("x",)


def test_named_inputs_keep_their_names():
    assert xaicore.export(_int_sequential("ids")).input_names == ("ids",)
    a, b = keras.Input((2,)), keras.Input((3,), name="extra")
    model = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    fn = xaicore.export(model)
    assert fn.input_names == ("input_0", "extra")
    with pytest.raises(xaicore.InputError, match=r"^X\['input_0'\]: expected float32\[batch, "
                                                 r"2\], got float32\[2, 4\]"):
        fn.validate((np.ones((2, 4), "float32"), np.ones((2, 3), "float32")))
