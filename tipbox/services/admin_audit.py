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

import time
from collections.abc import Callable
from dataclasses import dataclass

from tipbox.services.audit import ACTIONS, COLUMNS, AuditRow, append_entry
from tipbox.store.db import Database

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
        append_entry(
            self._db, action, allowed=ADMIN_ACTIONS, reviewer=reviewer,
            when=self._clock() if now is None else now, target=target,
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
            query = f"SELECT {COLUMNS} FROM audit_log {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
            rows = conn.execute(query, (*args, size + 1)).fetchall()
        entries = [AuditRow.from_row(row) for row in rows[:size]]
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
