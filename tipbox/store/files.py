"""Small files written whole or not at all (secrets, key files, state).

The data goes to a private temporary in the same directory, is fsynced,
then takes the final name in one step, so a crash leaves either the old
file or the new one, never a torn one. Its access and modification times
are the hour of the write (the hourly sweep of :mod:`tipbox.store` does the
rest), so they date no event closer than that.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

from tipbox.store.db import hour

__all__ = ["fsync_path", "write_atomically"]


def write_atomically(
    path: Path, data: bytes, mode: int, *, replace: bool = True, now: float | None = None
) -> None:
    """Write ``data`` to ``path`` with permissions ``mode``, times set to the hour.

    With ``replace=False`` an existing ``path`` is never overwritten
    (:class:`FileExistsError`): used for files that must be created once.
    ``now`` (default: the clock) is rounded down to the hour for the file's
    access and modification times.
    """
    stamp = hour(time.time() if now is None else now)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.utime(file.fileno(), (stamp, stamp))
            os.fsync(file.fileno())
        os.chmod(temp, mode)
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory: to make renames and unlinks in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
