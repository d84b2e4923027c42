"""Subprocess side of the TensorFlow bridge: a ``.keras`` file -> serialized ``jax.export``.

Run by :mod:`xaicore.exporting._tf_bridge` as a plain script (``python _tf_bridge_worker.py
REQUEST.json``) in a process whose Keras runs on the JAX backend. It imports neither
xaicore nor TensorFlow. It loads the model, builds the pure function
``fwd(trainable, non_trainable, xs) -> [outputs...]`` through
``stateless_call(..., training=False)``, exports it with a symbolic batch axis, exports
the input-gradient function ``vjp(trainable, non_trainable, xs, cts) -> d_float_xs``
the same way, and writes into the request's ``out_dir``:

- ``fwd.bin``, ``vjp.bin``: the serialized ``jax.export.Exported`` functions;
- ``params.npz``: the trainable and non-trainable variables (``t0, t1, ..., n0, ...``);
- ``spec.json``: input/output names, shapes, dtypes and the output pytree skeleton;
- ``error.json`` instead, when the model cannot be exported (with the layer at fault).

Start-up is kept lean: the weights' initializers are swapped for zeros before loading
(the saved weights overwrite them anyway, and random initializers cost an XLA compile
each), and the optional packages Keras probes at import (scikit-learn, matplotlib,
pandas, TensorFlow) are hidden from it.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback

# Run as a script, this file's folder (xaicore/) would shadow top-level modules.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]


class Refused(Exception):
    """The model cannot be exported; ``layer`` names the culprit when known."""

    def __init__(self, message: str, layer: str | None = None) -> None:
        super().__init__(message)
        self.layer = layer


def _offending_layer(tb, keras) -> str | None:
    """The innermost Keras layer on a traceback."""
    found = None
    while tb is not None:
        obj = tb.tb_frame.f_locals.get("self")
        if isinstance(obj, keras.layers.Layer) and not isinstance(obj, keras.Model):
            found = f"'{obj.name}' ({type(obj).__name__})"
        tb = tb.tb_next
    return found


def _skeleton(tree, leaves: list) -> object:
    """JSON description of a pytree of arrays: leaves become their index in ``leaves``."""
    if isinstance(tree, dict):
        return {"dict": [[str(k), _skeleton(v, leaves)] for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)):
        return {type(tree).__name__: [_skeleton(v, leaves) for v in tree]}
    leaves.append(tree)
    return len(leaves) - 1


def _input_names(tensors: list) -> list[str]:
    """As ``xaicore.exporting._keras.input_names``: the user's ``keras.Input`` names, else
    ``x`` (one input) or ``input_<i>`` instead of the names Keras makes up."""
    import re

    names = [str(getattr(t, "name", "") or "") for t in tensors]
    default = ["x"] if len(names) == 1 else [f"input_{i}" for i in range(len(names))]
    auto = re.compile(r"^(keras_tensor|input_layer)(_\d+)?$")
    return [d if not n or auto.match(n) else n for n, d in zip(names, default)]


def _dim(d) -> int | None:
    return d if isinstance(d, int) else None


def _save_arrays(path: str, arrays: dict) -> dict:
    """``np.savez`` without pickle; dtypes NumPy cannot store natively go as raw bits."""
    import numpy as np

    stored, dtypes = {}, {}
    for k, a in arrays.items():
        a = np.asarray(a)
        dtypes[k] = str(a.dtype)
        if a.dtype.kind not in "biufc":  # bfloat16, float8 ...: keep the bits
            a = a.view(f"uint{8 * a.dtype.itemsize}")
        stored[k] = a
    np.savez(path, **stored)
    return dtypes


class _HideTensorFlow:
    """Import hook: ``import tensorflow`` (and its submodules) fails as if not installed."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden from the "
                                      "JAX-backend export process)", name=name)
        return None


_HIDE_TF = _HideTensorFlow()
_OPTIONAL = ("sklearn", "matplotlib", "pandas")
_ZEROS = {"module": "keras.initializers", "class_name": "Zeros", "config": {},
          "registered_name": None}


def _zero_initializers(cfg):
    """The config with Keras' built-in initializers replaced by ``Zeros``."""
    if isinstance(cfg, list):
        return [_zero_initializers(v) for v in cfg]
    if not isinstance(cfg, dict):
        return cfg
    out = {}
    for k, v in cfg.items():
        if (k.endswith("initializer") and isinstance(v, dict)
                and str(v.get("module", "")).startswith("keras")):
            out[k] = _ZEROS
        else:
            out[k] = _zero_initializers(v)
    return out


