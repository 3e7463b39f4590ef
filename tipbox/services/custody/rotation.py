"""Newsroom key lifecycle: rotate, re-wrap stored headers, destroy retired keys (DESIGN 5).

Security contract:

- **Rotate** generates a new identity for one desk (post-quantum unless
  ``classic``), grants it to the recovery recipient and to every member of
  the desk whose account is not disabled (their *public* recipients, stored
  with the accounts: no private key is needed), and makes it active in the
  same transaction that retires the desk's previous active key. New items use it at
  once; the retired key still decrypts what was wrapped to it. A disabled
  or deleted reviewer receives no grant, so nothing stored after the
  rotation is readable with their password and a copy of the database.
  The new identity is returned to the caller (to put into an admin's
  session) and otherwise exists only inside grants.
- **Re-wrap** re-encrypts the detached header of every item wrapped to a
  retired key so that it is wrapped to the active key of the same desk
  (:func:`~tipbox.crypto.rewrap_header`: the file key and the payload do
  not change). Items are processed in id order, in batches; the new
  headers of a batch are computed first, then written in one transaction,
  each row's ``header`` and ``key_id`` together, guarded by the old values
  (an item deleted or re-wrapped meanwhile is left alone). A crash or
  ``kill -9`` at any point leaves every item with either its old header and
  key or its new header and key, both decryptable while the retired key
  exists; running it again continues where it stopped.
  Items the given identities cannot open, and replies whose source key kind
  differs from the active key's (age files cannot mix post-quantum and
  classic recipients), are skipped and keep depending on their old key.
- **Destroy** refuses the active key, any key that an item still
  depends on, and a key retired less than :data:`DESTROY_GRACE_SECONDS`
  ago (an upload that started before the rotation may still record items
  under it; a database trigger refuses any item under a destroyed key as a
  last resort); otherwise it deletes the key's grants (secure_delete, then
  the WAL is truncated) and its recovery-wrapped file, and marks it
  ``destroyed``. What it protected is gone for good.
- **One at a time**: with a ``lock`` (the instance's key-maintenance slot,
  :func:`~tipbox.store.shared_slots.instance_slots`, shared by every host on
  PostgreSQL), rotate, re-wrap and destroy each run alone in the whole
  instance; a second one started meanwhile, on any host, gets
  :class:`~tipbox.errors.Busy` (:data:`MAINTENANCE_BUSY`) and does nothing.
  A rotation given the key it means to replace (``replacing``) is refused
  with :class:`RotatedMeanwhile` if another rotation replaced that key
  first: two admins (or two hosts) acting on one page rotate once.
- **Audit**: each of the three writes its row ("rotate key", "rewrap
  headers", "destroy key") once it succeeded; ``by`` is the acting admin's
  username, ``None`` for the host (the command line).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from tipbox.crypto import (
    DecryptionError,
    HybridIdentity,
    Recipient,
    X25519Identity,
    parse_recipient,
    rewrap_header,
)
from tipbox.errors import Busy, InvalidInput, NotFound
from tipbox.services.audit import Audit
from tipbox.services.custody.key_files import KeyFiles
from tipbox.services.custody.keyring import (
    KeyIdentity,
    Keyring,
    NewsroomKey,
    desk_holders,
    insert_key,
)
from tipbox.store import Store, hour
from tipbox.store.desks import DEFAULT_DESK, desk_row
from tipbox.store.items import (
    ItemKind,
    count_items_of_key,
    count_items_under_retired_keys,
    items_under_retired_keys,
    replace_header,
)
from tipbox.store.keys import (
    destroy_key,
    key_row,
    key_rows_with_counts,
    retire_active_key,
    retired_hour_of,
)
from tipbox.store.shared_slots import Slots

__all__ = [
    "DEFAULT_BATCH",
    "DESTROY_GRACE_SECONDS",
    "KeyInUse",
    "KeyStatus",
    "Progress",
    "RewrapReport",
    "Rotated",
    "Rotation",
]

DEFAULT_BATCH = 64
#: How long a retired key is kept before it may be destroyed: longer than
#: any upload may run (a form is valid for 8 hours, and then it streams).
DESTROY_GRACE_SECONDS = 24 * 3600

#: ``progress(done, total)``: items handled so far (re-wrapped or skipped) of those pending.
Progress = Callable[[int, int], None]


class KeyInUse(InvalidInput):
    """A key cannot be destroyed: it is active, or stored items still need it."""

    code = "key_in_use"


class RotatedMeanwhile(InvalidInput):
    """A rotation asked to replace a key that is no longer the desk's active one."""

    code = "key_rotated_meanwhile"


