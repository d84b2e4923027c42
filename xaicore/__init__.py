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

from ._errors import ExportError as ExportError  # noqa: E402
from ._errors import InputError as InputError  # noqa: E402
from ._errors import NonFiniteError as NonFiniteError  # noqa: E402
from ._errors import XaicoreError as XaicoreError  # noqa: E402
from ._version import __version__ as __version__  # noqa: E402
from .engine._background import kmeans as kmeans  # noqa: E402
from .engine._players import patch_groups as patch_groups  # noqa: E402
from .exporting._export import export as export  # noqa: E402
from .exporting._modelfn import ModelFn as ModelFn  # noqa: E402
from .exporting._modelfn import from_jax as from_jax  # noqa: E402
from .exporting._specs import TensorSpec as TensorSpec  # noqa: E402
from .methods._exact_shap import ExactShap as ExactShap  # noqa: E402
from .methods._expected_gradients import ExpectedGradients as ExpectedGradients  # noqa: E402
from .methods._gradcam import GradCAM as GradCAM  # noqa: E402
from .methods._gradcam import LayerIntegratedGradients as LayerIntegratedGradients  # noqa: E402
from .methods._gradcam import activations as activations  # noqa: E402
from .methods._integrated_gradients import IntegratedGradients as IntegratedGradients  # noqa: E402
from .methods._kernel_shap import KernelShap as KernelShap  # noqa: E402
from .methods._lime import Lime as Lime  # noqa: E402
from .methods._permutation_shap import PermutationShap as PermutationShap  # noqa: E402
from .methods._saliency import GradientXInput as GradientXInput  # noqa: E402
from .methods._saliency import Saliency as Saliency  # noqa: E402
from .methods._saliency import SmoothGrad as SmoothGrad  # noqa: E402
from .methods._saliency import VarGrad as VarGrad  # noqa: E402
from .jobs._dataset import explain_dataset as explain_dataset  # noqa: E402
from .jobs._dataset import load_job as load_job  # noqa: E402
from .jobs._job_files import Job as Job  # noqa: E402
from .jobs._ray_data import ExplainBatches as ExplainBatches  # noqa: E402
from .results._attribution import Attribution as Attribution  # noqa: E402

__all__ = ["Attribution", "ExactShap", "ExpectedGradients", "ExplainBatches", "ExportError",
           "GradCAM", "GradientXInput", "InputError", "IntegratedGradients", "Job", "KernelShap",
           "LayerIntegratedGradients", "Lime", "ModelFn", "NonFiniteError", "PermutationShap",
           "Saliency", "SmoothGrad", "TensorSpec", "VarGrad", "XaicoreError", "activations",
           "explain_dataset", "export", "from_jax", "kmeans", "load_job", "patch_groups",
           "__version__"]
