"""The ``audit_log`` table: one row per reviewer or admin action.

Contract: the functions run inside the caller's connection or transaction;
rows are read as :data:`COLUMNS`, newest (highest id) first. The caller
decides what may be written (see :mod:`tipbox.services.audit`); this module
stores what it is given.
"""

from __future__ import annotations

import sqlite3

__all__ = ["COLUMNS", "audit_reviewers", "insert_entry", "newest_entries"]

COLUMNS = "id, hour, reviewer, action, target, item_id, designation"


def insert_entry(
    conn: sqlite3.Connection,
    action: str,
    *,
    hour: int,
    reviewer: str | None,
    target: str | None = None,
    item_id: int | None = None,
    designation: str | None = None,
) -> None:
    """Append one row."""
    conn.execute(
        "INSERT INTO audit_log (hour, reviewer, action, item_id, designation, target)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (hour, reviewer, action, item_id, designation, target),
    )


def newest_entries(
    conn: sqlite3.Connection,
    limit: int,
    *,
    reviewer: str | None = None,
    action: str | None = None,
    before: int | None = None,
) -> list[sqlite3.Row]:
    """Up to ``limit`` rows matching the filters (``None``: any) below id ``before``."""
    clauses: list[str] = []
    args: list[object] = []
    for clause, value in (("reviewer = ?", reviewer), ("action = ?", action), ("id < ?", before)):
        if value is not None:
            clauses.append(clause)
            args.append(value)
    where = "WHERE " + " AND ".join(clauses) if clauses else ""
    # ``where`` is built from fixed clauses only; values are bound.
    query = f"SELECT {COLUMNS} FROM audit_log {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
    return conn.execute(query, (*args, limit)).fetchall()


def audit_reviewers(conn: sqlite3.Connection) -> list[str]:
    """Every reviewer name that appears in the log, sorted."""
    rows = conn.execute(
        "SELECT DISTINCT reviewer FROM audit_log WHERE reviewer IS NOT NULL ORDER BY reviewer"
    ).fetchall()
    return [str(row[0]) for row in rows]
