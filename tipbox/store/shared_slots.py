"""Slots shared by every host of an instance: caps that switching hosts cannot bypass.

:class:`~tipbox.store.slots.SlotPool` caps work across the processes of one
host with lock files. An instance on PostgreSQL may run on several hosts
(docs/deploy.md, "Several hosts"); a cap that must hold for the whole
instance (codename logins, key rotation and re-wrap) then needs a lock that
every host sees. Contract:

- :func:`instance_slots` gives the pool for such a cap. On SQLite (one host)
  it is the host's :class:`SlotPool`. On PostgreSQL it is the host's pool
  first, then a :class:`DatabaseSlots` of the same size: each host sends at
  most ``size`` waiters to the database, and at most ``size`` holders run
  in the whole instance.
- :class:`DatabaseSlots` holds a slot as a PostgreSQL session-level advisory
  lock (two-key form, keyed by the pool's name and the slot's number, a key
  space apart from the writers' lock), on a connection borrowed for the
  block. A holder that dies, host included, frees its slot: the server drops
  the lock with the session. Waiting polls, like :class:`SlotPool`, and ends
  in :class:`~tipbox.errors.Busy`.
- Both pools have the same two methods, :meth:`~SlotPool.slot` and
  :meth:`~SlotPool.held`, so callers do not know which they hold.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from tipbox.errors import Busy
from tipbox.store.db import Database
from tipbox.store.slots import SlotPool

__all__ = ["DatabaseSlots", "Slots", "instance_slots"]

#: How often a waiter asks the database again: a round trip each time, so
#: slower than the lock files' poll, still short next to an Argon2 run.
DATABASE_POLL_SECONDS = 0.05


class Slots(Protocol):
    """A pool of slots (see the module contract)."""

    size: int

    def slot(self, *, wait_seconds: float) -> contextlib.AbstractContextManager[None]:
        """Hold one slot for the block; :class:`Busy` if none frees up in time."""

    def held(self) -> int:
        """How many slots are held right now, by anyone."""


def instance_slots(db: Database, directory: Path, name: str, size: int) -> Slots:
    """``size`` slots named ``name`` for the whole instance (see the module contract)."""
    local = SlotPool(directory, name, size)
    if db.url is None:
        return local
    return _HostThenDatabase(local, DatabaseSlots(db, name, size))


class DatabaseSlots:
    """``size`` slots named ``name``, held as PostgreSQL advisory locks."""

    def __init__(
        self,
        db: Database,
        name: str,
        size: int,
        *,
        poll_seconds: float = DATABASE_POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if size < 1 or not name.isidentifier() or db.url is None:
            raise ValueError("database slots have a plain name, a slot and PostgreSQL")
        self._db = db
        self._pool_key = _signed32(zlib.crc32(f"tipbox slots {name}".encode()))
        self.size = size
        self._poll = poll_seconds
        self._clock = clock
        self._sleep = sleep

    @contextlib.contextmanager
    def slot(self, *, wait_seconds: float) -> Iterator[None]:
        """Hold one slot for the block; :class:`Busy` if none frees up within ``wait_seconds``."""
        with self._db.connection() as conn:
            number = self._acquire(conn, wait_seconds)
            try:
                yield
            finally:
                # A lost connection has dropped the lock already (and is not pooled again).
                with contextlib.suppress(Exception):
                    conn.execute("SELECT pg_advisory_unlock(?, ?)", (self._pool_key, number))

    def held(self) -> int:
        """How many slots are held right now, by any host (a snapshot)."""
        with self._db.connection() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid = ?::oid AND objsubid = 2 AND granted",
                (self._pool_key & 0xFFFFFFFF,),
            ).fetchone()
        return int(row[0])

    def _acquire(self, conn: sqlite3.Connection, wait_seconds: float) -> int:
        deadline = self._clock() + wait_seconds
        while True:
            for number in range(self.size):
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(?, ?)", (self._pool_key, number)
                ).fetchone()
                if row[0]:
                    return number
            if self._clock() >= deadline:
                raise Busy("every slot stayed busy; try again in a minute")
            self._sleep(self._poll)


class _HostThenDatabase:
    """A slot of the host's pool, then one of the instance's, within one wait."""

    def __init__(self, host: SlotPool, instance: DatabaseSlots) -> None:
        self._host = host
        self._instance = instance
        self.size = instance.size

    @contextlib.contextmanager
    def slot(self, *, wait_seconds: float) -> Iterator[None]:
        deadline = time.monotonic() + wait_seconds
        with self._host.slot(wait_seconds=wait_seconds):
            left = max(0.0, deadline - time.monotonic())
            with self._instance.slot(wait_seconds=left):
                yield

    def held(self) -> int:
        return self._instance.held()


def _signed32(value: int) -> int:
    """``value`` (0 .. 2**32-1) as PostgreSQL's int4 (advisory lock keys are signed)."""
    return value - (1 << 32) if value >= 1 << 31 else value
