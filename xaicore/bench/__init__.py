"""Bench: ``xaicore bench --suite ...`` — xaicore's methods and their peers (shap, shapiq,
captum, lime) on the same functions at the same model evaluations, scored against exact
truths (enumeration, a closed-form game) and timed as a share of the raw limit.

May import: ``metrics``, ``methods``, ``results``, ``engine``, ``exporting``, ``kernels``
and the base modules.
"""
from ._ours import METHODS as METHODS
from ._peers import PEERS as PEERS
from ._run import run_bench as run_bench
from ._suites import SUITES as SUITES

__all__ = ["METHODS", "PEERS", "SUITES", "run_bench"]
