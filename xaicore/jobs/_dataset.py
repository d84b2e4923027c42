"""``xaicore.explain_dataset``: one entry point for large attribution jobs (the CLI's too).

Checks everything first (method, options, target, the data file opened and every row
read once for its digest, the model exported and fitted to the data, the explainer
built) and writes nothing if one is wrong. Then, under the folder's lock, it writes the
layout of :mod:`xaicore.jobs._file_jobs` with one of two engines: ``"local"`` (parts spread
over the local JAX devices) or ``"ray"`` (a pool of Ray actors). Both write the same
parts from the same manifest, so a job started on one resumes on the other.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import InputError
from .._progress import progress_meter
from .._validate import check_bool, check_int, check_seed
from .._version import __version__
from ..results._attribution import Attribution
from ._data_files import check_header, check_rows, read_rows
from ._file_jobs import (
    FORMAT,
    _check_background,
    _check_out,
    _check_target_index,
    _file_digest,
    _finished_parts,
    _read_manifest,
    _remove_temporary,
    _target,
    _write_json,
)
from ._job_files import Job
from ._lock import JobLock
from ._options import METHODS, build_explainer, check_method, check_options
from ._streams import Source, digest_array, open_rows

ENGINES = ("local", "ray")


@dataclasses.dataclass
class Plan:
    """A checked job: what every engine needs to compute its parts."""

    method: str
    options: dict
    seed: int
    chunk: int
    target: Any
    source: Source
    fn: Any
    background: np.ndarray | None
    explainer: Any
    model: Any                     # what a Ray actor exports: a path, Keras bytes or a ModelFn
    progress: bool | None
    starts: list[int]
    sizes: list[int]


def _model_digest(fn: Any) -> str:
    import jax

    h = hashlib.sha256(repr((fn.inputs, fn.structure, fn.source)).encode())
    for leaf in jax.tree_util.tree_leaves(fn.params):
        a = np.asarray(leaf)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _load_model(model: Any) -> tuple[Any, str, Any]:
    """(ModelFn, digest, what a Ray actor exports) of a path, Keras model or ModelFn."""
    from ..exporting import export
    from ..exporting._modelfn import ModelFn

    if isinstance(model, (str, os.PathLike)):
        path = pathlib.Path(model)
        if not path.is_file():
            raise InputError(f"model: no file {str(path)!r}")
        return export(path), _file_digest(path), ("file", str(path.resolve()))
    fn = model if isinstance(model, ModelFn) else export(model)
    payload = ("modelfn", fn) if isinstance(model, ModelFn) else ("keras", model)
    return fn, _model_digest(fn), payload


def _background(background: Any, header: str, fn: Any) -> np.ndarray | None:
    if background is None:
        return None
    if isinstance(background, (str, os.PathLike)):
        bg = read_rows(background, "--background", header)[0]
        check_rows(bg, fn, "--background", background)
        return bg
    bg = np.asarray(background)
    if bg.dtype == np.float64:
        bg = bg.astype(np.float32)
    check_rows(bg, fn, "--background", "background")
    return bg


def _check_engine(engine: Any, devices: Any, workers: Any) -> None:
    if engine not in ENGINES:
        raise InputError(f"--engine: expected 'local' or 'ray', got {engine!r}")
    if workers is not None:
        check_int(workers, "--workers", 1)
        if engine != "ray":
            raise InputError("--workers: the number of Ray actors; only with --engine ray")


def explain_dataset(model: Any, data: Any, *, out: str | os.PathLike,
                    method: str = "kernelshap", background: Any = None,
                    background_rows: int | None = None, target: str | int | None = "predicted",
                    chunk: int = 1024, seed: int = 0, options: dict | None = None,
                    engine: str = "local", devices: Any = None, workers: int | None = None,
                    ray_address: str | None = None, gpus_per_worker: float | None = None,
                    columns: list[str] | None = None, header: str = "auto",
                    merge: bool = True, parquet_out: bool = False,
                    progress: bool | None = None, log: Callable | None = None) -> Job:
    """Explain every row of ``data`` into the job folder ``out``; resumable, any size.

    Args:
        model: A ``.keras`` file, a Keras model or a :class:`~xaicore.ModelFn`.
        data: A ``.npy`` (memory-mapped), ``.parquet`` (batch by batch), ``.csv`` (block by
            block) or ``.npz`` file, or an array.
        out: The job folder (new, or one holding this same job: it resumes).
        method: One of ``xaicore.jobs.METHODS`` (``"kernelshap"``, ``"saliency"``, ...).
        background: Background rows (a file or an array); ``None``: ``background_rows``
            rows of ``data`` drawn with ``seed`` (for the methods that take one).
        background_rows: Rows drawn from ``data`` (``None``: 64).
        target: ``"predicted"``, an output index, or ``"all"``/``None`` (every output).
        chunk: Rows per part (the unit of resumption and of work handed to a device).
        seed: Seed of every random choice.
        options: Further keyword arguments of the method, e.g. ``{"n_samples": 512}``.
        engine: ``"local"`` (every local JAX device) or ``"ray"`` (a pool of actors).
        devices: Local engine: ``None``/``"all"`` (every local device), a count, or a
            list of JAX devices; each takes whole parts.
        workers: Ray engine: the number of actors (``None``: one per CPU, or per GPU).
        ray_address: Ray engine: the cluster to join (``None``: the one this process is
            connected to, else a new local one).
        gpus_per_worker: Ray engine: GPUs per actor (``None``: 1 on a cluster with GPUs).
        columns: Parquet only: the feature columns (the others are carried as ids).
        header: Whether a CSV's first line names the columns: ``"auto"``, ``"yes"``, ``"no"``.
        merge: Also write all parts as one ``attribution.npz`` (holds every row in memory
            once; turn off for jobs larger than memory and read them with
            :func:`load_job`).
        parquet_out: Also write ``attribution.parquet`` (row, ids, target, base values,
            values; streamed part by part).
        progress: Progress bars (``None``: only for calls longer than 2 s).
        log: Where one-line messages go (e.g. ``print``); ``None``: silence.

    Returns:
        The finished :class:`Job` (read its parts lazily, or ``.merged()``).
    """
    say = log or (lambda *a: None)
    method = check_method(method)
    header = check_header(header)
    chunk = check_int(chunk, "--chunk", 1)
    seed = check_seed(seed, "--seed")
    merge = check_bool(merge, "merge")
    parquet_out = check_bool(parquet_out, "--parquet-out")
    _check_engine(engine, devices, workers)
    draw = _check_background(method, background, background_rows)
    t = _target(None if target is None else str(target))
    options = check_options(method, dict(options or {}))
    out = pathlib.Path(out)
    _check_out(out)
    if engine == "local":
        from ._local import resolve_devices

        devices = resolve_devices(devices)
    if isinstance(model, (str, os.PathLike)) and not pathlib.Path(model).is_file():
        raise InputError(f"model: no file {str(model)!r}")
    source = open_rows(data, "data", header, columns)
    fn, model_digest, payload = _load_model(model)
    bg = _background(background, header, fn)
    check_rows(source.head(), fn, "data", source.path, source.names)
    _check_target_index(t, target, fn.n_outputs)
    if draw is not None:
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(source.n_rows, size=min(draw, source.n_rows), replace=False))
        bg = source.take(idx)
    explainer = build_explainer(method, fn, bg, seed, options, progress)
    manifest = {"format": FORMAT, "method": method, "options": options, "seed": seed,
                "chunk": chunk, "target": None if target is None else str(target),
                "rows": source.n_rows, "model_sha256": model_digest,
                "data_sha256": source.digest(),
                "background_sha256": None if bg is None else digest_array(bg),
                "xaicore": __version__}
    if columns is not None:
        manifest["columns"] = list(columns)
    manifest = json.loads(json.dumps(manifest))        # as it reads back (tuples: lists)
    starts = list(range(0, source.n_rows, chunk))
    plan = Plan(method, options, seed, chunk, t, source, fn, bg, explainer, payload,
                progress, starts, [min(chunk, source.n_rows - s) for s in starts])
    _compare(out, manifest)                            # refuse another job before writing
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out: could not create {str(out)!r} ({e})") from None
    with JobLock(out):
        _run(plan, out, manifest, say, engine=engine, devices=devices, workers=workers,
             ray_address=ray_address, gpus=gpus_per_worker)
        job = Job(out)
        if merge:
            att = job.merged(write=True)
            say(f"{source.n_rows} rows explained with {METHODS[method][0]}: "
                f"{out / 'attribution.npz'} ({len(att.values)} rows)")
        if parquet_out:
            from ._parquet import write_results

            write_results(out / "attribution.parquet", job, source, chunk)
            say(f"results as Parquet: {out / 'attribution.parquet'}")
    return job


def _compare(out: pathlib.Path, manifest: dict) -> list[str]:
    """The keys in which the job in ``out`` differs; refuses one that finished a part."""
    old = _read_manifest(out / "manifest.json")
    if old is None:
        return []
    diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
    if diff and (any((out / "parts").glob("part-*.npz")) or (out / "attribution.npz").exists()):
        raise InputError(f"--out: {str(out)!r} holds another job (differs in {diff}); "
                         "choose a new folder or delete it")
    return diff


def _run(plan: Plan, out: pathlib.Path, manifest: dict, say: Callable, **engine: Any) -> None:
    diff = _compare(out, manifest)                     # again, now under the lock
    mpath, parts_dir = out / "manifest.json", out / "parts"
    old = _read_manifest(mpath)
    if old is not None:
        removed = _remove_temporary(out)
        if removed:
            say(f"removed {removed} temporary files left by an interrupted run")
        if diff:
            say(f"{out}: taking over a job that finished no part (it differed in {diff})")
    paths = [parts_dir / f"part-{i:05d}.npz" for i in range(len(plan.starts))]
    done = set(_finished_parts(paths, plan.sizes, say)) if old is not None else set()
    parts_dir.mkdir(parents=True, exist_ok=True)
    if old != manifest:
        _write_json(mpath, manifest)
    todo = [i for i in range(len(plan.starts)) if i not in done]
    if done:
        say(f"resuming: {len(done)} of {len(plan.starts)} parts already done")
    if not todo:
        return
    names = plan.source.names
    meter = progress_meter(sum(plan.sizes[i] for i in todo),
                           f"xaicore explain ({plan.method})", plan.progress)

    def save(i: int, att: Attribution) -> None:
        if names and att.values.ndim >= 2 and att.values.shape[1] == len(names) \
                and "feature_names" not in plan.options:   # one player per column
            att.feature_names = list(names)
        att.save(paths[i])
        meter.update(len(att.values))

    try:
        if engine["engine"] == "ray":
            from ._ray_engine import run_ray

            run_ray(plan, todo, save, engine["workers"], engine["ray_address"], engine["gpus"])
        else:
            from ._local import run_local

            run_local(plan, todo, save, engine["devices"])
    finally:
        meter.close()


def load_job(out: str | os.PathLike) -> Job:
    """The job in folder ``out``, finished or not: its parts read lazily, or merged."""
    return Job(pathlib.Path(out))


__all__ = ["ENGINES", "Plan", "explain_dataset", "load_job"]
