"""Slots shared by every process and thread of an instance: a semaphore made of lock files.

A :class:`SlotPool` of ``size`` slots is the files ``<name>.0.lock`` ...
``<name>.<size-1>.lock`` in one directory. A caller holds a slot while it
holds an exclusive :func:`fcntl.flock` on one of them. Contract:

- Shared across gunicorn workers (processes) and across the threads of one
  worker: every attempt opens its own file description, and flock locks of
  two descriptions exclude each other even within one process.
- A holder that dies, even by SIGKILL, frees its slot: the kernel drops the
  lock with the last descriptor. Nothing is ever left to clean up.
- Waiting polls every ``poll_seconds`` until ``wait_seconds`` have passed,
  then raises :class:`~tipbox.errors.Busy`. There is no queue, so no order
  among waiters is promised; a pool is for capping work, not for fairness.
- The lock files are empty and never written. They are created when the
  pool is built (at app start, not at a request), their access and
  modification times set back to the hour, so they record no request's time.
  A directory that cannot be written (a read-only copy of an instance) is
  tolerated until a slot is needed; then the caller gets
  :class:`~tipbox.errors.StorageUnavailable`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tipbox.errors import Busy, StorageUnavailable
from tipbox.store.db import hour

__all__ = ["SlotPool"]

#: How often a waiter tries again: short next to an Argon2 run (~0.1 s), and
#: cheap even with dozens of waiters.
DEFAULT_POLL_SECONDS = 0.02


class SlotPool:
    """``size`` slots named ``name`` under ``directory`` (see the module contract)."""

    def __init__(
        self,
        directory: Path,
        name: str,
        size: int,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if size < 1 or not name.isidentifier():
            raise ValueError("a slot pool has a plain name and at least one slot")
        self.size = size
        self._paths = [directory / f"{name}.{index}.lock" for index in range(size)]
        self._poll = poll_seconds
        self._clock = clock
        self._sleep = sleep
        with contextlib.suppress(OSError):
            _create(directory, self._paths)

    @contextlib.contextmanager
    def slot(self, *, wait_seconds: float) -> Iterator[None]:
        """Hold one slot for the block; :class:`Busy` if none frees up within ``wait_seconds``."""
        fd = self._acquire(wait_seconds)
        try:
            yield
        finally:
            os.close(fd)

    def held(self) -> int:
        """How many slots are held right now, by anyone (a snapshot, for tests and reports)."""
        held = 0
        for path in self._paths:
            fd = self._try(path)
            if fd is None:
                held += 1
            else:
                os.close(fd)
        return held

    def _acquire(self, wait_seconds: float) -> int:
        deadline = self._clock() + wait_seconds
        while True:
            for path in self._paths:
                fd = self._try(path)
                if fd is not None:
                    return fd
            if self._clock() >= deadline:
                raise Busy("every slot stayed busy; try again in a minute")
            self._sleep(self._poll)

    @staticmethod
    def _try(path: Path) -> int | None:
        """A descriptor holding ``path``'s lock, or ``None`` if another holds it."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            raise StorageUnavailable(f"cannot open a slot file: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd


def _create(directory: Path, paths: list[Path]) -> None:
    """Create the directory (0700) and the empty lock files (0600), times set to the hour."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = hour()
    for path in paths:
        if not path.exists():
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600))
            os.utime(path, (stamp, stamp))
