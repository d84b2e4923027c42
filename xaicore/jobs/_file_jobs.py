"""File-to-file attribution jobs (``xaicore explain``): chunked, resumable, atomic.

A job first checks everything it was given (method, options, target, the files, the
model's input against the data's columns, the explainer built) and writes nothing if one
is wrong. Then, under ``out/``:

* ``manifest.json`` — what the job is (method, options, seed, chunk size, target, and
  SHA-256 digests of the model file, the data and the background);
* ``parts/part-00000.npz`` … — one :class:`Attribution` per chunk of rows, each written
  atomically once computed;
* ``attribution.npz`` — all chunks merged, written atomically at the end.

Started again with the same arguments, a job skips the chunks already on disk and goes
on where it stopped (a crash, a pre-empted machine, Ctrl-C): it loads each part on disk
and computes a damaged one again, and removes the temporary files an interrupted save
left. Started with different arguments on the same folder, it refuses instead of mixing
results (a folder whose job finished no part is taken over).
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import zipfile
from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_int
from ..results._attribution import Attribution
from ..results._files import TEMPORARY_NAME, write_atomic
from ._data_files import csv_header, load_array
from ._options import (
    METHODS,
    WITH_BACKGROUND,
    parse_option,
)

__all__ = ["METHODS", "csv_header", "load_array", "merge", "parse_option", "part_seed",
           "run_job"]
FORMAT = 1
#: Background rows drawn from the data when no ``--background`` file is given.
BACKGROUND_ROWS = 64
#: Methods that draw noise per row, keyed by the row's place in the call: each part gets
#: its own seed (derived from ``seed`` and the part number), or the rows at the same place
#: in every part would share their noise.
PER_CALL_NOISE = ("expectedgradients", "smoothgrad", "vargrad")


def part_seed(seed: int, part: int) -> int:
    """The 32-bit seed of one part of a job (independent streams per part)."""
    return int(np.random.SeedSequence([seed, part]).generate_state(1)[0])


def _digest(data: bytes | np.ndarray) -> str:
    h = hashlib.sha256()
    if isinstance(data, np.ndarray):
        h.update(str((data.dtype.str, data.shape)).encode())
        h.update(np.ascontiguousarray(data).tobytes())
    else:
        h.update(data)
    return h.hexdigest()


def _file_digest(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json(path: pathlib.Path, obj: dict) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
    write_atomic(path, write)


def merge(parts: list[Attribution]) -> Attribution:
    """One :class:`Attribution` from chunks of rows explained by one explainer."""
    first = parts[0]
    rows = [len(p.values) for p in parts]
    stats: dict = {}
    for key, value in first.stats.items():
        vals = [p.stats.get(key) for p in parts]
        if isinstance(value, np.ndarray) and all(
                isinstance(v, np.ndarray) and len(v) == r for v, r in zip(vals, rows)):
            stats[key] = np.concatenate(vals, axis=0)
        elif key in ("model_rows", "forward_rows", "seconds", "host_seconds"):
            stats[key] = type(value)(sum(vals))
        elif key.startswith("max_") or key == "compiles":
            stats[key] = max(vals)
        else:
            stats[key] = value
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts], axis=0)
    return Attribution(values=cat("values"), base_values=cat("base_values"), data=cat("data"),
                       method=first.method, feature_names=first.feature_names,
                       output_names=first.output_names,
                       target=None if first.target is None else cat("target"),
                       params=first.params, stats=stats)


def _target(text: str | None) -> Any:
    if text is None or text == "all":
        return None
    if text == "predicted":
        return "predicted"
    try:
        return int(text)
    except ValueError:
        raise InputError(f"--target: expected an output index, 'predicted' or 'all', "
                         f"got {text!r}") from None


def _check_target_index(t: Any, text: str, n_outputs: int) -> None:
    if isinstance(t, int) and n_outputs and not 0 <= t < n_outputs:
        raise InputError(f"--target: expected an output index in [0, {n_outputs}), "
                         f"'predicted' or 'all', got {text!r}")


def _check_background(method: str, background: Any, background_rows: Any) -> int | None:
    """The number of background rows to draw from the data (None: none, or from a file)."""
    if method not in WITH_BACKGROUND:
        for flag, value in (("--background", background), ("--background-rows",
                                                            background_rows)):
            if value is not None:
                raise InputError(f"{flag}: {method} takes no background "
                                 f"({', '.join(WITH_BACKGROUND)} do); drop {flag}")
        return None
    if background_rows is None:
        return None if background is not None else BACKGROUND_ROWS
    rows = check_int(background_rows, "--background-rows", 1)
    if background is not None:
        raise InputError("--background-rows: draws background rows from DATA, and "
                         "--background gives them: give one of the two")
    return rows


def _check_out(out: pathlib.Path) -> None:
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise InputError(f"--out: {str(p)!r} is a file, expected a folder (a new "
                                 "one, or one holding this job)")
            return


def _explain_part(explainer: Any, x: np.ndarray, target: Any) -> Attribution:
    return explainer.explain(x, target=target)


def _read_manifest(path: pathlib.Path) -> dict | None:
    if not path.exists():
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"--out: {str(path)!r} could not be read ({e}); choose a new "
                         "folder or delete it") from None
    if not isinstance(old, dict):
        raise InputError(f"--out: {str(path)!r} is not a job's manifest; choose a new folder")
    return old


def _remove_temporary(out: pathlib.Path) -> int:
    """Remove the temporary files an interrupted save left in the job folder."""
    removed = 0
    for folder in (out, out / "parts"):
        if folder.is_dir():
            for p in folder.iterdir():
                if TEMPORARY_NAME.fullmatch(p.name) and p.is_file():
                    p.unlink()
                    removed += 1
    return removed


def _finished_parts(paths: list[pathlib.Path], sizes: list[int],
                    say: Any) -> dict[int, Attribution]:
    """The parts on disk that load whole (a damaged one is removed, to be computed again)."""
    done = {}
    for i, (path, size) in enumerate(zip(paths, sizes)):
        if not path.exists():
            continue
        try:
            att = Attribution.load(path)
            problem = None if len(att.values) == size else \
                f"{len(att.values)} rows instead of {size}"
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            att, problem = None, f"{type(e).__name__}: {e}"
        if problem is None:
            done[i] = att
        else:
            say(f"{path.name} is damaged ({problem}); computing it again")
            path.unlink()
    return done


def run_job(model: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
            method: str = "kernelshap", background: str | os.PathLike | None = None,
            background_rows: int | None = None, target: str | None = "predicted",
            chunk: int = 1024, seed: int = 0, options: dict | None = None,
            header: str = "auto", progress: bool | None = None,
            log: Any = print) -> Attribution:
    """Explain every row of ``data`` with ``method``; see the module text for the files.

    Every argument is checked (the files read, the model exported, the explainer built)
    before anything is written: a refused run leaves ``out`` as it was.

    Args:
        model: A ``.keras`` file.
        data: Rows to explain (``.npy``, ``.npz`` or ``.csv``; see
            :mod:`xaicore.jobs._data_files` for the CSV rules).
        out: Output folder (created; a folder holding another job is refused, unless that
            job finished no part).
        method: One of :data:`METHODS`.
        background: Background rows file; ``None``: ``background_rows`` rows of ``data``
            drawn with ``seed`` (methods that need one; the others refuse both).
        background_rows: Rows drawn from ``data`` (``None``: :data:`BACKGROUND_ROWS`).
        target: ``"predicted"``, an output index as text, or ``"all"``/``None``.
        chunk: Rows per part file (the unit of resumption).
        seed: Seed of every random choice (background draw, method).
        options: Further keyword arguments of the method (e.g. ``{"n_samples": 2048}``);
            those whose default is a bool take true/false, yes/no, 1/0 in any case.
        header: Whether the first line of a CSV file is a header: ``"auto"`` (when one
            of its cells is text), ``"yes"`` or ``"no"``.
        progress: Progress bars, the job's and the method's (``None``: only when a call
            runs longer than 2 s; ``False``: none).
        log: Where the job's one-line messages go (``None`` for silence).

    Returns:
        The merged :class:`Attribution` (also in ``out/attribution.npz``).
    """
    from ._dataset import explain_dataset

    return explain_dataset(model, data, out=out, method=method, background=background,
                           background_rows=background_rows, target=target, chunk=chunk,
                           seed=seed, options=options, header=header, progress=progress,
                           log=log).merged()
