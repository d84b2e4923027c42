"""Engine: the only code that builds masked inputs and calls the model on them.

Coalition engine, gradient engine, batching plans, players (feature groups), background,
targets. May import: ``exporting``, ``kernels`` and the base modules.
"""
from ._background import kmeans as kmeans
from ._players import patch_groups as patch_groups
from ._superpixels import superpixels as superpixels
from ._tokens import token_groups as token_groups

__all__ = ["kmeans", "patch_groups", "superpixels", "token_groups"]
