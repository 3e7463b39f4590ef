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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tipbox.store.db import Database, hour

__all__ = ["ACTIONS", "COLUMNS", "Audit", "AuditRow", "append_entry"]

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


COLUMNS = "id, hour, reviewer, action, target, item_id, designation"


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit row; ``hour`` is Unix seconds rounded down to the hour.

    ``target`` names what an admin action was about (a username or key
    fingerprint); ``item_id`` and ``designation`` what a reviewer acted on.
    """

    id: int
    hour: int
    reviewer: str | None
    action: str
    target: str | None
    item_id: int | None
    designation: str | None

    @classmethod
    def from_row(cls, row: Sequence[object]) -> AuditRow:
        """Build from a row selected as :data:`COLUMNS`."""
        return cls(*row)  # type: ignore[arg-type]


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
        append_entry(
            self._db, action, allowed=ACTIONS, reviewer=reviewer,
            when=self._clock() if now is None else now,
            item_id=item_id, designation=designation,
        )

    def recent(self, limit: int = 100) -> list[AuditRow]:
        """The newest ``limit`` entries, newest first."""
        with self._db.reading() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM audit_log ORDER BY id DESC LIMIT ?",  # noqa: S608
                (limit,),
            ).fetchall()
        return [AuditRow.from_row(row) for row in rows]


def append_entry(
    db: Database,
    action: str,
    *,
    allowed: frozenset[str],
    reviewer: str | None,
    when: float,
    item_id: int | None = None,
    designation: str | None = None,
    target: str | None = None,
) -> None:
    """Insert one audit row at the hour of ``when``; ``action`` must be in ``allowed``."""
    if action not in allowed:
        raise ValueError(f"unknown audit action {action!r}")
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO audit_log (hour, reviewer, action, item_id, designation, target)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (hour(when), reviewer, action, item_id, designation, target),
        )
