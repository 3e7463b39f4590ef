"""The audit log: reviewer actions, admin actions, and the paginated viewer.

Every service records its own rows through one :class:`Audit` (the inbox and
the logins their reviewer actions, the admin services their admin actions);
no view or command writes a row.

Security contract: a row records *who* (the reviewer's username; nothing for
the host, i.e. the command line or a scheduled purge, and for a failed login
under an unknown name), *what* (one of :data:`ACTIONS`), *which item* (an
item id), *which source* (its designation: the only source-side name the
server knows, chosen at random) or, for an admin action, *which target* (a
username, a key fingerprint, a count), and the *hour*. Never a codename, an
IP address, a user agent, an exact time, a file name, any content, key
material or a password. The attempted username of a failed login is
recorded only when it names an existing account (a typo could be a
password).

The viewer pages by id (keyset pagination: newest first, ``before`` is the
smallest id of the previous page), so a page costs the same at any depth.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tipbox.store.audit import audit_reviewers, insert_entry, newest_entries
from tipbox.store.db import Database, hour

__all__ = [
    "ACTIONS",
    "ADMIN_ACTIONS",
    "REVIEWER_ACTIONS",
    "Audit",
    "AuditPage",
    "AuditRow",
]

REVIEWER_ACTIONS = frozenset(
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
        "note",
        "set status",
        "label",
        "unlabel",
        "delete label",
        "assign",
        "unassign",
        "notification preferences",
        "add security key",
        "remove security key",
    }
)
ADMIN_ACTIONS = frozenset(
    {
        "add reviewer",
        "disable reviewer",
        "enable reviewer",
        "delete reviewer",
        "reset reviewer",
        "grant admin",
        "revoke admin",
        "rotate key",
        "rewrap headers",
        "destroy key",
        "recover admin",
        "rotate recovery",
        "purge",
        "change settings",
        "create desk",
        "edit desk",
        "open desk",
        "close desk",
        "add desk member",
        "remove desk member",
        "add question",
        "remove question",
        "move source",
    }
)
ACTIONS = REVIEWER_ACTIONS | ADMIN_ACTIONS
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


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
        """Build from a row selected as :data:`tipbox.store.audit.COLUMNS`."""
        return cls(*row)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of entries; ``next_before`` continues it (``None``: last page)."""

    entries: list[AuditRow]
    next_before: int | None


class Audit:
    """Append-only audit log in the ``audit_log`` table, and its viewer."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        action: str,
        *,
        reviewer: str | None,
        target: str | None = None,
        item_id: int | None = None,
        designation: str | None = None,
        now: float | None = None,
    ) -> None:
        """Append one entry; ``action`` must be one of :data:`ACTIONS` (else ``ValueError``)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        when = hour(self._clock() if now is None else now)
        with self._db.transaction() as conn:
            insert_entry(
                conn, action, hour=when, reviewer=reviewer, target=target,
                item_id=item_id, designation=designation,
            )

    def recent(self, limit: int = 100) -> list[AuditRow]:
        """The newest ``limit`` entries, newest first."""
        with self._db.reading() as conn:
            rows = newest_entries(conn, limit)
        return [AuditRow.from_row(row) for row in rows]

    def page(
        self,
        *,
        reviewer: str | None = None,
        action: str | None = None,
        before: int | None = None,
        size: int = PAGE_SIZE,
    ) -> AuditPage:
        """Newest-first entries matching the filters (``None``: any), below id ``before``."""
        size = max(1, min(size, MAX_PAGE_SIZE))
        with self._db.reading() as conn:
            rows = newest_entries(conn, size + 1, reviewer=reviewer, action=action, before=before)
        entries = [AuditRow.from_row(row) for row in rows[:size]]
        more = len(rows) > size
        return AuditPage(entries, entries[-1].id if more and entries else None)

    def reviewers(self) -> list[str]:
        """Every reviewer name that appears in the log (for the filter)."""
        with self._db.reading() as conn:
            return audit_reviewers(conn)

    @staticmethod
    def actions() -> list[str]:
        """Every action the log may contain (for the filter)."""
        return sorted(ACTIONS)
