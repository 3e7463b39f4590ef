"""The account tables: ``reviewers`` and the ``login_throttle``, for logins and for admins.

Contract:

- The functions run inside the caller's connection or transaction
  (``Database.reading()`` / ``transaction()``) and hold no policy: which
  password opens what, and when a name is locked, is decided by
  ``services/accounts``.
- :class:`Credentials` are the columns a password change rewrites; none of
  them is a secret in the clear (the KEK is never stored).
- A reviewer's grants are those whose holder is ``"reviewer:<id>"``.
- :func:`insert_reviewer` lets ``sqlite3.IntegrityError`` through for a
  taken username.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from tipbox.store.items import latest_submission_id

__all__ = [
    "Attempts",
    "Credentials",
    "account_row",
    "account_rows",
    "account_state",
    "accounts_with_grants",
    "count_other_admins",
    "delete_account",
    "delete_attempts",
    "insert_reviewer",
    "is_enabled",
    "notice_marks",
    "notify_preference",
    "notify_watchers",
    "set_notified",
    "set_notify_preference",
    "purge_attempts",
    "read_attempts",
    "reviewer_by_name",
    "reviewer_id_of",
    "revoke_access",
    "set_admin_flag",
    "set_credentials",
    "set_disabled",
    "set_totp_last_step",
    "totp_last_step",
    "write_attempts",
]

#: The columns of an account as the rest of the app sees it (nothing secret).
_ACCOUNT_COLUMNS = "id, username, is_admin, active, recipient"


class Credentials(NamedTuple):
    """What is stored of a password: Argon2 parameters, salt, verifier, sealed secrets."""

    password_params: str
    password_salt: bytes
    verifier: bytes
    sealed_identity: bytes
    sealed_totp: bytes


#: One name's throttle state: failures, window start, locked until, lockouts.
Attempts = tuple[int, float, float, int]


# -- reviewers -----------------------------------------------------------------------


def reviewer_by_name(conn: sqlite3.Connection, username: str) -> sqlite3.Row | None:
    """Every column of ``username``'s row (credentials included), or ``None``."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM reviewers WHERE username = ?", (username,)
    ).fetchone()
    return row


def account_row(conn: sqlite3.Connection, reviewer_id: int) -> sqlite3.Row | None:
    """``id, username, is_admin, active, recipient`` of one reviewer, or ``None``."""
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {_ACCOUNT_COLUMNS} FROM reviewers WHERE id = ?",  # noqa: S608
        (reviewer_id,),
    ).fetchone()
    return row


