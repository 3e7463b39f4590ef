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
``now`` removes. Time is always a parameter. A purge that removed
something writes one "purge" audit row (the number of items); ``by`` is the
acting admin's username, ``None`` for the host (command line, scheduled
purge).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from tipbox.errors import InvalidInput
from tipbox.services.audit import Audit
from tipbox.store import Store, hour
from tipbox.store.items import count_expired, delete_expired

__all__ = ["DAY_SECONDS", "PurgePlan", "Retention", "cutoff_hour"]

DAY_SECONDS = 86_400


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
    """Preview and purge of expired sources and items (see the module contract).

    ``audit`` receives the rows of what it did.
    """

    def __init__(self, store: Store, *, audit: Audit) -> None:
        self._store = store
        self._audit = audit

    def preview(self, days: int, *, now: float) -> PurgePlan:
        """What :meth:`purge` would remove with the same ``days`` and ``now``."""
        cut = cutoff_hour(days, now)
        if cut is None:
            return PurgePlan(None, 0, 0, 0, ())
        with self._store.db.reading() as conn:
            return _plan(conn, cut)

    def purge(self, days: int, *, now: float, by: str | None = None) -> PurgePlan:
        """Crypto-shred everything expired at ``now``; returns what was removed."""
        cut = cutoff_hour(days, now)
        if cut is None:
            return PurgePlan(None, 0, 0, 0, ())
        with self._store.db.transaction() as conn:
            plan = _plan(conn, cut)
            blobs = delete_expired(conn, cut)
        self._store.shred(blobs, rows_deleted=bool(plan.sources))
        if not plan.empty:
            self._audit.record("purge", reviewer=by, target=f"{plan.items} items")
        return plan


def _plan(conn: sqlite3.Connection, cut: int) -> PurgePlan:
    expired = count_expired(conn, cut)
    return PurgePlan(
        cut=cut,
        items=expired.items,
        submissions=expired.submissions,
        replies=expired.replies,
        sources=expired.sources,
    )
