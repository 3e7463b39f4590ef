"""Returning sources: codename login, replies to read and delete (DESIGN 6).

Security contract:

- A codename is never stored. One Argon2id derivation of its normalised
  text with the instance salt gives the lookup id (stored) and the seed of
  the source's own age identity (never stored, held only for one request in
  a :class:`SourceLogin`).
- :meth:`Sources.login` does the same work for a malformed, unknown or
  wrong codename (the derivation always runs) and raises the same
  :class:`~tipbox.errors.AuthenticationFailed` with the same message: no
  oracle for which codenames exist.
- Replies are encrypted to the source's recipient and, when the key kinds
  allow it, to the active newsroom key (an age file cannot mix post-quantum
  and classic recipients; a classic newsroom key with a post-quantum source
  gives a reply only the source can read, ``key_id`` NULL).
- Deleting a reply deletes its header row first (``secure_delete``: the
  payload becomes noise), then truncates the WAL, then unlinks the payload.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tipbox.codenames import normalise
from tipbox.config import Settings
from tipbox.crypto import DecryptionError, Recipient, decrypt_detached, parse_recipient
from tipbox.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotFound,
    StorageUnavailable,
    TooLarge,
)
from tipbox.passwords import Argon2Params, CodenameKeys, codename_keys, secrets_equal
from tipbox.services.keyring import KeyIdentity, Keyring, identity_from_seed, key_kind
from tipbox.services.submissions import seal_bytes
from tipbox.store import Store, hour

__all__ = ["CodenameKdf", "Reply", "SourceLogin", "Sources"]

_LOGIN_FAILED = "that codename is not known here"


@dataclass(frozen=True, slots=True, repr=False)
class CodenameKdf:
    """The instance's codename derivation: its salt (secret) and fixed parameters.

    At most ``slots`` derivations run at once in a process (each takes the
    configured Argon2 memory, 64 MiB by default): a flood of codename logins
    queues instead of exhausting memory or starving uploads. A caller that
    waits longer than ``wait_seconds`` gets :class:`StorageUnavailable` (503).
    The wait is long because a first submission derives its codename at
    commit, after the whole upload.
    """

    salt: bytes
    params: Argon2Params
    slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(2), compare=False
    )
    wait_seconds: float = 120.0

    def keys(self, text: str) -> CodenameKeys:
        """Derive from codename text (normalised first, so any typing works)."""
        if not self.slots.acquire(timeout=self.wait_seconds):
            raise StorageUnavailable("too many codename checks at once; try again in a moment")
        try:
            return codename_keys(normalise(text), salt=self.salt, params=self.params)
        finally:
            self.slots.release()

    def __repr__(self) -> str:
        return f"CodenameKdf(params={self.params.encode()})"


@dataclass(frozen=True, slots=True, repr=False)
class SourceLogin:
    """A source authenticated by its codename, for the current request only.

    ``identity`` decrypts the source's replies; it must not outlive the
    request or be stored anywhere.
    """

    source_id: int
    designation: str
    identity: KeyIdentity

    def __repr__(self) -> str:
        return f"SourceLogin(source_id={self.source_id}, ...)"


@dataclass(frozen=True, slots=True)
class Reply:
    """A decrypted reply. ``hour`` is when it was written, rounded down (UTC)."""

    id: int
    text: str
    hour: datetime


class Sources:
    """Codename login and the replies a source can read and delete."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        keyring: Keyring,
        kdf: CodenameKdf,
        now: Callable[[], float] = time.time,
        live: Callable[[], Settings] | None = None,
    ) -> None:
        self._settings = settings
        self._live = live or (lambda: settings)
        self._store = store
        self._keyring = keyring
        self._kdf = kdf
        self._now = now

    def login(self, codename: str) -> SourceLogin:
        """Authenticate by codename; :class:`AuthenticationFailed` if it is not known.

        The Argon2id derivation runs for every input, well-formed or not.
        """
        keys = self._kdf.keys(codename)
        with self._store.db.connection() as conn:
            row = conn.execute(
                "SELECT id, designation, lookup_id, reply_recipient FROM sources"
                " WHERE lookup_id = ?",
                (keys.lookup_id,),
            ).fetchone()
        if row is None or not secrets_equal(row["lookup_id"], keys.lookup_id):
            raise AuthenticationFailed(_LOGIN_FAILED)
        recipient = str(row["reply_recipient"])
        identity = identity_from_seed(keys.identity_seed, key_kind(recipient))
        if str(identity.recipient()) != recipient:
            raise AuthenticationFailed(_LOGIN_FAILED)
        return SourceLogin(source_id=row["id"], designation=row["designation"], identity=identity)

    def replies(self, login: SourceLogin) -> list[Reply]:
        """The source's replies, oldest first, decrypted with its identity.

        A reply that fails to decrypt (damaged payload) is left out.
        """
        with self._store.db.connection() as conn:
            rows = conn.execute(
                "SELECT id, header, blob, created_hour FROM items"
                " WHERE source_id = ? AND kind = 'reply' ORDER BY id",
                (login.source_id,),
            ).fetchall()
        replies = []
        for row in rows:
            text = self._open_reply(login, row["header"], row["blob"])
            if text is not None:
                stamp = datetime.fromtimestamp(row["created_hour"], UTC)
                replies.append(Reply(id=row["id"], text=text, hour=stamp))
        return replies

    def delete_reply(self, login: SourceLogin, reply_id: int) -> None:
        """Crypto-shred one of the source's replies; :class:`NotFound` if not theirs."""
        with self._store.db.transaction() as conn:
            row = conn.execute(
                "DELETE FROM items WHERE id = ? AND source_id = ? AND kind = 'reply'"
                " RETURNING blob",
                (reply_id, login.source_id),
            ).fetchone()
        if row is None:
            raise NotFound("no such reply")
        self._store.db.checkpoint()
        self._store.blobs.delete_blob(row["blob"])
        self._store.blobs.sync()

    def add_reply(self, source_id: int, text: str) -> int:
        """Encrypt a reply to the source (and the newsroom key); return its id.

        Raises :class:`NotFound` for an unknown source, ``InvalidInput`` for
        a source without a codename (it cannot read replies) or an empty
        text, :class:`TooLarge` past ``max_message_chars``.
        """
        data = self._check_reply_text(text)
        source_recipient = self._reply_recipient(source_id)
        key = self._keyring.active_key()
        recipients: list[Recipient] = [source_recipient]
        key_id: int | None = None
        if key.kind == source_recipient.kind:
            recipients.append(key.parsed_recipient())
            key_id = key.id
        part = seal_bytes(self._store, recipients, data, kind="reply")
        try:
            return self._record_reply(source_id, key_id, part.header, part.writer.commit())
        except BaseException:
            part.writer.abort()
            raise

    def _check_reply_text(self, text: str) -> bytes:
        if not text.strip():
            raise InvalidInput("a reply cannot be empty")
        limit = self._live().max_message_chars
        if len(text) > limit:
            raise TooLarge(f"a reply has at most {limit} characters")
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput("the reply contains invalid characters") from None

    def _reply_recipient(self, source_id: int) -> Recipient:
        with self._store.db.connection() as conn:
            row = conn.execute(
                "SELECT reply_recipient FROM sources WHERE id = ?", (source_id,)
            ).fetchone()
        if row is None:
            raise NotFound("no such source")
        if row["reply_recipient"] is None:
            raise InvalidInput("this source left without a codename and cannot be replied to")
        return parse_recipient(row["reply_recipient"])

    def _record_reply(self, source_id: int, key_id: int | None, header: bytes, blob: str) -> int:
        with self._store.db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO items (source_id, submission_id, kind, position, key_id, header,"
                " blob, created_hour) VALUES (?, NULL, 'reply', 0, ?, ?, ?, ?) RETURNING id",
                (source_id, key_id, header, blob, hour(self._now())),
            ).fetchone()
        return int(row[0])

    def _open_reply(self, login: SourceLogin, header: bytes, blob: str) -> str | None:
        try:
            with self._store.blobs.open_blob(blob) as payload:
                data = b"".join(decrypt_detached([login.identity], header, payload))
            return data.decode("utf-8")
        except (DecryptionError, NotFound, UnicodeDecodeError):
            return None
