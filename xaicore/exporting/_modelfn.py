"""``ModelFn``: an exported model as a pure JAX function plus its parameters and specs."""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ExportError
from ._specs import TensorSpec, check_inputs


@dataclass(frozen=True, eq=False)
class ModelFn:
    """A model exported once to a pure JAX function.

    ``apply(params, x)`` is pure: ``jax.jit``, ``jax.vmap`` and ``jax.grad`` (w.r.t. ``x``)
    work on it. ``params`` is a pytree of device arrays owned by this record (copied at
    export, so later ``fit``/``predict`` calls on the Keras model cannot change them).

    Attributes:
        apply: ``apply(params, x) -> y``; ``x`` is an array, or a tuple/dict of arrays for
            multi-input models; ``y`` is what the model returns (an array, list or dict).
            When exported with ``layers=``, it returns ``(y, {layer_name: activation})``.
        params: Pytree of arrays passed as the first argument of ``apply``.
        inputs: One :class:`TensorSpec` per model input.
        outputs: One :class:`TensorSpec` per model output (empty if not yet known).
        structure: ``"single"``, ``"tuple"`` or ``"dict"``: how ``x`` is given.
        layers: Names of the intermediate layers whose outputs ``apply`` also returns.
        source: Where it came from: ``"keras-jax"``, ``"keras-file"``, ``"keras-tf"``, ``"jax"``.
        apply_at: With ``layers=`` (Keras models on JAX): ``apply_at(params, x, shift)``
            returns what ``apply`` returns, with the output ``a`` of each layer named in
            the dict ``shift`` replaced by ``a + shift[name]`` for the rest of the model
            (gradients w.r.t. the shift at 0 are those w.r.t. the layer's output; other
            paths, such as skip connections, keep the values from ``x``). ``None``
            otherwise.
        head: With ``layers=``: ``head(name)`` is the model from that layer's output to
            the model's outputs, as a ``ModelFn`` of the activation (for graphs in which
            nothing after the layer reads an earlier tensor). ``None`` otherwise.
    """

    apply: Callable[..., Any]
    params: Any
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...] = ()
    structure: str = "single"
    layers: tuple[str, ...] = ()
    source: str = "jax"
    meta: dict = field(default_factory=dict)
    apply_at: Callable[..., Any] | None = None
    head: Callable[[str], "ModelFn"] | None = None
    #: What ``apply`` needs alive (the Keras model, which a shared ``apply`` only refers
    #: to weakly: see :func:`xaicore.exporting._keras.export_keras_jax`).
    owner: Any = field(default=None, repr=False)

    def __call__(self, x: Any) -> Any:
        """Evaluate the model on a batch: ``apply(params, x)``."""
        return self.apply(self.params, x)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    @functools.cached_property
    def output_names(self) -> tuple[str, ...]:
        """One name per column of :meth:`apply_flat`'s output (computed once: every
        call of every method reads it)."""
        names: list[str] = []
        for spec in self.outputs:
            size = int(np.prod(spec.shape)) if spec.shape else 1
            if len(self.outputs) == 1:
                names += [str(i) for i in range(size)]
            else:
                names += [f"{spec.name}[{i}]" for i in range(size)] if size > 1 else [spec.name]
        return tuple(names)

    def validate(self, x: Any, arg: str = "X") -> Any:
        """Check inputs against the specs (shape, dtype, finiteness); returns NumPy arrays."""
        return check_inputs(self.inputs, self.structure, x, arg)

    def apply_flat(self, params: Any, x: Any) -> jax.Array:
        """Model outputs as one ``[batch, n_outputs]`` array (outputs flattened, concatenated).

        Intermediate layers (``layers=``) are dropped. Pure JAX, like ``apply``.
        """
        y = self.apply(params, x)
        if self.layers:
            y = y[0]
        leaves = jax.tree_util.tree_leaves(y)
        flat = [jnp.reshape(leaf, (leaf.shape[0], -1)) for leaf in leaves]
        return flat[0] if len(flat) == 1 else jnp.concatenate(flat, axis=1)

    @property
    def n_outputs(self) -> int:
        return len(self.output_names)

    def with_outputs(self, outputs: tuple[TensorSpec, ...]) -> "ModelFn":
        return replace(self, outputs=outputs)


