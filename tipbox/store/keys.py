"""The key tables: ``newsroom_keys`` and the ``grants`` that wrap them for holders.

Contract: functions run inside the caller's connection or transaction. Rows
of ``newsroom_keys`` are returned whole (``SELECT *``, for
:meth:`tipbox.services.custody.keyring.NewsroomKey.from_row`). Nothing here
encrypts or decrypts: a grant arrives and leaves sealed.
"""

from __future__ import annotations

import sqlite3

__all__ = [
    "active_key_row",
    "delete_grants_of",
    "destroy_key",
    "enabled_reviewer_recipients",
    "held_key_recipients",
    "insert_newsroom_key",
    "key_row",
    "key_rows",
    "key_rows_with_counts",
    "live_key",
    "live_key_id",
    "retire_active_key",
    "retired_hour_of",
    "sealed_grants_to",
    "write_grant",
]


def delete_grants_of(conn: sqlite3.Connection, holder: str, recipient: str) -> None:
    """Delete every grant held by ``holder`` or wrapped to ``recipient``."""
    conn.execute(
        "DELETE FROM grants WHERE holder = ? OR holder_recipient = ?", (holder, recipient)
    )


def live_key_id(conn: sqlite3.Connection, recipient: str) -> int | None:
    """The id of the newsroom key of ``recipient`` unless it is destroyed, or ``None``."""
    found = live_key(conn, recipient)
    return None if found is None else found[0]


def live_key(conn: sqlite3.Connection, recipient: str) -> tuple[int, int] | None:
    """``(id, desk_id)`` of the key of ``recipient`` unless it is destroyed, or ``None``."""
    row = conn.execute(
        "SELECT id, desk_id FROM newsroom_keys WHERE recipient = ? AND state != 'destroyed'",
        (recipient,),
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def held_key_recipients(conn: sqlite3.Connection, holder: str) -> set[str]:
    """The recipients of the newsroom keys ``holder`` holds a grant of."""
    rows = conn.execute(
        "SELECT k.recipient FROM grants g JOIN newsroom_keys k ON k.id = g.key_id"
        " WHERE g.holder = ?",
        (holder,),
    )
    return {str(row[0]) for row in rows}


# -- newsroom keys (keyring and rotation) ------------------------------------------------


def insert_newsroom_key(
    conn: sqlite3.Connection,
    *,
    recipient: str,
    fingerprint: str,
    kind: str,
    state: str,
    created_hour: int,
    desk_id: int,
) -> sqlite3.Row:
    """Record a new key of a desk; returns its row (a unique index allows one ``active``
    key per desk)."""
    row: sqlite3.Row = conn.execute(
        "INSERT INTO newsroom_keys (recipient, fingerprint, kind, state, created_hour, desk_id)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
        (recipient, fingerprint, kind, state, created_hour, desk_id),
    ).fetchone()
    return row


def write_grant(
    conn: sqlite3.Connection, key_id: int, *, holder: str, holder_recipient: str, sealed: bytes
) -> None:
    """Store ``holder``'s grant of key ``key_id`` (``sealed`` to ``holder_recipient``),
    replacing the one it had."""
    conn.execute(
        "INSERT INTO grants (key_id, holder, holder_recipient, sealed) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (key_id, holder) DO UPDATE SET"
        " holder_recipient = excluded.holder_recipient, sealed = excluded.sealed",
        (key_id, holder, holder_recipient, sealed),
    )


def key_rows(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every key, newest first."""
    return conn.execute("SELECT * FROM newsroom_keys ORDER BY id DESC").fetchall()


def key_row(conn: sqlite3.Connection, key_id: int) -> sqlite3.Row | None:
    """One key; None for no such key."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM newsroom_keys WHERE id = ?", (key_id,)
    ).fetchone()
    return row


def active_key_row(conn: sqlite3.Connection, desk_id: int) -> sqlite3.Row | None:
    """The active key of a desk; None before ``init`` (or for no such desk)."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM newsroom_keys WHERE state = 'active' AND desk_id = ?", (desk_id,)
    ).fetchone()
    return row


def sealed_grants_to(conn: sqlite3.Connection, holder_recipient: str) -> list[bytes]:
    """The sealed grants addressed to ``holder_recipient``, newest key first."""
    rows = conn.execute(
        "SELECT sealed FROM grants WHERE holder_recipient = ? ORDER BY key_id DESC",
        (holder_recipient,),
    ).fetchall()
    return [bytes(row["sealed"]) for row in rows]


def key_rows_with_counts(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every key, newest first, with ``n_items`` (items under it) and ``n_grants``."""
    return conn.execute(
        "SELECT k.*, (SELECT count(*) FROM items i WHERE i.key_id = k.id) AS n_items,"
        " (SELECT count(*) FROM grants g WHERE g.key_id = k.id) AS n_grants"
        " FROM newsroom_keys k ORDER BY k.id DESC"
    ).fetchall()


def retire_active_key(
    conn: sqlite3.Connection, desk_id: int, retired_hour: int
) -> sqlite3.Row | None:
    """Mark a desk's active key retired at ``retired_hour``; its row, or None if none was."""
    row: sqlite3.Row | None = conn.execute(
        "UPDATE newsroom_keys SET state = 'retired', retired_hour = ?"
        " WHERE state = 'active' AND desk_id = ? RETURNING *",
        (retired_hour, desk_id),
    ).fetchone()
    return row


def retired_hour_of(conn: sqlite3.Connection, key_id: int) -> int | None:
    """When key ``key_id`` was retired (an hour), or None if it never was."""
    value = conn.execute(
        "SELECT retired_hour FROM newsroom_keys WHERE id = ?", (key_id,)
    ).fetchone()[0]
    return None if value is None else int(value)


def destroy_key(conn: sqlite3.Connection, key_id: int) -> sqlite3.Row:
    """Delete every grant of key ``key_id`` and mark it destroyed; returns its row."""
    conn.execute("DELETE FROM grants WHERE key_id = ?", (key_id,))
    row: sqlite3.Row = conn.execute(
        "UPDATE newsroom_keys SET state = 'destroyed' WHERE id = ? RETURNING *", (key_id,)
    ).fetchone()
    return row


def enabled_reviewer_recipients(conn: sqlite3.Connection, desk_id: int) -> list[sqlite3.Row]:
    """``id, recipient`` of every member of the desk whose account is not disabled, by id:
    the holders a new key of the desk is granted to."""
    return conn.execute(
        "SELECT r.id, r.recipient FROM reviewers r JOIN desk_members m ON m.reviewer_id = r.id"
        " WHERE m.desk_id = ? AND r.disabled = 0 ORDER BY r.id",
        (desk_id,),
    ).fetchall()
