"""The newsroom keys and who holds them (DESIGN 5).

A newsroom key is an age identity whose private half is never stored in the
clear: the database keeps only its public recipient, fingerprint, kind,
state and desk, plus **grants**, each the identity as an age file encrypted
to one holder (``"recovery"`` or ``"reviewer:<id>"``). Every key belongs to
one desk (issue 15), and each desk has exactly one ``active`` key (its new
items are encrypted to it); ``retired`` keys still decrypt older items;
``destroyed`` keys have no grants left. A desk's keys are granted to the
recovery recipient and to the desk's members only.

Security contract: nothing in this module writes an identity anywhere but
into a grant encrypted to its holder; :meth:`Keyring.open_identities` is the
only way back, and needs the holder's own identity.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from tipbox.crypto import (
    DecryptionError,
    HybridIdentity,
    Recipient,
    X25519Identity,
    decrypt,
    encrypt,
    fingerprint,
    parse_identity,
    parse_recipient,
)
from tipbox.errors import NotInitialised
from tipbox.store import Database
from tipbox.store.db import read_meta
from tipbox.store.desks import all_desk_ids
from tipbox.store.keys import (
    active_key_row,
    enabled_reviewer_recipients,
    insert_newsroom_key,
    key_row,
    key_rows,
    sealed_grants_to,
    write_grant,
)

__all__ = [
    "RECOVERY",
    "KeyIdentity",
    "Keyring",
    "desk_holders",
    "NewsroomKey",
    "identity_from_seed",
    "insert_grant",
    "insert_key",
    "key_kind",
    "undecryptable_reason",
]

#: The holder name of the offline recovery identity's grants.
RECOVERY = "recovery"
#: ``meta`` key holding the recovery recipient string.
RECOVERY_RECIPIENT = "recovery_recipient"

KeyIdentity = X25519Identity | HybridIdentity


@dataclass(frozen=True, slots=True)
class NewsroomKey:
    """Public facts about one newsroom key. ``created_hour`` is Unix seconds."""

    id: int
    recipient: str
    fingerprint: str
    kind: str
    state: str
    created_hour: int
    desk_id: int = 1

    def parsed_recipient(self) -> Recipient:
        """The recipient object to encrypt to."""
        return parse_recipient(self.recipient)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> NewsroomKey:
        return cls(
            id=row["id"],
            recipient=row["recipient"],
            fingerprint=row["fingerprint"],
            kind=row["kind"],
            state=row["state"],
            created_hour=row["created_hour"],
            desk_id=row["desk_id"],
        )


def key_kind(recipient: str) -> str:
    """``"pq"`` for ``age1pq1...`` recipients, ``"classic"`` for X25519 ones."""
    return parse_recipient(recipient).kind


def identity_from_seed(seed: bytes, kind: str) -> KeyIdentity:
    """The identity of a 32-byte secret seed, of the given kind.

    Used for sources: the seed comes from their codename and is never stored.
    """
    if kind == "pq":
        return HybridIdentity.from_seed(seed)
    return X25519Identity(seed)


def insert_key(
    conn: sqlite3.Connection,
    identity: KeyIdentity,
    *,
    holders: Sequence[tuple[str, Recipient]],
    state: str,
    created_hour: int,
    desk_id: int,
) -> NewsroomKey:
    """Record a new key of a desk and grant it to every holder, in the caller's transaction.

    ``holders`` pairs a holder name with its recipient. With
    ``state="active"`` the caller must first retire the desk's active key
    (a unique index allows one active key per desk).
    """
    recipient = str(identity.recipient())
    row = insert_newsroom_key(
        conn,
        recipient=recipient,
        fingerprint=fingerprint(recipient),
        kind=key_kind(recipient),
        state=state,
        created_hour=created_hour,
        desk_id=desk_id,
    )
    key = NewsroomKey.from_row(row)
    for holder, holder_recipient in holders:
        insert_grant(conn, key.id, identity, holder=holder, recipient=holder_recipient)
    return key


def desk_holders(
    conn: sqlite3.Connection, desk_id: int, recovery: Recipient
) -> list[tuple[str, Recipient]]:
    """Who a new key of a desk is granted to: the recovery recipient and the desk's
    members whose accounts are not disabled (their public recipients)."""
    members: list[tuple[str, Recipient]] = [
        (f"reviewer:{row['id']}", parse_recipient(row["recipient"]))
        for row in enabled_reviewer_recipients(conn, desk_id)
    ]
    return [(RECOVERY, recovery), *members]


def insert_grant(
    conn: sqlite3.Connection,
    key_id: int,
    identity: KeyIdentity,
    *,
    holder: str,
    recipient: Recipient,
) -> None:
    """Store ``identity`` encrypted to ``recipient`` as ``holder``'s grant of key ``key_id``."""
    sealed = encrypt([recipient], (str(identity) + "\n").encode("ascii"))
    write_grant(conn, key_id, holder=holder, holder_recipient=str(recipient), sealed=sealed)


