"""Reading a job folder back (``xaicore.load_job``): finished or partial, part by part.

>>> job = xaicore.load_job("results/")                 # doctest: +SKIP
>>> for att in job: ...                                # one Attribution per finished part
>>> job.complete, job.rows_done, job.merged()          # all parts as one Attribution
"""
from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator

from .._errors import InputError
from ..results._attribution import Attribution
from ._file_jobs import merge


class Job:
    """A job folder: ``manifest`` (what the job is), its parts (``starts`` and ``sizes``:
    the first row and the number of rows of each), and which of them are on disk."""

    def __init__(self, out: pathlib.Path) -> None:
        self.out = pathlib.Path(out)
        mpath = self.out / "manifest.json"
        if not mpath.is_file():
            raise InputError(f"out: {str(self.out)!r} holds no xaicore job (no manifest.json)")
        try:
            self.manifest = json.loads(mpath.read_text())
            rows, chunk = int(self.manifest["rows"]), int(self.manifest["chunk"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"out: {str(mpath)!r} is not a job's manifest ({e})") from None
        self.starts = list(range(0, rows, chunk))
        self.sizes = [min(chunk, rows - s) for s in self.starts]
        self.rows = rows

    def path(self, i: int) -> pathlib.Path:
        return self.out / "parts" / f"part-{i:05d}.npz"

    @property
    def done(self) -> list[int]:
        """The parts on disk (complete files: each appeared atomically)."""
        return [i for i in range(len(self.starts)) if self.path(i).is_file()]

    @property
    def complete(self) -> bool:
        return len(self.done) == len(self.starts)

    @property
    def rows_done(self) -> int:
        return sum(self.sizes[i] for i in self.done)

    def parts(self) -> Iterator[Attribution]:
        """Each finished part, in row order, read one at a time."""
        for i in self.done:
            att = Attribution.load(self.path(i))
            if len(att.values) != self.sizes[i]:
                raise InputError(f"out: {self.path(i).name} holds {len(att.values)} rows, "
                                 f"expected {self.sizes[i]}: run the job again to redo it")
            yield att

    def __iter__(self) -> Iterator[Attribution]:
        return self.parts()

    def __len__(self) -> int:
        return len(self.done)

    def merged(self, write: bool = False) -> Attribution:
        """All finished parts as one Attribution (``attribution.npz`` when the job is
        complete and it exists; ``write=True`` writes it, atomically)."""
        final = self.out / "attribution.npz"
        if not write and self.complete and final.is_file():
            return Attribution.load(final)
        parts = list(self.parts())
        if not parts:
            raise InputError(f"out: {str(self.out)!r} holds no finished part yet")
        att = merge(parts)
        if write:
            att.save(final)
        return att

    def __repr__(self) -> str:
        return (f"Job({str(self.out)!r}, method={self.manifest.get('method')!r}, "
                f"{len(self.done)}/{len(self.starts)} parts, {self.rows_done}/{self.rows} rows)")
