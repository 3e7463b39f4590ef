"""The blob directory: encrypted payloads under random names.

Contract:

- A blob is written through a :class:`BlobWriter` to a temporary name
  (``.tmp-<random>``) in the same directory, mode 0600, and only appears
  under its final name (32 random hex digits) after :meth:`BlobWriter.commit`
  has fsynced it and renamed it. :meth:`BlobWriter.abort` unlinks it. So a
  crash leaves at most temporaries, which :meth:`BlobDir.remove_temporaries`
  deletes at start and at every sweep.
- The file itself comes from the **pool**: empty files created in advance
  (at start and by the hourly sweep) in a sibling directory
  (``<blobs>-pool``), so that a blob's birth time is the pool's creation
  time, not the upload's. A writer claims one by renaming it to its own
  temporary name: rename is atomic, so two writers never get the same file.
  An empty pool is not an error: the writer creates a fresh file
  (``BlobWriter.pooled`` is False) and ``doctor`` reports the empty pool.
  Nothing is logged per upload (a log line's timestamp would be the
  upload's).
- A writer holds an exclusive ``flock`` on its temporary for its whole life,
  and the cleanup only deletes temporaries it can lock: a worker starting up
  never deletes the upload another live worker is writing.
- Names carry no information; file and directory modification and access
  times are set to the hour (a blob at commit, the directories after each
  change). The inode change time cannot be set from user space: it stays
  exact until the sweep of :mod:`tipbox.store` resets it to the sweep's time
  (docs/file-times.md says what file metadata still reveals).
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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from tipbox.errors import NotFound, StorageFull
from tipbox.store.db import hour
from tipbox.store.files import fsync_path

__all__ = [
    "POOL_SUFFIX",
    "SPACE_CHECK_BYTES",
    "BlobDir",
    "BlobWriter",
    "is_blob_name",
    "is_locked",
    "list_directory",
]

SPACE_CHECK_BYTES = 64 * 1024 * 1024
WRITE_BUFFER_BYTES = 1024 * 1024
# A slow upload's pending bytes go to disk at least this often, so that what
# a trickling client has sent waits in memory for a second, not for 1 MiB:
# hundreds of slow uploads then cost kilobytes each, not megabytes.
WRITE_BUFFER_SECONDS = 1.0
WRITEBACK_BYTES = 16 * 1024 * 1024
_DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
TEMP_PREFIX = ".tmp-"
POOL_SUFFIX = "-pool"
_NAME = re.compile(r"[0-9a-f]{32}")
_TEMP = re.compile(r"\.tmp-[0-9a-f]{32}")


def is_blob_name(name: str) -> bool:
    """Whether ``name`` is a well-formed final blob name."""
    return _NAME.fullmatch(name) is not None


class BlobDir:
    """A directory of committed blobs plus the temporaries being written.

    ``pool`` is the directory of pre-created empty files (default: the blob
    directory's name plus ``-pool``, next to it, on the same file system).
    """

    def __init__(
        self,
        path: Path,
        *,
        min_free_bytes: int,
        now: Callable[[], float] = time.time,
        pool: Path | None = None,
    ) -> None:
        self.path = path
        self.pool = pool or path.with_name(path.name + POOL_SUFFIX)
        self.min_free_bytes = min_free_bytes
        self._now = now

    @property
    def location(self) -> str:
        """The blob directory, for messages."""
        return str(self.path)

    @property
    def pool_location(self) -> str:
        """The pool directory, for messages."""
        return str(self.pool)

    def create(self) -> None:
        """Create the blob and pool directories (mode 0700) if they do not exist."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pool.mkdir(mode=0o700, exist_ok=True)

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
        """Open a committed blob for reading; :class:`NotFound` if missing.

        Opened with ``O_NOATIME`` where allowed (the owner), so that a
        reviewer's download does not stamp the blob's access time.
        """
        path = self._path_of(name)
        try:
            fd = _open_for_reading(path)
        except FileNotFoundError:
            raise NotFound("blob not found") from None
        return os.fdopen(fd, "rb")

    def delete_blob(self, name: str) -> None:
        """Unlink a committed blob; a missing one is not an error."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path_of(name))

    def names(self) -> Iterator[str]:
        """The names of every committed blob (temporaries excluded)."""
        for name in list_directory(self.path):
            if is_blob_name(name):
                yield name

    def changed_at(self, name: str) -> float | None:
        """The inode change time of a committed blob; None if it is gone."""
        try:
            return os.stat(self._path_of(name)).st_ctime
        except (FileNotFoundError, NotFound):
            return None

    def local_directories(self) -> tuple[Path, ...]:
        """The blob directory and the pool."""
        return (self.path, self.pool)

    def local_files(self) -> Iterator[Path]:
        """Every regular file in the blob directory, then in the pool (none if missing)."""
        for directory in self.local_directories():
            yield from _files_in(directory)

    def local_paths(self, names: Iterable[str]) -> set[Path]:
        """The files of the given committed blobs."""
        return {self._path_of(name) for name in names}

    def dead_temporaries(self) -> list[Path]:
        """Temporaries whose writer died: nobody holds their ``flock`` any more (read-only)."""
        return [
            path
            for path in _files_in(self.path)
            if _TEMP.fullmatch(path.name) and not is_locked(path)
        ]

    def sync(self) -> None:
        """Make renames and unlinks durable; reset the directories' times to the hour."""
        self.stamp_directories()
        fsync_path(self.path)

    def stamp_directories(self) -> None:
        """Set the blob and pool directories' access and modification times to the hour."""
        stamp = self.stamp()
        for directory in (self.path, self.pool):
            with contextlib.suppress(FileNotFoundError):
                os.utime(directory, (stamp, stamp))

    # -- the pool -------------------------------------------------------------

    def pool_names(self) -> list[str]:
        """The names of the empty files waiting in the pool (none if it is missing)."""
        try:
            return [name for name in list_directory(self.pool) if is_blob_name(name)]
        except FileNotFoundError:
            return []

    def fill_pool(self, size: int, *, stamp: int) -> int:
        """Top the pool up to ``size`` empty files; return how many were created.

        New files get mode 0600 and access and modification times ``stamp``
        (an hour); their birth and change times are now, which says nothing
        about any upload. Concurrent fills (workers starting, the sweep) are
        serialised by an ``flock`` on the pool directory, so the pool never
        grows past ``size`` by their race.
        """
        self.pool.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(self.pool, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            missing = max(0, size - len(self.pool_names()))
            for _ in range(missing):
                _create_pool_file(self.pool, stamp)
            os.utime(self.pool, (stamp, stamp))
        finally:
            os.close(fd)
        return missing

    def take_from_pool(self) -> tuple[Path, int] | None:
        """Claim a pool file as a new locked temporary: ``(path, fd)``, or None if none is left.

        Starts at a random place in the pool so that concurrent writers
        rarely race for the same file; a lost race just moves on.
        """
        names = self.pool_names()
        if not names:
            return None
        start = secrets.randbelow(len(names))
        try:
            for name in names[start:] + names[:start]:
                claimed = _claim(self.pool / name, self.path)
                if claimed is not None:
                    self.stamp_directories()
                    return claimed
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            # The pool is on another file system than the blobs: unusable.
        return None

    def remove_temporaries(self) -> int:
        """Delete temporaries left by dead writers; return how many were removed."""
        removed = 0
        for name in list_directory(self.path):
            if _TEMP.fullmatch(name) and _remove_if_unlocked(self.path / name):
                removed += 1
        return removed

    def stamp(self) -> int:
        """The current time rounded down to the hour (used for file times)."""
        return hour(self._now())

    def _path_of(self, name: str) -> Path:
        if not is_blob_name(name):
            raise NotFound("invalid blob name")
        return self.path / name


def list_directory(directory: Path) -> list[str]:
    """The entry names of ``directory``, read without stamping its access time.

    A directory's access time is reset to the hour by every change here and
    by the sweep; the next plain read would set it to the exact time of
    that read (``relatime``), e.g. of an upload taking a pool file.
    """
    fd = _open_for_reading(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def _files_in(directory: Path) -> Iterator[Path]:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(directory) as it:
        for entry in it:
            if entry.is_file(follow_symlinks=False):
                yield Path(entry.path)


def is_locked(path: Path) -> bool:
    """Whether a live writer holds ``path``'s ``flock`` (blob writers and backups do)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _open_for_reading(path: Path, flags: int = os.O_RDONLY | os.O_NOFOLLOW) -> int:
    """``os.open`` with ``O_NOATIME`` where allowed (only the file's owner may)."""
    try:
        return os.open(path, flags | os.O_NOATIME)
    except PermissionError:
        return os.open(path, flags)


def _create_pool_file(pool: Path, stamp: int) -> None:
    fd = os.open(
        pool / secrets.token_hex(16), os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600
    )
    try:
        os.utime(fd, (stamp, stamp))
    finally:
        os.close(fd)


def _claim(pooled: Path, directory: Path) -> tuple[Path, int] | None:
    """Rename ``pooled`` to a fresh temporary in ``directory``, then open and lock it.

    None if another writer renamed it first, or a cleanup deleted the
    temporary before we locked it.
    """
    temp = directory / f"{TEMP_PREFIX}{secrets.token_hex(16)}"
    try:
        os.rename(pooled, temp)
    except FileNotFoundError:
        return None
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    return _locked_if_linked(temp, fd)


def _locked_if_linked(temp: Path, fd: int) -> tuple[Path, int] | None:
    """``flock`` ``fd``; None (and closed) if a cleanup unlinked it meanwhile."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    if os.fstat(fd).st_nlink > 0:
        return temp, fd
    os.close(fd)
    return None


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
    ``pooled`` says whether the file came from the pool (else it was
    created now). Use ``write`` for data, then exactly one of ``commit`` or
    ``abort``.
    """

    def __init__(self, blobs: BlobDir) -> None:
        self._blobs = blobs
        self.name = secrets.token_hex(16)
        claimed = blobs.take_from_pool()
        self.pooled = claimed is not None
        self._temp, self._fd = claimed or _create_locked_temp(blobs.path)
        self._pending = bytearray()
        self._pending_since = time.monotonic()
        self._since_check = 0
        self._written_back = 0
        self.size = 0
        self.state = "open"

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write all of ``data``; raises :class:`StorageFull` when disk runs low.

        Data is gathered into 1 MiB writes (or whatever came within a second,
        for a slow client), and the kernel is asked to start writing back
        every 16 MiB, so that the fsync at commit has little left to do.
        """
        if self.state != "open":
            raise ValueError("write to a finished blob")
        size = len(memoryview(data).cast("B"))
        self._since_check += size
        if self._since_check >= SPACE_CHECK_BYTES:
            self._since_check = 0
            self._blobs.check_space()
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending += data
        if (len(self._pending) >= WRITE_BUFFER_BYTES
                or time.monotonic() - self._pending_since >= WRITE_BUFFER_SECONDS):
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
        self._blobs.stamp_directories()

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
        locked = _locked_if_linked(temp, fd)
        if locked is not None:
            return locked
        # unlinked by a cleanup between create and lock: try again
