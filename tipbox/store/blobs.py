"""The blob directory: encrypted payloads under random names.

Contract:

- A blob is written through a :class:`BlobWriter` to a temporary name
  (``.tmp-<random>``) in the same directory, mode 0600, and only appears
  under its final name (32 random hex digits) after :meth:`BlobWriter.commit`
  has fsynced it and renamed it. :meth:`BlobWriter.abort` unlinks it. So a
  crash leaves at most temporaries, which :meth:`BlobDir.remove_temporaries`
  deletes at start.
- A writer holds an exclusive ``flock`` on its temporary for its whole life,
  and the cleanup only deletes temporaries it can lock: a worker starting up
  never deletes the upload another live worker is writing.
- Names carry no information; file times are set to the hour (the inode's
  change time cannot be set from user space and stays exact).
- Free disk is checked against ``min_free_bytes`` when a writer opens and
  every :data:`SPACE_CHECK_BYTES` written; below it :class:`StorageFull` is
  raised before writing more.
- Blob names given to :meth:`BlobDir.open_blob` / :meth:`BlobDir.delete_blob`
  are validated, so they can never address a path outside the directory.

Nothing here sees plaintext: callers write age payloads.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from tipbox.errors import NotFound, StorageFull
from tipbox.store.db import hour
from tipbox.store.files import fsync_path

__all__ = ["SPACE_CHECK_BYTES", "BlobDir", "BlobWriter", "is_blob_name"]

SPACE_CHECK_BYTES = 64 * 1024 * 1024
WRITE_BUFFER_BYTES = 1024 * 1024
WRITEBACK_BYTES = 16 * 1024 * 1024
_DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
TEMP_PREFIX = ".tmp-"
_NAME = re.compile(r"[0-9a-f]{32}")
_TEMP = re.compile(r"\.tmp-[0-9a-f]{32}")


def is_blob_name(name: str) -> bool:
    """Whether ``name`` is a well-formed final blob name."""
    return _NAME.fullmatch(name) is not None


class BlobDir:
    """A directory of committed blobs plus the temporaries being written."""

    def __init__(
        self, path: Path, *, min_free_bytes: int, now: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.min_free_bytes = min_free_bytes
        self._now = now

    def create(self) -> None:
        """Create the directory (mode 0700) if it does not exist."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)

    def free_bytes(self) -> int:
        """Bytes available to this process on the directory's file system."""
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def check_space(self) -> None:
        """Raise :class:`StorageFull` if free disk is below ``min_free_bytes``."""
        if self.free_bytes() < self.min_free_bytes:
            raise StorageFull("not enough free disk space to store more data")

    def writer(self) -> BlobWriter:
        """Open a new blob for writing (checks free space first)."""
        self.check_space()
        return BlobWriter(self)

    def open_blob(self, name: str) -> BinaryIO:
        """Open a committed blob for reading; :class:`NotFound` if missing."""
        try:
            return open(self._path_of(name), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise NotFound("blob not found") from None

    def delete_blob(self, name: str) -> None:
        """Unlink a committed blob; a missing one is not an error."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path_of(name))

    def names(self) -> Iterator[str]:
        """The names of every committed blob (temporaries excluded)."""
        with os.scandir(self.path) as entries:
            for entry in entries:
                if is_blob_name(entry.name):
                    yield entry.name

    def sync(self) -> None:
        """Make renames and unlinks durable; reset the directory's times to the hour."""
        stamp = hour(self._now())
        os.utime(self.path, (stamp, stamp))
        fsync_path(self.path)

    def remove_temporaries(self) -> int:
        """Delete temporaries left by dead writers; return how many were removed."""
        removed = 0
        with os.scandir(self.path) as entries:
            for entry in entries:
                if _TEMP.fullmatch(entry.name) and _remove_if_unlocked(Path(entry.path)):
                    removed += 1
        return removed

    def stamp(self) -> int:
        """The current time rounded down to the hour (used for file times)."""
        return hour(self._now())

    def _path_of(self, name: str) -> Path:
        if not is_blob_name(name):
            raise NotFound("invalid blob name")
        return self.path / name


def _remove_if_unlocked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False  # a live writer holds it
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    finally:
        os.close(fd)  # also releases the lock


class BlobWriter:
    """A blob being written: a temporary file until :meth:`commit`.

    ``name`` is the final name, known from the start so that a caller can
    reference it in the same database transaction that follows the commit.
    Use ``write`` for data, then exactly one of ``commit`` or ``abort``.
    """

    def __init__(self, blobs: BlobDir) -> None:
        self._blobs = blobs
        self.name = secrets.token_hex(16)
        self._temp, self._fd = _create_locked_temp(blobs.path)
        self._pending = bytearray()
        self._since_check = 0
        self._written_back = 0
        self.size = 0
        self.state = "open"

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write all of ``data``; raises :class:`StorageFull` when disk runs low.

        Data is gathered into 1 MiB writes, and the kernel is asked to start
        writing back every 16 MiB, so that the fsync at commit has little
        left to do.
        """
        if self.state != "open":
            raise ValueError("write to a finished blob")
        size = len(memoryview(data).cast("B"))
        self._since_check += size
        if self._since_check >= SPACE_CHECK_BYTES:
            self._since_check = 0
            self._blobs.check_space()
        self._pending += data
        if len(self._pending) >= WRITE_BUFFER_BYTES:
            self._write_pending()
        self.size += size
        return size

    def _write_pending(self) -> None:
        view = memoryview(self._pending)
        try:
            written = 0
            while written < len(view):
                written += os.write(self._fd, view[written:])
        except OSError as error:
            if error.errno in _DISK_FULL:
                raise StorageFull("the disk is full") from None
            raise
        finally:
            view.release()
        self._pending.clear()
        if self.size - self._written_back >= WRITEBACK_BYTES:
            _start_writeback(self._fd, self._written_back, self.size - self._written_back)
            self._written_back = self.size

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        """Write out what is buffered (durability still needs :meth:`commit`)."""
        if self.state == "open" and self._pending:
            self._write_pending()

    def commit(self, *, sync_dir: bool = True) -> str:
        """fsync the data, rename it to its final name and return that name.

        With ``sync_dir=False`` the caller must call :meth:`BlobDir.sync`
        after committing a batch of writers.
        """
        if self.state != "open":
            raise ValueError("blob already finished")
        self.flush()
        stamp = self._blobs.stamp()
        os.utime(self._fd, (stamp, stamp))
        os.fsync(self._fd)
        os.rename(self._temp, self._blobs.path / self.name)
        self._finish("committed")
        if sync_dir:
            self._blobs.sync()
        return self.name

    def abort(self) -> None:
        """Discard the blob (temporary or, if already committed, the final file).

        Idempotent; never raises for a file that is already gone.
        """
        if self.state == "aborted":
            return
        target = self._blobs.path / self.name if self.state == "committed" else self._temp
        if self.state == "open":
            self._finish("aborted")
        self.state = "aborted"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)

    def _finish(self, state: str) -> None:
        self.state = state
        self._pending.clear()
        os.close(self._fd)  # releases the flock


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """libc's ``sync_file_range`` (Linux), or None where it is missing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _load_sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range back without waiting for it.

    Only an optimisation: durability comes from the fsync at commit.
    """
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _create_locked_temp(directory: Path) -> tuple[Path, int]:
    """Create and ``flock`` a fresh temporary, retrying if a cleanup raced us."""
    while True:
        temp = directory / f"{TEMP_PREFIX}{secrets.token_hex(16)}"
        fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return temp, fd
        os.close(fd)  # unlinked by a cleanup between create and lock
