"""Methods: one file per attribution method, composing the engine and the kernels.

May import: ``results``, ``engine``, ``exporting``, ``kernels`` and the base modules.
"""
from ._exact_shap import ExactShap as ExactShap
from ._expected_gradients import ExpectedGradients as ExpectedGradients
from ._gradcam import GradCAM as GradCAM
from ._gradcam import LayerIntegratedGradients as LayerIntegratedGradients
from ._gradcam import activations as activations
from ._integrated_gradients import IntegratedGradients as IntegratedGradients
from ._kernel_shap import KernelShap as KernelShap
from ._lime import Lime as Lime
from ._permutation_shap import PermutationShap as PermutationShap
from ._saliency import GradientXInput as GradientXInput
from ._saliency import Saliency as Saliency
from ._saliency import SmoothGrad as SmoothGrad
from ._saliency import VarGrad as VarGrad
from ._text import explain_text as explain_text
from ._text_gradients import TokenIntegratedGradients as TokenIntegratedGradients

__all__ = ["ExactShap", "ExpectedGradients", "GradCAM", "GradientXInput", "IntegratedGradients",
           "KernelShap", "LayerIntegratedGradients", "Lime", "PermutationShap", "Saliency",
           "SmoothGrad", "TokenIntegratedGradients", "VarGrad", "activations", "explain_text"]
