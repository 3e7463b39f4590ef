"""Returning sources' sessions: revocable on the server, yet nothing usable is stored there.

Security contract:

- Logging in (:meth:`SourceSessions.start`) makes a **token** for the
  session cookie: the source's id, designation and reply identity, a random
  32-byte session id and the session's two deadlines, sealed with
  ChaCha20-Poly1305 under a key derived from the instance's secret
  (:func:`token_key`). The server never stores the token.
- The database keeps one row per session (``source_sessions``): SHA-256 of
  the session id, so the table alone cannot be replayed as a cookie, and the
  hour from which the row is surely dead, for purging. No source id (a seized
  database does not tell who logged in lately), no exact time, no address or
  user agent.
- A token is live while its row exists, its source still exists, and
  neither deadline has passed: ``absolute_seconds`` after login (never
  extended) and ``idle_seconds`` after the last use. Both deadlines are
  exact only inside the sealed token: an exact deadline in the database
  would give the login time to the second, so the row keeps just the hour
  after the absolute deadline. The server checks the deadlines; a client
  cannot move them. Using a session re-seals its idle deadline at most once
  a minute (:attr:`Resumed.token`).
- Logout (:meth:`SourceSessions.end`) deletes the row: every copy of the
  cookie then opens nothing. Deleting the source (by a reviewer, or by
  retention) ends its sessions at once, since its row is gone; their
  session rows, which say nothing, are purged at their hour.
- Any token that is not live, whatever the reason (random, forged,
  truncated, replayed after logout, expired, source deleted) raises
  :class:`~tipbox.errors.SessionEnded` and nothing else; the reason is not
  told apart.
- Time is a parameter (``clock``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tipbox.crypto import (
    HybridIdentity,
    KeyFormatError,
    SealError,
    X25519Identity,
    parse_identity,
    seal,
    unseal,
)
from tipbox.errors import SessionEnded
from tipbox.services.sources.returning import SourceLogin
from tipbox.store import Database, hour
from tipbox.store.sessions import (
    count_source_sessions,
    delete_source_session,
    insert_source_session,
    purge_source_sessions,
    source_session_is_live,
)

__all__ = ["Resumed", "SourceSessions", "token_key"]

_CONTEXT = b"tipbox source session v2"
_ID_BYTES = 32
#: A real token is a few hundred characters; anything far longer is refused unread.
MAX_TOKEN_CHARS = 4096
#: The idle deadline is re-sealed (a new cookie) at most this often.
IDLE_REFRESH_SECONDS = 60
_ENDED = "this login has ended"


def token_key(instance_secret: bytes) -> bytes:
    """The 32-byte key that seals source tokens, derived from the instance's secret."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT)
    return hkdf.derive(instance_secret)


@dataclass(frozen=True, slots=True, repr=False)
class _Token:
    """An opened token: the login, its session id and its exact deadlines."""

    login: SourceLogin
    session_id: bytes
    absolute_deadline: float
    idle_deadline: float

    @property
    def id_hash(self) -> bytes:
        return hashlib.sha256(self.session_id).digest()


@dataclass(frozen=True, slots=True, repr=False)
class Resumed:
    """A live session: its login, and a re-sealed ``token`` for the cookie (or ``None``)."""

    login: SourceLogin
    token: str | None

    def __repr__(self) -> str:
        return f"Resumed({self.login!r}, refreshed={self.token is not None})"


class SourceSessions:
    """The ``source_sessions`` table and the sealed tokens (see the module contract)."""

    def __init__(
        self,
        db: Database,
        *,
        key: bytes,
        idle_seconds: int,
        absolute_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._key = key
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self._clock = clock

    def start(self, login: SourceLogin) -> str:
        """Open a new session for ``login``; return its token (for the cookie only)."""
        now = self._clock()
        token = _Token(
            login=login,
            session_id=secrets.token_bytes(_ID_BYTES),
            absolute_deadline=now + self.absolute_seconds,
            idle_deadline=now + min(self.idle_seconds, self.absolute_seconds),
        )
        with self._db.transaction() as conn:
            purge_source_sessions(conn, hour(now))
            insert_source_session(conn, token.id_hash, _hour_after(token.absolute_deadline))
        return self._seal(token)

    def resume(self, token: object) -> Resumed:
        """The live session of ``token``; :class:`SessionEnded` if it is not live.

        A session past its absolute deadline has its row deleted on the way.
        """
        opened = self._open(token)
        now = self._clock()
        if now >= opened.absolute_deadline:
            self._delete(opened.id_hash)
            raise SessionEnded(_ENDED)
        # Idle: this copy only; a newer copy of the cookie may still be in use.
        if now >= opened.idle_deadline or not self._is_live(opened):
            raise SessionEnded(_ENDED)
        return Resumed(login=opened.login, token=self._refreshed(opened, now))

    def end(self, token: object) -> None:
        """Log out: delete the session's row. A token that does not open is ignored."""
        try:
            opened = self._open(token)
        except SessionEnded:
            return
        self._delete(opened.id_hash)

    def count(self) -> int:
        """How many session rows exist (dead ones included until purged)."""
        with self._db.connection() as conn:
            return count_source_sessions(conn)

    def _is_live(self, opened: _Token) -> bool:
        with self._db.connection() as conn:
            return source_session_is_live(conn, opened.id_hash, opened.login.source_id)

    def _refreshed(self, opened: _Token, now: float) -> str | None:
        idle_deadline = min(now + self.idle_seconds, opened.absolute_deadline)
        if idle_deadline - opened.idle_deadline < IDLE_REFRESH_SECONDS:
            return None
        return self._seal(
            _Token(opened.login, opened.session_id, opened.absolute_deadline, idle_deadline)
        )

    def _delete(self, id_hash: bytes) -> None:
        with self._db.transaction() as conn:
            delete_source_session(conn, id_hash)

    def _seal(self, token: _Token) -> str:
        payload = {
            "sid": token.session_id.hex(),
            "id": token.login.source_id,
            "d": token.login.designation,
            "k": str(token.login.identity),
            "abs": token.absolute_deadline,
            "idle": token.idle_deadline,
        }
        sealed = seal(self._key, json.dumps(payload).encode("utf-8"), context=_CONTEXT)
        return base64.urlsafe_b64encode(sealed).decode("ascii")

    def _open(self, token: object) -> _Token:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise SessionEnded(_ENDED)
        try:
            sealed = base64.urlsafe_b64decode(token.encode("ascii"))
            if base64.urlsafe_b64encode(sealed).decode("ascii") != token:
                raise ValueError("not the one encoding of a token")
            return _parse(unseal(self._key, sealed, context=_CONTEXT))
        except (SealError, KeyFormatError, binascii.Error, UnicodeError, ValueError,
                KeyError, TypeError):
            raise SessionEnded(_ENDED) from None


def _parse(plain: bytes) -> _Token:
    """The token sealed by :meth:`SourceSessions._seal` (raises ValueError & co. if not)."""
    payload = json.loads(plain)
    identity = parse_identity(payload["k"])
    if not isinstance(identity, X25519Identity | HybridIdentity):
        raise ValueError("not a source identity")
    session_id = bytes.fromhex(payload["sid"])
    if len(session_id) != _ID_BYTES:
        raise ValueError("bad session id")
    login = SourceLogin(
        source_id=int(payload["id"]), designation=str(payload["d"]), identity=identity
    )
    return _Token(login, session_id, float(payload["abs"]), float(payload["idle"]))


def _hour_after(deadline: float) -> int:
    """The first whole hour at or after ``deadline``: the row's purge hour."""
    return hour(math.ceil(deadline) + 3599)