def account_rows(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """``id, username, is_admin, active, recipient`` of every reviewer, in creation order."""
    return conn.execute(
        f"SELECT {_ACCOUNT_COLUMNS} FROM reviewers ORDER BY id"  # noqa: S608
    ).fetchall()


def insert_reviewer(
    conn: sqlite3.Connection,
    username: str,
    *,
    is_admin: bool,
    disabled: bool,
    recipient: str,
    credentials: Credentials,
    created_hour: int,
) -> int:
    """Insert a pending account (not active, no TOTP step used yet); returns its id."""
    row = conn.execute(
        "INSERT INTO reviewers (username, is_admin, disabled, active, recipient,"
        " password_params, password_salt, verifier, sealed_identity, sealed_totp,"
        " totp_last_step, created_hour) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, -1, ?) RETURNING id",
        (username, int(is_admin), int(disabled), recipient, *credentials, created_hour),
    ).fetchone()
    return int(row[0])


def set_credentials(
    conn: sqlite3.Connection, reviewer_id: int, credentials: Credentials, *, activate: bool
) -> None:
    """Replace a reviewer's credentials; ``activate`` also makes the account active."""
    conn.execute(
        "UPDATE reviewers SET password_params = ?, password_salt = ?, verifier = ?,"
        " sealed_identity = ?, sealed_totp = ?,"
        " active = CASE WHEN ? = 1 THEN 1 ELSE active END WHERE id = ?",
        (*credentials, int(activate), reviewer_id),
    )


def totp_last_step(conn: sqlite3.Connection, reviewer_id: int) -> int | None:
    """The last TOTP step accepted for the reviewer (-1: none yet), or ``None`` if no such one."""
    row = conn.execute(
        "SELECT totp_last_step FROM reviewers WHERE id = ?", (reviewer_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def set_totp_last_step(conn: sqlite3.Connection, reviewer_id: int, step: int) -> None:
    """Record ``step`` as the last accepted TOTP step of the reviewer."""
    conn.execute("UPDATE reviewers SET totp_last_step = ? WHERE id = ?", (step, reviewer_id))


def is_enabled(conn: sqlite3.Connection, reviewer_id: int) -> bool:
    """True if the reviewer exists and is not disabled."""
    row = conn.execute("SELECT disabled FROM reviewers WHERE id = ?", (reviewer_id,)).fetchone()
    return row is not None and not row[0]


# -- login_throttle ---------------------------------------------------------------------


def read_attempts(conn: sqlite3.Connection, name_hash: bytes) -> Attempts | None:
    """The throttle state stored for ``name_hash``, or ``None``."""
    row = conn.execute(
        "SELECT failures, window_start, locked_until, lockouts FROM login_throttle"
        " WHERE name_hash = ?",
        (name_hash,),
    ).fetchone()
    if row is None:
        return None
    return int(row[0]), float(row[1]), float(row[2]), int(row[3])


def write_attempts(conn: sqlite3.Connection, name_hash: bytes, attempts: Attempts) -> None:
    """Store (insert or replace) the throttle state of ``name_hash``."""
    conn.execute(
        "INSERT INTO login_throttle (name_hash, failures, window_start, locked_until, lockouts)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name_hash) DO UPDATE SET"
        " failures = excluded.failures, window_start = excluded.window_start,"
        " locked_until = excluded.locked_until, lockouts = excluded.lockouts",
        (name_hash, *attempts),
    )


def delete_attempts(conn: sqlite3.Connection, name_hash: bytes) -> None:
    """Forget the throttle state of ``name_hash``."""
    conn.execute("DELETE FROM login_throttle WHERE name_hash = ?", (name_hash,))


def purge_attempts(
    conn: sqlite3.Connection, now: float, *, window_seconds: float, max_lock_seconds: float
) -> int:
    """Delete the rows whose window and lock are over at ``now``; returns how many.

    A row never locked out goes once ``window_seconds`` past its window
    start; one that was locked out stays ``max_lock_seconds`` after its lock
    ended.
    """
    cursor = conn.execute(
        "DELETE FROM login_throttle WHERE window_start + ? < ? AND locked_until <= ?"
        " AND (lockouts = 0 OR locked_until + ? < ?)",
        (window_seconds, now, now, max_lock_seconds, now),
    )
    return cursor.rowcount


# -- account administration ------------------------------------------------------


def accounts_with_grants(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every account in creation order: ``id, username, is_admin, active, disabled`` and
    ``n``, its number of grants."""
    return conn.execute(
        "SELECT r.id, r.username, r.is_admin, r.active, r.disabled,"
        " (SELECT count(*) FROM grants g WHERE g.holder = 'reviewer:' || r.id) AS n"
        " FROM reviewers r ORDER BY r.id"
    ).fetchall()


def account_state(conn: sqlite3.Connection, reviewer_id: int) -> sqlite3.Row | None:
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


def reviewer_id_of(conn: sqlite3.Connection, username: str) -> int | None:
    """The id of the account ``username``; None if there is none."""
    row = conn.execute("SELECT id FROM reviewers WHERE username = ?", (username,)).fetchone()
    return None if row is None else int(row[0])


# -- notification preferences (issue 13) ---------------------------------------------


def notice_marks(conn: sqlite3.Connection) -> tuple[int, int]:
    """The highest source id and submission id stored now (0 for none)."""
    source = conn.execute("SELECT coalesce(max(id), 0) FROM sources").fetchone()[0]
    return int(source), latest_submission_id(conn)


def notify_preference(conn: sqlite3.Connection, reviewer_id: int) -> sqlite3.Row | None:
    """``notify, notify_email`` of one reviewer, or ``None``."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT notify, notify_email FROM reviewers WHERE id = ?", (reviewer_id,)
    ).fetchone()
    return row


def set_notify_preference(
    conn: sqlite3.Connection, reviewer_id: int, notify: str, email: str | None,
    marks: tuple[int, int],
) -> None:
    """Store what the reviewer wants told and where; nothing before ``marks`` is told."""
    conn.execute(
        "UPDATE reviewers SET notify = ?, notify_email = ?, notified_source = ?,"
        " notified_submission = ? WHERE id = ?",
        (notify, email, *marks, reviewer_id),
    )


def notify_watchers(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Enabled, active reviewers who want notices at an address of their own.

    Columns ``id, notify, notify_email``, and two flags: ``new_source`` (a
    source newer than their mark exists on one of their desks) and
    ``assigned_activity`` (a submission newer than their mark, on a source of
    their desks assigned to them, exists).
    """
    return conn.execute(
        "SELECT r.id, r.notify, r.notify_email,"
        " EXISTS (SELECT 1 FROM sources s JOIN desk_members m ON m.desk_id = s.desk_id"
        "  WHERE m.reviewer_id = r.id AND s.id > r.notified_source) AS new_source,"
        " EXISTS (SELECT 1 FROM assignments a JOIN submissions s ON s.source_id = a.source_id"
        "  JOIN sources o ON o.id = a.source_id"
        "  JOIN desk_members m ON m.desk_id = o.desk_id AND m.reviewer_id = r.id"
        "  WHERE a.reviewer_id = r.id AND s.id > r.notified_submission) AS assigned_activity"
        " FROM reviewers r WHERE r.disabled = 0 AND r.active = 1 AND r.notify != 'none'"
        " AND r.notify_email IS NOT NULL ORDER BY r.id"
    ).fetchall()


def set_notified(conn: sqlite3.Connection, reviewer_id: int, marks: tuple[int, int]) -> None:
    """Record that everything up to ``marks`` (source id, submission id) was considered."""
    source, submission = marks
    conn.execute(
        "UPDATE reviewers"
        " SET notified_source = CASE WHEN notified_source > ? THEN notified_source ELSE ? END,"
        " notified_submission = CASE WHEN notified_submission > ? THEN notified_submission"
        " ELSE ? END WHERE id = ?",
        (source, source, submission, submission, reviewer_id),
    )
