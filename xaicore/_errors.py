"""Exception types raised at xaicore's boundary."""
from __future__ import annotations


class XaicoreError(Exception):
    """Base class of every error xaicore raises on purpose."""


class ExportError(XaicoreError, ValueError):
    """A model could not be turned into a pure JAX function (names the layer and the way out)."""


class InputError(XaicoreError, ValueError):
    """Data given to xaicore does not match what the model or the method expects."""


class NonFiniteError(XaicoreError, ValueError):
    """The model returned NaN or inf on inputs a method evaluated: attributions of such a
    model mean nothing, so every method refuses them (the message counts the non-finite
    outputs and names the first row of ``X`` they came from)."""


def describe(a: object) -> str:
    """Short description of an array-like for error messages: ``float64[3, 4]``."""
    shape = getattr(a, "shape", None)
    dtype = getattr(a, "dtype", None)
    if shape is None or dtype is None:
        return type(a).__name__
    return f"{dtype}[{', '.join(str(int(d)) for d in shape)}]"
