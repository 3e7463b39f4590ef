"""The login throttle: counted attempts per typed name, and lockouts.

Security contract (DESIGN 5, issues 4 and 11):

- **Counting.** Every attempt is counted as a failure *before* the password
  derivation (so that concurrent attempts are counted too) and forgiven on
  success (:meth:`LoginThrottle.forgive`). :data:`MAX_FAILURES` in
  :data:`FAILURE_WINDOW_SECONDS` lock the name for a delay that doubles with
  each lockout (from :data:`FIRST_LOCK_SECONDS` up to
  :data:`MAX_LOCK_SECONDS`), raising :class:`AccountLocked`. Unknown names
  are counted exactly like real ones.
- **No typed name on disk.** A name that belongs to no account is often a
  password typed into the wrong field, so the throttle never stores what
  was typed: its rows are keyed by HMAC-SHA256 of the name under
  :func:`throttle_key` (derived from the instance secret, which is not in
  the database). What remains per row is that hash, a failure count and the
  exact times the lockout arithmetic needs (window start, end of lock). A
  row lives only while they matter: it is purged at the next attempt (of
  any name) or :meth:`LoginThrottle.forget_expired` once its window and
  lock are over, or, for a name that was locked out, ``MAX_LOCK_SECONDS``
  after its lock ended (the doubling remembers it that long). Deleted rows
  are zeroed (``secure_delete``). Someone holding both the database and the
  secrets file can still test guesses of a name against a live row's hash.
"""

from __future__ import annotations

import hmac
import math
import sqlite3

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipbox.errors import AuthenticationFailed
from tipbox.store.db import Database
from tipbox.store.reviewers import (
    Attempts,
    delete_attempts,
    purge_attempts,
    read_attempts,
    write_attempts,
)

__all__ = [
    "FAILURE_WINDOW_SECONDS",
    "FIRST_LOCK_SECONDS",
    "MAX_FAILURES",
    "MAX_LOCK_SECONDS",
    "AccountLocked",
    "LoginThrottle",
    "counted_failure",
    "throttle_key",
]

MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 60.0
FIRST_LOCK_SECONDS = 60.0
MAX_LOCK_SECONDS = 3600.0
_THROTTLE_CONTEXT = b"tipbox reviewer login throttle v1"


class AccountLocked(AuthenticationFailed):
    """Too many recent failures for this username; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: float) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__("too many failed attempts; try again later", code="account_locked",
                         params={"num": minutes})
        self.retry_after = retry_after


def throttle_key(instance_secret: bytes) -> bytes:
    """The 32-byte key of the login throttle's name hashes, derived from the instance's secret.

    HKDF-SHA256 with its own label, so it is independent of every other key
    derived from the same secret (cookie signing, source tokens).
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_THROTTLE_CONTEXT)
    return hkdf.derive(instance_secret)


def counted_failure(stored: Attempts | None, now: float) -> Attempts:
    """The state after one more failure at ``now``; raises :class:`AccountLocked`.

    ``MAX_FAILURES`` within ``FAILURE_WINDOW_SECONDS`` lock the name for a
    delay that doubles with each lockout, up to ``MAX_LOCK_SECONDS``; the
    lockouts are forgotten ``MAX_LOCK_SECONDS`` after the last lock ended.
    """
    failures, start, locked_until, lockouts = (0, now, 0.0, 0) if stored is None else stored
    if locked_until > now:
        raise AccountLocked(locked_until - now)
    if now - locked_until > MAX_LOCK_SECONDS:
        lockouts = 0
    if now - start > FAILURE_WINDOW_SECONDS:
        failures, start = 0, now
    failures += 1
    if failures >= MAX_FAILURES:
        lockouts += 1
        delay = min(FIRST_LOCK_SECONDS * 2 ** (lockouts - 1), MAX_LOCK_SECONDS)
        failures, start, locked_until = 0, now, now + delay
    return failures, start, locked_until, lockouts


def _purge(conn: sqlite3.Connection, now: float) -> int:
    """Delete the rows whose window and lock are over; returns how many.

    A row of a name never locked out goes as soon as its window is over;
    one that was locked out stays ``MAX_LOCK_SECONDS`` after its lock ended,
    for the doubling. Only rows that :func:`counted_failure` would treat as
    absent go: the next attempt counts exactly as if the row were there.
    """
    return purge_attempts(
        conn, now, window_seconds=FAILURE_WINDOW_SECONDS, max_lock_seconds=MAX_LOCK_SECONDS
    )


class LoginThrottle:
    """The ``login_throttle`` rows of one instance; ``key`` from :func:`throttle_key`."""

    def __init__(self, db: Database, key: bytes) -> None:
        self._db = db
        self._key = key

    def _name_hash(self, username: str) -> bytes:
        """What the throttle stores for ``username``: HMAC-SHA256 under the throttle key."""
        name = username.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, name, "sha256").digest()

    def count(self, username: str, now: float) -> None:
        """Count one attempt as a failure, or raise :class:`AccountLocked`.

        Purges the rows that no longer matter first (see the module contract).
        """
        name_hash = self._name_hash(username)
        with self._db.transaction() as conn:
            _purge(conn, now)
            write_attempts(conn, name_hash, counted_failure(read_attempts(conn, name_hash), now))

    def forgive(self, username: str) -> None:
        """Forget the counted attempts of ``username`` (after a full success)."""
        with self._db.transaction() as conn:
            delete_attempts(conn, self._name_hash(username))

    def forget_expired(self, now: float) -> int:
        """Purge the rows that no longer count; returns how many (for sweeps)."""
        with self._db.transaction() as conn:
            return _purge(conn, now)
