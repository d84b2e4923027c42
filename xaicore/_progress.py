"""Progress reporting for long calls: tqdm when asked for and installed, else silent."""
from __future__ import annotations

import time
from typing import Any

#: Seconds a call runs before ``progress=None`` shows its bar.
DELAY = 2.0


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
    if enabled is None:      # no bar is made for a call that ends first (most calls): a
        return Delayed(total, desc)      # tqdm costs more than a small model's whole call
    tqdm = _tqdm()
    if tqdm is None:
        raise ImportError("progress=True needs tqdm: pip install 'xaicore[progress]'")
    return tqdm(total=total, desc=desc, unit="row", leave=False)


def _tqdm() -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class Delayed:
    """A meter that opens a tqdm bar (if installed) once the call has run :data:`DELAY`
    seconds, at the progress made so far."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self.start, self.bar = time.perf_counter(), None

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif time.perf_counter() - self.start >= DELAY and self.done < self.total:
            tqdm = _tqdm()
            if tqdm is not None:
                self.bar = tqdm(total=self.total, desc=self.desc, unit="row", leave=False,
                                initial=self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
