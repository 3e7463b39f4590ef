"""The ``sent_forms`` table: which submission forms were sent, shared by the worker processes.

Contract: the functions run inside the caller's connection or transaction.
A row holds only the SHA-256 of a form token, an expiry hour and, once the
submission is committed, its receipt sealed under a key derived from the
token itself (the row alone opens nothing).
"""

from __future__ import annotations

import sqlite3

__all__ = ["claim_form", "purge_forms", "release_form", "sealed_receipt", "keep_receipt"]


def claim_form(conn: sqlite3.Connection, token_hash: bytes, expires_hour: int) -> bool:
    """Claim the form ``token_hash`` for this commit; False if another worker has it."""
    return conn.execute(
        "INSERT INTO sent_forms (token_hash, sealed, expires_hour) VALUES (?, NULL, ?)"
        " ON CONFLICT (token_hash) DO NOTHING",
        (token_hash, expires_hour),
    ).rowcount > 0


def keep_receipt(conn: sqlite3.Connection, token_hash: bytes, sealed: bytes) -> None:
    """Record the sealed receipt of a claimed form."""
    conn.execute("UPDATE sent_forms SET sealed = ? WHERE token_hash = ?", (sealed, token_hash))


def sealed_receipt(conn: sqlite3.Connection, token_hash: bytes) -> tuple[bool, bytes | None]:
    """Whether the form is claimed, and its sealed receipt once recorded."""
    row = conn.execute(
        "SELECT sealed FROM sent_forms WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    if row is None:
        return False, None
    return True, None if row[0] is None else bytes(row[0])


def release_form(conn: sqlite3.Connection, token_hash: bytes) -> None:
    """Give up a claim whose commit failed (the form may be sent again)."""
    conn.execute("DELETE FROM sent_forms WHERE token_hash = ?", (token_hash,))


def purge_forms(conn: sqlite3.Connection, hour: int) -> int:
    """Delete every row whose expiry hour has passed; how many."""
    return conn.execute("DELETE FROM sent_forms WHERE expires_hour < ?", (hour,)).rowcount
