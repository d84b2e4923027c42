"""Export: a Keras model, a ``.keras`` file or a JAX callable -> :class:`ModelFn`.

May import: ``xaicore._errors`` / ``_validate`` / ``_progress`` only.
"""
from ._export import export as export
from ._modelfn import ModelFn as ModelFn
from ._modelfn import from_jax as from_jax
from ._specs import TensorSpec as TensorSpec

__all__ = ["ModelFn", "TensorSpec", "export", "from_jax"]
