"""Retention: crypto-shred what is older than the instance's retention period.

Rules, with ``cut`` = the hour of ``now - days`` (stored hours are rounded
down, so an item is only removed once it is *certainly* older than
``days``):

- an **item** (message, file, manifest or reply) expires when its
  ``created_hour < cut``; the items of one submission share its hour, so a
  submission always expires whole;
- a **submission** row goes with its last item;
- a **source** expires when its ``last_activity_hour < cut`` and it has no
  item left; a source with a recent reply stays until that expires too.

``days = 0`` means keep forever: nothing expires.

Security contract: :meth:`Retention.purge` deletes every expired header row
in one transaction (``secure_delete``: the payloads become noise, also in
old backups of the blob directory), truncates the WAL, and only then unlinks
the payload files (a crash in between leaves unreferenced blobs, removed
at the next start). :meth:`Retention.preview` runs the same queries
without deleting, so it shows exactly what the next purge at the same
``now`` removes. Time is always a parameter.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tipbox.errors import InvalidInput
from tipbox.store import Store, hour

__all__ = ["DAY_SECONDS", "PurgePlan", "Retention", "cutoff_hour"]

DAY_SECONDS = 86_400

_ITEMS = "FROM items WHERE created_hour < :cut"
_SUBMISSIONS = (
    "FROM submissions WHERE created_hour < :cut AND NOT EXISTS"
    " (SELECT 1 FROM items i WHERE i.submission_id = submissions.id AND i.created_hour >= :cut)"
)
_SOURCES = (
    "FROM sources WHERE last_activity_hour < :cut AND NOT EXISTS"
    " (SELECT 1 FROM items i WHERE i.source_id = sources.id AND i.created_hour >= :cut)"
)


@dataclass(frozen=True, slots=True)
class PurgePlan:
    """What a purge removes (or removed). ``cut`` is ``None`` when retention is off."""

    cut: int | None
    items: int
    submissions: int
    replies: int
    sources: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """Whether nothing expires."""
        return not (self.items or self.submissions or self.sources)


def cutoff_hour(days: int, now: float) -> int | None:
    """The hour before which things expire, or ``None`` for ``days = 0`` (off)."""
    if days < 0:
        raise InvalidInput("the retention period cannot be negative")
    return None if days == 0 else hour(now - days * DAY_SECONDS)


class Retention:
    """Preview and purge of expired sources and items (see the module contract)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def preview(self, days: int, *, now: float) -> PurgePlan:
        """What :meth:`purge` would remove with the same ``days`` and ``now``."""
        cut = cutoff_hour(days, now)
        if cut is None:
            return PurgePlan(None, 0, 0, 0, ())
        with self._store.db.reading() as conn:
            return _plan(conn, cut)

    def purge(self, days: int, *, now: float) -> PurgePlan:
        """Crypto-shred everything expired at ``now``; returns what was removed."""
        cut = cutoff_hour(days, now)
        if cut is None:
            return PurgePlan(None, 0, 0, 0, ())
        with self._store.db.transaction() as conn:
            plan = _plan(conn, cut)
            deleted = conn.execute(f"DELETE {_ITEMS} RETURNING blob", {"cut": cut})  # noqa: S608
            blobs = [str(row[0]) for row in deleted]
            conn.execute(f"DELETE {_SUBMISSIONS}", {"cut": cut})  # noqa: S608
            conn.execute(f"DELETE {_SOURCES}", {"cut": cut})  # noqa: S608
        self._store.shred(blobs, rows_deleted=bool(plan.sources))
        return plan


def _plan(conn: sqlite3.Connection, cut: int) -> PurgePlan:
    args = {"cut": cut}

    def count(query: str) -> int:
        return int(conn.execute(f"SELECT count(*) {query}", args).fetchone()[0])  # noqa: S608

    designations = conn.execute(f"SELECT designation {_SOURCES} ORDER BY id", args)  # noqa: S608
    return PurgePlan(
        cut=cut,
        items=count(_ITEMS),
        submissions=count(_SUBMISSIONS),
        replies=count(_ITEMS + " AND kind = 'reply'"),
        sources=tuple(str(row[0]) for row in designations),
    )
