"""Results: the one :class:`Attribution` type, its files and its plots.

May import: ``engine``, ``exporting``, ``kernels`` and the base modules (matplotlib only
inside the plot functions).
"""
from ._attribution import Attribution as Attribution

__all__ = ["Attribution"]
