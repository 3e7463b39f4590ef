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

import sqlite3
import time
import typing as t
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tipbox.codenames import normalise
from tipbox.config import Settings
from tipbox.crypto import (
    DecryptionError,
    Recipient,
    decrypt_detached,
    parse_recipient,
    rewrap_header,
)
from tipbox.errors import AuthenticationFailed, InvalidInput, NotFound
from tipbox.passwords import Argon2Params, CodenameKeys, codename_keys, secrets_equal
from tipbox.services.custody.keyring import KeyIdentity, Keyring, identity_from_seed, key_kind
from tipbox.services.sealing import seal_bytes, written_text
from tipbox.services.sources.low_priority import LowPriorityThreads
from tipbox.store import Store, hour
from tipbox.store.db import Database
from tipbox.store.items import (
    ItemKind,
    Written,
    delete_reply,
    insert_written,
    keep_for_newsroom,
    mark_replies_seen_by_source,
    replies_of,
    reply_of_source,
    source_by_lookup_id,
    source_reply_recipient,
)
from tipbox.store.shared_slots import Slots, instance_slots
from tipbox.store.slots import SlotPool

__all__ = ["CodenameKdf", "Purpose", "Reply", "SourceLogin", "Sources"]

_LOGIN_FAILED = "that codename is not known here"


#: Codename derivations at once across all workers of an instance (each takes
#: the Argon2 memory, 64 MiB by default): logins share one slot, so a login
#: flood queues there; new codenames issued at first submission have their own.
LOGIN_SLOTS = 1
SUBMISSION_SLOTS = 2
#: How long a login waits for a slot before the "busy" page: about fifty
#: logins' worth of Argon2 at the default cost.
LOGIN_WAIT_SECONDS = 5.0
#: A first submission derives its codename after its whole upload: it waits long.
SUBMISSION_WAIT_SECONDS = 120.0

#: Why a derivation runs; each purpose draws on its own pool of slots.
Purpose = t.Literal["login", "submission"]


