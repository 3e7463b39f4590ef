"""The desks of an instance: names per language, members, keys, open or closed.

Security contract:

- A desk is created with its own newsroom key (post-quantum unless
  ``classic``), active at once and granted to the recovery recipient and to
  the desk's enabled members only (their public recipients: no private key
  is needed). Its identity is written wrapped to the recovery recipient in
  the keys directory, as every newsroom key is, and returned to the caller
  (for an admin's session) and otherwise exists only inside grants.
- Adding a member grants it the desk's keys the acting admin holds (the
  identities of their session); keys the admin lacks reach the member at the
  next login of an admin who holds them. Removing a member deletes its
  grants of the desk's keys and ends its sessions in one transaction: what
  the desk receives after the next rotation is out of its reach.
- Which desks a reviewer may see is their membership, read per request:
  :meth:`Desks.reaches` answers for a source or an item, and says nothing
  about one out of reach (callers answer 404, as for one that does not exist).
- Names and descriptions are public (the submit page shows them); nothing
  here is secret but the identity a creation returns.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tipbox.crypto import HybridIdentity, X25519Identity, parse_recipient
from tipbox.errors import InvalidInput, NotFound
from tipbox.services.audit import Audit
from tipbox.services.custody.key_files import KeyFiles
from tipbox.services.custody.keyring import (
    KeyIdentity,
    Keyring,
    NewsroomKey,
    desk_holders,
    insert_grant,
    insert_key,
)
from tipbox.services.desks.languages import in_language
from tipbox.store import Store, hour
from tipbox.store import desks as rows
from tipbox.store.items import source_of_item
from tipbox.store.keys import live_key
from tipbox.store.reviewers import account_row, is_enabled
from tipbox.store.sessions import delete_reviewer_sessions_of

__all__ = ["DEFAULT_DESK", "Created", "Desk", "DeskText", "Desks", "parse_texts"]

DEFAULT_DESK = rows.DEFAULT_DESK
MAX_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 600
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class DeskText:
    """A desk's name and description in one language."""

    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Desk:
    """A desk: ``slug`` names it in URLs and commands; ``texts`` by language code."""

    id: int
    slug: str
    texts: Mapping[str, DeskText]
    is_open: bool
    position: int

    def text(self, language: str) -> DeskText:
        """The name and description in ``language``, else English, else any language."""
        return in_language(self.texts, language) or DeskText(self.slug)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Desk:
        return cls(int(row["id"]), str(row["slug"]), _texts_of(str(row["texts"])),
                   bool(row["open"]), int(row["position"]))


def _texts_of(document: str) -> dict[str, DeskText]:
    loaded = json.loads(document)
    return {code: DeskText(str(t.get("name", "")), str(t.get("description", "")))
            for code, t in loaded.items() if isinstance(t, dict)}


def parse_texts(texts: Mapping[str, tuple[str, str]]) -> dict[str, DeskText]:
    """Checked texts from ``{language: (name, description)}``; empty languages are dropped.

    Raises ``InvalidInput`` (``desk_name``) if no language has a name, a
    language has a description without a name, or a text is too long or not
    printable.
    """
    checked = {}
    for code, (name, description) in texts.items():
        name, description = name.strip(), description.strip()
        if not name and not description:
            continue
        if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
            raise InvalidInput("a desk's name has 1 to 80 printable characters",
                               code="desk_name", params={"num": MAX_NAME_CHARS})
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise InvalidInput("a desk's description is too long", code="desk_description",
                               params={"num": MAX_DESCRIPTION_CHARS})
        checked[code] = DeskText(name, description)
    if not checked:
        raise InvalidInput("a desk needs a name", code="desk_name",
                           params={"num": MAX_NAME_CHARS})
    return checked


def _encode(texts: Mapping[str, DeskText]) -> str:
    return json.dumps({code: {"name": t.name, "description": t.description}
                       for code, t in texts.items()}, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True, slots=True, repr=False)
class Created:
    """A new desk and its key. ``identity`` is secret: keep it in memory only."""

    desk: Desk
    key: NewsroomKey
    identity: KeyIdentity


