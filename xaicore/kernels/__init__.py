"""Host kernels of xaicore: coalition sampling, the constrained WLS solve, exact Shapley.

Backends ``"cpp"`` (``xaicore._core``), ``"numba"`` (compiled on first use, cached) and
``"numpy"`` (the reference) give identical masks and weights for the same arguments;
``"jax"`` is offered for the solve. Nothing is compiled at import time.

Example:
    >>> from xaicore import kernels
    >>> coal = kernels.sample_coalitions(8, 128, seed=0)
    >>> P, c = kernels.wls_operator(coal.masks, coal.weights)
    >>> P.shape, c.shape
    ((8, 128), (8,))
"""
from __future__ import annotations

from ._cubic import MAX_CUBIC_FEATURES as MAX_CUBIC_FEATURES
from ._cubic import cubic_design as cubic_design
from ._cubic import solve_cubic as solve_cubic
from ._exact import MAX_EXACT_FEATURES as MAX_EXACT_FEATURES
from ._exact import exact_operator as exact_operator
from ._sampling import BACKENDS as BACKENDS
from ._sampling import DEFAULT_SCHEME as DEFAULT_SCHEME
from ._sampling import SCHEMES as SCHEMES
from ._sampling import Coalitions as Coalitions
from ._sampling import min_budget as min_budget
from ._sampling import sample_coalitions as sample_coalitions
from ._se import standard_errors as standard_errors
from ._spectral import SpectralDesign as SpectralDesign
from ._spectral import solve_spectral as solve_spectral
from ._spectral import spectral_design as spectral_design
from ._wls import solve_wls as solve_wls
from ._wls import solve_wls_batched as solve_wls_batched
from ._wls import wls_operator as wls_operator


def solve_wls_jax(P, c, v, v0, v1):
    """On-device solve ``P (v - v0) + c (v1 - v0)`` (see :mod:`._jax`); imports jax lazily."""
    from ._jax import solve_wls_jax as _f
    return _f(P, c, v, v0, v1)


__all__ = [
    "BACKENDS",
    "DEFAULT_SCHEME",
    "MAX_CUBIC_FEATURES",
    "MAX_EXACT_FEATURES",
    "SCHEMES",
    "Coalitions",
    "SpectralDesign",
    "cubic_design",
    "exact_operator",
    "min_budget",
    "sample_coalitions",
    "solve_cubic",
    "solve_spectral",
    "solve_wls",
    "solve_wls_batched",
    "solve_wls_jax",
    "spectral_design",
    "standard_errors",
    "wls_operator",
]
