"""Progress reporting for long calls: tqdm when asked for and installed, else silent."""
from __future__ import annotations

from typing import Any


class NoProgress:
    """A progress meter that shows nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_meter(total: int, desc: str, enabled: bool | None) -> Any:
    """A meter with ``update(n)`` and ``close()``.

    Args:
        total: Number of units (rows) to process.
        desc: Label shown beside the bar.
        enabled: ``True`` shows a bar (tqdm), ``False`` nothing, ``None`` a bar only for
            calls that run longer than two seconds, when tqdm is installed.
    """
    if enabled is False:
        return NoProgress()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if enabled:
            raise ImportError("progress=True needs tqdm: pip install 'xaicore[progress]'")
        return NoProgress()
    return tqdm(total=total, desc=desc, unit="row", leave=False,
                delay=2.0 if enabled is None else 0.0)
