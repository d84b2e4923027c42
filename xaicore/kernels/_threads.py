"""BLAS threads of the host solves: one, deliberately.

The host solves (the WLS operator applied to every row, bootstrap resamples, the cubic and
spectral estimates) are many small matrix products. On a machine whose cores are busy
(the device runtime's own threads, other jobs), OpenBLAS' worker threads then spin and wait
for each other: measured on 2 cores under load, the bootstrap standard errors took 1.6 s
of a 2.3 s KernelShap call with two threads and a quarter of that with one. So the solves
run with one BLAS thread (threadpoolctl, when installed; otherwise as configured).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

_CONTROLLER = None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS limited to one thread (a no-op without threadpoolctl)."""
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        yield
        return
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield
