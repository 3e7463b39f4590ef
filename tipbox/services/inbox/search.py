"""Full-text search over what a session can decrypt: messages, file names and notes.

Security contract:

- The index is plaintext and lives **only in the memory of one worker
  process**, for one session (keyed by the session's id hash, never by its
  token). Nothing of it is written anywhere: no file, no temporary table, no
  log. It goes when the session logs out (:meth:`Search.forget`), when it is
  pushed out by newer sessions (at most :data:`MAX_SESSIONS` per process),
  or when the process ends.
- A query is case-insensitive; every word of it must occur in one source's
  texts (its messages, the names of its files, its notes). Replies are the
  newsroom's own words and are not searched.
- The index follows the database: each query first lists the searchable
  items (ids only), decrypts the ones it has not seen and drops the ones
  that are gone, so a deleted item is never found again.
- Decryption runs on a few threads (``cryptography`` releases the GIL), so
  the first query of a session costs about one pass over the texts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tipbox.crypto import DecryptionError, decrypt_detached
from tipbox.errors import InvalidInput, NotFound
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.store import Store
from tipbox.store.items import ItemKind, searchable_items

__all__ = ["MAX_QUERY_CHARS", "MAX_SESSIONS", "Search"]

MAX_SESSIONS = 4
MAX_QUERY_CHARS = 200
_THREADS = 4


@dataclass
class _Index:
    """One session's texts: item id -> (source id, case-folded text)."""

    texts: dict[int, tuple[int, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Search:
    """Per-session, in-memory full-text search (see the module contract)."""

    def __init__(self, store: Store, *, threads: int = _THREADS) -> None:
        self._store = store
        self._threads = threads
        self._indexes: OrderedDict[bytes, _Index] = OrderedDict()
        self._lock = threading.Lock()

    def sources(
        self, session_key: bytes, identities: Sequence[KeyIdentity], query: str
    ) -> list[int]:
        """The ids of the sources whose texts hold every word of ``query``."""
        words = _words(query)
        index = self._index(session_key)
        with index.lock:
            self._refresh(index, identities)
            found = {
                source_id for source_id, text in index.texts.values()
                if all(word in text for word in words)
            }
        return sorted(found)

    def forget(self, session_key: bytes) -> None:
        """Drop the session's index (at logout)."""
        with self._lock:
            self._indexes.pop(session_key, None)

    def _index(self, session_key: bytes) -> _Index:
        with self._lock:
            index = self._indexes.pop(session_key, None) or _Index()
            self._indexes[session_key] = index
            while len(self._indexes) > MAX_SESSIONS:
                self._indexes.popitem(last=False)
            return index

    def _refresh(self, index: _Index, identities: Sequence[KeyIdentity]) -> None:
        with self._store.db.reading() as conn:
            rows = searchable_items(conn)
        current = {int(row["id"]) for row in rows}
        for gone in set(index.texts) - current:
            del index.texts[gone]
        new = [row for row in rows if int(row["id"]) not in index.texts]
        with ThreadPoolExecutor(self._threads) as pool:
            for item_id, source_id, text in pool.map(
                lambda row: self._text(row, identities), new
            ):
                index.texts[item_id] = (source_id, text)

    def _text(
        self, row: sqlite3.Row, identities: Sequence[KeyIdentity]
    ) -> tuple[int, int, str]:
        item_id, source_id = int(row["id"]), int(row["source_id"])
        try:
            with self._store.blobs.open_blob(str(row["blob"])) as payload:
                data = b"".join(decrypt_detached(identities, bytes(row["header"]), payload))
        except (DecryptionError, NotFound):
            return item_id, source_id, ""
        text = _manifest_text(data) if row["kind"] == ItemKind.MANIFEST else _utf8(data)
        return item_id, source_id, text.casefold()


def _words(query: str) -> list[str]:
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"a search has at most {MAX_QUERY_CHARS} characters",
                           code="search_too_long", params={"num": MAX_QUERY_CHARS})
    words = query.casefold().split()
    if not words:
        raise InvalidInput("a search needs a word", code="search_empty")
    return words


def _utf8(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _manifest_text(data: bytes) -> str:
    """The file names and the answers to a desk's questions of a decrypted manifest, one
    per line (unknown shapes: none)."""
    try:
        document = json.loads(data.decode("utf-8"))
        files: Iterable[dict[str, object]] = document["files"]
        answers: Iterable[dict[str, object]] = document.get("answers", [])
        return "\n".join([*(str(entry.get("name", "")) for entry in files),
                          *(str(entry.get("answer", "")) for entry in answers)])
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