class Desks:
    """Read and change the desks of one instance (see the module contract)."""

    def __init__(self, store: Store, keyring: Keyring, key_files: KeyFiles, *, audit: Audit,
                 now: Callable[[], float] = time.time) -> None:
        self._store = store
        self._keyring = keyring
        self._files = key_files
        self._audit = audit
        self._now = now

    # -- reading ----------------------------------------------------------------------

    def all(self) -> list[Desk]:
        """Every desk, in the order sources see them."""
        with self._store.db.reading() as conn:
            return [Desk.from_row(row) for row in rows.desk_rows(conn)]

    def open_to_sources(self) -> list[Desk]:
        """The desks a new source may choose."""
        return [desk for desk in self.all() if desk.is_open]

    def get(self, desk_id: int) -> Desk:
        """One desk; ``NotFound`` if there is none."""
        with self._store.db.reading() as conn:
            row = rows.desk_row(conn, desk_id)
        if row is None:
            raise NotFound("no such desk")
        return Desk.from_row(row)

    def by_slug(self, slug: str) -> Desk:
        """The desk named ``slug``; ``NotFound`` if there is none."""
        for desk in self.all():
            if desk.slug == slug:
                return desk
        raise NotFound("no such desk")

    def of_reviewer(self, reviewer_id: int) -> list[int]:
        """The ids of the desks a reviewer is a member of."""
        with self._store.db.reading() as conn:
            return rows.desk_ids_of_reviewer(conn, reviewer_id)

    def members(self, desk_id: int) -> list[tuple[int, str, bool]]:
        """``(id, username, disabled)`` of the desk's members."""
        with self._store.db.reading() as conn:
            found = rows.member_rows(conn, desk_id)
        return [(int(r["id"]), str(r["username"]), bool(r["disabled"])) for r in found]

    def reaches(self, reviewer_id: int, *, source_id: int | None = None,
                item_id: int | None = None) -> bool:
        """Whether the reviewer is a member of the desk of that source (or item's source).

        False also for a source or item that does not exist.
        """
        with self._store.db.reading() as conn:
            if item_id is not None:
                owner = source_of_item(conn, item_id)
                if owner is None or (source_id is not None and owner != source_id):
                    return False
                source_id = owner
            desk_id = None if source_id is None else rows.source_desk_id(conn, source_id)
            return desk_id is not None and rows.is_member(conn, desk_id, reviewer_id)

    def source_named(self, designation: str) -> int:
        """The id of the source with that designation; ``NotFound`` if there is none."""
        with self._store.db.reading() as conn:
            source_id = rows.source_id_by_designation(conn, designation)
        if source_id is None:
            raise NotFound("no source has that designation")
        return source_id

    def desk_of_source(self, source_id: int) -> int:
        """The desk a source belongs to; ``NotFound`` if there is no such source."""
        with self._store.db.reading() as conn:
            desk_id = rows.source_desk_id(conn, source_id)
        if desk_id is None:
            raise NotFound("no such source")
        return desk_id

    # -- changing ---------------------------------------------------------------------

    def create(self, slug: str, texts: Mapping[str, DeskText], *, members: Sequence[int] = (),
               classic: bool = False, by: str | None = None) -> Created:
        """A new open desk with its own active key, granted to ``members`` and recovery."""
        slug = _checked_slug(slug)
        identity: KeyIdentity = X25519Identity.generate() if classic else HybridIdentity.generate()
        recovery = self._keyring.recovery_recipient()
        stamp = hour(self._now())
        with self._store.db.transaction() as conn:
            desk_id = _insert_desk(conn, slug, texts, stamp)
            for reviewer_id in members:
                rows.add_member(conn, desk_id, reviewer_id)
            holders = desk_holders(conn, desk_id, recovery)
            key = insert_key(conn, identity, holders=holders, state="active",
                             created_hour=stamp, desk_id=desk_id)
        self._files.write_wrapped(identity, recovery)
        self._files.write_active(key.recipient, slug=slug, default=desk_id == DEFAULT_DESK)
        self._audit.record("create desk", reviewer=by, target=slug)
        return Created(self.get(desk_id), key, identity)

    def rename(self, desk_id: int, texts: Mapping[str, DeskText], *, by: str | None = None) -> None:
        """Replace the desk's names and descriptions."""
        with self._store.db.transaction() as conn:
            if not rows.set_desk_texts(conn, desk_id, _encode(texts)):
                raise NotFound("no such desk")
        self._audit.record("edit desk", reviewer=by, target=self.get(desk_id).slug)

    def set_open(self, desk_id: int, *, is_open: bool, by: str | None = None) -> None:
        """Open the desk to new sources, or close it (its conversations go on)."""
        with self._store.db.transaction() as conn:
            if not rows.set_desk_open(conn, desk_id, is_open=is_open):
                raise NotFound("no such desk")
        action = "open desk" if is_open else "close desk"
        self._audit.record(action, reviewer=by, target=self.get(desk_id).slug)

    def add_member(self, desk_id: int, reviewer_id: int, identities: Sequence[KeyIdentity],
                   *, recipient: str, by: str | None = None) -> int:
        """Make the reviewer a member and grant it the desk's keys among ``identities``.

        ``recipient`` is the reviewer's public recipient. Returns how many
        grants were written (none for a disabled account).
        """
        desk = self.get(desk_id)
        written = 0
        with self._store.db.transaction() as conn:
            account = account_row(conn, reviewer_id)
            if account is None:
                raise NotFound("no such reviewer")
            rows.add_member(conn, desk_id, reviewer_id)
            if not is_enabled(conn, reviewer_id):
                identities = ()
            for identity in identities:
                found = live_key(conn, str(identity.recipient()))
                if found is not None and found[1] == desk_id:
                    insert_grant(conn, found[0], identity, holder=f"reviewer:{reviewer_id}",
                                 recipient=parse_recipient(recipient))
                    written += 1
        self._audit.record("add desk member", reviewer=by,
                           target=f"{desk.slug}: {account['username']}")
        return written

    def remove_member(self, desk_id: int, reviewer_id: int, *, by: str | None = None) -> int:
        """End the membership: its grants of the desk's keys go, its sessions end."""
        desk = self.get(desk_id)
        with self._store.db.transaction() as conn:
            account = account_row(conn, reviewer_id)
            if account is None:
                raise NotFound("no such reviewer")
            removed = rows.remove_member(conn, desk_id, reviewer_id)
            delete_reviewer_sessions_of(conn, reviewer_id)
        self._store.db.checkpoint()
        self._audit.record("remove desk member", reviewer=by,
                           target=f"{desk.slug}: {account['username']}")
        return removed


def _checked_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not _SLUG.fullmatch(slug):
        raise InvalidInput("a desk's short name has 1 to 40 letters a-z, digits and hyphens",
                           code="desk_slug")
    return slug


def _insert_desk(conn: sqlite3.Connection, slug: str, texts: Mapping[str, DeskText],
                 stamp: int) -> int:
    try:
        return rows.insert_desk(conn, slug, _encode(texts), created_hour=stamp)
    except sqlite3.IntegrityError:
        raise InvalidInput("a desk with that short name exists", code="desk_slug_taken") from None
