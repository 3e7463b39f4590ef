"""Server-side reviewer sessions whose secrets open only with the cookie.

Security contract (DESIGN 5):

- A session is created only by a successful login (never reused: no
  fixation). Its **token** (the only thing given to the browser) is a random
  32-byte id and a random 32-byte *session key*, base64url, joined by ``.``.
- The database stores SHA-256 of the id (a copy of the database cannot be
  replayed as a cookie) and the session's secrets (a ``full`` session: the
  newsroom identities, their recipients and the reviewer's own identity;
  an ``enrol`` one: the reviewer's identity and TOTP secret) sealed under
  the session key with ChaCha20-Poly1305, bound to the id hash. The key is
  never stored server-side: a stolen database holds nothing usable.
- Grants made after login (a rotation, an admin's login granting missing
  keys) reach a live ``full`` session: when the keyring holds a grant to
  the reviewer that the session lacks, :meth:`Sessions.load` opens the
  reviewer's grants with the reviewer's identity, adds the new identities
  and re-seals the row in one compare-and-swap update (losing a race to
  another request of the same session changes nothing: the winner sealed
  the same keys, and a later request finds any still missing). A disabled
  account's session is refused before that, and it holds no grant anyway.
  A row sealed before this (no reviewer identity in it) keeps working with
  the keys opened at its login; the next login picks up the rest.
- A session expires after ``idle_seconds`` without use or
  ``absolute_seconds`` after login, whichever comes first; an expired or
  logged-out session's row is deleted. A session also dies with its account
  (foreign key) and is refused once the account is no longer active.
- Time is a parameter (``now=``) everywhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tipbox.config import Settings
from tipbox.crypto import (
    DecryptionError,
    HybridIdentity,
    KeyFormatError,
    SealError,
    parse_identity,
    seal,
    unseal,
)
from tipbox.errors import AuthenticationFailed, NotFound
from tipbox.services.accounts.reviewers import Reviewers, Unlocked, holder_name
from tipbox.services.accounts.throttle import AccountLocked
from tipbox.services.accounts.totp import Enrolment
from tipbox.services.audit import Audit
from tipbox.services.custody.keyring import KeyIdentity, Keyring
from tipbox.store.db import Database
from tipbox.store.keys import held_key_recipients
from tipbox.store.sessions import (
    count_reviewer_sessions,
    delete_reviewer_session,
    delete_reviewer_sessions_of,
    insert_reviewer_session,
    purge_reviewer_sessions,
    reseal_reviewer_session,
    reviewer_session,
    touch_reviewer_session,
)

__all__ = [
    "KINDS",
    "LoginResult",
    "Logins",
    "NoSession",
    "ReviewerSession",
    "Sessions",
]

#: ``full``: an unlocked inbox session; ``enrol``: a pending account between
#: its one-time password and its first TOTP code (holds its identity + secret).
KINDS = ("full", "enrol")
_ID_BYTES = 32
_KEY_BYTES = 32
_CONTEXT = b"tipbox reviewer session|"


class NoSession(AuthenticationFailed):
    """No valid session: absent, malformed, unknown, expired or logged out."""

    code = "no_session"


@dataclass(frozen=True, slots=True, repr=False)
class ReviewerSession:
    """One live session, opened with the key from the reviewer's cookie."""

    id_hash: bytes
    reviewer_id: int
    username: str
    is_admin: bool
    kind: str
    created: float
    secrets: dict[str, str]

    def identities(self) -> list[KeyIdentity]:
        """The newsroom identities this session holds (newest key first)."""
        return [_parse(text) for text in self.secrets.get("newsroom", "").split()]

    def held(self) -> set[str]:
        """The recipients of :meth:`identities` (empty for a row sealed without them)."""
        return set(self.secrets.get("held", "").split())

    def own_identity(self) -> KeyIdentity | None:
        """The reviewer's own identity; ``None`` in a row sealed before it was kept."""
        text = self.secrets.get("identity")
        return None if text is None else _parse(text)

    def __repr__(self) -> str:
        return f"ReviewerSession({self.username!r}, {self.kind}, <secret>)"


