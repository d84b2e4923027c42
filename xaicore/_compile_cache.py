"""JAX's persistent compilation cache, set up for xaicore's programs.

A fresh process compiles every step again (about 0.2-0.5 s each on CPU). With the cache on,
a repeated run of the same job (same model, shapes and configuration) loads them from
disk: measured on a 2-core CPU, export -> 10 KernelShap rows from a fresh process went
from 3.9 s to 2.6-2.8 s (``benchmarks/bench_all_methods.py``). JAX only caches
compilations over 1 s by default, which none of xaicore's are; this caches them all.
"""
from __future__ import annotations

import os
from pathlib import Path

#: Environment variable: a folder for the cache, or ``0`` / ``off`` to keep it off in the
#: ``xaicore`` command (which turns it on by default).
ENV = "XAICORE_COMPILE_CACHE"


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/xaicore/jax`` (``~/.cache/xaicore/jax``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xaicore" / "jax"


def compile_cache(path: str | os.PathLike | None = None) -> Path:
    """Turn on JAX's persistent compilation cache for every program xaicore compiles
    (and the rest of the process's), in ``path`` (default: ``$XAICORE_COMPILE_CACHE``
    if it names a folder, else ``~/.cache/xaicore/jax``). Call it once, before the first
    explanation; later runs of the same job then skip their compilations.

    Returns:
        The cache folder (created if missing).

    Example:
        >>> import xaicore
        >>> folder = xaicore.compile_cache("/tmp/xaicore-cache")
    """
    import jax

    from ._errors import InputError

    if path is None:
        env = os.environ.get(ENV, "")
        path = env if env and not cache_off_by_env() else default_dir()
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"path: could not create the compilation cache folder "
                         f"{str(folder)!r} ({e.strerror or e})") from None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # No size bound: JAX's bounded (LRU) mode needs the `filelock` package, and once on it
    # fails every write into a folder holding one entry written unbounded (a missing
    # "-atime" file: seen on a fresh install after an earlier run). Entries are small
    # (kilobytes to a few megabytes); delete the folder to clear it.
    return folder


def cache_off_by_env() -> bool:
    """Whether ``$XAICORE_COMPILE_CACHE`` asks the command to leave the cache off."""
    return os.environ.get(ENV, "").lower() in ("0", "off", "false", "no")
