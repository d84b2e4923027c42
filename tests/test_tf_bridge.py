"""TF bridge: TensorFlow-backend Keras models exported to JAX in a subprocess.

The pytest process runs Keras on the JAX backend, so the checks run in one child process
with ``KERAS_BACKEND=tensorflow``: this file run as a script (``main``) builds the models,
exports each with :func:`xaicore.exporting._tf_bridge.export_tf_model` and prints one JSON record
per model (errors vs ``model.predict``, vs TensorFlow's own input gradients, vs finite
differences, under jit / vmap / grad compositions). The tests assert on those records.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import keras
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KINDS = ["mlp", "cnn", "lstm", "gru", "bilstm_ragged", "attention", "multi_dict",
         "multi_list", "custom_layer", "sequential_build", "layers_cnn", "layers_multi",
         "normalization"]
REFUSED = ["lambda", "text_vectorization", "main_layer", "no_get_config", "bad_layer_name",
           "unbuilt"]

pytestmark = pytest.mark.slow


@keras.saving.register_keras_serializable(package="xaicore_test")
class Scale(keras.layers.Layer):
    """A custom layer in an importable module (the export process imports it)."""

    def build(self, input_shape: tuple) -> None:
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return keras.ops.softplus(x) * self.w


@pytest.fixture(scope="module")
def report() -> dict:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    import xaicore  # the child imports the same xaicore (installed or from the checkout)

    path = [HERE, os.path.dirname(os.path.dirname(os.path.abspath(xaicore.__file__)))]
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3",
               KERAS_HOME=os.path.join(tempfile.gettempdir(), "xaicore-keras-home-tf"),
               PYTHONPATH=os.pathsep.join([*path, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, os.path.abspath(__file__)], check=False, env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    return {r["kind"]: r for r in map(json.loads, lines)}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' own, while saving
def test_bridge_in_this_process() -> None:
    """The bridge itself needs no TensorFlow: a JAX-backend model takes the same road."""
    import jax
    import numpy as np
    from models import inputs_for, multi_io

    import xaicore
    from xaicore.exporting._tf_bridge import export_tf_model

    model = multi_io()
    x = inputs_for(model, n=3)
    b = export_tf_model(model)
    assert b.input_names == ("a", "b") and b.structure == "dict"
    assert b.output_shapes == ((2,), (1,)) and b.input_shapes == ((4,), (3,))
    for got, want in zip(b.apply(b.params, x), model.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-6)
    as_tuple = b.apply(b.params, (x["a"], x["b"]))
    np.testing.assert_allclose(as_tuple[0], b.apply(b.params, x)[0])
    fn = xaicore.export(model)  # the in-process JAX road, as the truth for gradients

    def total(apply, params, x_):
        return sum(o.sum() for o in jax.tree_util.tree_leaves(apply(params, x_)))

    g = jax.jit(jax.grad(lambda x_: total(b.apply, b.params, x_)))(x)
    g_ref = jax.grad(lambda x_: total(fn.apply, fn.params, x_))(x)
    for k in ("a", "b"):
        np.testing.assert_allclose(g[k], g_ref[k], atol=1e-6)
    rows = jax.tree_util.tree_map(lambda a: a[:, None], x)
    per_row = jax.vmap(jax.grad(lambda r: total(b.apply, b.params, r)))(rows)
    np.testing.assert_allclose(per_row["a"][:, 0], g_ref["a"], atol=1e-6)
    with pytest.raises(xaicore.ExportError, match="second-order"):
        jax.hessian(lambda x_: total(b.apply, b.params, x_))(x)
    with pytest.raises(xaicore.InputError, match="takes 2 inputs"):
        b.apply(b.params, x["a"])
    with pytest.raises(xaicore.InputError, match="keys"):
        b.apply(b.params, {"a": x["a"]})


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_mixed_int_and_float_inputs() -> None:
    """Token ids evaluate but take no gradient; the float input next to them does."""
    import jax
    import numpy as np

    from xaicore.exporting._tf_bridge import export_tf_model

    tok = keras.Input((5,), dtype="int32", name="tok")
    num = keras.Input((2,), name="num")
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(10, 4)(tok))
    model = keras.Model({"tok": tok, "num": num},
                        keras.layers.Dense(1)(keras.layers.Concatenate()([h, num])))
    x = {"tok": (np.arange(15).reshape(3, 5) % 10).astype("int32"),
         "num": np.linspace(-1, 1, 6, dtype="float32").reshape(3, 2)}
    b = export_tf_model(model)
    assert b.input_dtypes == ("int32", "float32")
    np.testing.assert_allclose(b.apply(b.params, x), model.predict(x, verbose=0), atol=1e-6)

    def f(num, tok):
        return b.apply(b.params, {"tok": tok, "num": num}).sum()

    g = jax.grad(f)(x["num"], x["tok"])
    w = np.asarray(model.layers[-1].kernel)[-2:, 0]  # d out / d num = the last two weights
    np.testing.assert_allclose(g, np.broadcast_to(w, g.shape), atol=1e-6)
    per_row = jax.vmap(jax.grad(lambda n, t: f(n[None], t[None])))(x["num"], x["tok"])
    np.testing.assert_allclose(per_row, g, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_matches_predict_jit_vmap(report: dict, kind: str) -> None:
    r = report[kind]
    assert "error" not in r, r.get("error")
    assert r["backend"] == "tensorflow"
    assert r["predict"] < 1e-5, r
    assert r["jit"] < 1e-6 and r["vmap"] < 1e-6 and r["vmap_jit"] < 1e-6, r
    if "layers" in r:
        assert r["layers"] < 1e-5, r


@pytest.mark.parametrize("kind", KINDS)
def test_input_gradients(report: dict, kind: str) -> None:
    r = report[kind]
    if r.get("int_inputs_only"):
        pytest.skip("integer inputs have no gradient")
    assert r["grad_vs_tf"] < 1e-4, r            # TensorFlow's GradientTape as the truth
    assert r["grad_vs_fd"] < 2e-2, r            # float32 central differences (loose)
    assert r["vmap_of_grad"] < 1e-5 and r["grad_of_vmap"] < 1e-5, r
    assert r["jacrev"] < 1e-5, r


def test_public_export_uses_the_bridge(report: dict) -> None:
    assert report["mlp"]["xaicore_source"] == "keras-tf"
    assert report["mlp"]["xaicore_export"] < 1e-5


def test_input_names_are_the_users_or_x(report: dict) -> None:
    """Not the names Keras makes up (keras_tensor_22, input_layer_3 once reloaded)."""
    assert report["mlp"]["input_names"] == ["x"]               # Sequential, unnamed Input
    assert report["sequential_build"]["input_names"] == ["x"]  # built, no Input at all
    assert report["normalization"]["input_names"] == ["feat"]
    assert report["multi_list"]["input_names"] == ["a", "b"]


def test_param_gradients_refused(report: dict) -> None:
    assert "not supported" in report["mlp"]["param_grad"]


def test_export_is_a_copy_and_fast(report: dict) -> None:
    r = report["mlp"]
    assert r["after_fit"] < 1e-6           # fitting the Keras model later changes nothing
    assert not r["worker_imported_tensorflow"]
    assert all(report[k]["seconds"] < 30 for k in KINDS)


@pytest.mark.parametrize("kind", REFUSED)
def test_refused_with_a_clear_message(report: dict, kind: str) -> None:
    r = report[kind]
    assert r["error_type"] == "ExportError", r
    for word in r["expect"]:
        assert word in r["error"], (word, r["error"])


# ---------------------------------------------------------------------------------------
# The child process (KERAS_BACKEND=tensorflow).

def _build(kind: str):
    import keras
    import models

    if kind in models.ALL:
        return models.ALL[kind](), None
    init = keras.initializers.GlorotUniform(seed=1)
    if kind == "bilstm_ragged":  # free time axis, Bidirectional, return_sequences
        inp = keras.Input((None, 3), name="seq")
        h = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))(inp)
        h = keras.layers.GlobalMaxPooling1D()(h)
        return keras.Model(inp, keras.layers.Dense(2, kernel_initializer=init)(h)), None
    if kind == "sequential_build":  # no Input layer: built by model.build
        m = keras.Sequential([keras.layers.Dense(5, activation="softplus"),
                              keras.layers.Dense(2)])
        m.build((None, 4))
        return m, None
    if kind == "custom_layer":
        from test_tf_bridge import Scale as Importable

        inp = keras.Input((4,))
        layer = Importable()
        out = keras.layers.Dense(2, kernel_initializer=init)(layer(inp))
        layer.w.assign([0.5, 1.0, 1.5, 2.0])
        return keras.Model(inp, out), None
    if kind == "normalization":  # adapted state; the worker must not half-hide TensorFlow
        import numpy as np

        norm = keras.layers.Normalization(name="norm")
        norm.adapt(np.random.default_rng(2).normal(3.0, 2.0, size=(64, 4)).astype("float32"))
        inp = keras.Input((4,), name="feat")
        h = keras.layers.Dense(3, activation="tanh", kernel_initializer=init)(norm(inp))
        return keras.Model(inp, keras.layers.Dense(2, kernel_initializer=init)(h)), None
    if kind == "layers_cnn":
        return models.cnn(), ["conv1", "pool"]
    if kind == "layers_multi":
        return models.multi_io(), "head1"  # one name, not a list
    raise KeyError(kind)


def _refused(kind: str):
    import keras

    from xaicore.exporting._tf_bridge import export_tf_model

    inp = keras.Input((3,))
    if kind == "lambda":
        m = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0, name="double")(inp))
        expect, call = ["'double'", "Lambda", "safe_mode"], lambda: export_tf_model(m)
    elif kind == "text_vectorization":
        tv = keras.layers.TextVectorization(max_tokens=10, name="tv")
        tv.adapt(["a b c", "b c d"])
        s = keras.Input((), dtype="string")
        m = keras.Model(s, tv(s))
        expect, call = ["'tv'", "TextVectorization", "integer ids"], lambda: export_tf_model(m)
    elif kind == "main_layer":
        class Twice(keras.layers.Layer):
            def call(self, t):
                return 2.0 * t
        Twice.__module__ = "__main__"
        m = keras.Model(inp, Twice(name="twice")(inp))
        expect, call = ["'twice'", "__main__", "importable module"], lambda: export_tf_model(m)
    elif kind == "no_get_config":
        import models

        m = models.subclassed()
        expect, call = ["Residual", "get_config"], lambda: export_tf_model(m)
    elif kind == "bad_layer_name":
        m = keras.Model(inp, keras.layers.Dense(2, name="d")(inp))
        expect = ["'nope'", "'d'"]
        call = lambda: export_tf_model(m, layers=["nope"])
    else:
        m = keras.Sequential([keras.layers.Dense(2)])
        expect, call = ["never built"], lambda: export_tf_model(m)
    try:
        call()
    except Exception as e:  # noqa: BLE001 - reported in the record
        return {"error_type": type(e).__name__, "error": str(e), "expect": expect}
    return {"error_type": None, "error": "", "expect": expect}


def _check(kind: str, model, layers, b) -> dict:
    import jax
    import jax.numpy as jnp
    import models
    import numpy as np
    import tensorflow as tf

    x = (np.random.default_rng(1).normal(size=(4, 6, 3)).astype("float32")
         if kind == "bilstm_ragged" else models.inputs_for(model, n=4, seed=1))
    apply, params = b.apply, b.params
    r: dict = {"seconds": b.seconds, "worker": b.meta["worker"],
               "worker_imported_tensorflow": b.meta["worker_imported_tensorflow"],
               "backend": keras.backend.backend(), "input_names": list(b.input_names)}

    def flat(y) -> np.ndarray:
        return np.concatenate([np.asarray(v).reshape(len(v), -1)
                               for v in jax.tree_util.tree_leaves(y)], axis=1)

    def err(a, c) -> float:
        return float(np.max(np.abs(flat(a) - flat(c))))

    def outs(y):
        return y[0] if layers else y

    ref = model.predict(x, verbose=0)
    y = apply(params, x)
    r["predict"] = err(outs(y), ref)
    if layers:
        names = [layers] if isinstance(layers, str) else layers
        sub = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
        r["layers"] = err([y[1][n] for n in names], sub.predict(x, verbose=0))
    r["jit"] = err(jax.jit(apply)(params, x), y)
    rows = jax.tree_util.tree_map(lambda a: a[:, None], x)
    one = jax.vmap(apply, in_axes=(None, 0))(params, rows)
    r["vmap"] = err(jax.tree_util.tree_map(lambda a: a[:, 0], one), y)
    one = jax.jit(jax.vmap(apply, in_axes=(None, 0)))(params, rows)
    r["vmap_jit"] = err(jax.tree_util.tree_map(lambda a: a[:, 0], one), y)

    leaves = jax.tree_util.tree_leaves(x)
    if not any(np.issubdtype(a.dtype, np.floating) for a in leaves):
        r["int_inputs_only"] = True
        return r

    def total(params_, x_):
        return sum(jnp.sum(o) for o in jax.tree_util.tree_leaves(outs(apply(params_, x_))))

    g = jax.grad(total, argnums=1)(params, x)
    xt = jax.tree_util.tree_map(tf.constant, x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = model(xt, training=False)
        s = tf.add_n([tf.reduce_sum(o) for o in tf.nest.flatten(yt)])
    gt = tape.gradient(s, xt)
    r["grad_vs_tf"] = err(g, jax.tree_util.tree_map(np.asarray, gt))
    # central differences along a random direction, in float32
    rng = np.random.default_rng(0)
    d = jax.tree_util.tree_map(lambda a: rng.normal(size=a.shape).astype(a.dtype), x)
    eps = 1e-3
    shift = lambda s_: jax.tree_util.tree_map(lambda a, v: a + s_ * v, x, d)
    fd = (float(total(params, shift(eps))) - float(total(params, shift(-eps)))) / (2 * eps)
    an = float(sum(jnp.vdot(a, v) for a, v in zip(jax.tree_util.tree_leaves(g),
                                                  jax.tree_util.tree_leaves(d))))
    r["grad_vs_fd"] = abs(fd - an) / max(1.0, abs(an))
    per_row = jax.vmap(jax.grad(lambda xr: total(params, jax.tree_util.tree_map(
        lambda a: a[None], xr))))(x)
    r["vmap_of_grad"] = err(per_row, g)
    gv = jax.grad(lambda x_: sum(jnp.sum(o) for o in jax.tree_util.tree_leaves(outs(
        jax.vmap(apply, in_axes=(None, 0))(params, jax.tree_util.tree_map(
            lambda a: a[:, None], x_))))))(x)
    r["grad_of_vmap"] = err(gv, g)
    first = jax.tree_util.tree_leaves(outs(y))[0]
    jac = jax.jacrev(lambda x_: jax.tree_util.tree_leaves(outs(apply(params, x_)))[0])(x)
    # d out[n, ...] / d x[n, ...] summed over the outputs equals the grad of their sum
    # restricted to the first output: compare by summing the Jacobian over output axes.
    jsum = jax.tree_util.tree_map(lambda j: j.sum(axis=tuple(range(first.ndim))), jac)
    g0 = jax.grad(lambda x_: jnp.sum(jax.tree_util.tree_leaves(
        outs(apply(params, x_)))[0]))(x)
    r["jacrev"] = err(jsum, g0)
    if kind == "mlp":
        try:
            jax.grad(lambda tr: total((tr, params[1]), x))(params[0])
            r["param_grad"] = "allowed"
        except Exception as e:  # noqa: BLE001 - reported in the record
            r["param_grad"] = str(e)
        model.compile("adam", "mse")
        model.fit(x, np.ones((len(x), 3), "float32"), epochs=2, verbose=0)
        r["after_fit"] = err(apply(params, x), y)
        import xaicore

        fn = xaicore.export(model)  # the public entry point takes the same road
        r["xaicore_export"] = err(fn(x), model.predict(x, verbose=0))
        r["xaicore_source"] = fn.source
    return r


def main() -> None:
    import traceback
    from concurrent.futures import ThreadPoolExecutor

    from xaicore.exporting._tf_bridge import export_tf_model

    built = {kind: _build(kind) for kind in KINDS}
    # The next export (mostly a subprocess) runs while this thread checks the last one.
    with ThreadPoolExecutor(1) as pool:
        exports = {kind: pool.submit(export_tf_model, m, layers=layers)
                   for kind, (m, layers) in built.items()}
        for kind, (m, layers) in built.items():
            try:
                rec = _check(kind, m, layers, exports[kind].result())
            except Exception as e:  # noqa: BLE001 - reported, then failed by the test for this kind
                rec = {"error": f"{type(e).__name__}: {e}\n{traceback.format_exc()[-3000:]}"}
            print(json.dumps({"kind": kind, **rec}), flush=True)
    for kind in REFUSED:
        print(json.dumps({"kind": kind, **_refused(kind)}), flush=True)


if __name__ == "__main__":
    main()