def _parse(text: str) -> KeyIdentity:
    try:
        return parse_identity(text)
    except KeyFormatError:
        raise NoSession("session secrets are damaged") from None


def _encode(secrets_: dict[str, str]) -> bytes:
    return json.dumps(secrets_).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str, size: int) -> bytes:
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise NoSession("malformed session token") from None
    if len(data) != size:
        raise NoSession("malformed session token")
    return data


def split_token(token: str) -> tuple[bytes, bytes]:
    """(id hash, session key) of a token; raises :class:`NoSession` if malformed."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 100:
        raise NoSession("malformed session token")
    sid_text, key_text = token.split(".")
    sid, key = _unb64(sid_text, _ID_BYTES), _unb64(key_text, _KEY_BYTES)
    return hashlib.sha256(sid).digest(), key


def newsroom_secrets(
    identities: Sequence[KeyIdentity], own: KeyIdentity | None = None
) -> dict[str, str]:
    """The secrets of a ``full`` session: the newsroom identities and their recipients
    as text, and the reviewer's ``own`` identity (which opens later grants)."""
    secrets_ = {
        "newsroom": " ".join(str(identity) for identity in identities),
        "held": " ".join(str(identity.recipient()) for identity in identities),
    }
    if own is not None:
        secrets_["identity"] = str(own)
    return secrets_


def enrolment_secrets(identity: HybridIdentity, totp_secret: bytes) -> dict[str, str]:
    """The secrets of an ``enrol`` session: the reviewer's own identity and TOTP secret."""
    return {"identity": str(identity), "totp": totp_secret.hex()}


