"""The Ray engine (``pip install xaicore[ray]``): a job's parts on a pool of Ray actors.

Each actor exports the model once (the ``.keras`` bytes travel through the object store,
so no shared file system is needed) and builds its explainer; it then explains the blocks
of rows the driver sends it, two in flight per actor, and returns each part's Attribution.
The driver writes the parts, so the layout and manifest are the local engine's and a job
resumes on either. An actor that dies (a killed process, a lost node) is replaced and its
parts are sent again; only when actors keep dying does the job stop.
"""
from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable
from typing import Any

from .._errors import InputError, XaicoreError
from ._file_jobs import PER_CALL_NOISE, part_seed
from ._local import todo_blocks
from ._ray_data import build_worker

IN_FLIGHT = 2                  # parts queued per actor (one computing, one waiting)


class PartWorker:
    """The actor: one exported model and explainer, many parts."""

    def __init__(self, payload: Any, method: str, background: Any, seed: int,
                 options: dict) -> None:
        self.method, self.seed = method, seed
        self.fn, self.explainer = build_worker(payload, method, background, seed, options)

    def explain(self, part: int, x: Any, target: Any) -> Any:
        if self.method in PER_CALL_NOISE:
            self.explainer.seed = part_seed(self.seed, part)
        return self.explainer.explain(x, target=target)

    def pid(self) -> int:
        return os.getpid()


def _part_saved(part: int, actors: list) -> None:
    """Called after each part is written (a hook for the fault tests)."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("--engine: ray needs Ray: pip install 'xaicore[ray]'") from None
    return ray


def _payload(model: tuple[str, Any]) -> tuple[str, Any]:
    kind, obj = model
    if kind == "file":
        return "bytes", pathlib.Path(obj).read_bytes()
    if kind == "keras":                                # a Keras model: ship its .keras file
        with tempfile.TemporaryDirectory(prefix="xaicore-") as d:
            path = pathlib.Path(d) / "model.keras"
            obj.save(path)
            return "bytes", path.read_bytes()
    return kind, obj


def _runtime_env() -> dict:
    """Actors import this xaicore: a source checkout travels as PYTHONPATH."""
    root = pathlib.Path(__file__).resolve().parents[2]      # the folder holding xaicore/
    if any(p in ("site-packages", "dist-packages") for p in root.parts):
        return {}
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    return {"env_vars": {"PYTHONPATH": path}}


def run_ray(plan: Any, todo: list[int], save: Callable[[int, Any], None],
            workers: int | None, address: str | None, gpus: float | None) -> None:
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        _run_pool(ray, plan, todo, save, workers, gpus)
    finally:
        if started:
            ray.shutdown()


def _run_pool(ray: Any, plan: Any, todo: list[int], save: Callable[[int, Any], None],
              workers: int | None, gpus: float | None) -> None:
    res = ray.cluster_resources()
    if gpus is None:
        gpus = 1.0 if res.get("GPU", 0) >= 1 else 0.0
    n = workers or max(1, int(res.get("GPU", 0) // gpus) if gpus else int(res.get("CPU", 1)))
    n = max(1, min(n, len(todo)))
    try:
        payload = ray.put(_payload(plan.model))
    except Exception as e:                             # noqa: BLE001 - any pickling failure
        raise InputError(f"model: cannot be sent to Ray actors ({type(e).__name__}: {e}); "
                         "give a .keras file or a Keras model") from None
    cls = ray.remote(PartWorker).options(num_cpus=0 if gpus else 1, num_gpus=gpus,
                                         max_restarts=0, runtime_env=_runtime_env())

    def make() -> Any:
        return cls.remote(payload, plan.method, plan.background, plan.seed, plan.options)

    actors = [make() for _ in range(n)]
    gens = [0] * n
    blocks = todo_blocks(plan, todo)
    retry: list[tuple[int, Any]] = []
    pending: dict = {}                                 # ref -> (actor, generation, part, x)
    deaths = 0

    def fill() -> None:
        for k in range(n):
            busy = sum(1 for a, g, _, _ in pending.values() if a == k and g == gens[k])
            for _ in range(IN_FLIGHT - busy):
                item = retry.pop(0) if retry else next(blocks, None)
                if item is None:
                    return
                ref = actors[k].explain.remote(item[0], item[1], plan.target)
                pending[ref] = (k, gens[k], *item)

    try:
        fill()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                k, gen, i, x = pending.pop(ref)
                try:
                    att = ray.get(ref)
                except ray.exceptions.RayActorError as e:
                    retry.append((i, x))
                    if gen == gens[k]:                 # replace a dead actor once
                        deaths += 1
                        if deaths > 2 * n + 2:
                            raise XaicoreError(f"--engine ray: {deaths} actors died; the "
                                               f"last: {e}") from None
                        gens[k] += 1
                        actors[k] = make()
                    continue
                except ray.exceptions.RayTaskError as e:
                    if isinstance(e.cause, XaicoreError):
                        raise e.cause from None
                    raise
                save(i, att)
                _part_saved(i, actors)
            fill()
    finally:
        for a in actors:
            ray.kill(a)
