"""Storage: metadata in SQLite or PostgreSQL (:mod:`.db`), encrypted payload files (:mod:`.blobs`).

No Flask here and no plaintext: the store holds detached age headers in the
database and age payloads in the blob directory.

File times (the data directory is the database's directory): no file the
store writes may keep the exact time of a submission. Stored times are
hours, blobs are stamped with the hour at commit, and :meth:`Store.sweep`,
run every hour, stamps every file and directory under the data directory
with the hour. The inode change time cannot be set: after a sweep it is the
sweep's time, between a change and the next sweep it is exact. What file
metadata still reveals is listed in docs/file-times.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tipbox.store.blob_store import BlobStore, open_blob_store
from tipbox.store.blobs import BlobDir, BlobWriter
from tipbox.store.db import Database, hour

__all__ = [
    "DEFAULT_POOL_SIZE",
    "ORPHAN_GRACE_SECONDS",
    "BlobDir",
    "BlobStore",
    "BlobWriter",
    "Database",
    "Orphan",
    "Store",
    "SweepReport",
    "find_orphans",
    "hour",
    "open_blob_store",
]

ORPHAN_GRACE_SECONDS = 3600
DEFAULT_POOL_SIZE = 256
ORPHAN_BATCH = 500


@dataclass(frozen=True, slots=True)
class Orphan:
    """A committed blob that no item references (a crash between rename and commit).

    ``past_grace``: its inode has not changed for the grace period, so no
    live worker can still be about to record it; the next cleanup removes it.
    """

    name: str
    past_grace: bool


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one :meth:`Store.sweep` did."""

    stamp: int  # the hour every time was set to
    stamped: int  # files and directories whose times were set
    unstamped: int  # ... that could not be (another owner)
    pool_added: int
    pool_size: int  # files in the pool afterwards
    temporaries_removed: int
    orphans_removed: int
    orphans_kept: int  # within the grace period


@dataclass(frozen=True)
class Store:
    """The database and blob directory of one instance.

    ``pool_size`` is the number of empty blob files kept ready (see
    :mod:`.blobs`), ``orphan_grace_seconds`` how long an unreferenced blob is
    kept before it counts as a crash orphan.
    """

    db: Database
    blobs: BlobStore
    pool_size: int = DEFAULT_POOL_SIZE
    orphan_grace_seconds: int = ORPHAN_GRACE_SECONDS

    @classmethod
    def open(
        cls,
        database_path: Path,
        blobs_dir: Path,
        *,
        min_free_bytes: int,
        now: Callable[[], float] = time.time,
        pool_size: int = DEFAULT_POOL_SIZE,
        orphan_grace_seconds: int = ORPHAN_GRACE_SECONDS,
        database_url: str | None = None,
    ) -> Store:
        """Open (creating if needed) and migrate the store, and clean up.

        The database is the SQLite file ``database_path`` unless
        ``database_url`` names a PostgreSQL one (see :class:`Database`); the
        data directory is ``database_path``'s either way.

        Start-up cleanup removes blob temporaries left by dead writers (live
        writers in other processes are left alone, see :mod:`.blobs`) and
        committed blobs no item references (see :meth:`remove_orphans`), then
        tops up the blob pool.
        """
        blobs = BlobDir(blobs_dir, min_free_bytes=min_free_bytes, now=now)
        blobs.create()
        blobs.remove_temporaries()
        db = Database(database_path, url=database_url)
        db.migrate()
        store = cls(
            db=db, blobs=blobs, pool_size=pool_size, orphan_grace_seconds=orphan_grace_seconds
        )
        store.remove_orphans(now=time.time())  # compared with real inode times
        blobs.fill_pool(pool_size, stamp=blobs.stamp())
        blobs.stamp_directories()
        return store

    @property
    def data_dir(self) -> Path:
        """The instance's data directory: the one that holds (or would hold) the SQLite file."""
        return self.db.path.parent

    def remove_orphans(self, *, now: float, grace_seconds: float | None = None) -> int:
        """Delete committed blobs that no item references; return how many.

        A crash between a draft's renames and its database commit leaves such
        blobs: unreadable (their header was never stored) but using disk. A
        blob whose inode changed within the grace period (default: the
        store's ``orphan_grace_seconds``) is kept, because a live worker may
        be about to commit the row that references it. They have no header
        row, so there is nothing to shred first: they are just unlinked.
        """
        grace = self.orphan_grace_seconds if grace_seconds is None else grace_seconds
        removed = 0
        for orphan in find_orphans(self.db, self.blobs, now=now, grace_seconds=grace):
            if orphan.past_grace:
                self.blobs.delete_blob(orphan.name)
                removed += 1
        return removed

    def shred(self, blobs: Iterable[str], *, rows_deleted: bool = True) -> None:
        """Finish a crypto-shred, after the transaction that deleted the header rows.

        ``blobs`` are the payloads of the deleted items (``DELETE ... RETURNING
        blob``). In this order: truncate the WAL, so that the deleted headers
        (zeroed in the database by ``secure_delete``) do not linger in it;
        then unlink the blobs and sync the blob directory. A crash in between
        leaves only orphans nobody can decrypt, which the cleanup removes.
        (PostgreSQL zeroes nothing: see :meth:`Database.checkpoint`.)

        ``rows_deleted=False`` says the transaction deleted no row at all:
        with no blobs either, nothing is done. The directory is synced only
        when a blob was unlinked.
        """
        names = list(blobs)
        if not (names or rows_deleted):
            return
        self.db.checkpoint()
        for name in names:
            self.blobs.delete_blob(name)
        if names:
            self.blobs.sync()

    def sweep(self, *, now: float) -> SweepReport:
        """The hourly sweep: clean up, refill the pool, stamp every file with the hour.

        In order: remove temporaries of dead writers and orphans past the
        grace period; top the pool up to ``pool_size`` files; checkpoint the
        WAL (a passive checkpoint: it never waits for the apps); then set the
        access and modification times of every file and directory under
        :attr:`data_dir` and the blob directories (symbolic links themselves,
        never their targets) to ``now`` rounded down to the hour. Their change times become the
        sweep's. Orphans still within the grace period are not touched: a
        stamp would reset the change time their age is measured by (their
        times are already the hour of their commit).

        Files of another owner cannot be stamped; they are counted, not
        raised (``doctor`` reports them).
        """
        stamp = hour(now)
        temporaries = self.blobs.remove_temporaries()
        orphans = find_orphans(
            self.db, self.blobs, now=now, grace_seconds=self.orphan_grace_seconds
        )
        for orphan in orphans:
            if orphan.past_grace:
                self.blobs.delete_blob(orphan.name)
        added = self.blobs.fill_pool(self.pool_size, stamp=stamp)
        self.db.checkpoint(passive=True)
        young = self.blobs.local_paths(orphan.name for orphan in orphans if not orphan.past_grace)
        roots = [self.data_dir, *self._blob_dirs_outside_data()]
        outcomes = [_stamp_tree(root, stamp, skip=young) for root in roots]
        stamped, unstamped = (sum(counts) for counts in zip(*outcomes, strict=True))
        return SweepReport(
            stamp=stamp,
            stamped=stamped,
            unstamped=unstamped,
            pool_added=added,
            pool_size=len(self.blobs.pool_names()),
            temporaries_removed=temporaries,
            orphans_removed=sum(orphan.past_grace for orphan in orphans),
            orphans_kept=len(young),
        )

    def _blob_dirs_outside_data(self) -> list[Path]:
        """The blob store's local directories that ``TIPBOX_BLOBS_DIR`` put elsewhere."""
        return [
            directory
            for directory in self.blobs.local_directories()
            if not directory.is_relative_to(self.data_dir)
        ]

    def close(self, *, stamp: int | None = None) -> None:
        """Release database connections.

        With ``stamp`` (a sweep's hour), set the times of the data directory
        and the database to it afterwards: closing the last connection
        checkpoints and deletes the WAL, which changes both again.
        """
        self.db.close()
        if stamp is not None:
            for path in (self.db.path, self.data_dir):
                _stamp(path, stamp)