class Sessions:
    """The ``reviewer_sessions`` table (see the module contract)."""

    def __init__(
        self,
        db: Database,
        *,
        idle_seconds: int,
        absolute_seconds: int,
        clock: Callable[[], float] = time.time,
        live: Callable[[], Settings] | None = None,
    ) -> None:
        self._db = db
        self._keyring = Keyring(db)
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self._clock = clock
        self._live = live

    def _timeouts(self) -> tuple[int, int]:
        """(idle, absolute) in force: the admin-edited values when ``live`` is given."""
        if self._live is None:
            return self.idle_seconds, self.absolute_seconds
        settings = self._live()
        return settings.session_idle_seconds, settings.session_absolute_seconds

    def open(
        self, reviewer_id: int, *, kind: str, secrets_: dict[str, str], now: float | None = None
    ) -> str:
        """Create a session and return its token (give it to the browser only)."""
        if kind not in KINDS:
            raise ValueError(f"unknown session kind {kind!r}")
        now = self._now(now)
        sid, key = secrets.token_bytes(_ID_BYTES), secrets.token_bytes(_KEY_BYTES)
        id_hash = hashlib.sha256(sid).digest()
        sealed = seal(key, _encode(secrets_), context=_CONTEXT + id_hash)
        with self._db.transaction() as conn:
            insert_reviewer_session(conn, id_hash, reviewer_id, kind=kind, now=now, sealed=sealed)
            self._purge_expired(conn, now)
        return f"{_b64(sid)}.{_b64(key)}"

    def load(
        self, token: str | None, *, kind: str = "full", now: float | None = None
    ) -> ReviewerSession:
        """The live session of ``token``, its idle timer restarted.

        Raises :class:`NoSession` when the token is missing, malformed,
        unknown, of another kind, expired (the row is then deleted), or its
        account is disabled, not active (``full``) or already enrolled (``enrol``).
        A ``full`` session also takes the grants made to its reviewer since
        it last looked (see the module contract).
        """
        if token is None:
            raise NoSession("not logged in")
        id_hash, key = split_token(token)
        now = self._now(now)
        granted: set[str] = set()
        with self._db.transaction() as conn:
            row = reviewer_session(conn, id_hash)
            if row is None:
                raise NoSession("not logged in")
            alive = self._alive(row, kind, now)
            if alive:
                touch_reviewer_session(conn, id_hash, now)
                granted = held_key_recipients(conn, holder_name(int(row["reviewer_id"])))
            elif row["kind"] == kind:
                delete_reviewer_session(conn, id_hash)
        if not alive:
            raise NoSession("not logged in")
        session = self._session(row, key)
        if kind != "full" or granted <= session.held():
            return session
        return self._take_new_grants(session, key, bytes(row["sealed"]))

    def _alive(self, row: sqlite3.Row, kind: str, now: float) -> bool:
        return (
            row["kind"] == kind
            and not self._expired(row, now)
            # full: an enrolled account; enrol: one still pending (once
            # enrolled, a leftover enrol session must not enrol it again).
            and bool(row["active"]) == (kind == "full")
            and not row["disabled"]
        )

    def _take_new_grants(
        self, session: ReviewerSession, key: bytes, sealed: bytes
    ) -> ReviewerSession:
        """``session`` with the grants its reviewer received since it was sealed.

        A row without the reviewer's identity (sealed before it was kept)
        and a grant that does not open (tampering) leave the session as it was.
        """
        own = session.own_identity()
        if own is None:
            return session
        try:
            opened = self._keyring.open_identities(own)
        except DecryptionError:
            return session
        held = session.held()
        new = [identity for identity in opened if str(identity.recipient()) not in held]
        if not new:
            return session
        secrets_ = newsroom_secrets([*new, *session.identities()], own)
        resealed = seal(key, _encode(secrets_), context=_CONTEXT + session.id_hash)
        with self._db.transaction() as conn:
            # Compare-and-swap: a request that lost the race keeps its own copy.
            reseal_reviewer_session(conn, session.id_hash, old=sealed, new=resealed)
        return replace(session, secrets=secrets_)

    def _session(self, row: sqlite3.Row, key: bytes) -> ReviewerSession:
        id_hash = bytes(row["id_hash"])
        try:
            plain = unseal(key, bytes(row["sealed"]), context=_CONTEXT + id_hash)
        except SealError:
            raise NoSession("not logged in") from None
        return ReviewerSession(
            id_hash=id_hash,
            reviewer_id=int(row["reviewer_id"]),
            username=str(row["username"]),
            is_admin=bool(row["is_admin"]),
            kind=str(row["kind"]),
            created=float(row["created"]),
            secrets=dict(json.loads(plain)),
        )

    def _expired(self, row: sqlite3.Row, now: float) -> bool:
        idle, absolute = self._timeouts()
        return (
            now - float(row["last_seen"]) > idle
            or now - float(row["created"]) > absolute
        )

    def close(self, token: str | None) -> None:
        """Log out: delete the session's row (a no-op for a bad or unknown token)."""
        if token is None:
            return
        try:
            id_hash, _ = split_token(token)
        except NoSession:
            return
        with self._db.transaction() as conn:
            delete_reviewer_session(conn, id_hash)

    def close_all(self, reviewer_id: int) -> None:
        """Delete every session of a reviewer (password change, removal)."""
        with self._db.transaction() as conn:
            delete_reviewer_sessions_of(conn, reviewer_id)

    def purge(self, *, now: float | None = None) -> int:
        """Delete every expired session row; return how many."""
        with self._db.transaction() as conn:
            return self._purge_expired(conn, self._now(now))

    def _purge_expired(self, conn: sqlite3.Connection, now: float) -> int:
        idle, absolute = self._timeouts()
        return purge_reviewer_sessions(conn, idle_cut=now - idle, absolute_cut=now - absolute)

    def count(self) -> int:
        """How many session rows exist (expired ones included until purged)."""
        with self._db.reading() as conn:
            return count_reviewer_sessions(conn)

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now


# --- the login flows ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class LoginResult:
    """A new session: its token (for the cookie only) and what kind it is."""

    token: str
    kind: str
    username: str

    def __repr__(self) -> str:
        return f"LoginResult({self.username!r}, {self.kind}, <secret>)"


