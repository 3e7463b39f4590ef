"""Internal notes: what reviewers write to each other about a source.

Contract: a note is an item of kind ``note``, encrypted like everything
else (to the active newsroom key only: never to the source, which never
sees it) and recorded with its author. It is read in the conversation,
re-wrapped by key rotation, shredded with its source and by retention,
and its text follows the rules of a reply (:func:`~tipbox.services.sealing.written_text`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tipbox.config import Settings
from tipbox.errors import NotFound
from tipbox.services.audit import Audit
from tipbox.services.custody.keyring import Keyring
from tipbox.services.sealing import seal_bytes, written_text
from tipbox.store import Store, hour
from tipbox.store.desks import DEFAULT_DESK, source_desk_id
from tipbox.store.items import ItemKind, Written, existing_sources, insert_written

__all__ = ["Notes"]


class Notes:
    """Adds internal notes to sources (see the module contract)."""

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        audit: Audit,
        *,
        live: Callable[[], Settings],
        now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._audit = audit
        self._live = live
        self._now = now

    def add(self, source_id: int, text: str, *, author: str) -> int:
        """Encrypt a note by ``author`` (a username) on the source; return its id.

        ``NotFound`` for an unknown source; the errors of ``written_text``.
        """
        data = written_text(text, self._live().max_message_chars, kind=ItemKind.NOTE)
        designation = self._designation(source_id)
        with self._store.db.reading() as conn:
            desk_id = source_desk_id(conn, source_id)
        key = self._keyring.active_key(desk_id or DEFAULT_DESK)
        part = seal_bytes(self._store, [key.parsed_recipient()], data, kind=ItemKind.NOTE)
        try:
            note = Written(
                source_id=source_id, kind=ItemKind.NOTE, key_id=key.id, header=part.header,
                blob=part.writer.commit(), author=author, created_hour=hour(self._now()),
            )
            with self._store.db.transaction() as conn:
                item_id = insert_written(conn, note)
        except BaseException:
            part.writer.abort()
            raise
        self._audit.record("note", reviewer=author, item_id=item_id, designation=designation)
        return item_id

    def _designation(self, source_id: int) -> str:
        with self._store.db.reading() as conn:
            found = existing_sources(conn, [source_id])
        if not found:
            raise NotFound("no such source")
        return found[0]