def _without_random_init(path: str, out_dir: str) -> str:
    """A copy of the ``.keras`` file whose layers initialize their weights with zeros.

    Loading builds every layer (running its initializers) before the saved weights
    overwrite them; on the JAX backend each random initializer costs an XLA compile of
    the random number generator (~0.5 s each on CPU). Zeros cost next to nothing.
    """
    import zipfile

    copy = os.path.join(out_dir, "model-zero-init.keras")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(copy, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "config.json":
                data = json.dumps(_zero_initializers(json.loads(data))).encode()
            dst.writestr(info, data)
    return copy


def export(req: dict) -> dict:
    t0 = time.perf_counter()
    for p in req.get("sys_path", []):
        if p and os.path.abspath(p) != _HERE and p not in sys.path:
            sys.path.append(p)
    # Keras imports these only to offer optional wrappers (sklearn, plots, DataFrames):
    # hiding them while Keras imports halves the start-up; they are importable again after.
    # TensorFlow stays hidden (Keras' serialization probes it, a 2 s import) unless a
    # module of the model's custom layers needs it. Hidden by an import hook, not by a
    # ``None`` entry in sys.modules: Keras reads ``"tensorflow" in sys.modules`` as
    # "TensorFlow is loaded" (preprocessing layers such as Normalization then ask it
    # whether it runs eagerly, and fail with "This requires the tensorflow module").
    sys.meta_path.insert(0, _HIDE_TF)
    hidden = [m for m in _OPTIONAL if m not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))
    try:
        import jax
        import keras
        import numpy as np
    finally:
        for m in hidden:
            sys.modules.pop(m, None)
    keras.config.disable_traceback_filtering()  # keep the frames that name the layer
    jax.config.update("jax_traceback_filtering", "off")
    custom = {}
    for mod, qualname, name in req.get("custom_objects", []):
        try:
            try:
                obj = importlib.import_module(mod)
            except ImportError as e:
                if "tensorflow" not in str(e) or _HIDE_TF not in sys.meta_path:
                    raise
                sys.meta_path.remove(_HIDE_TF)
                obj = importlib.import_module(mod)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except Exception as e:
            raise Refused(f"the module '{mod}' that defines the custom layer class "
                          f"'{qualname}' could not be imported with the JAX backend: "
                          f"{type(e).__name__}: {e}") from e
        custom[name] = obj

    t_import = time.perf_counter()
    try:
        path = _without_random_init(req["model_path"], req["out_dir"])
        model = keras.saving.load_model(path, compile=False, safe_mode=req["safe_mode"],
                                        custom_objects=custom)
    except Exception as e:
        msg = f"{type(e).__name__}: {e}"
        if req["safe_mode"] and ("safe_mode" in msg or "Lambda" in msg):
            raise Refused("it holds a Lambda layer, whose Python code is only loaded with "
                          "safe_mode=False (pass it only if you trust the model); better, "
                          "rewrite the Lambda as a small custom layer using keras.ops") from e
        hint = ""
        if "deserialized properly" in msg or "revive" in msg:
            hint = ("a custom layer or model could not be rebuilt from its config: give it "
                    "get_config() returning its constructor arguments, accept **kwargs in "
                    "__init__ (and from_config() if it takes layers), so that the .keras "
                    "file reloads; ")
        if len(msg) > 1500:
            msg = msg[:700] + " [...] " + msg[-700:]
        raise Refused(f"{hint}the saved model could not be loaded on the JAX backend: "
                      f"{msg}") from e
    t_load = time.perf_counter()

    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict):
        names, tensors, structure = list(struct), list(struct.values()), "dict"
    else:
        tensors = list(model.inputs)
        names = _input_names(tensors)
        structure = "single" if len(tensors) == 1 else "tuple"
    for name, t in zip(names, tensors):
        if "string" in str(t.dtype):
            raise Refused(f"input '{name}' has dtype string, and strings cannot enter a JAX "
                          "function: turn the text into integer ids before the model (e.g. "
                          "with the TextVectorization layer outside it) and export the model "
                          "that takes the ids")

    layers = list(req.get("layers") or [])
    target = model
    if layers:
        known = [layer.name for layer in model.layers]
        missing = [n for n in layers if n not in known]
        if missing:
            raise Refused(f"layers: no layer named {missing[0]!r} in model '{model.name}'; "
                          f"its layers are {known}")
        acts = [model.get_layer(n).output for n in layers]
        inputs = struct if structure == "dict" else list(model.inputs)
        target = keras.Model(inputs, [list(model.outputs), acts])

    def to_model_x(xs: list):
        if structure == "single":
            return xs[0]
        return dict(zip(names, xs)) if structure == "dict" else list(xs)

    skeleton: list = []

    def fwd(trainable: list, non_trainable: list, xs: list) -> list:
        y, _ = target.stateless_call(trainable, non_trainable, to_model_x(xs), training=False)
        if layers:
            outs, acts = y
            y = (outs[0] if len(outs) == 1 else list(outs), dict(zip(layers, acts)))
        leaves: list = []
        skeleton[:] = [_skeleton(y, leaves)]
        return leaves

    # One symbolic scope: the batch axis "b" and one symbol per free (None) input axis.
    free = [f"d{i}_{j}" for i, t in enumerate(tensors)
            for j, d in enumerate(t.shape[1:]) if d is None]
    syms = jax.export.symbolic_shape(", ".join(["b", *free]))
    b, sym_of = syms[0], dict(zip(free, syms[1:]))
    x_avals = [jax.ShapeDtypeStruct(
        (b, *[sym_of[f"d{i}_{j}"] if d is None else d for j, d in enumerate(t.shape[1:])]),
        str(t.dtype)) for i, t in enumerate(tensors)]
    tr = [np.array(v.value) for v in target.trainable_variables]
    ntr = [np.array(v.value) for v in target.non_trainable_variables]
    tr_avals = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in tr]
    ntr_avals = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in ntr]
    platforms = req["platforms"]

    def traced(what: str, f):
        try:
            return f()
        except Refused:
            raise
        except Exception as e:
            where = _offending_layer(e.__traceback__, keras)
            at = f" at layer {where}" if where else ""
            hint = ("; a reloaded Lambda function sees none of the globals of the code that "
                    "defined it, and runs on JAX: rewrite it as a small custom layer using "
                    "keras.ops" if where and "(Lambda)" in where else "")
            raise Refused(f"{what}{at} failed: {type(e).__name__}: {e}{hint}", where) from e

    exp_fwd = traced("tracing the model as a JAX function", lambda: jax.export.export(
        jax.jit(fwd), platforms=platforms)(tr_avals, ntr_avals, x_avals))
    t_fwd = time.perf_counter()
    for i, o in enumerate(exp_fwd.out_avals):
        if not o.shape or str(o.shape[0]) != "b":
            raise Refused(f"output {i} has shape {o.shape}, without the batch axis first; "
                          "xaicore needs every output (and layers= activation) to keep it")

    float_in = [i for i, a in enumerate(x_avals) if np.issubdtype(a.dtype, np.inexact)]
    float_out = [i for i, o in enumerate(exp_fwd.out_avals)
                 if np.issubdtype(o.dtype, np.inexact)]
    files = {"fwd": "fwd.bin"}
    out_dir = req["out_dir"]
    if float_in and float_out:
        def vjp(trainable: list, non_trainable: list, xs: list, cts: list) -> list:
            def f(xf: list) -> list:
                full = list(xs)
                for i, a in zip(float_in, xf):
                    full[i] = a
                outs = fwd(trainable, non_trainable, full)
                return [outs[i] for i in float_out]

            _, pullback = jax.vjp(f, [xs[i] for i in float_in])
            return pullback(cts)[0]

        ct_avals = [jax.ShapeDtypeStruct(exp_fwd.out_avals[i].shape,
                                         exp_fwd.out_avals[i].dtype) for i in float_out]
        exp_vjp = traced("tracing the input gradient", lambda: jax.export.export(
            jax.jit(vjp), platforms=platforms)(tr_avals, ntr_avals, x_avals, ct_avals))
        with open(os.path.join(out_dir, "vjp.bin"), "wb") as fh:
            fh.write(exp_vjp.serialize())
        files["vjp"] = "vjp.bin"
    with open(os.path.join(out_dir, "fwd.bin"), "wb") as fh:
        fh.write(exp_fwd.serialize())
    t_vjp = time.perf_counter()
    params = {f"t{i}": a for i, a in enumerate(tr)}
    params.update({f"n{i}": a for i, a in enumerate(ntr)})
    dtypes = _save_arrays(os.path.join(out_dir, "params.npz"), params)

    out_names = [f"output_{i}" for i in range(len(model.outputs))]
    if isinstance(getattr(model, "_outputs_struct", None), dict):
        out_names = [str(k) for k in model._outputs_struct]
    if len(out_names) == 1:
        out_names = ["output"]
    n_model_out = len(model.outputs)
    spec = {
        "model_name": model.name,
        "structure": structure,
        "input_names": names,
        "input_shapes": [[_dim(d) for d in t.shape[1:]] for t in tensors],
        "input_dtypes": [str(t.dtype) for t in tensors],
        "output_names": out_names,
        "output_shapes": [[_dim(d) for d in o.shape[1:]]
                          for o in exp_fwd.out_avals[:n_model_out]],
        "output_dtypes": [str(o.dtype) for o in exp_fwd.out_avals[:n_model_out]],
        "skeleton": skeleton[0],
        "layers": layers,
        "float_in": float_in,
        "float_out": float_out,
        "n_trainable": len(tr),
        "n_non_trainable": len(ntr),
        "param_dtypes": dtypes,
        "files": files,
        "platforms": list(exp_fwd.platforms),
        "tensorflow_imported": sys.modules.get("tensorflow") is not None,
        "timings": {"import": t_import - t0, "load": t_load - t_import,
                    "export_fwd": t_fwd - t_load, "export_vjp": t_vjp - t_fwd,
                    "total": time.perf_counter() - t0},
    }
    return spec


def main(argv: list[str]) -> int:
    with open(argv[1]) as fh:
        req = json.load(fh)
    out_dir = req["out_dir"]
    try:
        spec = export(req)
    except Refused as e:
        with open(os.path.join(out_dir, "error.json"), "w") as fh:
            json.dump({"message": str(e), "layer": e.layer,
                       "traceback": traceback.format_exc()[-4000:]}, fh)
        return 3
    with open(os.path.join(out_dir, "spec.json"), "w") as fh:
        json.dump(spec, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