def undecryptable_reason(
    db: Database, key_id: int | None, identities: Sequence[KeyIdentity]
) -> str:
    """Why ``identities`` do not open an item wrapped to newsroom key ``key_id``: a code.

    ``item_for_source_only``: no newsroom key (a reply only its source can
    read); ``item_key_destroyed``: the key is gone, nothing opens the item
    any more; ``item_key_not_granted``: the identities lack that key (their
    holder has no grant of it); ``item_damaged``: they hold the key, so the
    stored item itself does not decrypt. Reads public key facts only.
    """
    if key_id is None:
        return "item_for_source_only"
    with db.reading() as conn:
        row = key_row(conn, key_id)
    if row is None or row["state"] == "destroyed":
        return "item_key_destroyed"
    held = {str(identity.recipient()) for identity in identities}
    return "item_damaged" if row["recipient"] in held else "item_key_not_granted"


class Keyring:
    """Read access to the newsroom keys and their grants."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def keys(self) -> list[NewsroomKey]:
        """Every newsroom key, newest first."""
        with self._db.connection() as conn:
            rows = key_rows(conn)
        return [NewsroomKey.from_row(row) for row in rows]

    def active_key(self, desk_id: int) -> NewsroomKey:
        """The key a desk's new items are encrypted to; :class:`NotInitialised` if none."""
        with self._db.connection() as conn:
            row = active_key_row(conn, desk_id)
        if row is None:
            raise NotInitialised("there is no active newsroom key; run `python -m tipbox init`")
        return NewsroomKey.from_row(row)

    def desk_ids(self) -> list[int]:
        """Every desk's id, in desk order."""
        with self._db.connection() as conn:
            return all_desk_ids(conn)

    def active_keys(self) -> dict[int, NewsroomKey]:
        """The active key of every desk that has one, by desk id."""
        return {key.desk_id: key for key in self.keys() if key.state == "active"}

    def recovery_recipient(self) -> Recipient:
        """The public half of the offline recovery identity."""
        with self._db.connection() as conn:
            value = read_meta(conn, RECOVERY_RECIPIENT)
        if value is None:
            raise NotInitialised("no recovery recipient recorded; run `python -m tipbox init`")
        return parse_recipient(value)

    def open_identities(self, holder_identity: KeyIdentity) -> list[KeyIdentity]:
        """Decrypt every grant addressed to ``holder_identity``; newest key first.

        Returns an empty list if it holds no grant. Raises
        :class:`~tipbox.crypto.DecryptionError` if a grant addressed to it
        does not decrypt (tampering). The returned identities are secret:
        keep them in memory only.
        """
        recipient = str(holder_identity.recipient())
        with self._db.connection() as conn:
            sealed = sealed_grants_to(conn, recipient)
        return [_open_grant(grant, holder_identity) for grant in sealed]


def _open_grant(sealed: bytes, holder_identity: KeyIdentity) -> KeyIdentity:
    plaintext = decrypt([holder_identity], sealed)
    try:
        return parse_identity(plaintext.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise DecryptionError("a grant does not contain an identity") from None
