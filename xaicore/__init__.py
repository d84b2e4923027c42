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

from . import metrics as metrics  # noqa: E402
from ._compile_cache import compile_cache as compile_cache  # noqa: E402
from ._errors import ExportError as ExportError  # noqa: E402
from ._errors import InputError as InputError  # noqa: E402
from ._errors import NonFiniteError as NonFiniteError  # noqa: E402
from ._errors import XaicoreError as XaicoreError  # noqa: E402
from ._version import __version__ as __version__  # noqa: E402
from .engine._background import kmeans as kmeans  # noqa: E402
from .engine._players import patch_groups as patch_groups  # noqa: E402
from .engine._superpixels import superpixels as superpixels  # noqa: E402
from .engine._tokens import token_groups as token_groups  # noqa: E402
from .exporting._export import export as export  # noqa: E402
from .exporting._modelfn import ModelFn as ModelFn  # noqa: E402
from .exporting._modelfn import from_jax as from_jax  # noqa: E402
from .exporting._specs import TensorSpec as TensorSpec  # noqa: E402
from .jobs._dataset import explain_dataset as explain_dataset  # noqa: E402
from .jobs._dataset import load_job as load_job  # noqa: E402
from .jobs._job_files import Job as Job  # noqa: E402
from .jobs._ray_data import ExplainBatches as ExplainBatches  # noqa: E402
from .methods._attention import attention as attention  # noqa: E402
from .methods._attention import attention_rollout as attention_rollout  # noqa: E402
from .methods._describe import describe as describe  # noqa: E402
from .methods._describe import plot_weights as plot_weights  # noqa: E402
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
from .methods._text import explain_text as explain_text  # noqa: E402
from .methods._text_gradients import TokenIntegratedGradients as TokenIntegratedGradients  # noqa: E402,E501
from .metrics._quantus import channel_first_model as channel_first_model  # noqa: E402
from .metrics._quantus import quantus_explain_func as quantus_explain_func  # noqa: E402
from .results._attribution import Attribution as Attribution  # noqa: E402
from .results._plots_layers import plot_activations as plot_activations  # noqa: E402

__all__ = ["Attribution", "ExactShap", "ExpectedGradients", "ExplainBatches", "ExportError",
           "GradCAM", "GradientXInput", "InputError", "IntegratedGradients", "Job", "KernelShap",
           "LayerIntegratedGradients", "Lime", "ModelFn", "NonFiniteError", "PermutationShap",
           "Saliency", "SmoothGrad", "TensorSpec", "TokenIntegratedGradients", "VarGrad",
           "XaicoreError", "activations", "attention", "attention_rollout", "channel_first_model",
           "compile_cache",
           "describe", "explain_dataset", "explain_text", "export", "from_jax", "kmeans",
           "load_job", "metrics", "patch_groups", "plot_activations", "plot_weights",
           "quantus_explain_func", "superpixels", "token_groups", "__version__"]
