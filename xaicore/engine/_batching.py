"""Fixed-shape chunking: every device call sees the same shapes, so one compile serves all."""
from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from .._errors import InputError
from .._progress import progress_meter

#: Model rows per device call when the user sets no ``max_batch`` (scaled by row size).
_TARGET_ELEMENTS = 1 << 22


#: Cap of the default for forward+backward calls: 65536-row gradient calls measured slower
#: than 4096-row ones on CPU (the backward pass keeps every activation alive).
_GRADIENT_ROWS = 4096
#: On CPU, gradient calls are sized by all the values a row's forward pass makes (the
#: backward pass keeps them alive, and XLA fuses some away): up to 2**24 of them. Measured
#: on a 2-core x86-64 (bare ``jit(grad)``, rows/s): MLP 64-256-256-10 (2644 values a row)
#: 1.1e6 at 4096 rows, 4.8e5 at 8192; MLP 30-64-64-2 (674 a row) 1.2e7 at 8192-16384,
#: 3.0e6 at 32768 (1.1e7 at 4096: the two cores share larger matrix products).
_CPU_GRADIENT_ELEMENTS = 1 << 24
_CPU_GRADIENT_MAX_ROWS = 16384


#: On CPU a device call runs fastest when its working set stays in cache: coalition calls
#: default to about 1 MB of float32 model input (256 to 8192 model rows). Measured on a
#: 2-core x86-64: a 64-feature MLP peaks at 1024-8192 rows per call (65536: -50%), a
#: 32x32x3 CNN at 64-512 (1365: -40%). Accelerators keep the larger default.
_CPU_CALL_ELEMENTS = 1 << 18
_CPU_MIN_ROWS, _CPU_MAX_ROWS = 256, 8192
#: ... and its largest intermediate value to about 8 MB: a text model's input is 32 token
#: ids a row but its Conv1D(64) makes 2048 values a row; its calls ran 1.6x faster at 1024
#: rows than at the 8192 its input size alone gave (``benchmarks/bench_text.py``).
_CPU_ACTIVATION_ELEMENTS = 1 << 21


