"""The local engine: a job's parts spread over every local JAX device.

One device: the parts run in order in the calling thread. Several: one worker thread per
device, each with its own explainer whose model parameters live on that device (and every
array it makes, under ``jax.default_device``); the calling thread reads the blocks of rows
and hands them out through a short queue, so memory stays flat. A part's result depends
only on its rows and the job's seed (its own seed for noise methods), never on the device
that computed it: the results equal a one-device run.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .._errors import InputError
from . import _file_jobs
from ._options import build_explainer


def resolve_devices(devices: Any) -> list:
    """``None``/``"all"``: every local device; an int n: the first n; or a list of them."""
    import jax

    local = jax.local_devices()
    if devices is None or devices == "all":
        return local
    if isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise InputError(f"--devices: expected 1 to {len(local)} (the local devices: "
                             f"{', '.join(str(d) for d in local)}) or 'all', got {devices}")
        return local[:devices]
    if isinstance(devices, (list, tuple)) and devices and all(
            isinstance(d, jax.Device) for d in devices):
        return list(devices)
    raise InputError(f"--devices: expected 'all', a count or a list of jax devices, "
                     f"got {devices!r}")


def todo_blocks(plan: Any, todo: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """(part, rows) of every part still to do, read block by block in order."""
    want = set(todo)
    for i, x in enumerate(plan.source.blocks(plan.chunk)):
        if i in want:
            yield i, x


def _explain(plan: Any, explainer: Any, i: int, x: np.ndarray) -> Any:
    if plan.method in _file_jobs.PER_CALL_NOISE:
        explainer.seed = _file_jobs.part_seed(plan.seed, i)
    return _file_jobs._explain_part(explainer, x, plan.target)


def run_local(plan: Any, todo: list[int], save: Callable[[int, Any], None],
              devices: list) -> None:
    if len(devices) <= 1 or len(todo) <= 1:
        for i, x in todo_blocks(plan, todo):
            save(i, _explain(plan, plan.explainer, i, x))
        return
    import jax

    devices = devices[:len(todo)]
    explainers = []
    for d in devices:
        with jax.default_device(d):
            fn = dataclasses.replace(plan.fn, params=jax.device_put(plan.fn.params, d))
            explainers.append(build_explainer(plan.method, fn, plan.background, plan.seed,
                                              plan.options, plan.progress))
    work: queue.Queue = queue.Queue(maxsize=2 * len(devices))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(d: Any, explainer: Any) -> None:
        while True:
            item = work.get()
            if item is None or errors:
                return
            i, x = item
            try:
                with jax.default_device(d):
                    att = _explain(plan, explainer, i, x)
                with lock:
                    save(i, att)
            except BaseException as e:     # noqa: BLE001 - re-raised in the calling thread
                errors.append(e)
                return

    threads = [threading.Thread(target=worker, args=(d, e), daemon=True,
                                name=f"xaicore-{d}") for d, e in zip(devices, explainers)]
    for t in threads:
        t.start()
    try:
        for item in todo_blocks(plan, todo):
            while not errors:
                try:
                    work.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if errors:
                break
    finally:
        for _ in threads:
            while any(t.is_alive() for t in threads):
                try:
                    work.put(None, timeout=0.1)
                    break
                except queue.Full:
                    continue
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
