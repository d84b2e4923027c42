"""Files that appear whole or not at all, the paths they go to, and reading attribution
files back (every fault of a file the user gives is one InputError naming it)."""
from __future__ import annotations

import json
import os
import pathlib
import re
import secrets
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .._errors import InputError

FORMAT = 1                     # the attribution file format ``Attribution.save`` writes
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")   # a zip's first entry, or an empty zip
_PICKLE = b"\x80"              # the first byte of a pickle of protocol 2 or later


def check_path(path: Any, arg: str = "path") -> pathlib.Path:
    """A ``str`` or ``os.PathLike`` path that is not empty, or an InputError naming ``arg``."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(text, str):
        raise InputError(f"{arg}: expected a file path (str or os.PathLike), got "
                         f"{type(path).__name__} {path!r}")
    if text == "":
        raise InputError(f"{arg}: expected a file path, got ''")
    return pathlib.Path(text)


def check_writable(path: pathlib.Path, arg: str = "path") -> None:
    """Refuse, before anything is written, a path no file can be written to: one naming no
    file, an existing folder, or one below a file (missing folders are fine: they are made)."""
    if path.name in ("", ".", ".."):
        raise InputError(f"{arg}: expected a file name, got {str(path)!r}")
    if path.is_dir():
        raise InputError(f"{arg}: {str(path)!r} is a folder, not a file")
    for parent in path.parents:                        # the nearest existing one decides
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise InputError(f"{arg}: cannot write {str(path)!r}: {str(parent)!r} is a "
                                 "file, not a folder")
            return


#: The names of the temporary files ``write_atomic`` makes (``.<name>.<12 hex>.tmp[.npz]``):
#: what a kill during a save leaves behind, and all that a resumed job may remove.
TEMPORARY_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.tmp(\.npz)?")


def _temp_beside(path: pathlib.Path, suffix: str) -> pathlib.Path:
    """A new empty file beside ``path``, created with mode 0666 less the umask (as
    ``open(..., "w")`` does; ``tempfile.mkstemp`` would make it 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(tmp, flags, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary name beside {str(path)!r}")


def write_atomic(path: pathlib.Path, write: Callable[[str], None], suffix: str = ".tmp") -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it onto ``path``
    (an atomic rename); the temporary file is removed if ``write`` fails. The file gets the
    user's umask, like one made by ``open(..., "w")``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(path, suffix)
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# -- reading an attribution file back -------------------------------------------------------
def _not_ours(p: pathlib.Path, why: str) -> InputError:
    return InputError(f"path: {str(p)!r} is not an xaicore attribution file ({why})")


def _damaged(p: pathlib.Path, where: str, e: BaseException) -> InputError:
    why = "unreadable bytes" if "pickle" in str(e) else f"{type(e).__name__}: {e}"
    return InputError(f"path: {str(p)!r} is damaged or truncated ({where}{why})")


def _pickled(p: pathlib.Path, where: str) -> InputError:
    return InputError(f"path: {str(p)!r} holds pickled data{where}; xaicore never unpickles "
                      "files (loading one can run any code), and Attribution.save writes none")


def _entry(z: Any, key: str, p: pathlib.Path) -> np.ndarray:
    if key not in z.files:
        raise _not_ours(p, f"no {key!r} entry")
    try:
        return z[key]
    except ValueError as e:
        if "pickle" in str(e):                # numpy's refusal of object arrays
            raise _pickled(p, f" (entry {key!r})") from None
        raise _damaged(p, f"entry {key!r}: ", e) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
        raise _damaged(p, f"entry {key!r}: ", e) from None


def _meta(z: Any, p: pathlib.Path) -> dict:
    raw = _entry(z, "meta", p)
    try:
        meta = json.loads(str(raw)) if raw.dtype.kind == "U" and raw.ndim == 0 else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise _not_ours(p, "its 'meta' entry is not xaicore's: expected a JSON object")
    fmt = meta.get("format")
    if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
        raise InputError(f"path: {str(p)!r} is in attribution file format {fmt}, newer than "
                         f"this xaicore reads ({FORMAT}); upgrade xaicore to load it")
    if fmt != FORMAT or isinstance(fmt, bool):
        raise _not_ours(p, f"unknown format {fmt!r} in its meta; this xaicore reads {FORMAT}")
    kinds = {"method": (str,), "feature_names": (list, type(None)),
             "output_names": (list, type(None)), "params": (dict,), "stats": (dict,)}
    for key, types in kinds.items():
        if not isinstance(meta.get(key), types):
            raise _not_ours(p, f"meta {key!r} should be {' or '.join(t.__name__ for t in types)}"
                               f", got {meta.get(key)!r:.60}")
    return meta


def _check_rows(arrays: dict[str, np.ndarray], p: pathlib.Path) -> None:
    values = arrays["values"]
    for key in ("values", "data"):
        if arrays[key].ndim == 0:
            raise InputError(f"path: {str(p)!r} is inconsistent: {key!r} holds a single "
                             "number, not rows")
    n = values.shape[0]
    for key in ("base_values", "data", "target", "groups"):
        a = arrays.get(key)
        if a is not None and a.ndim > 0 and a.shape[0] != n:
            raise InputError(f"path: {str(p)!r} is inconsistent: 'values' has {n} rows but "
                             f"{key!r} has {a.shape[0]}")
    se = arrays.get("stats__stderr")
    if se is not None and se.shape != values.shape:
        raise InputError(f"path: {str(p)!r} is inconsistent: 'stats__stderr' has shape "
                         f"{list(se.shape)}, not the values' {list(values.shape)}")


def read_attribution(path: Any) -> dict:
    """The fields of an :class:`~xaicore.Attribution` from a file written by ``save``."""
    p = check_path(path)
    if p.is_dir():
        raise InputError(f"path: {str(p)!r} is a folder, not an xaicore attribution file")
    if not p.is_file():
        raise InputError(f"path: no file {str(p)!r}")
    with open(p, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if not head:
        raise InputError(f"path: {str(p)!r} is empty (0 bytes), not an xaicore attribution "
                         "file")
    if head.startswith(_NPY_MAGIC):
        raise _not_ours(p, "it holds a single NumPy array (.npy); Attribution.save writes "
                           ".npz archives")
    if head.startswith(_PICKLE):
        raise _pickled(p, "")
    if not head.startswith(b"PK"):
        raise _not_ours(p, "not a .npz archive")
    if not head.startswith(_ZIP_MAGIC):
        raise InputError(f"path: {str(p)!r} is damaged or truncated (it ends inside the "
                         "first header of a .npz archive)")
    try:
        z = np.load(p, allow_pickle=False)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise _damaged(p, "", e) from None
    with z:
        meta = _meta(z, p)
        arrays = {k: _entry(z, k, p) for k in ("values", "base_values", "data")}
        for k in z.files:
            if k in ("target", "groups") or k.startswith(("stats__", "text__")):
                arrays[k] = _entry(z, k, p)
    _check_rows(arrays, p)
    stats = dict(meta["stats"])
    stats.update({k[len("stats__"):]: v for k, v in arrays.items() if k.startswith("stats__")})
    return {"values": arrays["values"], "base_values": arrays["base_values"],
            "data": arrays["data"], "method": meta["method"],
            "feature_names": meta["feature_names"], "output_names": meta["output_names"],
            "target": arrays.get("target"), "params": meta["params"], "stats": stats,
            **({"groups": arrays["groups"]} if "groups" in arrays else {}),
            **_text_fields(arrays, p)}


def _text_fields(arrays: dict[str, np.ndarray], p: pathlib.Path) -> dict:
    """``tokens`` / ``token_mask`` of a text attribution (string and bool arrays like
    ``data``), when the file has them."""
    out = {}
    for key, kind in (("tokens", "U"), ("token_mask", "b")):
        a = arrays.get(f"text__{key}")
        if a is None:
            continue
        if a.dtype.kind != kind or a.shape != arrays["data"].shape:
            raise InputError(f"path: {str(p)!r} is inconsistent: 'text__{key}' is "
                             f"{a.dtype}{list(a.shape)}, expected "
                             f"{'strings' if kind == 'U' else 'booleans'} shaped like "
                             f"'data' {list(arrays['data'].shape)}")
        out[key] = a
    return out