#: Busy's message when another rotation, re-wrap or destruction holds the lock.
MAINTENANCE_BUSY = (
    "another key rotation, re-wrap or destruction is running for this instance (perhaps on"
    " another host); try again when it has finished"
)


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """A newsroom key with how many stored items and grants still depend on it."""

    key: NewsroomKey
    items: int
    grants: int


@dataclass(frozen=True, slots=True, repr=False)
class Rotated:
    """The outcome of a rotation. ``identity`` is secret: keep it in memory only."""

    key: NewsroomKey
    retired: NewsroomKey | None
    identity: KeyIdentity
    holders: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Rotated(key={self.key.fingerprint!r}, holders={self.holders!r})"


@dataclass(frozen=True, slots=True)
class RewrapReport:
    """How a re-wrap ended: re-wrapped now, skipped (still on an old key), still pending."""

    rewrapped: int
    skipped: int
    remaining: int


@dataclass(frozen=True, slots=True)
class _Pending:
    """One item to re-wrap: its row and the recipients its new header needs."""

    id: int
    key_id: int
    header: bytes
    recipients: list[Recipient]
    target_id: int


class Rotation:
    """Key rotation, re-wrap and destruction over one instance's store.

    ``audit`` receives the rows of what it did.
    """

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        key_files: KeyFiles,
        *,
        audit: Audit,
        now: Callable[[], float] = time.time,
        lock: Slots | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._files = key_files
        self._audit = audit
        self._now = now
        self._lock = lock

    @contextlib.contextmanager
    def _alone(self) -> Iterator[None]:
        """Hold the instance's key-maintenance lock; :class:`Busy` if another holds it."""
        with contextlib.ExitStack() as stack:
            if self._lock is not None:
                try:
                    stack.enter_context(self._lock.slot(wait_seconds=0))
                except Busy:
                    raise Busy(MAINTENANCE_BUSY) from None
            yield

    # -- status -------------------------------------------------------------------

    def status(self) -> list[KeyStatus]:
        """Every key, newest first, with its item and grant counts."""
        with self._store.db.reading() as conn:
            rows = key_rows_with_counts(conn)
        return [
            KeyStatus(NewsroomKey.from_row(row), int(row["n_items"]), int(row["n_grants"]))
            for row in rows
        ]

    def pending(self) -> int:
        """How many items are still wrapped to a retired key."""
        with self._store.db.reading() as conn:
            return count_items_under_retired_keys(conn)

    # -- rotate -------------------------------------------------------------------

    def rotate(
        self,
        desk_id: int = DEFAULT_DESK,
        *,
        classic: bool = False,
        replacing: int | None = None,
        by: str | None = None,
    ) -> Rotated:
        """Create, grant and activate a new key of the desk; its previous active key retires.

        ``replacing``: the id of the key the caller saw active; if another
        rotation replaced it meanwhile (another admin, another host), raises
        :class:`RotatedMeanwhile` and changes nothing, so that one decision
        rotates once.
        """
        with self._alone():
            return self._rotate(desk_id, classic=classic, replacing=replacing, by=by)

    def _rotate(
        self, desk_id: int, *, classic: bool, replacing: int | None, by: str | None
    ) -> Rotated:
        identity: KeyIdentity = X25519Identity.generate() if classic else HybridIdentity.generate()
        recovery = self._keyring.recovery_recipient()
        with self._store.db.transaction() as conn:
            desk = desk_row(conn, desk_id)
            if desk is None:
                raise NotFound("no such desk")
            holders = desk_holders(conn, desk_id, recovery)
            stamp = hour(self._now())
            old = retire_active_key(conn, desk_id, stamp)
            if replacing is not None and (old is None or int(old["id"]) != replacing):
                raise RotatedMeanwhile("the key was rotated meanwhile; nothing was changed")
            key = insert_key(conn, identity, holders=holders, state="active", created_hour=stamp,
                             desk_id=desk_id)
        self._files.write_wrapped(identity, recovery)
        self._files.write_active(key.recipient, slug=str(desk["slug"]),
                                 default=desk_id == DEFAULT_DESK)
        retired = None if old is None else NewsroomKey.from_row(old)
        self._audit.record("rotate key", reviewer=by, target=key.fingerprint)
        return Rotated(key, retired, identity, tuple(name for name, _ in holders))

    # -- re-wrap ------------------------------------------------------------------

    def rewrap(
        self,
        identities: Sequence[KeyIdentity],
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
        limit: int | None = None,
        by: str | None = None,
    ) -> RewrapReport:
        """Re-wrap every item of a retired key to the active key (see the module contract).

        ``identities`` must open the retired keys' headers (the newsroom
        identities of an admin session, or those the recovery identity
        opens). Safe to interrupt and to run again. One runs at a time in
        the whole instance: another rotation, re-wrap or destruction, on any
        host, gets :class:`~tipbox.errors.Busy`. ``limit`` stops after that
        many items (the web app works in slices).
        """
        if batch_size < 1 or (limit is not None and limit < 1):
            raise InvalidInput("the batch size and limit must be at least 1")
        with self._alone():
            return self._rewrap(identities, batch_size, progress, limit, by)

    def _rewrap(
        self,
        identities: Sequence[KeyIdentity],
        batch_size: int,
        progress: Progress | None,
        limit: int | None,
        by: str | None,
    ) -> RewrapReport:
        targets = self._keyring.active_keys()
        by_key = self._identities_by_key(identities)
        total, done, skipped, after = self.pending(), 0, 0, 0
        budget = total if limit is None else limit
        while batch := self._next_batch(after, min(batch_size, budget - done - skipped), targets):
            after = batch[-1].id
            headers = [(item, _new_header(item, by_key, identities)) for item in batch]
            ready = [(item, header) for item, header in headers if header is not None]
            done += self._write_batch(ready)
            skipped += len(batch) - len(ready)
            if progress is not None:
                progress(done + skipped, max(total, done + skipped))
        self._audit.record("rewrap headers", reviewer=by, target=f"{done} items")
        return RewrapReport(rewrapped=done, skipped=skipped, remaining=self.pending())

    def _identities_by_key(self, identities: Sequence[KeyIdentity]) -> dict[int, KeyIdentity]:
        by_recipient = {str(identity.recipient()): identity for identity in identities}
        known = self._keyring.keys()
        return {
            key.id: by_recipient[key.recipient] for key in known if key.recipient in by_recipient
        }

    def _next_batch(
        self, after: int, size: int, targets: dict[int, NewsroomKey]
    ) -> list[_Pending]:
        """The next items to re-wrap, each with the active key of its key's desk."""
        with self._store.db.reading() as conn:
            rows = items_under_retired_keys(conn, after, size)
        return [_pending(row, targets.get(int(row["desk_id"]))) for row in rows]

    def _write_batch(self, ready: list[tuple[_Pending, bytes]]) -> int:
        if not ready:
            return 0
        written = 0
        with self._store.db.transaction() as conn:
            for item, header in ready:
                old = (item.key_id, item.header)
                written += replace_header(conn, item.id, old=old, new=(item.target_id, header))
        return written

    # -- destroy ------------------------------------------------------------------

    def destroy(self, key_id: int, *, by: str | None = None) -> NewsroomKey:
        """Destroy a retired key nothing depends on; raises :class:`KeyInUse` otherwise.

        Also refused within :data:`DESTROY_GRACE_SECONDS` of the key's
        retirement: an upload that started before the rotation encrypts to
        the key it started with and may still be recording items under it.
        """
        with self._alone(), self._store.db.transaction() as conn:
            key = _key_row(conn, key_id)
            _check_destroyable(conn, key)
            _check_grace(conn, key, self._now())
            row = destroy_key(conn, key.id)
        self._store.db.checkpoint()
        self._files.remove_wrapped(key.recipient)
        destroyed = NewsroomKey.from_row(row)
        self._audit.record("destroy key", reviewer=by, target=destroyed.fingerprint)
        return destroyed

    def find(self, reference: str) -> NewsroomKey:
        """The key named by its id or (a prefix of at least 8 of) its fingerprint."""
        compact = reference.replace(" ", "").lower()
        known = self._keyring.keys()
        matches = [
            key
            for key in known
            if compact == str(key.id)
            or (len(compact) >= 8 and key.fingerprint.replace(" ", "").lower().startswith(compact))
        ]
        if len(matches) != 1:
            raise NotFound(f"no single newsroom key matches {reference!r}")
        return matches[0]


