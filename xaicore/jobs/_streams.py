"""Rows of a data file read in blocks, never the whole file: ``.npy`` by memory map, ``.csv``
block by block (every cell checked on a first pass, with the errors of
:mod:`xaicore.jobs._data_files`), ``.parquet`` by row batch (:mod:`xaicore.jobs._parquet`).
``.npz`` files are compressed zips that cannot be mapped: they are read whole (save the
array with ``numpy.save`` to stream it).

A source knows its number of rows and row shape up front, and yields its rows as blocks
of a given size (:meth:`Source.blocks`); its digest is computed block by block too.
"""
from __future__ import annotations

import csv
import hashlib
import os
import pathlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._errors import InputError
from ._data_files import (
    _NPY_MAGIC,
    _ZIP_MAGIC,
    _cell,
    _first_record,
    _is_text,
    _load_numpy,
    _objects,
    check_header,
)

#: Rows per block of a source's own passes (digest, CSV check, background draw).
SCAN_ROWS = 1 << 16
SUFFIXES = (".npy", ".npz", ".csv", ".parquet")


def as_rows(a: np.ndarray) -> np.ndarray:
    """Rows as a job explains them: float64 read as float32, C order."""
    return np.ascontiguousarray(a, dtype=np.float32 if a.dtype == np.float64 else a.dtype)


class Digest:
    """SHA-256 of an array fed block by block (rows, then dtype and shape)."""

    def __init__(self) -> None:
        self._h, self._rows, self._dtype, self._shape = hashlib.sha256(), 0, None, None

    def update(self, block: np.ndarray) -> None:
        self._h.update(np.ascontiguousarray(block).tobytes())
        self._rows += len(block)
        self._dtype, self._shape = block.dtype.str, block.shape[1:]

    def hexdigest(self) -> str:
        h = self._h.copy()
        h.update(str((self._dtype, (self._rows, *(self._shape or ())))).encode())
        return h.hexdigest()


def digest_array(a: np.ndarray) -> str:
    d = Digest()
    for s in range(0, len(a), SCAN_ROWS):
        d.update(as_rows(a[s:s + SCAN_ROWS]))
    return d.hexdigest()


class Source:
    """Rows of one file: ``n_rows``, ``row_shape``, ``dtype``, ``names`` (column names or
    None) and ``id_names`` (columns carried through, not explained)."""

    path: pathlib.Path
    arg: str
    n_rows: int
    row_shape: tuple[int, ...]
    dtype: np.dtype
    names: list[str] | None = None
    id_names: tuple[str, ...] = ()
    _digest: str | None = None

    def blocks(self, size: int) -> Iterator[np.ndarray]:   # pragma: no cover - abstract
        raise NotImplementedError

    def id_blocks(self, size: int) -> Iterator[dict[str, np.ndarray]]:
        for s in range(0, self.n_rows, size):
            yield {}

    def head(self, n: int = 8) -> np.ndarray:
        return next(iter(self.blocks(n)))

    def digest(self) -> str:
        if self._digest is None:
            d = Digest()
            for b in self.blocks(SCAN_ROWS):
                d.update(b)
            self._digest = d.hexdigest()
        return self._digest

    def take(self, index: np.ndarray) -> np.ndarray:
        """The rows at sorted ``index`` (one pass, block by block)."""
        out, start = [], 0
        for b in self.blocks(SCAN_ROWS):
            sel = index[(index >= start) & (index < start + len(b))] - start
            if len(sel):
                out.append(b[sel])
            start += len(b)
        return np.concatenate(out, axis=0)


class ArraySource(Source):
    """An array in memory or memory-mapped (``.npy``, ``.npz``, or one given by the user)."""

    def __init__(self, a: np.ndarray, path: pathlib.Path | None, arg: str) -> None:
        if a.dtype.kind not in "biuf":
            name = path.name if path else "the array"
            raise InputError(f"{arg}: {name} holds dtype {a.dtype}, expected numbers "
                             "(float or int)")
        if a.ndim < 1 or a.shape[0] == 0:
            name = path.name if path else "the array"
            raise InputError(f"{arg}: {name} holds no rows (shape {a.shape})")
        self.a, self.path, self.arg = a, path or pathlib.Path("array"), arg
        self.n_rows, self.row_shape = int(a.shape[0]), tuple(int(d) for d in a.shape[1:])
        self.dtype = np.dtype(np.float32) if a.dtype == np.float64 else a.dtype

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        for s in range(0, self.n_rows, size):
            yield as_rows(self.a[s:s + size])

    def take(self, index: np.ndarray) -> np.ndarray:
        return as_rows(self.a[index])


