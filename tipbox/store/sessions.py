"""The session tables: ``reviewer_sessions`` and ``source_sessions``.

Contract: the functions run inside the caller's connection or transaction
and hold no policy (what expires when is decided by the session services).
Rows are found by the SHA-256 of a session id, never by the id or the
token; a reviewer session's ``sealed`` secrets open only with the key from
the cookie.
"""

from __future__ import annotations

import sqlite3

__all__ = [
    "count_reviewer_sessions",
    "count_source_sessions",
    "delete_reviewer_session",
    "delete_reviewer_sessions_of",
    "delete_source_session",
    "insert_reviewer_session",
    "insert_source_session",
    "purge_reviewer_sessions",
    "purge_source_sessions",
    "reseal_reviewer_session",
    "reviewer_session",
    "source_session_is_live",
    "touch_reviewer_session",
]


# -- reviewer_sessions -------------------------------------------------------------------


def insert_reviewer_session(
    conn: sqlite3.Connection,
    id_hash: bytes,
    reviewer_id: int,
    *,
    kind: str,
    now: float,
    sealed: bytes,
) -> None:
    """Store a new session, created and last seen at ``now``."""
    conn.execute(
        "INSERT INTO reviewer_sessions (id_hash, reviewer_id, kind, created, last_seen,"
        " sealed) VALUES (?, ?, ?, ?, ?, ?)",
        (id_hash, reviewer_id, kind, now, now, sealed),
    )


def reviewer_session(conn: sqlite3.Connection, id_hash: bytes) -> sqlite3.Row | None:
    """The session's row with its account's ``username, is_admin, active, disabled``."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT s.*, r.username, r.is_admin, r.active, r.disabled FROM reviewer_sessions s"
        " JOIN reviewers r ON r.id = s.reviewer_id WHERE s.id_hash = ?",
        (id_hash,),
    ).fetchone()
    return row


def touch_reviewer_session(conn: sqlite3.Connection, id_hash: bytes, now: float) -> None:
    """Restart the idle timer of a session."""
    conn.execute("UPDATE reviewer_sessions SET last_seen = ? WHERE id_hash = ?", (now, id_hash))


def reseal_reviewer_session(
    conn: sqlite3.Connection, id_hash: bytes, *, old: bytes, new: bytes
) -> bool:
    """Replace a session's ``sealed`` secrets if they are still ``old``; True if replaced.

    One statement: of two requests re-sealing the same session at once, one
    wins and the other changes nothing (nor revives a deleted session).
    """
    cursor = conn.execute(
        "UPDATE reviewer_sessions SET sealed = ? WHERE id_hash = ? AND sealed = ?",
        (new, id_hash, old),
    )
    return cursor.rowcount == 1


def delete_reviewer_session(conn: sqlite3.Connection, id_hash: bytes) -> None:
    """Delete one session (a no-op if there is none)."""
    conn.execute("DELETE FROM reviewer_sessions WHERE id_hash = ?", (id_hash,))


def delete_reviewer_sessions_of(conn: sqlite3.Connection, reviewer_id: int) -> None:
    """Delete every session of a reviewer."""
    conn.execute("DELETE FROM reviewer_sessions WHERE reviewer_id = ?", (reviewer_id,))


def purge_reviewer_sessions(
    conn: sqlite3.Connection, *, idle_cut: float, absolute_cut: float
) -> int:
    """Delete the sessions last seen before ``idle_cut`` or created before ``absolute_cut``."""
    cursor = conn.execute(
        "DELETE FROM reviewer_sessions WHERE last_seen < ? OR created < ?",
        (idle_cut, absolute_cut),
    )
    return cursor.rowcount


def count_reviewer_sessions(conn: sqlite3.Connection) -> int:
    """How many reviewer session rows exist."""
    return int(conn.execute("SELECT count(*) FROM reviewer_sessions").fetchone()[0])


# -- source_sessions ---------------------------------------------------------------------


def insert_source_session(conn: sqlite3.Connection, id_hash: bytes, expires_hour: int) -> None:
    """Store a source session that is surely dead from ``expires_hour`` on."""
    conn.execute(
        "INSERT INTO source_sessions (id_hash, expires_hour) VALUES (?, ?)",
        (id_hash, expires_hour),
    )


def purge_source_sessions(conn: sqlite3.Connection, hour: int) -> None:
    """Delete the source sessions whose hour has come."""
    conn.execute("DELETE FROM source_sessions WHERE expires_hour <= ?", (hour,))


def source_session_is_live(conn: sqlite3.Connection, id_hash: bytes, source_id: int) -> bool:
    """True if the session's row and its source's row both exist."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM source_sessions WHERE id_hash = ?)"
        " AND EXISTS (SELECT 1 FROM sources WHERE id = ?)",
        (id_hash, source_id),
    ).fetchone()
    return bool(row[0])


def delete_source_session(conn: sqlite3.Connection, id_hash: bytes) -> None:
    """Delete one source session (a no-op if there is none)."""
    conn.execute("DELETE FROM source_sessions WHERE id_hash = ?", (id_hash,))


def count_source_sessions(conn: sqlite3.Connection) -> int:
    """How many source session rows exist."""
    return int(conn.execute("SELECT count(*) FROM source_sessions").fetchone()[0])