def _pending(row: sqlite3.Row, target_key: NewsroomKey | None) -> _Pending:
    """An item and what its new header needs: nothing (left alone) without an active key."""
    if target_key is None:
        return _Pending(int(row["id"]), int(row["key_id"]), bytes(row["header"]), [], 0)
    target = target_key.parsed_recipient()
    recipients: list[Recipient] = [target]
    if row["kind"] == ItemKind.REPLY and row["source_deleted_hour"] is None:
        source = parse_recipient(row["reply_recipient"])
        recipients = [source, target] if source.kind == target.kind else []
    return _Pending(int(row["id"]), int(row["key_id"]), bytes(row["header"]), recipients,
                    target_key.id)


def _new_header(
    item: _Pending, by_key: dict[int, KeyIdentity], identities: Sequence[KeyIdentity]
) -> bytes | None:
    """The item's header re-wrapped to its recipients, or ``None`` if it cannot be."""
    if not item.recipients:
        return None
    candidates = [by_key[item.key_id]] if item.key_id in by_key else list(identities)
    try:
        return rewrap_header(item.header, candidates, item.recipients)
    except (DecryptionError, ValueError):
        return None


def _key_row(conn: sqlite3.Connection, key_id: int) -> NewsroomKey:
    row = key_row(conn, key_id)
    if row is None:
        raise NotFound("no such newsroom key")
    return NewsroomKey.from_row(row)


def _check_grace(conn: sqlite3.Connection, key: NewsroomKey, now: float) -> None:
    retired = retired_hour_of(conn, key.id)
    # Stored hours are rounded down: wait one more hour to be sure.
    if retired is not None and now < retired + DESTROY_GRACE_SECONDS + 3600:
        raise KeyInUse(
            f"key {key.fingerprint} was retired less than {DESTROY_GRACE_SECONDS // 3600} hours"
            " ago: uploads that started before the rotation may still use it; try again later",
            code="key_retired_recently",
            params={"key": key.fingerprint, "hours": DESTROY_GRACE_SECONDS // 3600},
        )


def _check_destroyable(conn: sqlite3.Connection, key: NewsroomKey) -> None:
    if key.state == "active":
        raise KeyInUse("the active key cannot be destroyed: rotate first", code="key_active")
    if key.state == "destroyed":
        raise KeyInUse("that key is already destroyed", code="key_destroyed")
    items = count_items_of_key(conn, key.id)
    if items:
        noun = "item" if items == 1 else "items"
        raise KeyInUse(f"key {key.fingerprint} still protects {items} stored {noun}: re-wrap first",
                       code="key_protects_items", params={"key": key.fingerprint, "num": items})
