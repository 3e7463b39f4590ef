"""What account administration reads and writes of the ``reviewers`` table.

(The rest of the reviewers family, for logins and enrolment, is in
:mod:`tipbox.store.reviewers`.) Contract: the functions run inside the
caller's connection or transaction; a reviewer's grants are those whose
holder is ``"reviewer:<id>"``.
"""

from __future__ import annotations

import sqlite3

__all__ = [
    "account_row",
    "account_rows",
    "count_other_admins",
    "delete_account",
    "revoke_access",
    "set_admin_flag",
    "set_disabled",
]


def account_rows(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every account in creation order: ``id, username, is_admin, active, disabled`` and
    ``n``, its number of grants."""
    return conn.execute(
        "SELECT r.id, r.username, r.is_admin, r.active, r.disabled,"
        " (SELECT count(*) FROM grants g WHERE g.holder = 'reviewer:' || r.id) AS n"
        " FROM reviewers r ORDER BY r.id"
    ).fetchall()


def account_row(conn: sqlite3.Connection, reviewer_id: int) -> sqlite3.Row | None:
    """``id, username, is_admin, disabled`` of one account; None for no such account."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT id, username, is_admin, disabled FROM reviewers WHERE id = ?", (reviewer_id,)
    ).fetchone()
    return row


def count_other_admins(conn: sqlite3.Connection, reviewer_id: int) -> int:
    """How many admin accounts other than ``reviewer_id`` are not disabled."""
    return int(
        conn.execute(
            "SELECT count(*) FROM reviewers WHERE is_admin = 1 AND disabled = 0 AND id != ?",
            (reviewer_id,),
        ).fetchone()[0]
    )


def set_disabled(conn: sqlite3.Connection, reviewer_id: int, *, disabled: bool) -> None:
    """Mark the account disabled (no login, no grant) or enabled."""
    conn.execute("UPDATE reviewers SET disabled = ? WHERE id = ?", (int(disabled), reviewer_id))


def set_admin_flag(conn: sqlite3.Connection, reviewer_id: int, *, is_admin: bool) -> None:
    """Give or take the admin role."""
    conn.execute("UPDATE reviewers SET is_admin = ? WHERE id = ?", (int(is_admin), reviewer_id))


def delete_account(conn: sqlite3.Connection, reviewer_id: int) -> None:
    """Delete the account row (its grants and sessions: :func:`revoke_access` first)."""
    conn.execute("DELETE FROM reviewers WHERE id = ?", (reviewer_id,))


def revoke_access(conn: sqlite3.Connection, reviewer_id: int, holder: str) -> int:
    """Delete the grants of ``holder`` and the sessions of ``reviewer_id``; returns the
    number of grants deleted."""
    grants = conn.execute("DELETE FROM grants WHERE holder = ?", (holder,))
    conn.execute("DELETE FROM reviewer_sessions WHERE reviewer_id = ?", (reviewer_id,))
    return grants.rowcount
