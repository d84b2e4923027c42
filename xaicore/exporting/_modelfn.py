"""``ModelFn``: an exported model as a pure JAX function plus its parameters and specs."""
from __future__ import annotations

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
    """

    apply: Callable[..., Any]
    params: Any
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...] = ()
    structure: str = "single"
    layers: tuple[str, ...] = ()
    source: str = "jax"
    meta: dict = field(default_factory=dict)

    def __call__(self, x: Any) -> Any:
        """Evaluate the model on a batch: ``apply(params, x)``."""
        return self.apply(self.params, x)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        """One name per column of :meth:`apply_flat`'s output."""
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


def _example_batch(specs: tuple[TensorSpec, ...], structure: str, n: int = 2) -> Any:
    """A ``jax.ShapeDtypeStruct`` batch matching the input specs (free dims set to 1)."""
    arrs = [jax.ShapeDtypeStruct((n, *[1 if d is None else d for d in s.shape]), s.dtype)
            for s in specs]
    if structure == "single":
        return arrs[0]
    if structure == "dict":
        return {s.name: a for s, a in zip(specs, arrs)}
    return tuple(arrs)


def output_specs(apply: Callable, params: Any, inputs: tuple[TensorSpec, ...],
                 structure: str, layers: tuple[str, ...] = ()) -> tuple[TensorSpec, ...]:
    """Trace ``apply`` abstractly once and describe its outputs (no FLOPs are spent)."""
    out = jax.eval_shape(apply, params, _example_batch(inputs, structure))
    if layers:
        out = out[0]
    if isinstance(out, dict):
        items = list(out.items())
    elif isinstance(out, (list, tuple)):
        items = [(f"output_{i}", o) for i, o in enumerate(out)]
    else:
        items = [("output", out)]
    return tuple(TensorSpec(str(k), tuple(int(d) for d in o.shape[1:]), str(o.dtype))
                 for k, o in items)


def from_jax(apply: Callable[..., Any], params: Any = None, *,
             input_shape: tuple[int, ...] | None = None, dtype: str = "float32",
             name: str = "x") -> ModelFn:
    """Wrap a plain JAX function so every xaicore method can use it.

    Args:
        apply: ``apply(params, x) -> y`` if ``params`` is given, else ``f(x) -> y``.
            ``y`` is ``[batch, ...]``; it must be traceable by JAX (jit/vmap/grad).
        params: Pytree passed to ``apply`` as its first argument, or ``None``.
        input_shape: Shape of one input row (without the batch axis). If given, inputs
            are validated against it and the outputs are described at once.
        dtype: Input dtype.
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
    inputs = (TensorSpec(name, shape, str(np.dtype(dtype))),)
    fn = ModelFn(apply=apply_fn, params=params, inputs=inputs, source="jax")
    if shape is not None:
        try:
            fn = fn.with_outputs(output_specs(apply_fn, params, inputs, "single"))
        except Exception as e:
            raise ExportError(f"apply: could not be traced on an input of shape "
                              f"[batch, {', '.join(map(str, shape))}]: {e}") from e
    return fn
