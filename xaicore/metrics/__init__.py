"""Metrics of attributions: faithfulness, robustness, agreement with a reference, cost.

Every metric takes plain arguments, ``(model, X, attributions, *, target=..., options)``
(the sensitivities take an explainer instead of attributions; the agreement figures an
attribution and a reference) and returns a :class:`Score`: ``per_row`` values and their
``mean``. The model evaluations run on the device through the same chunked, jitted
programs as the methods (``max_batch`` model rows per call).

May import every part below it (methods, results, engine, exporting, kernels, base).
"""
from ._agreement import agreement as agreement
from ._agreement import cost as cost
from ._agreement import efficiency_gap as efficiency_gap
from ._agreement import max_abs_error as max_abs_error
from ._agreement import mean_abs_error as mean_abs_error
from ._agreement import relative_error as relative_error
from ._agreement import spearman as spearman
from ._agreement import top_k_overlap as top_k_overlap
from ._common import Score as Score
from ._faithfulness import deletion as deletion
from ._faithfulness import faithfulness_correlation as faithfulness_correlation
from ._faithfulness import insertion as insertion
from ._robustness import avg_sensitivity as avg_sensitivity
from ._robustness import infidelity as infidelity
from ._robustness import max_sensitivity as max_sensitivity

__all__ = ["Score", "agreement", "avg_sensitivity", "cost", "deletion", "efficiency_gap",
           "faithfulness_correlation", "infidelity", "insertion", "max_abs_error",
           "max_sensitivity", "mean_abs_error", "relative_error", "spearman",
           "top_k_overlap"]