class Logins:
    """Login, enrolment, password change and logout across the account services.

    Every success creates a brand-new session (the caller must drop any
    token it had); every failure is audited and raises
    ``AuthenticationFailed`` (or a subclass) with a message that does not
    say which factor was wrong.
    """

    def __init__(
        self, reviewers: Reviewers, sessions: Sessions, keyring: Keyring, audit: Audit
    ) -> None:
        self.reviewers = reviewers
        self.sessions = sessions
        self._keyring = keyring
        self._audit = audit

    def login(
        self, username: str, password: str, code: str, *, now: float | None = None
    ) -> LoginResult:
        """Password + TOTP -> a ``full`` session; a pending account -> an ``enrol`` one."""
        try:
            unlocked = self.reviewers.authenticate(username, password, code, now=now)
        except AuthenticationFailed:
            self._audit.record("failed login", reviewer=self._known(username), now=now)
            raise
        if not unlocked.account.active:
            token = self.sessions.open(
                unlocked.account.id,
                kind="enrol",
                secrets_=enrolment_secrets(unlocked.identity, unlocked.totp_secret),
                now=now,
            )
            return LoginResult(token, "enrol", username)
        return self._open_full(unlocked, now)

    def _open_full(self, unlocked: Unlocked, now: float | None) -> LoginResult:
        try:
            identities = self._keyring.open_identities(unlocked.identity)
        except DecryptionError:
            raise AuthenticationFailed("a key grant of this account is damaged") from None
        if unlocked.account.is_admin and identities:
            self.reviewers.grant_missing(identities)
        secrets_ = newsroom_secrets(identities, unlocked.identity)
        token = self.sessions.open(unlocked.account.id, kind="full", secrets_=secrets_, now=now)
        self._audit.record("login", reviewer=unlocked.account.username, now=now)
        return LoginResult(token, "full", unlocked.account.username)

    def _known(self, username: str) -> str | None:
        try:
            return self.reviewers.by_username(username).username
        except NotFound:
            return None

    def enrolment(self, token: str | None, *, now: float | None = None) -> Enrolment:
        """What the enrolment page shows: the TOTP secret of the pending session."""
        session = self.sessions.load(token, kind="enrol", now=now)
        return Enrolment(session.username, "", bytes.fromhex(session.secrets["totp"]))

    def complete_enrolment(
        self, token: str | None, new_password: str, code: str, *, now: float | None = None
    ) -> LoginResult:
        """First TOTP code + new password: activate, then open a ``full`` session."""
        session = self.sessions.load(token, kind="enrol", now=now)
        account = self.reviewers.get(session.reviewer_id)
        identity = parse_identity(session.secrets["identity"])
        if not isinstance(identity, HybridIdentity):
            raise NoSession("session secrets are damaged")
        unlocked = Unlocked(account, identity, bytes.fromhex(session.secrets["totp"]))
        try:
            account = self.reviewers.complete_enrolment(unlocked, new_password, code, now=now)
        except AuthenticationFailed as error:
            raise _recoded(error, "enrol_code_failed") from None
        self.sessions.close(token)
        self._audit.record("enrol", reviewer=account.username, now=now)
        return self._open_full(Unlocked(account, identity, unlocked.totp_secret), now)

    def change_password(
        self,
        session: ReviewerSession,
        old_password: str,
        new_password: str,
        *,
        now: float | None = None,
    ) -> LoginResult:
        """Re-wrap the reviewer key; every session of the account is replaced by a new one."""
        try:
            self.reviewers.change_password(session.reviewer_id, old_password, new_password,
                                           now=now)
        except AccountLocked as error:
            raise _recoded(error, "password_change_locked") from None
        except AuthenticationFailed as error:
            raise _recoded(error, "current_password_wrong") from None
        self.sessions.close_all(session.reviewer_id)
        self._audit.record("change password", reviewer=session.username, now=now)
        token = self.sessions.open(
            session.reviewer_id, kind="full", secrets_=dict(session.secrets), now=now
        )
        return LoginResult(token, "full", session.username)

    def logout(self, token: str | None, *, now: float | None = None) -> None:
        """Delete the session row of ``token`` (if any) and audit it."""
        try:
            session = self.sessions.load(token, now=now)
        except NoSession:
            self.sessions.close(token)
            return
        self.sessions.close(token)
        self._audit.record("logout", reviewer=session.username, now=now)


def _recoded(error: AuthenticationFailed, code: str) -> AuthenticationFailed:
    """``error`` (same class, message and params) with the code of what was being done.

    The account services raise one ``AuthenticationFailed`` for every wrong
    factor; what it means to the person depends on the step: a wrong code at
    enrolment, a wrong current password at a change.
    """
    error.code = code
    return error
