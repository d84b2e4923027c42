"""Whether KernelShap's spectral estimate adds its optional host steps when asked
``"auto"``: the per-player (ARD) priors (:mod:`xaicore.kernels._ard`, ``ard``) and the
search for sparse interaction terms (:mod:`xaicore.kernels._sparse_step`, ``sparse``):
where their host cost is small next to the model's.

Each step costs a few ms of host time per row (:func:`xaicore.kernels._ard.ard_flops`;
:func:`xaicore.kernels._sparse_step.sparse_seconds` per row and output, as FLOPs at the
host rate :data:`HOST_FLOPS` the ARD step measured); the model's cost per row is its
forward pass's FLOPs (XLA's cost analysis of the exported function) times the model rows
of one instance (coalitions x background rows). The compiled model runs many times more
FLOPs a second than the host step (about 30x on the 2-core CPU measured, far more on an
accelerator), so a step runs where the model costs at least :data:`CPU_RATIO` (on CPU;
:data:`ACCELERATOR_RATIO` elsewhere) times the step's FLOPs: then it adds at most about a
tenth to a call's time. A deterministic rule (the same explainer always decides the same
way), decided once per explainer.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Model FLOPs per instance / ARD FLOPs per row above which the step runs on CPU.
CPU_RATIO = 300.0
#: The same on an accelerator (its FLOPs are about 100x cheaper than the host's).
ACCELERATOR_RATIO = 30000.0
#: FLOPs a second of the host steps (the ARD step's rate measured on the 2-core CPU:
#: 2.6-5 GFLOP/s, ``benchmarks/bench_ard_cost.py``), to put the sparse step's seconds
#: on the same scale.
HOST_FLOPS = 3e9


def model_flops_per_row(fn: Any, row: np.ndarray) -> float | None:
    """FLOPs of one forward row of ``fn`` (a ModelFn) by XLA's cost analysis of ``row``:
    of the lowered function, or where that cannot be analysed (a shape-polymorphic
    export, as of a model of Keras's TensorFlow backend) of the compiled one; None where
    neither tells (a host callback, no analysis)."""
    import jax

    x = np.asarray(row)[None]
    lowered = None
    for stage in ("lowered", "compiled"):
        try:
            lowered = lowered or jax.jit(fn.apply_flat).lower(fn.params, x)
            ca = (lowered if stage == "lowered" else lowered.compile()).cost_analysis()
            ca = ca[0] if isinstance(ca, (list, tuple)) else ca
            flops = float(ca.get("flops", 0.0))
        except Exception:  # noqa: BLE001, S112 - any failure: the next way, or none
            continue
        if np.isfinite(flops) and flops > 0:
            return flops
    return None


def _pays(per_row: float | None, model_rows: int, step_flops: float) -> bool:
    """True where the model's FLOPs for one instance (``model_rows`` forward rows of
    ``per_row`` FLOPs; None: unknown) are at least the ratio of this device times
    ``step_flops``."""
    if per_row is None:
        return False
    import jax

    ratio = CPU_RATIO if jax.default_backend() == "cpu" else ACCELERATOR_RATIO
    return per_row * model_rows >= ratio * step_flops


def ard_pays(per_row: Callable[[], float | None], model_rows: int, design: Any) -> bool:
    """Whether the ARD step pays for one instance of ``model_rows`` rows of ``per_row()``
    FLOPs (called only where the step applies)."""
    from ..kernels._ard import ard_applies, ard_flops

    if design is None or not ard_applies(design):
        return False
    return _pays(per_row(), model_rows, ard_flops(design))


def sparse_pays(per_row: Callable[[], float | None], model_rows: int, design: Any,
                outputs: int) -> bool:
    """Whether the sparse step (run per row and output) pays for one instance of
    ``model_rows`` rows of ``per_row()`` FLOPs with ``outputs`` outputs (all the model's:
    the bound of a call's)."""
    from ..kernels._sparse_step import sparse_applies, sparse_seconds

    if design is None or not sparse_applies(design):
        return False
    return _pays(per_row(), model_rows, HOST_FLOPS * sparse_seconds(design) * outputs)
