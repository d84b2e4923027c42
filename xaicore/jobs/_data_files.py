"""The rows of a job's data files (``.npy``, ``.npz``, ``.csv``), with errors that name the
file and, in a CSV, the line (1-based, as an editor counts) and the column.

CSV files are comma-separated numbers with a decimal point. A UTF-8 byte-order mark is
skipped, blank lines are skipped, cells may be quoted. The first line is a header (column
names) when ``header="yes"``, never when ``"no"``, and with ``"auto"`` (the default) when
one of its cells is text: neither a number nor empty. Column names that are all numbers
(``0,1,2``) are therefore read as a row unless ``header="yes"`` says otherwise.
"""
from __future__ import annotations

import csv
import os
import pathlib
import warnings
import zipfile
from typing import Any

import numpy as np

from .._errors import InputError, describe

HEADERS = ("auto", "yes", "no")
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def check_header(header: Any) -> str:
    if header not in HEADERS:
        raise InputError(f"--header: expected 'auto', 'yes' or 'no', got {header!r}")
    return header


def read_rows(path: str | os.PathLike, arg: str, header: str = "auto"
              ) -> tuple[np.ndarray, list[str] | None]:
    """The rows of a data file (float64 read as float32) and, for a CSV with a header,
    its column names."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise InputError(f"{arg}: no file {str(p)!r}")
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".npz", ".csv"):
        raise InputError(f"{arg}: expected a .npy, .npz or .csv file, got {p.name!r}")
    header = check_header(header)
    names = None
    try:
        if suffix == ".csv":
            a, names = _read_csv(p, arg, header)
        else:
            a = _load_numpy(p, arg, *{".npy": (_NPY_MAGIC, ".npy"),
                                      ".npz": (_ZIP_MAGIC, ".npz")}[suffix])
    except UnicodeDecodeError as e:
        raise InputError(f"{arg}: {p.name} is not UTF-8 text ({e.reason} at byte "
                         f"{e.start}); save it as UTF-8") from None
    except OSError as e:
        raise InputError(f"{arg}: could not read {str(p)!r} ({e.strerror or e})") from None
    if a.dtype.kind not in "biuf":
        raise InputError(f"{arg}: {p.name} holds dtype {a.dtype}, expected numbers "
                         "(float or int)")
    if a.ndim < 1 or a.shape[0] == 0:
        raise InputError(f"{arg}: {p.name} holds no rows (shape {a.shape})")
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    return a, names


def load_array(path: str | os.PathLike, arg: str, header: str = "auto") -> np.ndarray:
    """Rows from ``.npy``, ``.npz`` (key ``x``, else its only array) or ``.csv``."""
    return read_rows(path, arg, header)[0]


def csv_header(path: str | os.PathLike, header: str = "auto") -> list[str] | None:
    """The column names of a ``.csv`` file whose first line is a header, else None."""
    p = pathlib.Path(path)
    if p.suffix.lower() != ".csv" or header == "no":
        return None
    with open(p, newline="", encoding="utf-8-sig") as f:
        first = next((r for r in csv.reader(f) if r), None)
    if first is None:
        return None
    names = [t.strip() for t in first]
    return names if header == "yes" or any(_is_text(t) for t in names) else None


def _objects(arg: str, name: str) -> InputError:
    return InputError(f"{arg}: {name} holds Python objects (dtype=object), which only pickle "
                      "can load, and xaicore loads no pickles: save numbers, e.g. "
                      "np.save(path, x.astype('float32'))")


def _load_numpy(p: pathlib.Path, arg: str, magic: bytes, kind: str) -> np.ndarray:
    with open(p, "rb") as f:
        if f.read(len(magic)) != magic:
            raise InputError(f"{arg}: {p.name} could not be read as {kind}: it is not a "
                             f"file written by numpy.{'save' if kind == '.npy' else 'savez'}")
    try:
        if kind == ".npy":
            return np.load(p, allow_pickle=False)
        with np.load(p, allow_pickle=False) as z:
            if "x" in z.files:
                return z["x"]
            if len(z.files) == 1:
                return z[z.files[0]]
            raise InputError(f"{arg}: {p.name} holds arrays {z.files}; name the one to "
                             "explain 'x'")
    except InputError:
        raise
    except ValueError as e:
        if "bject arrays" in str(e) or "pickle" in str(e):
            raise _objects(arg, p.name) from None
        raise InputError(f"{arg}: {p.name} could not be read as {kind} ({e})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise InputError(f"{arg}: {p.name} could not be read as {kind} "
                         f"({type(e).__name__}: {e})") from None


def _is_text(cell: str) -> bool:
    """Neither a number nor empty (what makes a first line a header under ``auto``)."""
    if not cell.strip():
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


def _first_record(p: pathlib.Path, arg: str) -> tuple[list[str], int] | None:
    """The first non-blank record of a CSV and its line number; refuses other separators."""
    with open(p, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        for rec in reader:
            if rec:
                if len(rec) == 1:
                    for sep, word in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
                        if sep in rec[0]:
                            raise InputError(
                                f"{arg}: {p.name} line {reader.line_num} is separated by "
                                f"{word}: expected commas (and a decimal point); convert "
                                "the file, e.g. pandas.read_csv(path, sep=..., decimal=...)"
                                ".to_csv(new_path, index=False)")
                return rec, reader.line_num
    return None


def _read_csv(p: pathlib.Path, arg: str, header: str) -> tuple[np.ndarray, list[str] | None]:
    first = _first_record(p, arg)
    if first is None:
        raise InputError(f"{arg}: {p.name} holds no rows")
    rec, line = first
    names = None
    if header == "yes" or (header == "auto" and any(_is_text(t) for t in rec)):
        names = [t.strip() for t in rec]
    skip = line if names is not None else 0
    try:     # the fast reader; on any doubt the careful one below says where and why
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.loadtxt(p, delimiter=",", skiprows=skip, comments=None, quotechar='"',
                           encoding="utf-8-sig", ndmin=2, dtype=np.float64)
        if a.shape[0] and (names is None or a.shape[1] == len(names)) \
                and np.isfinite(a).all():
            return a, names
    except UnicodeDecodeError:
        raise
    except ValueError:
        pass
    return _read_csv_carefully(p, arg, names, header), names


def _read_csv_carefully(p: pathlib.Path, arg: str, names: list[str] | None,
                        header: str) -> np.ndarray:
    rows: list[list[float]] = []
    width = len(names) if names is not None else None
    width_line = 1
    with open(p, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        seen_header = names is None
        for rec in reader:
            if not rec:
                continue
            line = reader.line_num
            if not seen_header:
                seen_header, width_line = True, line
                continue
            if width is None:
                width, width_line = len(rec), line
            if len(rec) != width:
                raise InputError(f"{arg}: {p.name} line {line} has {len(rec)} cells, line "
                                 f"{width_line} has {width}")
            rows.append([_cell(t, arg, p.name, line, j, names, header)
                         for j, t in enumerate(rec)])
    if not rows:
        raise InputError(f"{arg}: {p.name} holds no rows")
    return np.asarray(rows, dtype=np.float64)


def _cell(text: str, arg: str, name: str, line: int, j: int, names: list[str] | None,
          header: str) -> float:
    col = f"column {j + 1}" if names is None else f"column {names[j]!r} ({j + 1})"
    where = f"{arg}: {name} line {line}, {col}"
    if not text.strip():
        raise InputError(f"{where}: empty cell; expected a number")
    try:
        v = float(text)
    except ValueError:
        hint = " (--header no)" if header == "no" and line == 1 else ""
        raise InputError(f"{where}: {text!r} is not a number{hint}") from None
    if not np.isfinite(v):
        raise InputError(f"{where}: {text!r} is not a finite number")
    return v


def check_rows(a: np.ndarray, fn: Any, arg: str, path: str | os.PathLike,
               names: list[str] | None = None) -> None:
    """Refuse rows the model cannot take, naming ``arg`` and the file (before any work)."""
    name = pathlib.Path(path).name
    if fn.structure != "single":
        raise InputError(f"model: takes {len(fn.inputs)} inputs {list(fn.input_names)}; a "
                         "data file holds one array: use the Python API for such models")
    spec = fn.inputs[0]
    if spec.shape is not None:
        fits = a.ndim == len(spec.shape) + 1 and all(
            d is None or d == g for d, g in zip(spec.shape, a.shape[1:]))
        if not fits:
            if pathlib.Path(path).suffix.lower() in (".csv", ".parquet") \
                    and len(spec.shape) == 1:
                hint = ""
                if names and names[0] == "" and a.shape[1] == spec.shape[0] + 1:
                    hint = ("; its first column has no name: an index column? write the "
                            "file with index=False")
                elif a.shape[1] == (spec.shape[0] or 0) + 1:
                    hint = "; is one of them a label or target column? drop it"
                raise InputError(f"{arg}: {name} has {a.shape[1]} columns, the model takes "
                                 f"{spec.shape[0]} (input '{spec.name}' "
                                 f"{spec.shape_str()}){hint}")
            raise InputError(f"{arg}: {name} holds {describe(a)}, the model takes "
                             f"{spec.dtype}{spec.shape_str()} (input '{spec.name}')")
    try:
        fn.validate(a, arg)
    except InputError as e:
        text = str(e)
        text = text[len(arg) + 2:] if text.startswith(f"{arg}: ") else text
        raise InputError(f"{arg}: {name}: {text}") from None
