"""File-to-file attribution jobs (``xaicore explain``): chunked, resumable, atomic.

A job explains the rows of a data file with one method and writes, under ``out/``:

* ``manifest.json`` — what the job is (method, options, seed, chunk size, target, and
  SHA-256 digests of the model file, the data and the background), written first;
* ``parts/part-00000.npz`` … — one :class:`Attribution` per chunk of rows, each written
  atomically once computed;
* ``attribution.npz`` — all chunks merged, written atomically at the end.

Started again with the same arguments, a job skips the chunks already on disk and goes
on where it stopped (a crash, a pre-empted machine, Ctrl-C). Started with different
arguments on the same folder, it refuses instead of mixing results.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import pathlib
from typing import Any

import numpy as np

from .._errors import InputError
from .._progress import progress_meter
from .._version import __version__
from ..results._attribution import Attribution
from ..results._files import write_atomic

#: ``--method`` name -> (class name, needs a background, takes a seed)
METHODS = {
    "kernelshap": ("KernelShap", True, True),
    "permutationshap": ("PermutationShap", True, True),
    "exactshap": ("ExactShap", True, False),
    "lime": ("Lime", True, True),
    "integratedgradients": ("IntegratedGradients", False, False),
    "expectedgradients": ("ExpectedGradients", True, True),
    "saliency": ("Saliency", False, False),
    "gradientxinput": ("GradientXInput", False, False),
    "smoothgrad": ("SmoothGrad", False, True),
    "vargrad": ("VarGrad", False, True),
}
FORMAT = 1
#: Methods that draw noise per row, keyed by the row's place in the call: each part gets
#: its own seed (derived from ``seed`` and the part number), or the rows at the same place
#: in every part would share their noise.
PER_CALL_NOISE = ("expectedgradients", "smoothgrad", "vargrad")


def part_seed(seed: int, part: int) -> int:
    """The 32-bit seed of one part of a job (independent streams per part)."""
    return int(np.random.SeedSequence([seed, part]).generate_state(1)[0])


def load_array(path: str | os.PathLike, arg: str) -> np.ndarray:
    """Rows from ``.npy``, ``.npz`` (key ``x``, else its only array) or ``.csv`` (numbers,
    an optional header line)."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(f"{arg}: no file {str(p)!r}")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        a = np.load(p, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            if "x" in z.files:
                a = z["x"]
            elif len(z.files) == 1:
                a = z[z.files[0]]
            else:
                raise InputError(f"{arg}: {p.name} holds arrays {z.files}; name the one to "
                                 "explain 'x'")
    elif suffix == ".csv":
        a = np.loadtxt(p, delimiter=",", skiprows=1 if csv_header(p) else 0, ndmin=2)
    else:
        raise InputError(f"{arg}: expected a .npy, .npz or .csv file, got {p.name!r}")
    if a.ndim < 1 or a.shape[0] == 0:
        raise InputError(f"{arg}: expected at least one row, got shape {a.shape}")
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    return a


