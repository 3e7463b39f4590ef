"""The security-key tables: ``webauthn_credentials`` and ``webauthn_challenges`` (issue 17).

Contract:

- The functions run inside the caller's connection or transaction and hold
  no policy: what a credential may do, and when a ceremony is valid, is
  decided by :mod:`tipbox.services.accounts.security_keys`.
- Nothing here is a secret in the clear: a credential row holds a public key,
  a counter, the RP ID, and (with PRF) a salt and values sealed under a key
  that only the authenticator can give back.
- :func:`insert_credential` lets ``sqlite3.IntegrityError`` through for a
  credential id that is already registered (to any account).
- :func:`advance_sign_count` is a compare-and-swap: of two requests that
  read the same counter, one wins.
- :func:`take_challenge` deletes the challenge it finds, so each is used
  at most once.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

__all__ = [
    "NewCredential",
    "accounts_without_credentials",
    "advance_sign_count",
    "count_credentials",
    "credential_by_credential_id",
    "credentials_of",
    "delete_credential",
    "end_sessions_except",
    "insert_challenge",
    "insert_credential",
    "session_key_state",
    "take_challenge",
]


class NewCredential(NamedTuple):
    """The columns of a credential being registered."""

    reviewer_id: int
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: str
    name: str
    rp_id: str
    created_hour: int
    prf_salt: bytes | None
    sealed_identity: bytes | None
    sealed_totp: bytes | None


# -- credentials -------------------------------------------------------------------------


def insert_credential(conn: sqlite3.Connection, new: NewCredential) -> int:
    """Store a registered credential; returns its row id."""
    row = conn.execute(
        "INSERT INTO webauthn_credentials (reviewer_id, credential_id, public_key, sign_count,"
        " transports, name, rp_id, created_hour, prf_salt, sealed_identity, sealed_totp)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        tuple(new),
    ).fetchone()
    return int(row[0])


def credentials_of(conn: sqlite3.Connection, reviewer_id: int) -> list[sqlite3.Row]:
    """Every credential of a reviewer (all columns), oldest first."""
    return conn.execute(
        "SELECT * FROM webauthn_credentials WHERE reviewer_id = ? ORDER BY id", (reviewer_id,)
    ).fetchall()


def count_credentials(conn: sqlite3.Connection, reviewer_id: int) -> int:
    """How many credentials a reviewer has."""
    return int(conn.execute(
        "SELECT count(*) FROM webauthn_credentials WHERE reviewer_id = ?", (reviewer_id,)
    ).fetchone()[0])


def credential_by_credential_id(
    conn: sqlite3.Connection, credential_id: bytes
) -> sqlite3.Row | None:
    """The credential with this WebAuthn credential id (all columns), or ``None``."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM webauthn_credentials WHERE credential_id = ?", (credential_id,)
    ).fetchone()
    return row


def advance_sign_count(conn: sqlite3.Connection, row_id: int, *, old: int, new: int) -> bool:
    """Set the counter of ``row_id`` to ``new`` if it is still ``old``; True if it was."""
    cursor = conn.execute(
        "UPDATE webauthn_credentials SET sign_count = ? WHERE id = ? AND sign_count = ?",
        (new, row_id, old),
    )
    return cursor.rowcount == 1


def delete_credential(conn: sqlite3.Connection, reviewer_id: int, row_id: int) -> bool:
    """Delete one of ``reviewer_id``'s credentials; False if it has no such one."""
    cursor = conn.execute(
        "DELETE FROM webauthn_credentials WHERE id = ? AND reviewer_id = ?", (row_id, reviewer_id)
    )
    return cursor.rowcount == 1


def accounts_without_credentials(conn: sqlite3.Connection) -> list[str]:
    """The usernames of enabled accounts that have no credential, in creation order."""
    return [str(row[0]) for row in conn.execute(
        "SELECT username FROM reviewers r WHERE disabled = 0 AND NOT EXISTS"
        " (SELECT 1 FROM webauthn_credentials c WHERE c.reviewer_id = r.id) ORDER BY id"
    ).fetchall()]


# -- sessions under the "require security keys" setting -------------------------------------


def session_key_state(conn: sqlite3.Connection, id_hash: bytes) -> sqlite3.Row | None:
    """``reviewer_id, kind, has_key`` of the reviewer session ``id_hash``, or ``None``."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT s.reviewer_id, s.kind, EXISTS (SELECT 1 FROM webauthn_credentials c"
        " WHERE c.reviewer_id = s.reviewer_id) AS has_key"
        " FROM reviewer_sessions s WHERE s.id_hash = ?",
        (id_hash,),
    ).fetchone()
    return row


def end_sessions_except(conn: sqlite3.Connection, id_hash: bytes | None) -> int:
    """Delete every reviewer session but ``id_hash``'s; returns how many went."""
    cursor = conn.execute(
        "DELETE FROM reviewer_sessions WHERE id_hash IS DISTINCT FROM ?", (id_hash,)
    )
    return cursor.rowcount


# -- challenges ----------------------------------------------------------------------------


def insert_challenge(
    conn: sqlite3.Connection, challenge_hash: bytes, *, purpose: str, binding: bytes,
    prf_salt: bytes | None, expires: float, now: float,
) -> None:
    """Keep a new challenge until ``expires``; it replaces the earlier one of the same
    ``purpose`` and ``binding``, and every challenge expired at ``now`` goes."""
    conn.execute("DELETE FROM webauthn_challenges WHERE expires <= ?"
                 " OR (purpose = ? AND binding = ?)", (now, purpose, binding))
    conn.execute(
        "INSERT INTO webauthn_challenges (challenge_hash, purpose, binding, prf_salt, expires)"
        " VALUES (?, ?, ?, ?, ?)",
        (challenge_hash, purpose, binding, prf_salt, expires),
    )


def take_challenge(
    conn: sqlite3.Connection, challenge_hash: bytes, *, purpose: str, binding: bytes,
    now: float,
) -> sqlite3.Row | None:
    """Delete and return (``prf_salt``) the challenge if it is for ``purpose`` and
    ``binding`` and alive at ``now``; ``None`` otherwise (a challenge found for another
    purpose or binding is deleted too: it was shown to the wrong party)."""
    row: sqlite3.Row | None = conn.execute(
        "DELETE FROM webauthn_challenges WHERE challenge_hash = ?"
        " RETURNING purpose, binding, prf_salt, expires",
        (challenge_hash,),
    ).fetchone()
    if row is None or row["purpose"] != purpose or bytes(row["binding"]) != binding:
        return None
    return row if float(row["expires"]) > now else None