def shared_steps(fn: ModelFn, kind: str) -> dict:
    """The compiled steps of ``kind`` that every engine of this exported function shares:
    a dict kept on the ``apply`` function itself (so it lives and dies with it), one per
    kind and specs, which the steps close over besides ``apply``. Explainers of the same
    model and configuration then compile once between them; re-exports of the same Keras
    model share one ``apply``. A bound method (one function for many instances) or an
    object without attributes gets a dict of its own."""
    apply = fn.apply
    store = getattr(apply, "__dict__", None)
    if inspect.ismethod(apply) or not isinstance(store, dict):
        return {}
    key = (kind, fn.inputs, fn.outputs, fn.structure, fn.layers)
    return store.setdefault("_xaicore_steps", {}).setdefault(key, {})


def shared_jit(fn: ModelFn, name: str, make: Callable[[], Callable]) -> Callable:
    """A jitted function of ``fn`` (``make()`` the first time) shared like
    :func:`shared_steps`: e.g. the plain forward pass every explainer runs."""
    store = shared_steps(fn, "jit")
    if name not in store:
        store[name] = make()
    return store[name]


def shared_forward(fn: ModelFn) -> Callable:
    """The jitted plain forward pass ``jit(fn.apply_flat)``, shared by the model's
    engines and explainers (:func:`shared_jit`)."""
    return shared_jit(fn, "forward", lambda: jax.jit(fn.apply_flat))


def _example_batch(specs: tuple[TensorSpec, ...], structure: str, n: int = 2) -> Any:
    """A ``jax.ShapeDtypeStruct`` batch matching the input specs (free dims set to 1)."""
    arrs = [jax.ShapeDtypeStruct((n, *[1 if d is None else d for d in s.shape]), s.dtype)
            for s in specs]
    if structure == "single":
        return arrs[0]
    if structure == "dict":
        return {s.name: a for s, a in zip(specs, arrs)}
    return tuple(arrs)


_EXAMPLE_ROWS = 2


def output_specs(apply: Callable, params: Any, inputs: tuple[TensorSpec, ...],
                 structure: str, layers: tuple[str, ...] = (),
                 arg: str = "model") -> tuple[TensorSpec, ...]:
    """Trace ``apply`` abstractly once and describe its outputs (no FLOPs are spent).

    Raises:
        ExportError: naming ``arg``, when an output has no batch axis first.
    """
    out = jax.eval_shape(apply, params, _example_batch(inputs, structure, _EXAMPLE_ROWS))
    if layers:
        out = out[0]
    if isinstance(out, dict):
        items = list(out.items())
    elif isinstance(out, (list, tuple)):
        items = [(f"output_{i}", o) for i, o in enumerate(out)]
    else:
        items = [("output", out)]
    for k, o in items:
        shape = tuple(int(d) for d in getattr(o, "shape", ()))
        if not shape or shape[0] != _EXAMPLE_ROWS:
            what = "returns" if len(items) == 1 else f"returns as {k!r}"
            raise ExportError(
                f"{arg}: {what} shape {shape} on a batch of {_EXAMPLE_ROWS} rows: expected "
                "one row of outputs per input row, [n, outputs] or [n] (reduce over the "
                "feature axes only, e.g. x.sum(axis=1), never over the batch axis 0)")
    return tuple(TensorSpec(str(k), tuple(int(d) for d in o.shape[1:]), str(o.dtype))
                 for k, o in items)


