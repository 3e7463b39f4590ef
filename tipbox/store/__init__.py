"""Storage: SQLite metadata (:mod:`.db`) and encrypted payload files (:mod:`.blobs`).

No Flask here and no plaintext: the store holds detached age headers in the
database and age payloads in the blob directory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tipbox.store.blobs import BlobDir, BlobWriter
from tipbox.store.db import Database, hour

__all__ = ["BlobDir", "BlobWriter", "Database", "Store", "hour"]

ORPHAN_GRACE_SECONDS = 3600
ORPHAN_BATCH = 500


@dataclass(frozen=True)
class Store:
    """The database and blob directory of one instance."""

    db: Database
    blobs: BlobDir

    @classmethod
    def open(
        cls,
        database_path: Path,
        blobs_dir: Path,
        *,
        min_free_bytes: int,
        now: Callable[[], float] = time.time,
    ) -> Store:
        """Open (creating if needed) and migrate the store, and clean up.

        Start-up cleanup removes blob temporaries left by dead writers (live
        writers in other processes are left alone, see :mod:`.blobs`) and
        committed blobs no item references (see :meth:`remove_orphans`).
        """
        blobs = BlobDir(blobs_dir, min_free_bytes=min_free_bytes, now=now)
        blobs.create()
        blobs.remove_temporaries()
        db = Database(database_path)
        db.migrate()
        store = cls(db=db, blobs=blobs)
        store.remove_orphans(now=time.time())  # compared with real inode times
        return store

    def remove_orphans(self, *, now: float, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> int:
        """Delete committed blobs that no item references; return how many.

        A crash between a draft's renames and its database commit leaves such
        blobs: unreadable (their header was never stored) but using disk. A
        blob whose inode changed within ``grace_seconds`` is kept, because a
        live worker may be about to commit the row that references it.
        """
        removed = 0
        for batch in _batches(self.blobs.names(), ORPHAN_BATCH):
            for name in self._unreferenced(batch):
                if self._changed_before(name, now - grace_seconds):
                    self.blobs.delete_blob(name)
                    removed += 1
        return removed

    def _changed_before(self, name: str, limit: float) -> bool:
        try:
            return os.stat(self.blobs.path / name).st_ctime < limit
        except FileNotFoundError:
            return False

    def _unreferenced(self, names: list[str]) -> set[str]:
        marks = ", ".join("?" * len(names))
        with self.db.connection() as conn:
            rows = conn.execute(f"SELECT blob FROM items WHERE blob IN ({marks})", names)  # noqa: S608
            return set(names) - {row[0] for row in rows}

    def close(self) -> None:
        """Release database connections."""
        self.db.close()


def _batches(names: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for name in names:
        batch.append(name)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
