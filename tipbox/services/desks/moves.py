"""Moving a source to another desk: its items re-wrapped for the new desk's key only.

Security contract:

- Every item of the source (messages, files, manifests, notes, replies; not
  a reply that only its source can read, which no desk's key opens) gets
  a new detached header for the new desk's active key
  (:func:`~tipbox.crypto.rewrap_header`: the file key and payload do not
  change); a reply keeps its source's stanza too, when the kinds match (a
  classic source of a post-quantum desk keeps a reply for itself alone).
  No stanza for the old desk's keys remains, so the old desk's members and
  grants can no longer open any of it, and the source leaves their lists.
- All or nothing: the new headers are computed first, with the identities
  the caller holds (an admin's session, or what the recovery identity
  opens); if one item cannot be opened the move is refused and nothing
  changes. They are then written, with the source's desk, in one
  transaction guarded by the old headers (a change meanwhile refuses it).
- Assignments to reviewers who are not members of the new desk are dropped.
- The audit log records the move: the designation and the two desks' names.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from tipbox.crypto import DecryptionError, Recipient, parse_recipient, rewrap_header
from tipbox.errors import InvalidInput, NotFound
from tipbox.services.audit import Audit
from tipbox.services.custody.keyring import KeyIdentity, Keyring, NewsroomKey
from tipbox.store import Store
from tipbox.store.desks import (
    desk_row,
    drop_assignments_outside,
    set_source_desk,
    source_designation_and_desk,
)
from tipbox.store.items import ItemKind, items_of_source_to_move, replace_header

__all__ = ["Moved", "SourceMoves"]


@dataclass(frozen=True, slots=True)
class Moved:
    """What a move did: the source, the desks, how many items were re-wrapped."""

    designation: str
    from_desk: str
    to_desk: str
    items: int


class SourceMoves:
    """Moves sources between desks (see the module contract)."""

    def __init__(self, store: Store, keyring: Keyring, *, audit: Audit) -> None:
        self._store = store
        self._keyring = keyring
        self._audit = audit

    def move(self, source_id: int, desk_id: int, identities: Sequence[KeyIdentity], *,
             by: str | None = None) -> Moved:
        """Move the source to the desk; ``InvalidInput`` if an item cannot be re-wrapped."""
        target = self._keyring.active_key(desk_id)
        with self._store.db.reading() as conn:
            # A reply only its source can read (no newsroom stanza) stays as it is.
            rows = [row for row in items_of_source_to_move(conn, source_id)
                    if row["key_id"] is not None]
            source = _source_row(conn, source_id)
            old_desk, new_desk = _slug(conn, int(source["desk_id"])), _slug(conn, desk_id)
        if int(source["desk_id"]) == desk_id:
            raise InvalidInput("the source is already on that desk", code="same_desk")
        headers = [(row, _new_header(row, target, identities)) for row in rows]
        with self._store.db.transaction() as conn:
            for row, (key_id, header) in headers:
                old = (row["key_id"], bytes(row["header"]))
                if not replace_header(conn, int(row["id"]), old=old, new=(key_id, header)):
                    raise InvalidInput("the source changed meanwhile: try again",
                                       code="source_changed")
            set_source_desk(conn, source_id, desk_id)
            drop_assignments_outside(conn, source_id, desk_id)
        moved = Moved(str(source["designation"]), old_desk, new_desk, len(headers))
        self._audit.record("move source", reviewer=by, designation=moved.designation,
                           target=f"{old_desk} -> {new_desk}")
        return moved


def _new_header(
    row: sqlite3.Row, target: NewsroomKey, identities: Sequence[KeyIdentity]
) -> tuple[int | None, bytes]:
    """The item's key id and header for the new desk; refuses an item it cannot open."""
    recipients: list[Recipient] = [target.parsed_recipient()]
    key_id: int | None = target.id
    if row["kind"] == ItemKind.REPLY and row["source_deleted_hour"] is None:
        source = parse_recipient(row["reply_recipient"])
        if source.kind == target.kind:
            recipients = [source, *recipients]
        else:
            recipients, key_id = [source], None
    try:
        return key_id, rewrap_header(bytes(row["header"]), list(identities), recipients)
    except (DecryptionError, ValueError):
        raise InvalidInput("you do not hold the key of every item of this source",
                           code="move_needs_keys") from None


def _source_row(conn: sqlite3.Connection, source_id: int) -> sqlite3.Row:
    row = source_designation_and_desk(conn, source_id)
    if row is None:
        raise NotFound("no such source")
    return row


def _slug(conn: sqlite3.Connection, desk_id: int) -> str:
    row = desk_row(conn, desk_id)
    if row is None:
        raise NotFound("no such desk")
    return str(row["slug"])