def preferred_batch(row_elements: int, max_batch: int, activations: int | None = None
                    ) -> int:
    """``max_batch`` capped, on CPU, to the cache-friendly call size above
    (``activations``: elements of a row's largest intermediate value, where known)."""
    if jax.default_backend() != "cpu":
        return max_batch
    rows = _CPU_CALL_ELEMENTS // max(1, row_elements)
    if activations:
        rows = min(rows, _CPU_ACTIVATION_ELEMENTS // max(1, activations))
    return max(1, min(max_batch, _CPU_MAX_ROWS, max(_CPU_MIN_ROWS, rows)))


def default_max_batch(row_elements: int, *, gradient: bool = False,
                      cache_sized: bool = False, activations: int | None = None,
                      activation_total: int | None = None) -> int:
    """Model rows per device call: about 16 MB of float32 inputs, between 256 and 65536
    (4096 at most for gradient calls; on CPU, cache-sized for ``cache_sized`` callers such
    as the coalition engine, by the input and, given ``activations``, the largest
    intermediate value of a row: see :func:`xaicore.engine._inputs.row_activations`; and
    CPU gradient calls given ``activation_total``, all the values of a row, by
    :func:`gradient_rows`)."""
    rows = int(min(65536, max(256, _TARGET_ELEMENTS // max(1, row_elements))))
    if gradient and activation_total and jax.default_backend() == "cpu":
        return gradient_rows(activation_total)
    if gradient:   # on CPU cache-sized too: a 32x32x3 CNN ran 1.8x faster at 256 than 4096
        return preferred_batch(row_elements, min(rows, _GRADIENT_ROWS), activations)
    return preferred_batch(row_elements, rows, activations) if cache_sized else rows


def gradient_rows(activation_total: int) -> int:
    """CPU rows per forward+backward call for a model whose rows make ``activation_total``
    values: a power of two, their working set within :data:`_CPU_GRADIENT_ELEMENTS`,
    between 256 and :data:`_CPU_GRADIENT_MAX_ROWS` (a 32x32x3 CNN: 256, as measured
    best)."""
    rows = _CPU_GRADIENT_ELEMENTS // max(1, activation_total)
    rows = 1 << max(0, rows.bit_length() - 1)
    return int(min(_CPU_GRADIENT_MAX_ROWS, max(_CPU_MIN_ROWS, rows)))


def check_max_batch(max_batch: int | None) -> int | None:
    if max_batch is None:
        return None
    if not isinstance(max_batch, (int, np.integer)) or isinstance(max_batch, bool) \
            or max_batch < 1:
        raise InputError(f"max_batch: expected a positive int (model rows per device call), "
                         f"got {max_batch!r}")
    return int(max_batch)


def bucket(n: int) -> int:
    """The padded size of a call of ``n`` rows: a power of two, at least 16, so that calls
    of 3, 7 and 10 rows share one compilation and 64 rows a second."""
    return max(16, 1 << max(0, (n - 1).bit_length()))


def pad_rows(tree: Any, size: int) -> Any:
    """Pad every leaf's leading axis to ``size`` by repeating its last row."""
    def pad(a: np.ndarray) -> np.ndarray:
        short = size - a.shape[0]
        if short <= 0:
            return a
        return np.concatenate([a, np.repeat(a[-1:], short, axis=0)], axis=0)
    return jax.tree_util.tree_map(pad, tree)


def _writable_rows(n: int) -> Callable[[Any], np.ndarray]:
    """The first ``n`` rows of a device result as a host array the caller may write to
    (a view of the device buffer is read-only)."""
    def rows(a: Any) -> np.ndarray:
        v = np.asarray(a)[:n]
        return v if v.flags.writeable else v.copy()
    return rows


def run_chunked(step: Callable[..., Any], data: Any, chunk: int, *, shared: tuple = (),
                progress: bool | None = None, desc: str = "xaicore",
                exact_chunk: bool = False, pad: bool = True) -> Any:
    """Apply ``step(chunk_of_data, *shared)`` over the rows of ``data`` in fixed-size chunks.

    ``data`` is a pytree of arrays with a common leading axis ``n``; the last chunk is
    padded so every call has the same shapes (one compilation), and a call of fewer rows
    than ``chunk`` is padded to its :func:`bucket` (few shapes for many ``n``). Outputs (a pytree of
    arrays with a leading axis ``chunk``) are trimmed and concatenated on the host. With
    ``exact_chunk`` every call has ``chunk`` rows even when ``n`` is smaller (callers that
    round ``chunk`` to a few sizes compile once for many ``n``); ``pad=False`` hands the
    last chunk over unpadded (a ``step`` that pads itself and skips the padding).

    The host stays one call ahead of the device: the next chunk is cut and dispatched
    before the previous result is copied back, so host work overlaps device work.
    """
    leaves = jax.tree_util.tree_leaves(data)
    n = int(leaves[0].shape[0])
    chunk = max(1, chunk if exact_chunk else min(chunk, bucket(n)))
    if n <= chunk and not progress:   # one call: no slicing, no concatenation
        out = step(pad_rows(data, chunk) if pad else data, *shared)
        return jax.tree_util.tree_map(_writable_rows(n), out)
    meter = progress_meter(n, desc, progress)
    pieces: list = []
    pending: list = []

    def collect() -> None:
        rows, out = pending.pop(0)
        pieces.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[:rows], out))
        meter.update(rows)

    try:
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            part = jax.tree_util.tree_map(lambda a: a[start:stop], data)
            pending.append((stop - start, step(pad_rows(part, chunk) if pad else part,
                                               *shared)))
            if len(pending) > 1:
                collect()
        while pending:
            collect()
    finally:
        meter.close()
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs, axis=0), *pieces)
