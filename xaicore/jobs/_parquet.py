"""Parquet in and out (``pip install xaicore[parquet]``: pyarrow).

In: the features are every column, or those ``columns=`` names (numbers: int, float or
bool, no missing values); the other columns are carried through as row ids. Rows are read
batch by batch, never the whole file.

Out: ``attribution.parquet``, one row per explained row: ``row`` (its place in the data),
the id columns, ``target`` (when one output was explained), ``base_value`` (or one per
output), and one ``value:<feature>`` column per feature (``value:<feature>:<output>`` with
every output); results of more than one axis per row go to one list column ``values``.
It is written part by part from the saved parts, atomically.
"""
from __future__ import annotations

import pathlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .._errors import InputError
from ..results._files import write_atomic
from ._streams import Source, as_rows


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InputError("data: .parquet files need pyarrow: pip install "
                         "'xaicore[parquet]'") from None
    return pyarrow


def _numeric(t: Any) -> bool:
    pa = _pyarrow()
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


class ParquetSource(Source):
    """The rows of a Parquet file, batch by batch."""

    def __init__(self, p: pathlib.Path, arg: str, columns: list[str] | None) -> None:
        pa = _pyarrow()
        self.path, self.arg = p, arg
        try:
            self._file = pa.parquet.ParquetFile(p)
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"{arg}: {p.name} could not be read as .parquet ({e})") from None
        schema = self._file.schema_arrow
        have = list(schema.names)
        if columns is None:
            feats = have
            for c in have:
                if not _numeric(schema.field(c).type):
                    raise InputError(f"{arg}: {p.name} column {c!r} holds "
                                     f"{schema.field(c).type}, expected numbers; choose the "
                                     "feature columns with columns= (--columns a,b,...): "
                                     "the others are carried through as ids")
        else:
            if isinstance(columns, str) or not all(isinstance(c, str) for c in columns) \
                    or not columns:
                raise InputError(f"columns: expected a non-empty list of column names, "
                                 f"got {columns!r}")
            feats = list(columns)
            if len(set(feats)) != len(feats):
                raise InputError(f"columns: names a column twice: {feats}")
            for c in feats:
                if c not in have:
                    raise InputError(f"columns: {p.name} has no column {c!r}; it has: "
                                     f"{', '.join(have)}")
                if not _numeric(schema.field(c).type):
                    raise InputError(f"columns: {p.name} column {c!r} holds "
                                     f"{schema.field(c).type}, expected numbers")
        self.names, self.id_names = feats, tuple(c for c in have if c not in feats)
        self.n_rows = int(self._file.metadata.num_rows)
        if self.n_rows == 0:
            raise InputError(f"{arg}: {p.name} holds no rows")
        kinds = [schema.field(c).type.to_pandas_dtype() for c in feats]
        dtype = np.result_type(*[np.dtype(k) for k in kinds])
        self.dtype = np.dtype(np.float32) if dtype in (np.float64, np.bool_) else dtype
        self.row_shape = (len(feats),)

    def _tables(self, size: int, columns: list[str]) -> Iterator[Any]:
        """Tables of exactly ``size`` rows (the last one shorter)."""
        pa = _pyarrow()
        pending, have = [], 0
        for batch in self._file.iter_batches(batch_size=size, columns=columns,
                                             use_threads=False):
            pending.append(batch)
            have += batch.num_rows
            while have >= size:
                t = pa.Table.from_batches(pending)
                yield t.slice(0, size)
                rest = t.slice(size)
                pending, have = rest.to_batches(), rest.num_rows
        if have:
            yield pa.Table.from_batches(pending)

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        start = 0
        for t in self._tables(size, self.names):
            cols = []
            for name, col in zip(self.names, t.columns):
                if col.null_count:
                    row = start + int(np.flatnonzero(col.is_null().to_numpy(
                        zero_copy_only=False))[0])
                    raise InputError(f"{self.arg}: {self.path.name} row {row}, column "
                                     f"{name!r}: missing value; expected a number")
                a = col.to_numpy()
                if a.dtype.kind == "f" and not np.isfinite(a).all():
                    row = start + int(np.flatnonzero(~np.isfinite(a))[0])
                    raise InputError(f"{self.arg}: {self.path.name} row {row}, column "
                                     f"{name!r}: {a[row - start]} is not a finite number")
                cols.append(a)
            start += t.num_rows
            yield as_rows(np.stack(cols, axis=1).astype(self.dtype, copy=False))

    def id_blocks(self, size: int) -> Iterator[Any]:
        if not self.id_names:
            yield from super().id_blocks(size)
            return
        yield from self._tables(size, list(self.id_names))


def _result_columns(att: Any, ids: Any, first_row: int) -> dict[str, Any]:
    pa = _pyarrow()
    n = len(att.values)
    cols: dict[str, Any] = {"row": pa.array(np.arange(first_row, first_row + n))}
    if ids is not None and not isinstance(ids, dict):
        cols.update({name: ids.column(name) for name in ids.column_names})
    if att.target is not None:
        cols["target"] = pa.array(np.asarray(att.target))
    v, b = np.asarray(att.values), np.asarray(att.base_values)
    outputs = att.output_names or [str(k) for k in range(b.shape[-1] if b.ndim > 1 else 0)]
    if b.ndim == 1:
        cols["base_value"] = pa.array(b)
    else:
        cols.update({f"base_value:{o}": pa.array(b[:, k]) for k, o in enumerate(outputs)})
    names = att.feature_names or [f"f{j}" for j in range(v.shape[1] if v.ndim > 1 else 0)]
    if v.ndim == 2 and b.ndim == 1:
        cols.update({f"value:{f}": pa.array(v[:, j]) for j, f in enumerate(names)})
    elif v.ndim == 3 and b.ndim == 2 and v.shape[2] == b.shape[1]:
        for j, f in enumerate(names):
            cols.update({f"value:{f}:{o}": pa.array(v[:, j, k]) for k, o in enumerate(outputs)})
    else:
        flat = v.reshape(n, -1)
        cols["values"] = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])
    return cols


def write_results(path: pathlib.Path, parts: Iterable[Any], source: Source,
                  chunk: int) -> None:
    """``attribution.parquet`` from the job's parts (each an Attribution), in order."""
    pa = _pyarrow()

    def write(tmp: str) -> None:
        writer, row = None, 0
        try:
            for att, ids in zip(parts, source.id_blocks(chunk)):
                table = pa.table(_result_columns(att, ids, row))
                if writer is None:
                    writer = pa.parquet.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                row += len(att.values)
        finally:
            if writer is not None:
                writer.close()
    write_atomic(path, write, ".tmp")
