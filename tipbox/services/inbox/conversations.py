"""The reviewer's inbox: sources, conversations, downloads, deletion.

Security contract:

- Nothing here holds a key: every method that decrypts takes the newsroom
  identities of the calling session, and keeps plaintext in memory only for
  as long as it is being returned (messages) or streamed (files, zips).
- Files are decrypted chunk by chunk (64 KiB age chunks) as the generator is
  consumed: memory does not grow with the file size. Each chunk is verified
  before it is yielded; a damaged file stops with
  :class:`~tipbox.crypto.DecryptionError` mid-stream (the client sees a
  truncated download, never unverified bytes).
- Decrypted file names are returned as data, never used as a path. A
  conversation shows, and a download or zip saves, the same name:
  ``saved_file_name`` of :mod:`tipbox.services.submissions.file_names`.
- Deleting is a crypto-shred: the header rows are deleted first (SQLite
  ``secure_delete``; the WAL is then truncated), and only then are the
  payload blobs unlinked. Without its header a payload is noise, even in an
  old backup of the blob directory.
- The sources list costs the same whatever the number of sources: keyset
  pagination over an index in the requested order, and per-row counts over
  the ``(source_id, seen, kind)`` index.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from tipbox.crypto import DecryptionError, decrypt_detached, padded_payload_size
from tipbox.crypto.padding import Bounded
from tipbox.digits import NotANumber, parse_number
from tipbox.errors import Forbidden, InvalidInput, NotFound
from tipbox.services.audit import Audit
from tipbox.services.custody.keyring import KeyIdentity, undecryptable_reason
from tipbox.services.desks.questions import Answer
from tipbox.services.sources.returning import Sources
from tipbox.services.submissions.file_names import numbered_file_name, saved_file_name
from tipbox.store import Store, items
from tipbox.store.items import ItemKind

__all__ = [
    "ORDERS",
    "Conversation",
    "Entry",
    "FileDownload",
    "Inbox",
    "SourcePage",
    "SourceSummary",
    "Undecryptable",
]

ORDERS = ("starred", "newest")
PAGE_SIZE = 50
#: SQLite integers are 64-bit signed; a larger cursor value would be an OverflowError.
_MAX_SQL_INT = 2**63 - 1


class Undecryptable(Forbidden):
    """None of the session's newsroom identities opens this item (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class SourceSummary:
    """One line of the sources list (nothing secret)."""

    id: int
    designation: str
    items: int
    unread: int
    starred: bool
    last_activity_hour: int
    can_reply: bool
    status: str = "new"
    activity_seq: int = 0
    files: int = 0
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourcePage:
    """One page of sources and the cursor of the next page (``None`` at the end)."""

    sources: list[SourceSummary]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a conversation, decrypted for display.

    ``kind`` is ``message``, ``file``, ``reply`` or ``note``. ``text`` is set
    for messages, replies and notes (``None`` if it could not be decrypted);
    ``author`` for replies and notes (``None`` once the account is deleted);
    ``source_seen_hour`` is when the source first saw a reply and
    ``source_deleted_hour`` when it deleted its copy; ``undecryptable`` is the
    code of why the text could not be decrypted (see
    :func:`~tipbox.services.custody.keyring.undecryptable_reason`); ``name``,
    ``size`` and ``content_type`` for files (from the encrypted manifest;
    ``name`` is the one the download saves, ``file-<id>`` if unknown);
    ``answers`` for a ``manifest`` entry: the answers to the desk's questions
    that came with its submission (a manifest without answers is not an entry).
    """

    id: int
    kind: ItemKind
    submission_id: int | None
    hour: int
    seen: bool
    text: str | None = None
    author: str | None = None
    source_seen_hour: int | None = None
    source_deleted_hour: int | None = None
    undecryptable: str | None = None
    name: str | None = None
    size: int | None = None
    content_type: str | None = None
    answers: tuple[Answer, ...] = ()


@dataclass(frozen=True, slots=True)
class Conversation:
    """A source and its items in sequence order."""

    source: SourceSummary
    entries: list[Entry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FileDownload:
    """A file being decrypted: its manifest name and size, and the plaintext chunks."""

    item_id: int
    name: str
    size: int | None
    chunks: Iterator[bytes]


# --- cursors ------------------------------------------------------------------------


def encode_cursor(values: Sequence[int]) -> str:
    """An opaque cursor for the sort key of the last row of a page."""
    text = ".".join(str(int(value)) for value in values)
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, order: str) -> tuple[int, ...]:
    """Parse :func:`encode_cursor`'s output; ``InvalidInput`` if malformed."""
    size = 3 if order == "starred" else 2
    if len(cursor) > 80:
        raise InvalidInput("malformed page cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        values = tuple(parse_number(part, high=_MAX_SQL_INT) for part in raw.split("."))
    except (binascii.Error, UnicodeDecodeError, ValueError, NotANumber):
        raise InvalidInput("malformed page cursor") from None
    if len(values) != size:
        raise InvalidInput("malformed page cursor")
    return values


def _summary(row: sqlite3.Row) -> SourceSummary:
    return SourceSummary(
        id=int(row["id"]),
        designation=str(row["designation"]),
        items=int(row["items"]),
        unread=int(row["unread"]),
        starred=bool(row["starred"]),
        last_activity_hour=int(row["last_activity_hour"]),
        can_reply=row["reply_recipient"] is not None,
        status=str(row["status"]),
        activity_seq=int(row["activity_seq"]),
        files=int(row["files"]),
        labels=_names(row["labels"]),
        assignees=_names(row["assignees"]),
    )


def _names(joined: str | None) -> tuple[str, ...]:
    names = [] if joined is None else joined.split(items.NAME_SEPARATOR)
    return tuple(sorted(names, key=str.casefold))


# --- decryption helpers --------------------------------------------------------------


def _decrypt_all(store: Store, identities: Sequence[KeyIdentity], row: sqlite3.Row) -> bytes:
    with store.blobs.open_blob(str(row["blob"])) as payload:
        return b"".join(decrypt_detached(identities, bytes(row["header"]), payload))


def _decrypt_text(store: Store, identities: Sequence[KeyIdentity], row: sqlite3.Row) -> str | None:
    try:
        return _decrypt_all(store, identities, row).decode("utf-8")
    except (DecryptionError, NotFound, UnicodeDecodeError):
        return None


def _manifest_document(data: bytes) -> dict[str, Any]:
    """A decrypted manifest as a JSON object (``{}`` for anything else)."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _manifest_entries(document: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """``position -> entry`` of a manifest's files (unknown shapes ignored)."""
    try:
        return {int(entry["position"]): dict(entry) for entry in document.get("files", ())}
    except (ValueError, KeyError, TypeError):
        return {}


def _answers_entry(row: sqlite3.Row, document: dict[str, Any]) -> Entry | None:
    """The answers a submission's manifest holds, as an entry; ``None`` without answers."""
    listed = document.get("answers")
    found = [Answer.from_json(value) for value in listed] if isinstance(listed, list) else []
    answers = tuple(answer for answer in found if answer is not None)
    if not answers:
        return None
    return Entry(id=int(row["id"]), kind=ItemKind.MANIFEST, submission_id=row["submission_id"],
                 hour=int(row["created_hour"]), seen=True, answers=answers)


def as_standard_payload(
    payload: BinaryIO, header: bytes, identities: Sequence[KeyIdentity]
) -> BinaryIO:
    """``payload`` without its padding when ``identities`` open it, else as stored."""
    try:
        size = padded_payload_size(identities, header, payload)
    except DecryptionError:
        return payload
    return payload if size is None else cast(BinaryIO, Bounded(payload, size))


def stream_payload(
    header: bytes, payload: BinaryIO, identities: Sequence[KeyIdentity], *, threads: int = 1
) -> Iterator[bytes]:
    """Decrypt ``payload`` chunk by chunk and close it when done or abandoned."""
    try:
        yield from decrypt_detached(identities, header, payload, threads=threads)
    finally:
        payload.close()


class Inbox:
    """Read, download and delete what sources sent (see the module contract)."""

    def __init__(
        self, store: Store, sources: Sources, audit: Audit, *, page_size: int = PAGE_SIZE,
        crypto_threads: int = 1,
    ) -> None:
        self._store = store
        self._sources = sources
        self._audit = audit
        self._page_size = page_size
        self._crypto_threads = crypto_threads

    # -- sources list ---------------------------------------------------------------

    def sources(
        self,
        *,
        order: str = "starred",
        cursor: str | None = None,
        chosen: items.SourceFilter | None = None,
    ) -> SourcePage:
        """One page of the sources that match ``chosen``, in ``order`` (``starred`` first,
        or ``newest``)."""
        if order not in ORDERS:
            raise InvalidInput("unknown sort order")
        params = decode_cursor(cursor, order) if cursor else ()
        with self._store.db.reading() as conn:
            rows = items.source_page(
                conn, order, params, self._page_size + 1, chosen or items.SourceFilter()
            )
        summaries = [_summary(row) for row in rows[: self._page_size]]
        return SourcePage(summaries, self._next_cursor(summaries, order, len(rows)))

    def _next_cursor(self, page: list[SourceSummary], order: str, fetched: int) -> str | None:
        if fetched <= self._page_size or not page:
            return None
        last = page[-1]
        key = (last.activity_seq, last.id)
        return encode_cursor((int(last.starred), *key) if order == "starred" else key)

    def source(self, source_id: int) -> SourceSummary:
        """The summary of one source; ``NotFound`` if it does not exist."""
        with self._store.db.reading() as conn:
            row = items.source_summary(conn, source_id)
        if row is None:
            raise NotFound("no such source")
        return _summary(row)

    def source_of_item(self, item_id: int) -> int:
        """The id of the source an item belongs to; ``NotFound`` if there is no such item."""
        with self._store.db.reading() as conn:
            source_id = items.source_of_item(conn, item_id)
        if source_id is None:
            raise NotFound("no such item")
        return source_id

    # -- conversation ------------------------------------------------------------------

    def conversation(
        self, source_id: int, identities: Sequence[KeyIdentity], *, reviewer: str
    ) -> Conversation:
        """The source's messages, files, replies and notes in sequence order, decrypted
        (audited).

        The messages shown are marked read (the entries still say whether they
        were unread before this view); a file is marked read when downloaded.
        """
        summary = self.source(source_id)
        self._audit.record("view", reviewer=reviewer, designation=summary.designation)
        with self._store.db.reading() as conn:
            rows = items.conversation_items(conn, source_id)
        documents = self._manifests(rows, identities)
        manifests = {submission: _manifest_entries(document)
                     for submission, document in documents.items()}
        found = [
            self._entry(row, identities, manifests)
            if row["kind"] != ItemKind.MANIFEST
            else _answers_entry(row, documents.get(int(row["submission_id"]), {}))
            for row in rows
        ]
        entries = [entry for entry in found if entry is not None]
        shown = [e.id for e in entries if e.kind == ItemKind.MESSAGE and e.text is not None
                 and not e.seen]
        if shown:
            with self._store.db.transaction() as conn:
                items.set_seen(conn, source_id, shown, seen=True)
        return Conversation(summary, entries)

    def _manifests(
        self, rows: Iterable[sqlite3.Row], identities: Sequence[KeyIdentity]
    ) -> dict[int, dict[str, Any]]:
        """Each submission's decrypted manifest document (unreadable ones left out)."""
        manifests: dict[int, dict[str, Any]] = {}
        for row in rows:
            if row["kind"] == ItemKind.MANIFEST:
                try:
                    data = _decrypt_all(self._store, identities, row)
                except (DecryptionError, NotFound):
                    continue
                manifests[int(row["submission_id"])] = _manifest_document(data)
        return manifests

    def _entry(
        self,
        row: sqlite3.Row,
        identities: Sequence[KeyIdentity],
        manifests: dict[int, dict[int, dict[str, Any]]],
    ) -> Entry:
        base: dict[str, Any] = {
            "id": int(row["id"]),
            "kind": ItemKind(row["kind"]),
            "submission_id": row["submission_id"],
            "hour": int(row["created_hour"]),
            "seen": bool(row["seen"]),
            "author": row["author"],
            "source_seen_hour": row["source_seen_hour"],
            "source_deleted_hour": row["source_deleted_hour"],
        }
        if row["kind"] != ItemKind.FILE:
            text = _decrypt_text(self._store, identities, row)
            why = None if text is not None else undecryptable_reason(
                self._store.db, row["key_id"], identities)
            return Entry(**base, text=text, undecryptable=why)
        meta = manifests.get(int(row["submission_id"]), {}).get(int(row["position"]), {})
        return Entry(
            **base,
            name=_file_name(meta, int(row["id"])),
            size=_safe_int(meta.get("size")),
            content_type=_safe_str(meta.get("content_type")),
        )

    # -- read / star ---------------------------------------------------------------------

    def set_seen(self, source_id: int, item_ids: Sequence[int] | None, *, seen: bool) -> int:
        """Mark items (all of the source's if ``item_ids`` is ``None``) read or unread."""
        self.source(source_id)
        with self._store.db.transaction() as conn:
            return items.set_seen(conn, source_id, item_ids, seen=seen)

    def set_starred(self, source_id: int, *, starred: bool) -> None:
        """Star or unstar a source; ``NotFound`` if it does not exist."""
        with self._store.db.transaction() as conn:
            found = items.set_starred(conn, source_id, starred=starred)
        if not found:
            raise NotFound("no such source")

    # -- items -----------------------------------------------------------------------------

    def _item(self, source_id: int, item_id: int) -> sqlite3.Row:
        with self._store.db.reading() as conn:
            row = items.item_of_source(conn, source_id, item_id)
        if row is None or row["kind"] == ItemKind.MANIFEST:
            raise NotFound("no such item")
        return row

    def open_file(
        self, source_id: int, item_id: int, identities: Sequence[KeyIdentity], *, reviewer: str
    ) -> FileDownload:
        """Start decrypting a file (or message/reply) item as a stream of chunks.

        The header and first chunk are opened before this returns, so a
        missing key raises :class:`Undecryptable` here rather than half-way
        through a response.
        Marks the item read.
        """
        row = self._item(source_id, item_id)
        name, size = self._file_meta(row, identities)
        payload = self._store.blobs.open_blob(str(row["blob"]))
        chunks = stream_payload(bytes(row["header"]), payload, identities,
                                threads=self._crypto_threads)
        try:
            first = next(chunks, b"")
        except DecryptionError:
            payload.close()
            reason = undecryptable_reason(self._store.db, row["key_id"], identities)
            raise Undecryptable("this item cannot be decrypted", code=reason) from None
        except BaseException:
            payload.close()
            raise
        self.set_seen(source_id, [item_id], seen=True)
        self._audit.record("download", reviewer=reviewer, item_id=item_id)
        return FileDownload(item_id, name, size, _prepend(first, chunks))

    def _file_meta(
        self, row: sqlite3.Row, identities: Sequence[KeyIdentity]
    ) -> tuple[str, int | None]:
        if row["kind"] != ItemKind.FILE:
            return f"{row['kind']}-{row['id']}.txt", None
        with self._store.db.reading() as conn:
            manifest = items.manifest_of(conn, row["submission_id"])
        meta: dict[str, Any] = {}
        if manifest is not None:
            try:
                data = _decrypt_all(self._store, identities, manifest)
                meta = _manifest_entries(_manifest_document(data)).get(int(row["position"]), {})
            except (DecryptionError, NotFound):
                meta = {}
        name = _file_name(meta, int(row["id"]))
        return name, _safe_int(meta.get("size"))

    def export_age(
        self, source_id: int, item_id: int, identities: Sequence[KeyIdentity], *, reviewer: str
    ) -> tuple[str, Iterator[bytes]]:
        """The item as a standard age file (header + payload), still encrypted (audited).

        For decryption on an air-gapped machine. A padded payload is cut where
        its trailer says (the identities open it): the file is what an
        unpadded writer would have written, and any age tool decrypts it. An
        item the identities do not open goes out as stored.
        """
        row = self._item(source_id, item_id)
        self._audit.record("export", reviewer=reviewer, item_id=item_id)
        header = bytes(row["header"])
        payload = self._store.blobs.open_blob(str(row["blob"]))
        return f"{row['kind']}-{row['id']}.age", _prepend(
            header, _read_chunks(as_standard_payload(payload, header, identities))
        )

    def zip_items(
        self,
        source_id: int,
        item_ids: Sequence[int] | None,
        identities: Sequence[KeyIdentity],
        *,
        reviewer: str,
    ) -> Iterator[bytes]:
        """A zip of the given items (``None``: every unread one), streamed.

        Entries are stored (no compression: documents are usually
        compressed already and it keeps the cost per byte flat). Names are
        the names the conversation shows, numbered where two are the same.
        """
        ids = self._zip_ids(source_id, item_ids)
        return _zip_stream(self, [(source_id, item_id, "") for item_id in ids], identities,
                           reviewer)

    def zip_sources(
        self, source_ids: Sequence[int], identities: Sequence[KeyIdentity], *, reviewer: str
    ) -> Iterator[bytes]:
        """Every message and file of the given sources as one zip, a folder per source
        (named by its designation), streamed. ``NotFound`` before any byte if a source
        does not exist."""
        picked: list[tuple[int, int, str]] = []
        for source_id in dict.fromkeys(source_ids):
            folder = self.source(source_id).designation.replace(" ", "-") + "/"
            with self._store.db.reading() as conn:
                rows = items.content_items(conn, source_id)
            picked += [(source_id, int(row["id"]), folder) for row in rows]
        return _zip_stream(self, picked, identities, reviewer)

    def _zip_ids(self, source_id: int, item_ids: Sequence[int] | None) -> list[int]:
        self.source(source_id)
        with self._store.db.reading() as conn:
            rows = items.content_items(conn, source_id)
        if item_ids is None:
            return [int(row["id"]) for row in rows if not row["seen"]]
        known = {int(row["id"]) for row in rows}
        if not set(item_ids) <= known:
            raise NotFound("no such item")
        return list(dict.fromkeys(item_ids))

    # -- replies -------------------------------------------------------------------------

    def reply(self, source_id: int, text: str, *, reviewer: str) -> int:
        """Encrypt a reply to the source and the newsroom key (audited); return its id.

        Raises ``InvalidInput`` (empty, or the source has no codename),
        ``TooLarge`` or ``NotFound`` as :meth:`Sources.add_reply` does.
        """
        summary = self.source(source_id)
        item_id = self._sources.add_reply(source_id, text, author=reviewer)
        self._audit.record(
            "reply", reviewer=reviewer, item_id=item_id, designation=summary.designation
        )
        return item_id

    # -- deletion --------------------------------------------------------------------------

    def delete_item(self, source_id: int, item_id: int, *, reviewer: str) -> None:
        """Crypto-shred one message, file or reply (and an emptied submission's manifest)."""
        row = self._item(source_id, item_id)
        self._audit.record("delete item", reviewer=reviewer, item_id=item_id)
        submission_id = row["submission_id"]
        with self._store.db.transaction() as conn:
            blobs = items.delete_item(
                conn, item_id, None if submission_id is None else int(submission_id)
            )
        self._store.shred(blobs)

    def delete_source(self, source_id: int, *, reviewer: str) -> str:
        """Crypto-shred a source and everything of it (audited); returns its designation."""
        with self._store.db.transaction() as conn:
            deleted = items.delete_source(conn, source_id)
        if deleted is None:
            raise NotFound("no such source")
        designation, blobs = deleted
        self._store.shred(blobs)
        self._audit.record("delete source", reviewer=reviewer, designation=designation)
        return designation


def _file_name(meta: dict[str, Any], item_id: int) -> str:
    """The name a file is shown and downloaded under: one filter for both."""
    return saved_file_name(meta.get("name"), fallback=f"file-{item_id}")


def _safe_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _safe_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _read_chunks(payload: BinaryIO, size: int = 1024 * 1024) -> Iterator[bytes]:
    try:
        while chunk := payload.read(size):
            yield chunk
    finally:
        payload.close()


# --- streamed zip ------------------------------------------------------------------------


class _ChunkSink:
    """A write-only, non-seekable file that collects what ``zipfile`` writes."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes, /) -> int:
        self._chunks.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def _unique_name(name: str, used: set[str], folder: str = "") -> str:
    """``name``, numbered if ``folder`` already holds it."""
    candidate, number = name, 1
    while folder + candidate in used:
        number += 1
        candidate = numbered_file_name(name, number)
    used.add(folder + candidate)
    return candidate


def _zip_stream(
    inbox: Inbox,
    picked: list[tuple[int, int, str]],
    identities: Sequence[KeyIdentity],
    reviewer: str,
) -> Iterator[bytes]:
    """``(source id, item id, folder)`` entries, decrypted into one streamed zip."""
    sink = _ChunkSink()
    used: set[str] = set()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for source_id, item_id, folder in picked:
            download = inbox.open_file(source_id, item_id, identities, reviewer=reviewer)
            info = zipfile.ZipInfo(folder + _unique_name(download.name, used, folder))
            with archive.open(info, mode="w", force_zip64=True) as member:
                for chunk in download.chunks:
                    member.write(chunk)
                    yield from _nonempty(sink.take())
            yield from _nonempty(sink.take())
    yield from _nonempty(sink.take())


def _nonempty(data: bytes) -> Iterator[bytes]:
    if data:
        yield data
