"""One writer per job folder: an exclusive ``flock`` on ``out/.lock``.

The lock belongs to the open file, so the kernel drops it when its process ends in any
way (a crash, ``SIGKILL``, a pre-empted machine): a stale lock file never blocks a
resume. The file holds the holder's pid, host and start time, for the message a second
run gets. (On file systems without ``flock``, e.g. some network mounts, or on Windows, the
lock is advisory only and skipped.)
"""
from __future__ import annotations

import json
import os
import pathlib
import socket
import time

from .._errors import InputError

LOCK_NAME = ".lock"


class JobLock:
    """``with JobLock(out): ...`` holds ``out/.lock`` or refuses naming the other run."""

    def __init__(self, out: pathlib.Path) -> None:
        self.out, self.path, self._fd = out, out / LOCK_NAME, None

    def acquire(self) -> JobLock:
        try:
            import fcntl
        except ImportError:                              # Windows: no flock
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise InputError(f"--out: {str(self.out)!r} is in use by another run ({holder}); "
                             "wait for it to finish, stop it, or choose another folder") from None
        except OSError:                                  # no flock on this file system
            os.close(fd)
            return self
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> JobLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet written its pid"