def _npy(p: pathlib.Path, arg: str) -> np.ndarray:
    with open(p, "rb") as f:
        if f.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise InputError(f"{arg}: {p.name} could not be read as .npy: it is not a file "
                             "written by numpy.save")
    try:
        return np.load(p, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        if "bject" in str(e) or "pickle" in str(e):
            raise _objects(arg, p.name) from None
        raise InputError(f"{arg}: {p.name} could not be read as .npy ({e})") from None
    except (OSError, EOFError) as e:
        raise InputError(f"{arg}: {p.name} could not be read as .npy "
                         f"({type(e).__name__}: {e})") from None


class CsvSource(Source):
    """A CSV file of numbers, read in blocks of lines; every cell is checked on open."""

    def __init__(self, p: pathlib.Path, arg: str, header: str) -> None:
        self.path, self.arg = p, arg
        first = _first_record(p, arg)
        if first is None:
            raise InputError(f"{arg}: {p.name} holds no rows")
        rec, line = first
        if header == "yes" or (header == "auto" and any(_is_text(t) for t in rec)):
            self.names = [t.strip() for t in rec]
        self._skip = line if self.names is not None else 0
        self._header = header
        self._width = len(self.names) if self.names is not None else None
        self._width_line = line
        d, n = Digest(), 0
        for b in self.blocks(SCAN_ROWS):
            d.update(b)
            n += len(b)
        if n == 0:
            raise InputError(f"{arg}: {p.name} holds no rows")
        self.n_rows, self.row_shape, self.dtype = n, (self._width,), np.dtype(np.float32)
        self._digest = d.hexdigest()

    def _lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text) of every non-blank line below the header."""
        pos = 0
        with open(self.path, "rb") as f:
            for no, raw in enumerate(f, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise InputError(f"{self.arg}: {self.path.name} is not UTF-8 text "
                                     f"({e.reason} at byte {pos + e.start}); save it as "
                                     "UTF-8") from None
                pos += len(raw)
                if no == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                if no > self._skip and text.strip():
                    yield no, text

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        buf: list[tuple[int, str]] = []
        for item in self._lines():
            buf.append(item)
            if len(buf) == size:
                yield self._parse(buf)
                buf = []
        if buf:
            yield self._parse(buf)

    def _parse(self, lines: list[tuple[int, str]]) -> np.ndarray:
        if self._width is None:
            self._width = len(next(csv.reader([lines[0][1]])))
            self._width_line = lines[0][0]
        try:     # the fast reader; on any doubt the careful one below says where and why
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                a = np.loadtxt([t for _, t in lines], delimiter=",", comments=None,
                               quotechar='"', ndmin=2, dtype=np.float64)
            if a.shape == (len(lines), self._width) and np.isfinite(a).all():
                return a.astype(np.float32)
        except ValueError:
            pass
        rows = []
        for line, text in lines:
            rec = next(csv.reader([text]))
            if len(rec) != self._width:
                raise InputError(f"{self.arg}: {self.path.name} line {line} has {len(rec)} "
                                 f"cells, line {self._width_line} has {self._width}")
            rows.append([_cell(t, self.arg, self.path.name, line, j, self.names,
                               self._header) for j, t in enumerate(rec)])
        return np.asarray(rows, dtype=np.float64).astype(np.float32)


def open_rows(data: Any, arg: str = "data", header: str = "auto",
              columns: list[str] | None = None) -> Source:
    """A :class:`Source` over ``data``: a ``.npy``/``.npz``/``.csv``/``.parquet`` path or an
    array. Refuses a missing, unreadable or non-numeric file naming ``arg`` and the file."""
    header = check_header(header)
    if not isinstance(data, (str, os.PathLike)):
        if columns is not None:
            raise InputError("columns: selects columns of a .parquet file; data is an array")
        try:
            a = np.asarray(data)
        except (TypeError, ValueError) as e:
            raise InputError(f"{arg}: expected a file path or an array, got "
                             f"{type(data).__name__} ({e})") from None
        return ArraySource(a, None, arg)
    p = pathlib.Path(data)
    if not p.is_file():
        raise InputError(f"{arg}: no file {str(p)!r}")
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{arg}: expected a .npy, .npz, .csv or .parquet file, got "
                         f"{p.name!r}")
    if columns is not None and suffix != ".parquet":
        raise InputError(f"columns: selects columns of a .parquet file; {p.name} is "
                         f"{suffix}")
    if not os.access(p, os.R_OK):
        raise InputError(f"{arg}: could not read {str(p)!r} (permission denied)")
    try:
        if suffix == ".parquet":
            from ._parquet import ParquetSource

            return ParquetSource(p, arg, columns)
        if suffix == ".csv":
            return CsvSource(p, arg, header)
        a = _npy(p, arg) if suffix == ".npy" else _load_numpy(p, arg, _ZIP_MAGIC, ".npz")
        return ArraySource(a, p, arg)
    except UnicodeDecodeError as e:
        raise InputError(f"{arg}: {p.name} is not UTF-8 text ({e.reason} at byte "
                         f"{e.start}); save it as UTF-8") from None
    except OSError as e:
        raise InputError(f"{arg}: could not read {str(p)!r} ({e.strerror or e})") from None