@dataclass(frozen=True, slots=True, repr=False)
class CodenameKdf:
    """The instance's codename derivation: its salt (secret) and fixed parameters.

    Every derivation holds a slot of the pool for its ``purpose``, shared by
    all worker processes (:class:`~tipbox.store.slots.SlotPool`): at most
    :data:`LOGIN_SLOTS` login checks and :data:`SUBMISSION_SLOTS` new
    codenames run at once on a host; login checks are capped for the whole
    instance too, whatever host a login reaches
    (:func:`~tipbox.store.shared_slots.instance_slots`), while the cap of
    submissions, which bounds the host's memory, stays the host's. So a flood
    of logins neither exhausts memory nor takes the capacity first
    submissions need. A login that finds no free
    slot within ``login_wait_seconds`` gets :class:`~tipbox.errors.Busy`
    (the source is asked to try again in a minute). A submission waits up
    to ``submission_wait_seconds``: it derives its codename at commit, after
    the whole upload, and should not lose it lightly.

    Logins also run on ``login_threads`` at the lowest CPU priority
    (:mod:`~tipbox.services.sources.low_priority`): a login flood gets only the CPU
    that submissions and page views leave over. The cost of a derivation
    (the Argon2 parameters) is the same for both purposes.
    """

    salt: bytes
    params: Argon2Params
    login_slots: Slots
    submission_slots: Slots
    login_wait_seconds: float = LOGIN_WAIT_SECONDS
    submission_wait_seconds: float = SUBMISSION_WAIT_SECONDS
    login_threads: LowPriorityThreads | None = None

    @classmethod
    def with_slots_in(
        cls, directory: Path, db: Database, *, salt: bytes, params: Argon2Params
    ) -> CodenameKdf:
        """A derivation whose slot files live in ``directory`` (the host's), its logins
        capped across hosts through ``db`` as well."""
        return cls(
            salt=salt,
            params=params,
            login_slots=instance_slots(db, directory, "codename_login", LOGIN_SLOTS),
            submission_slots=SlotPool(directory, "codename_submission", SUBMISSION_SLOTS),
            login_wait_seconds=LOGIN_WAIT_SECONDS,
            submission_wait_seconds=SUBMISSION_WAIT_SECONDS,
            login_threads=LowPriorityThreads(LOGIN_SLOTS, name="codename-login"),
        )

    def keys(self, text: str, *, purpose: Purpose) -> CodenameKeys:
        """Derive from codename text (normalised first, so any typing works).

        Raises :class:`~tipbox.errors.Busy` when no slot of ``purpose``'s
        pool frees up in time.
        """
        def derive() -> CodenameKeys:
            return codename_keys(normalise(text), salt=self.salt, params=self.params)

        if purpose == "submission":
            with self.submission_slots.slot(wait_seconds=self.submission_wait_seconds):
                return derive()
        with self.login_slots.slot(wait_seconds=self.login_wait_seconds):
            return self.login_threads.run(derive) if self.login_threads else derive()

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
        :class:`~tipbox.errors.Busy` when too many logins run at once.
        """
        keys = self._kdf.keys(codename, purpose="login")
        with self._store.db.connection() as conn:
            row = source_by_lookup_id(conn, keys.lookup_id)
        if row is None or not secrets_equal(row["lookup_id"], keys.lookup_id):
            raise AuthenticationFailed(_LOGIN_FAILED)
        recipient = str(row["reply_recipient"])
        identity = identity_from_seed(keys.identity_seed, key_kind(recipient))
        if str(identity.recipient()) != recipient:
            raise AuthenticationFailed(_LOGIN_FAILED)
        return SourceLogin(source_id=row["id"], designation=row["designation"], identity=identity)

    def replies(self, login: SourceLogin) -> list[Reply]:
        """The source's replies, oldest first, decrypted with its identity.

        A reply that fails to decrypt (damaged payload) is left out. The hour
        the source first sees a reply is recorded, for the journalists.
        """
        with self._store.db.transaction() as conn:
            rows = replies_of(conn, login.source_id)
            mark_replies_seen_by_source(conn, login.source_id, hour(self._now()))
        replies = []
        for row in rows:
            text = self._open_reply(login, row["header"], row["blob"])
            if text is not None:
                stamp = datetime.fromtimestamp(row["created_hour"], UTC)
                replies.append(Reply(id=row["id"], text=text, hour=stamp))
        return replies

    def delete_reply(self, login: SourceLogin, reply_id: int) -> None:
        """Delete the source's copy of one of its replies; :class:`NotFound` if not theirs.

        The journalists keep theirs: the header is rewritten for the newsroom
        key alone (the source's key no longer opens it) and the reply is
        marked deleted by the source. A reply the newsroom key was never
        added to (a classic source of a post-quantum newsroom) has no
        journalists' copy and is crypto-shredded.
        """
        for _ in range(3):  # a key rotation may re-wrap the header meanwhile
            with self._store.db.connection() as conn:
                row = reply_of_source(conn, reply_id, login.source_id)
            if row is None:
                raise NotFound("no such reply")
            if row["key_id"] is None:
                return self._shred_reply(login, reply_id)
            if self._keep_for_newsroom(login, row):
                return None
        raise NotFound("no such reply")

    def _shred_reply(self, login: SourceLogin, reply_id: int) -> None:
        with self._store.db.transaction() as conn:
            blob = delete_reply(conn, reply_id, login.source_id)
        if blob is None:
            raise NotFound("no such reply")
        self._store.shred([blob])

    def _keep_for_newsroom(self, login: SourceLogin, row: sqlite3.Row) -> bool:
        """Rewrap ``row``'s header for its newsroom key only; False if it changed meanwhile."""
        newsroom_keys = self._keyring.keys()
        key = next(known for known in newsroom_keys if known.id == row["key_id"])
        old = bytes(row["header"])
        try:
            header = rewrap_header(old, [login.identity], [key.parsed_recipient()])
        except DecryptionError:
            raise NotFound("no such reply") from None
        with self._store.db.transaction() as conn:
            return keep_for_newsroom(conn, int(row["id"]), old, header, hour(self._now()))

    def add_reply(self, source_id: int, text: str, *, author: str) -> int:
        """Encrypt a reply by ``author`` (a username) to the source (and the newsroom key);
        return its id.

        Raises :class:`NotFound` for an unknown source, ``InvalidInput`` for
        a source without a codename (it cannot read replies) or an empty
        text, :class:`TooLarge` past ``max_message_chars``.
        """
        data = written_text(text, self._live().max_message_chars, kind=ItemKind.REPLY)
        source_recipient, desk_id = self._reply_recipient(source_id)
        key = self._keyring.active_key(desk_id)
        recipients: list[Recipient] = [source_recipient]
        key_id: int | None = None
        if key.kind == source_recipient.kind:
            recipients.append(key.parsed_recipient())
            key_id = key.id
        part = seal_bytes(self._store, recipients, data, kind=ItemKind.REPLY)
        try:
            written = Written(
                source_id=source_id, kind=ItemKind.REPLY, key_id=key_id, header=part.header,
                blob=part.writer.commit(), author=author, created_hour=hour(self._now()),
            )
            return self._record(written)
        except BaseException:
            part.writer.abort()
            raise

    def _reply_recipient(self, source_id: int) -> tuple[Recipient, int]:
        """The source's reply recipient and its desk."""
        with self._store.db.connection() as conn:
            row = source_reply_recipient(conn, source_id)
        if row is None:
            raise NotFound("no such source")
        if row["reply_recipient"] is None:
            raise InvalidInput("this source left without a codename and cannot be replied to",
                               code="source_without_codename")
        return parse_recipient(row["reply_recipient"]), int(row["desk_id"])

    def _record(self, written: Written) -> int:
        with self._store.db.transaction() as conn:
            return insert_written(conn, written)

    def _open_reply(self, login: SourceLogin, header: bytes, blob: str) -> str | None:
        try:
            with self._store.blobs.open_blob(blob) as payload:
                data = b"".join(decrypt_detached([login.identity], header, payload))
            return data.decode("utf-8")
        except (DecryptionError, NotFound, UnicodeDecodeError):
            return None
