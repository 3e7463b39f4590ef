"""Admin actions in the audit log, and the paginated, filtered audit viewer.

Admin actions go into the same ``audit_log`` table as the reviewer actions
of :mod:`tipbox.services.audit`, with a ``target``: the username or key
fingerprint the action was about. Security contract: as for every audit row,
no content, codename, address, user agent or exact time (hours only), and
never key material or passwords.

The viewer pages by id (keyset pagination: newest first, ``before`` is the
smallest id of the previous page), so a page costs the same at any depth.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from tipbox.services.audit import ACTIONS
from tipbox.store.db import Database, hour

__all__ = ["ADMIN_ACTIONS", "AdminAudit", "AuditPage", "AuditRow"]

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
    }
)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit entry as the viewer shows it."""

    id: int
    hour: int
    reviewer: str | None
    action: str
    target: str | None
    item_id: int | None
    designation: str | None


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of entries; ``next_before`` continues it (``None``: last page)."""

    entries: list[AuditRow]
    next_before: int | None


class AdminAudit:
    """Record admin actions; search the whole log."""

    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def record(
        self,
        action: str,
        *,
        reviewer: str | None,
        target: str | None = None,
        now: float | None = None,
    ) -> None:
        """Append one admin entry; ``action`` must be one of :data:`ADMIN_ACTIONS`."""
        if action not in ADMIN_ACTIONS:
            raise ValueError(f"unknown admin audit action {action!r}")
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_log (hour, reviewer, action, target) VALUES (?, ?, ?, ?)",
                (hour(self._clock() if now is None else now), reviewer, action, target),
            )

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
        where, args = _filters(reviewer, action, before)
        with self._db.reading() as conn:
            # ``where`` is built from fixed clauses only; values are bound.
            columns = "id, hour, reviewer, action, target, item_id, designation"
            query = f"SELECT {columns} FROM audit_log {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
            rows = conn.execute(query, (*args, size + 1)).fetchall()
        entries = [_row(row) for row in rows[:size]]
        more = len(rows) > size
        return AuditPage(entries, entries[-1].id if more and entries else None)

    def reviewers(self) -> list[str]:
        """Every reviewer name that appears in the log (for the filter)."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT DISTINCT reviewer FROM audit_log WHERE reviewer IS NOT NULL"
                " ORDER BY reviewer"
            ).fetchall()
        return [str(row[0]) for row in rows]

    @staticmethod
    def actions() -> list[str]:
        """Every action the log may contain (for the filter)."""
        return sorted(ACTIONS | ADMIN_ACTIONS)


def _filters(
    reviewer: str | None, action: str | None, before: int | None
) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    for clause, value in (("reviewer = ?", reviewer), ("action = ?", action), ("id < ?", before)):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


def _row(row: sqlite3.Row) -> AuditRow:
    return AuditRow(
        id=int(row["id"]),
        hour=int(row["hour"]),
        reviewer=row["reviewer"],
        action=str(row["action"]),
        target=row["target"],
        item_id=row["item_id"],
        designation=row["designation"],
    )