def find_orphans(
    db: Database, blobs: BlobStore, *, now: float, grace_seconds: float
) -> list[Orphan]:
    """Every committed blob no item references, and whether it is past the grace period.

    Read-only (``doctor`` uses it). Age is measured by the inode change
    time, which is at least the blob's commit time (the rename sets it) and
    which only the sweep resets (it skips orphans within the grace period).
    """
    orphans = []
    for batch in _batches(blobs.names(), ORPHAN_BATCH):
        for name in sorted(_unreferenced(db, batch)):
            changed = blobs.changed_at(name)
            if changed is not None:
                orphans.append(Orphan(name, past_grace=changed < now - grace_seconds))
    return orphans


def _unreferenced(db: Database, names: list[str]) -> set[str]:
    marks = ", ".join("?" * len(names))
    with db.connection() as conn:
        rows = conn.execute(f"SELECT blob FROM items WHERE blob IN ({marks})", names)  # noqa: S608
        return set(names) - {row[0] for row in rows}


def _stamp_tree(root: Path, stamp: int, *, skip: set[Path]) -> tuple[int, int]:
    """Set atime and mtime of everything under ``root`` (and ``root``) to ``stamp``.

    Files and links first, then directories from the deepest up, so that no
    later step changes a directory stamped earlier. Returns ``(stamped,
    refused)``; entries that vanish meanwhile count as neither.
    """
    entries: list[Path] = []
    directories: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        directories.append(here)
        links = [name for name in subdirectories if (here / name).is_symlink()]
        entries += [here / name for name in (*files, *links) if here / name not in skip]
    outcomes = [_stamp(path, stamp) for path in (*entries, *reversed(directories))]
    return outcomes.count(True), outcomes.count(False)


def _stamp(path: Path, stamp: int) -> bool | None:
    """True if stamped, False if refused (another owner), None if it vanished."""
    try:
        os.utime(path, (stamp, stamp), follow_symlinks=False)
    except FileNotFoundError:
        return None
    except PermissionError:
        return False
    return True


def _batches(names: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for name in names:
        batch.append(name)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
