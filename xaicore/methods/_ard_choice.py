"""Whether KernelShap's spectral estimate adds the per-player (ARD) priors
(:mod:`xaicore.kernels._ard`) when ``ard="auto"``: where their host cost is small next
to the model's.

The step costs a few ms of host time per row (:func:`xaicore.kernels._ard.ard_flops`);
the model's cost per row is its forward pass's FLOPs (XLA's cost analysis of the
exported function) times the model rows of one instance (coalitions x background rows).
The compiled model runs many times more FLOPs a second than the host step (about 30x on
the 2-core CPU measured, far more on an accelerator), so the step runs where the model
costs at least :data:`CPU_RATIO` (on CPU; :data:`ACCELERATOR_RATIO` elsewhere) times
the step's FLOPs: then it adds at most about a tenth to a call's time. A deterministic
rule (the same explainer always decides the same way), decided once per explainer.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: Model FLOPs per instance / ARD FLOPs per row above which the step runs on CPU.
CPU_RATIO = 300.0
#: The same on an accelerator (its FLOPs are about 100x cheaper than the host's).
ACCELERATOR_RATIO = 30000.0


def model_flops_per_row(fn: Any, row: np.ndarray) -> float | None:
    """FLOPs of one forward row of ``fn`` (a ModelFn) by XLA's cost analysis of ``row``
    (lowered, not compiled); None where it cannot tell (a host callback, no analysis)."""
    try:
        import jax

        x = np.asarray(row)[None]
        ca = jax.jit(fn.apply_flat).lower(fn.params, x).cost_analysis()
        ca = ca[0] if isinstance(ca, (list, tuple)) else ca
        flops = float(ca.get("flops", 0.0))
    except Exception:                  # noqa: BLE001 - any failure: no estimate
        return None
    return flops if np.isfinite(flops) and flops > 0 else None


def ard_pays(fn: Any, row: np.ndarray | None, model_rows: int, design: Any) -> bool:
    """True where the model's FLOPs for one instance (``model_rows`` forward rows like
    ``row``) are at least the ratio of this device times the step's FLOPs per row."""
    from ..kernels._ard import ard_applies, ard_flops

    if design is None or row is None or not ard_applies(design):
        return False
    per_row = model_flops_per_row(fn, row)
    if per_row is None:
        return False
    import jax

    ratio = CPU_RATIO if jax.default_backend() == "cpu" else ACCELERATOR_RATIO
    return per_row * model_rows >= ratio * ard_flops(design)
