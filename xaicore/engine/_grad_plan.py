"""How a gradient call is cut into device calls: instances per chunk, sample blocks, and
chunks looped over inside one device call (see :mod:`xaicore.engine._gradients`)."""
from __future__ import annotations

from dataclasses import dataclass

#: Chunks of ``rows`` instances one device call loops over when a call holds more rows
#: than one chunk (fewer host round trips per model row on small, fast models).
MAX_CHUNKS_PER_CALL = 16
#: Largest input row (elements) whose chunks loop inside one device call: small tabular
#: rows gain from fewer host round trips, while XLA's CPU convolutions inside the loop ran
#: at half speed (a 32x32x3 CNN: 1340 vs 2400 rows/s), so image rows get one chunk a call.
LOOP_MAX_ELEMENTS = 1024
#: Fewest instances a compiled step holds: calls of 1 to 16 rows share one compilation
#: (a notebook explaining 3, 7 and 10 rows compiles once).
MIN_ROWS = 16


@dataclass(frozen=True)
class GradPlan:
    """How one call is cut into device calls."""

    rows: int       # instances per chunk (one vmapped model application per block)
    block: int      # samples per instance in one vmapped block
    n_blocks: int   # blocks scanned inside one chunk
    chunks: int = 1  # chunks looped over inside one device call

    @property
    def model_rows(self) -> int:
        """Rows through forward + backward at once (the memory bound, <= max_batch)."""
        return self.rows * self.block


def plan(n: int, n_samples: int, max_batch: int, even: bool = False) -> GradPlan:
    """Rows and sample blocks with ``rows * block <= max_batch``.

    ``rows`` is a power of two: the largest under the cap for calls with more rows (then
    a power of two of chunks, up to :data:`MAX_CHUNKS_PER_CALL`, run in one device call,
    the padded ones skipped: a call of twice the cap does not pad to sixteen times), else the smallest holding them all but at least :data:`MIN_ROWS`. So calls
    compile few shapes (small calls share one, larger calls another), and the padded last
    chunk wastes little.
    """
    n_blocks = -(-n_samples // max_batch)
    block = -(-n_samples // n_blocks)
    block += even and block % 2   # mirrored pairs: both members in one block
    cap = max(1, max_batch // block)
    floor = 1 << (cap.bit_length() - 1)
    if n > cap:                               # full chunks of a power of two: little padding
        need = -(-n // floor)                 # chunks a call loops over: a power of two
        return GradPlan(rows=floor, block=block, n_blocks=n_blocks,
                        chunks=min(MAX_CHUNKS_PER_CALL, 1 << (need - 1).bit_length()))
    rows = min(floor if cap < MIN_ROWS else cap, max(MIN_ROWS, 1 << max(0, (n - 1).bit_length())))
    return GradPlan(rows=rows, block=block, n_blocks=n_blocks)


__all__ = ["LOOP_MAX_ELEMENTS", "MAX_CHUNKS_PER_CALL", "MIN_ROWS", "GradPlan", "plan"]
