"""xaicore: fast, exactness-checked attributions for Keras models, run as JAX programs.

Importing xaicore imports JAX but not Keras, TensorFlow, shap, matplotlib or torch; Keras
is imported on the first export of a Keras model (on the JAX backend unless the user has
already chosen another).
"""
from __future__ import annotations

import os as _os
import sys as _sys

if "keras" not in _sys.modules:
    _os.environ.setdefault("KERAS_BACKEND", "jax")

from ._attribution import Attribution as Attribution  # noqa: E402
from ._errors import ExportError as ExportError  # noqa: E402
from ._errors import InputError as InputError  # noqa: E402
from ._errors import XaicoreError as XaicoreError  # noqa: E402
from ._export import export as export  # noqa: E402
from ._modelfn import ModelFn as ModelFn  # noqa: E402
from ._modelfn import from_jax as from_jax  # noqa: E402
from ._specs import TensorSpec as TensorSpec  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Attribution", "ExportError", "InputError", "ModelFn", "TensorSpec",
           "XaicoreError", "export", "from_jax", "__version__"]
