"""Bridge: a Keras model living in a TensorFlow-backend process -> a pure JAX function.

The model is saved to a temporary ``.keras`` file and exported in a subprocess whose Keras
runs on the JAX backend (:mod:`xaicore.exporting._tf_bridge_worker`): ``jax.export`` with a symbolic
batch axis, once for the forward pass and once for the gradient w.r.t. the float inputs.
This process deserializes both and wraps them so that ``jit``, ``vmap`` and ``grad``
(w.r.t. the inputs) work: a ``custom_vjp`` whose forward and backward are
``custom_vmap`` functions folding a vmapped axis into the exported batch axis.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jax.custom_derivatives import SymbolicZero

from .._errors import ExportError, InputError
from ._keras import _all_layers, check_layer_names, layer_names

_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_tf_bridge_worker.py")

# Layers that cannot enter a JAX function, and what to do instead.
_UNSUPPORTED = {
    "TextVectorization": "string inputs cannot enter a JAX function: vectorize the text "
                         "first and export the model that takes the integer ids",
    "StringLookup": "string inputs cannot enter a JAX function: look the strings up first "
                    "and export the model that takes the integer ids",
    "IntegerLookup": "its lookup table runs only on TensorFlow: look the values up before "
                     "the model and export the rest",
    "Hashing": "hash the raw inputs before the model and export the rest",
    "TFSMLayer": "a TensorFlow SavedModel layer runs only on TensorFlow: rebuild the model "
                 "in Keras 3 layers",
}


@dataclass(frozen=True, eq=False)
class BridgeExport:
    """A TensorFlow-backend Keras model exported as a pure JAX function.

    Attributes:
        apply: ``apply(params, x) -> y``, pure JAX (jit, vmap, grad w.r.t. ``x``). ``x`` is
            an array, or a tuple/list/dict (keyed by input names) for multi-input models;
            ``y`` is shaped like the model's output; with ``layers=``, ``(y, {name: act})``.
        params: ``([trainable arrays], [non-trainable arrays])``.
        input_names, input_shapes, input_dtypes: One entry per model input; shapes have
            no batch axis, ``None`` for free axes.
        output_names, output_shapes, output_dtypes: One entry per model output (the
            ``layers=`` activations not included).
        structure: ``"single"``, ``"tuple"`` or ``"dict"``: how the model takes ``x``.
        layers: The names given as ``layers=``.
        seconds: Wall time of the export (save, subprocess, deserialize).
        meta: Worker timings, platforms, model name.
    """

    apply: Callable[..., Any]
    params: Any
    input_names: tuple[str, ...]
    input_shapes: tuple[tuple[int | None, ...], ...]
    input_dtypes: tuple[str, ...]
    output_names: tuple[str, ...]
    output_shapes: tuple[tuple[int | None, ...], ...]
    output_dtypes: tuple[str, ...]
    structure: str
    layers: tuple[str, ...]
    seconds: float
    meta: dict


def _registered_name(cls: type) -> str:
    """The name a custom class is saved under in a ``.keras`` config."""
    import keras

    return keras.saving.get_registered_name(cls)


def _precheck(model: Any, safe_mode: bool, layers: Sequence[str]
              ) -> list[tuple[str, str, str]]:
    """Refuse what cannot work before spawning anything; the custom classes to import."""
    if not getattr(model, "built", False):
        raise ExportError(f"model: '{model.name}' was never built: call it on a batch or "
                          "call model.build(input_shape) before exporting")
    check_layer_names(model, layers)
    custom = {}
    for layer in [model, *_all_layers(model)]:
        kind, mod = type(layer).__name__, type(layer).__module__
        why = _UNSUPPORTED.get(kind)
        if why:
            raise ExportError(f"model: layer '{layer.name}' ({kind}) cannot be exported to "
                              f"JAX: {why}")
        if kind == "Lambda" and safe_mode:
            raise ExportError(
                f"model: layer '{layer.name}' (Lambda) holds Python code that is only "
                "reloaded with safe_mode=False (pass it only if you trust the model, and "
                "only keras.ops inside the function can run on JAX); better, rewrite it as "
                "a small custom layer using keras.ops")
        if mod == "__main__":
            raise ExportError(
                f"model: layer '{layer.name}' ({kind}) is defined in the running script "
                "(__main__), which the JAX-backend export process cannot import: move the "
                "class into an importable module (decorated with "
                "keras.saving.register_keras_serializable) and export again")
        if mod != "keras" and not mod.startswith("keras."):  # keras_hub & co. too
            cls = type(layer)
            name = _registered_name(cls)
            custom[name] = (mod, cls.__qualname__, name)
    return sorted(custom.values())


def _run_worker(path: str, out_dir: str, *, layers: Sequence[str], safe_mode: bool,
                custom: list, timeout: float) -> dict:
    platforms = list(dict.fromkeys(["cpu", jax.export.default_export_platform()]))
    req = {"model_path": path, "out_dir": out_dir, "layers": list(layers),
           "safe_mode": safe_mode, "platforms": platforms, "custom_objects": custom,
           "sys_path": [p for p in sys.path if p]}
    req_path = os.path.join(out_dir, "request.json")
    with open(req_path, "w") as fh:
        json.dump(req, fh)
    env = dict(os.environ)
    env.update(KERAS_BACKEND="jax", KERAS_HOME=os.path.join(out_dir, "keras_home"),
               JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    try:
        proc = subprocess.run([sys.executable, _WORKER, req_path], check=False, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise ExportError(f"model: the JAX-backend export process did not finish in "
                          f"{timeout:.0f} s") from e
    err_path = os.path.join(out_dir, "error.json")
    if os.path.exists(err_path):
        with open(err_path) as fh:
            raise ExportError(f"model: cannot be exported to JAX: {json.load(fh)['message']}")
    if proc.returncode != 0 or not os.path.exists(os.path.join(out_dir, "spec.json")):
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-25:])
        raise ExportError(f"model: the JAX-backend export process failed (exit code "
                          f"{proc.returncode}):\n{tail}")
    with open(os.path.join(out_dir, "spec.json")) as fh:
        return json.load(fh)


def _load_params(path: str, spec: dict) -> tuple[list, list]:
    with np.load(path, allow_pickle=False) as z:
        def get(k: str) -> jax.Array:
            a, dtype = z[k], spec["param_dtypes"][k]
            if str(a.dtype) != dtype:  # stored as raw bits (bfloat16, float8 ...)
                a = a.view(jnp.dtype(dtype))
            return jnp.asarray(a)
        return ([get(f"t{i}") for i in range(spec["n_trainable"])],
                [get(f"n{i}") for i in range(spec["n_non_trainable"])])


def _unflatten(skel: Any, leaves: Sequence) -> Any:
    if isinstance(skel, int):
        return leaves[skel]
    (kind, items), = skel.items()
    if kind == "dict":
        return {k: _unflatten(v, leaves) for k, v in items}
    seq = [_unflatten(v, leaves) for v in items]
    return tuple(seq) if kind == "tuple" else seq


def _folding(call: Callable) -> Callable:
    """``call(trainable, non_trainable, *arrays_lists) -> list``, made vmappable.

    A vmapped axis of the arrays is folded into their (symbolic) batch axis; batched
    parameters (rare: ensembles) fall back to a sequential ``lax.map``.
    """
    @custom_vmap
    def f(tr: list, ntr: list, *rest: list) -> list:
        if jax.tree_util.tree_leaves(rest)[0].shape[0] == 0:  # symbolic sizes are >= 1
            one = jax.tree_util.tree_map(lambda a: jnp.zeros((1, *a.shape[1:]), a.dtype), rest)
            return [o[:0] for o in call(tr, ntr, *one)]
        return call(tr, ntr, *rest)

    @f.def_vmap
    def rule(axis_size: int, in_batched: list, tr: list, ntr: list, *rest: list):
        args = (tr, ntr, *rest)

        def bcast(a: jax.Array, batched: bool) -> jax.Array:
            return a if batched else jnp.broadcast_to(a, (axis_size, *a.shape))

        full = jax.tree_util.tree_map(bcast, args, tuple(in_batched))
        if any(jax.tree_util.tree_leaves(in_batched[:2])):
            out = jax.lax.map(lambda a: f(*a), full)
        else:
            n = jax.tree_util.tree_leaves(full[2:])[0].shape[1]
            folded = jax.tree_util.tree_map(
                lambda a: a.reshape((axis_size * n, *a.shape[2:])), full[2:])
            out = [o.reshape((axis_size, n, *o.shape[1:])) for o in f(tr, ntr, *folded)]
        return out, [True] * len(out)

    @jax.custom_jvp
    def g(tr: list, ntr: list, *rest: list) -> list:
        return f(tr, ntr, *rest)

    @g.defjvp
    def no_jvp(primals: tuple, tangents: tuple) -> tuple:
        # Reached by jax.jvp, jacfwd and hessian: refuse at trace time (else the custom
        # vmap rule of the jvp unfolds into ever larger batches).
        raise ExportError(
            "forward-mode and second-order derivatives (jax.jvp, jax.jacfwd, jax.hessian) "
            "of a model exported from a TensorFlow-backend process are not supported: use "
            "jax.grad, jax.vjp or jax.jacrev w.r.t. the inputs, or export the model from a "
            "JAX-backend Keras (KERAS_BACKEND=jax)")

    return g


def _make_apply(fwd_exp: Any, vjp_exp: Any, spec: dict) -> Callable:
    names, dtypes = spec["input_names"], spec["input_dtypes"]
    ranks = [len(s) for s in spec["input_shapes"]]
    float_in, float_out = spec["float_in"], spec["float_out"]
    fwd = _folding(lambda tr, ntr, xs: list(fwd_exp.call(tr, ntr, xs)))
    vjp = None if vjp_exp is None else _folding(
        lambda tr, ntr, xs, cts: list(vjp_exp.call(tr, ntr, xs, cts)))

    @jax.custom_vjp
    def call(tr: list, ntr: list, xs: list) -> list:
        return fwd(tr, ntr, xs)

    def call_fwd(tr: list, ntr: list, xs: list):
        if any(p.perturbed for p in jax.tree_util.tree_leaves((tr, ntr))):
            raise ExportError(
                "gradients w.r.t. the parameters of a model exported from a TensorFlow-"
                "backend process are not supported: take gradients w.r.t. the inputs, or "
                "export the model from a JAX-backend Keras (KERAS_BACKEND=jax)")
        tr, ntr, xs = jax.tree_util.tree_map(lambda p: p.value, (tr, ntr, xs))
        return fwd(tr, ntr, xs), (tr, ntr, xs)

    def call_bwd(res: tuple, cts: list):
        tr, ntr, xs = res
        d_xs: list = [None] * len(xs)
        if vjp is not None:
            live = [cts[i] for i in float_out]
            if not all(isinstance(c, SymbolicZero) for c in live):
                live = [jnp.zeros(c.shape, c.dtype) if isinstance(c, SymbolicZero) else c
                        for c in live]
                grads = vjp(tr, ntr, xs, live)
                for i, g in zip(float_in, grads):
                    d_xs[i] = g
        return [None] * len(tr), [None] * len(ntr), d_xs

    call.defvjp(call_fwd, call_bwd, symbolic_zeros=True)

    def as_list(x: Any) -> list:
        if isinstance(x, dict):
            missing = [n for n in names if n not in x]
            if missing or len(x) != len(names):
                raise InputError(f"x: expected a dict with keys {names}, got keys {list(x)}")
            return [x[n] for n in names]
        if isinstance(x, (list, tuple)):
            if len(x) != len(names):
                raise InputError(f"x: the model takes {len(names)} inputs {names}, got a "
                                 f"{type(x).__name__} of {len(x)}")
            return list(x)
        if len(names) != 1:
            raise InputError(f"x: the model takes {len(names)} inputs {names}: give a tuple "
                             "or a dict keyed by input name")
        return [x]

    def apply(params: Any, x: Any) -> Any:
        tr, ntr = params
        xs = []
        for name, dtype, rank, a in zip(names, dtypes, ranks, as_list(x)):
            a = jnp.asarray(a)
            if a.ndim != rank + 1:
                raise InputError(f"x: input '{name}' must have shape [batch, ...] with "
                                 f"{rank} axes after the batch axis, got shape {a.shape}")
            if a.dtype != dtype and jnp.issubdtype(dtype, jnp.integer) \
                    and not jnp.issubdtype(a.dtype, jnp.integer):
                raise InputError(f"x: input '{name}' takes integer ids ({jnp.dtype(dtype)}), "
                                 f"got {a.dtype} values")
            xs.append(a if a.dtype == dtype else a.astype(dtype))
        return _unflatten(spec["skeleton"], call(list(tr), list(ntr), xs))

    return apply


def export_tf_model(model: Any, *, layers: str | Sequence[str] | None = None,
                    safe_mode: bool = True, timeout: float = 600.0) -> BridgeExport:
    """Export a built Keras 3 model from a TensorFlow-backend process to pure JAX.

    Saves the model to a temporary ``.keras`` file and exports it in a JAX-backend
    subprocess (a few seconds). Inference mode: Dropout off, BatchNorm moving statistics.

    Args:
        model: A built Keras 3 model (the running Keras may use any backend).
        layers: Name (or names) of top-level layers whose outputs ``apply`` also
            returns, as ``(outputs, {name: activation})``.
        safe_mode: ``False`` lets Lambda layers be reloaded (only for trusted models).
        timeout: Seconds allowed to the export subprocess.

    Returns:
        A :class:`BridgeExport`; ``apply(params, x)`` equals ``model.predict(x)``.

    Raises:
        ExportError: naming the layer at fault and the way out, or with the tail of the
            subprocess' error output.
    """
    t0 = time.perf_counter()
    layers = layer_names(layers)
    custom = _precheck(model, safe_mode, layers)
    with tempfile.TemporaryDirectory(prefix="xaicore-tf-bridge-") as tmp:
        path = os.path.join(tmp, "model.keras")
        try:
            model.save(path)
        except Exception as e:
            raise ExportError(f"model: '{model.name}' could not be saved as a .keras file "
                              f"({type(e).__name__}: {e}); a subclassed model or custom "
                              "layer needs get_config(), or export it from a JAX-backend "
                              "Keras") from e
        t_save = time.perf_counter() - t0
        spec = _run_worker(path, tmp, layers=layers, safe_mode=safe_mode, custom=custom,
                           timeout=timeout)
        params = _load_params(os.path.join(tmp, "params.npz"), spec)

        def load(key: str) -> Any:
            if key not in spec["files"]:
                return None
            with open(os.path.join(tmp, spec["files"][key]), "rb") as fh:
                return jax.export.deserialize(bytearray(fh.read()))
        fwd_exp, vjp_exp = load("fwd"), load("vjp")
    apply = _make_apply(fwd_exp, vjp_exp, spec)

    def shapes(key: str) -> tuple:
        return tuple(tuple(s) for s in spec[key])

    return BridgeExport(
        apply=apply, params=params, input_names=tuple(spec["input_names"]),
        input_shapes=shapes("input_shapes"), input_dtypes=tuple(spec["input_dtypes"]),
        output_names=tuple(spec["output_names"]), output_shapes=shapes("output_shapes"),
        output_dtypes=tuple(spec["output_dtypes"]), structure=spec["structure"],
        layers=layers, seconds=time.perf_counter() - t0,
        meta={"model_name": spec["model_name"], "save_seconds": t_save,
              "worker": spec["timings"], "platforms": spec["platforms"],
              "worker_imported_tensorflow": spec["tensorflow_imported"]})
