"""What a link needs of the model's outputs: ``"logit"`` takes probabilities only.

The coalition engine clips outputs into ``(0, 1)`` before the logit (so a probability of
exactly 0 or 1 stays finite); on a model that returns anything else that clip would
silently turn the attributions into nonsense, so the raw outputs are checked first.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError


def check_link_outputs(link: str, y: Any, what: str = "row") -> None:
    """Refuse outputs ``y [n, O]`` (before the link) that ``link`` cannot take.

    Args:
        link: The link's name (only ``"logit"`` restricts its outputs).
        y: Raw model outputs, one row per evaluated input.
        what: What a row of ``y`` is, for the message (``"background row"``).

    Raises:
        InputError: naming ``link``, the first output outside ``[0, 1]``, its row and
            its output column.
    """
    if link != "logit":
        return
    a = np.asarray(y)
    # NaN and inf are left to the non-finite check (NonFiniteError), which names them
    bad = np.isfinite(a) & ((a < 0) | (a > 1))
    if not bad.any():
        return
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    row, col = idx[0], (idx[1] if len(idx) > 1 else 0)
    raise InputError(f"link: 'logit' needs outputs in [0, 1] (probabilities); the model "
                     f"returned {float(a[idx]):.6g} for {what} {row}, output {col} (use "
                     "link='identity' for scores and logits)")