def csv_header(path: str | os.PathLike) -> list[str] | None:
    """The column names of a ``.csv`` file whose first line is not numbers, else None."""
    p = pathlib.Path(path)
    if p.suffix.lower() != ".csv":
        return None
    with open(p) as f:
        names = [t.strip().strip('"') for t in f.readline().strip().split(",")]
    try:
        [float(t) for t in names]
    except ValueError:
        return names
    return None


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` with ``value`` a Python literal (``1024``, ``0.1``, ``"riemann"``) or a
    bare word (taken as a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise InputError(f"--option: expected key=value (e.g. n_samples=1024), got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


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
        elif key in ("model_rows", "forward_rows", "seconds"):
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


def _build(method: str, fn: Any, background: np.ndarray | None, seed: int,
           options: dict) -> Any:
    from .. import methods

    cls_name, needs_bg, seeded = METHODS[method]
    cls = getattr(methods, cls_name)
    kw = dict(options)
    if seeded:
        kw.setdefault("seed", seed)
    try:
        return cls(fn, background, **kw) if needs_bg else cls(fn, **kw)
    except TypeError as e:
        raise InputError(f"--option: {cls_name} does not take these options ({e})") from None


def _explain_part(explainer: Any, x: np.ndarray, target: Any) -> Attribution:
    return explainer.explain(x, target=target)


def run_job(model: str | os.PathLike, data: str | os.PathLike, out: str | os.PathLike, *,
            method: str = "kernelshap", background: str | os.PathLike | None = None,
            background_rows: int = 64, target: str | None = "predicted", chunk: int = 1024,
            seed: int = 0, options: dict | None = None, progress: bool | None = None,
            log: Any = print) -> Attribution:
    """Explain every row of ``data`` with ``method``; see the module text for the files.

    Args:
        model: A ``.keras`` file.
        data: Rows to explain (``.npy``, ``.npz`` or ``.csv``).
        out: Output folder (created; a folder holding another job is refused).
        method: One of :data:`METHODS`.
        background: Background rows file; ``None``: ``background_rows`` rows of ``data``
            drawn with ``seed`` (methods that need one).
        target: ``"predicted"``, an output index as text, or ``"all"``/``None``.
        chunk: Rows per part file (the unit of resumption).
        seed: Seed of every random choice (background draw, method).
        options: Further keyword arguments of the method (e.g. ``{"n_samples": 2048}``).
        progress: Progress bar (``None``: only when the job runs longer than 2 s).
        log: Where the job's one-line messages go (``None`` for silence).

    Returns:
        The merged :class:`Attribution` (also in ``out/attribution.npz``).
    """
    from ..exporting import export

    say = log or (lambda *a: None)
    if method not in METHODS:
        raise InputError(f"--method: expected one of {sorted(METHODS)}, got {method!r}")
    if not isinstance(chunk, int) or chunk < 1:
        raise InputError(f"--chunk: expected a positive int, got {chunk!r}")
    model_path = pathlib.Path(model)
    if not model_path.is_file():
        raise InputError(f"model: no file {str(model_path)!r}")
    x = load_array(data, "data")
    needs_bg = METHODS[method][1]
    bg = None
    if needs_bg:
        if background is not None:
            bg = load_array(background, "--background")
        else:
            rng = np.random.default_rng(seed)
            take = min(background_rows, len(x))
            bg = x[np.sort(rng.choice(len(x), size=take, replace=False))]
    t = _target(target)
    options = dict(options or {})
    manifest = {"format": FORMAT, "method": method, "options": options, "seed": seed,
                "chunk": chunk, "target": target, "rows": len(x),
                "model_sha256": _file_digest(model_path), "data_sha256": _digest(x),
                "background_sha256": None if bg is None else _digest(bg),
                "xaicore": __version__}
    out = pathlib.Path(out)
    parts_dir = out / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    mpath = out / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text())
        diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
        if diff:
            raise InputError(f"--out: {str(out)!r} holds another job (differs in {diff}); "
                             "choose a new folder or delete it")
    else:
        _write_json(mpath, manifest)
    starts = list(range(0, len(x), chunk))
    paths = [parts_dir / f"part-{i:05d}.npz" for i in range(len(starts))]
    todo = [i for i, p in enumerate(paths) if not p.exists()]
    if len(todo) < len(starts):
        say(f"resuming: {len(starts) - len(todo)} of {len(starts)} parts already done")
    if todo:
        explainer = _build(method, export(model_path), bg, seed, options)
        meter = progress_meter(sum(min(chunk, len(x) - starts[i]) for i in todo),
                               f"xaicore explain ({method})", progress)
        try:
            for i in todo:
                part = x[starts[i]:starts[i] + chunk]
                if method in PER_CALL_NOISE:
                    explainer.seed = part_seed(seed, i)
                _explain_part(explainer, part, t).save(paths[i])
                meter.update(len(part))
        finally:
            meter.close()
    att = merge([Attribution.load(p) for p in paths])
    names = csv_header(data)
    if names and att.values.ndim >= 2 and att.values.shape[1] == len(names) \
            and "feature_names" not in options:   # one player per column: name them
        att.feature_names = names
    att.save(out / "attribution.npz")
    say(f"{len(x)} rows explained with {METHODS[method][0]}: {out / 'attribution.npz'}")
    return att