def traced(fn: ModelFn, arg: str = "model") -> ModelFn:
    """``fn`` with its output specs, from one abstract trace of its ``apply``.

    Raises:
        ExportError: naming ``arg``, when JAX cannot trace the function (NumPy inside,
            Python branching on values) or an output has no batch axis.
    """
    try:
        return fn.with_outputs(output_specs(fn.apply, fn.params, fn.inputs, fn.structure,
                                            fn.layers, arg))
    except ExportError:
        raise
    except Exception as e:
        spec = fn.inputs[0]
        where = (f"{spec.dtype}{spec.shape_str()}" if len(fn.inputs) == 1
                 else ", ".join(f"{s.name}: {s.dtype}{s.shape_str()}" for s in fn.inputs))
        first = (str(e).strip().splitlines() or [""])[0]
        hint = ""
        if np.dtype(spec.dtype).kind == "f" and any(
                w in str(e) for w in ("integer", "Indexer", "indices")):
            hint = ("; a function of integer ids needs integer inputs: "
                    "xaicore.from_jax(f, dtype='int32')")
        raise ExportError(
            f"{arg}: could not be traced by JAX on {where}: {type(e).__name__}: {first} "
            "(xaicore runs it under jax.jit, vmap and grad: write it with jax.numpy "
            f"(jnp) instead of NumPy, and no Python if/float() on array values{hint})"
        ) from e


def with_data_specs(fn: ModelFn, a: np.ndarray) -> ModelFn:
    """A plain callable exported without input specs, specified by a real batch ``a``.

    The row shape is ``a``'s; the dtype stays the exported one (float32 by default),
    except that integer data for a function that traces only on integers (and was
    exported with no ``dtype``) give it their integer dtype.

    Raises:
        ExportError: as :func:`traced`, from the trace on the exported dtype.
    """
    spec = fn.inputs[0]
    shape = tuple(int(d) for d in a.shape[1:])

    def on(dtype: str) -> ModelFn:
        return replace(fn, inputs=(TensorSpec(spec.name, shape, dtype),), outputs=(),
                       meta={k: v for k, v in fn.meta.items() if k != "dtype_from_data"})

    try:
        return traced(on(spec.dtype))
    except ExportError as e:
        if not (fn.meta.get("dtype_from_data") and a.dtype.kind in "iu"):
            raise
        first = e
    try:
        return traced(on(str(jax.dtypes.canonicalize_dtype(a.dtype))))
    except ExportError:
        raise first from first.__cause__


def from_jax(apply: Callable[..., Any], params: Any = None, *,
             input_shape: tuple[int, ...] | None = None, dtype: str | None = None,
             name: str = "x") -> ModelFn:
    """Wrap a plain JAX function so every xaicore method can use it.

    Args:
        apply: ``apply(params, x) -> y`` if ``params`` is given, else ``f(x) -> y``.
            ``y`` is ``[batch, ...]``; it must be traceable by JAX (jit/vmap/grad).
        params: Pytree passed to ``apply`` as its first argument, or ``None``.
        input_shape: Shape of one input row (without the batch axis). If given, inputs
            are validated against it and the outputs are described at once.
        dtype: Input dtype. ``None`` (the default) means float32, except for a function
            given without ``input_shape`` that JAX can only trace on integers (an id
            lookup such as ``jnp.take(table, x, axis=0)``): when the first data a method
            is given are integers, it then takes their dtype (int32 unless x64 is on).
        name: Input name used in messages.

    Example:
        >>> import jax.numpy as jnp, xaicore
        >>> fn = xaicore.from_jax(lambda x: jnp.tanh(x).sum(axis=1, keepdims=True),
        ...                       input_shape=(3,))
        >>> fn(jnp.ones((2, 3))).shape
        (2, 1)
    """
    if not callable(apply):
        raise ExportError(f"apply: expected a callable f(x) or apply(params, x), "
                          f"got {type(apply).__name__}")
    if params is None:
        f = apply

        def apply_fn(_params: Any, x: Any) -> Any:
            return f(x)
        params = ()
    else:
        apply_fn = apply
        params = jax.tree_util.tree_map(jnp.asarray, params)
    shape = None if input_shape is None else tuple(int(d) for d in input_shape)
    try:
        dt = str(np.dtype("float32" if dtype is None else dtype))
    except TypeError:
        raise ExportError(f"dtype: expected a NumPy dtype name such as 'float32' or "
                          f"'int32', got {dtype!r:.60}") from None
    inputs = (TensorSpec(name, shape, dt),)
    fn = ModelFn(apply=apply_fn, params=params, inputs=inputs, source="jax",
                 meta={"dtype_from_data": dtype is None and shape is None})
    if shape is not None:
        fn = traced(fn, "apply")
    return fn
