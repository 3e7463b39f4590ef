"""The audit log of reviewer actions.

Security contract: a row records *who* (the reviewer's username, or nothing
for a failed login under an unknown name), *what* (one of :data:`ACTIONS`),
*which item* (an item id) or *which source* (its designation: the only
source-side name the server knows, chosen at random) and the *hour*. Never
a codename, an IP address, a user agent, an exact time, a file name or any
content. The attempted username of a failed login is recorded only when it
names an existing account (a typo could be a password).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tipbox.store.db import Database, hour

__all__ = ["ACTIONS", "Audit", "AuditEntry"]

ACTIONS = frozenset(
    {
        "login",
        "failed login",
        "logout",
        "enrol",
        "change password",
        "view",
        "download",
        "export",
        "reply",
        "delete item",
        "delete source",
    }
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row; ``hour`` is Unix seconds rounded down to the hour."""

    id: int
    hour: int
    reviewer: str | None
    action: str
    item_id: int | None
    designation: str | None


class Audit:
    """Append-only audit log in the ``audit_log`` table."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        action: str,
        *,
        reviewer: str | None,
        item_id: int | None = None,
        designation: str | None = None,
        now: float | None = None,
    ) -> None:
        """Append one entry; ``action`` must be one of :data:`ACTIONS`."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        when = hour(self._clock() if now is None else now)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log (hour, reviewer, action, item_id, designation)"
                " VALUES (?, ?, ?, ?, ?)",
                (when, reviewer, action, item_id, designation),
            )

    def recent(self, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT id, hour, reviewer, action, item_id, designation FROM audit_log"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [AuditEntry(*row) for row in rows]
