"""The submission tables: ``items``, with their ``submissions`` and ``sources``.

Contract:

- :class:`ItemKind` names the five kinds of item; its values are the
  strings the schema's ``CHECK`` constraint allows (``store/db.py``), so a
  kind read from a row compares equal to its member.
- Replies and notes have no submission; every other kind belongs to one.
- The functions run inside the caller's connection or transaction
  (``Database.reading()`` / ``transaction()``); deleting functions return
  the blob names of the deleted items, for :meth:`tipbox.store.Store.shred`
  once the transaction has committed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tipbox.store.dialect import SQLITE, Dialect, dialect_of

__all__ = [
    "CONTENT_KINDS",
    "count_items_of_key",
    "count_items_under_retired_keys",
    "items_under_retired_keys",
    "replace_header",
    "content_items",
    "conversation_items",
    "Expired",
    "ItemKind",
    "NewItem",
    "count_expired",
    "delete_expired",
    "items_of_source",
    "delete_item",
    "delete_reply",
    "delete_source",
    "existing_sources",
    "searchable_items",
    "source_of_item",
    "insert_item",
    "item_of_source",
    "manifest_of",
    "page_query",
    "conditions_of",
    "set_seen",
    "set_starred",
    "source_page",
    "source_summary",
    "insert_written",
    "keep_for_newsroom",
    "mark_replies_seen_by_source",
    "reply_of_source",
    "SourceFilter",
    "NAME_SEPARATOR",
    "Written",
    "insert_source",
    "insert_submission",
    "latest_submission_id",
    "replies_of",
    "source_by_lookup_id",
    "source_reply_recipient",
    "sources_in_order",
    "touch_source",
]


class ItemKind(StrEnum):
    """What an item's payload is."""

    MESSAGE = "message"  # a source's text
    FILE = "file"  # a source's upload
    MANIFEST = "manifest"  # a submission's list of files (names, sizes)
    REPLY = "reply"  # a reviewer's reply to the source
    NOTE = "note"  # a reviewer's internal note (newsroom key only; never shown to the source)


CONTENT_KINDS = (ItemKind.MESSAGE, ItemKind.FILE)
"""What a source sent (what a reviewer reads and counts as an item)."""


# -- reading -----------------------------------------------------------------------------


def sources_in_order(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every source's ``id`` and ``designation``, oldest first."""
    return conn.execute("SELECT id, designation FROM sources ORDER BY id").fetchall()


def items_of_source(conn: sqlite3.Connection, source_id: int) -> list[sqlite3.Row]:
    """A source's items in order: ``id, submission_id, kind, position, header, blob``."""
    return conn.execute(
        "SELECT id, submission_id, kind, position, header, blob FROM items"
        " WHERE source_id = ? ORDER BY id",
        (source_id,),
    ).fetchall()


def source_by_lookup_id(conn: sqlite3.Connection, lookup_id: bytes) -> sqlite3.Row | None:
    """The source with this lookup id: ``id, designation, lookup_id, reply_recipient``."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT id, designation, lookup_id, reply_recipient FROM sources WHERE lookup_id = ?",
        (lookup_id,),
    ).fetchone()
    return row


def source_reply_recipient(conn: sqlite3.Connection, source_id: int) -> sqlite3.Row | None:
    """The source's ``reply_recipient`` (NULL: no codename) and ``desk_id``; None for no
    such source."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT reply_recipient, desk_id FROM sources WHERE id = ?", (source_id,)
    ).fetchone()
    return row


def replies_of(conn: sqlite3.Connection, source_id: int) -> list[sqlite3.Row]:
    """A source's replies, oldest first: ``id, header, blob, created_hour``."""
    return conn.execute(
        "SELECT id, header, blob, created_hour FROM items"
        " WHERE source_id = ? AND kind = 'reply' AND source_deleted_hour IS NULL ORDER BY id",
        (source_id,),
    ).fetchall()


def latest_submission_id(conn: sqlite3.Connection) -> int:
    """The highest submission id ever stored (0 for none): ids only grow."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM submissions").fetchone()[0])


# -- retention ---------------------------------------------------------------------------

_EXPIRED_ITEMS = "FROM items WHERE created_hour < :cut"
_EXPIRED_SUBMISSIONS = (
    "FROM submissions WHERE created_hour < :cut AND NOT EXISTS"
    " (SELECT 1 FROM items i WHERE i.submission_id = submissions.id AND i.created_hour >= :cut)"
)
_EXPIRED_SOURCES = (
    "FROM sources WHERE last_activity_hour < :cut AND NOT EXISTS"
    " (SELECT 1 FROM items i WHERE i.source_id = sources.id AND i.created_hour >= :cut)"
)


@dataclass(frozen=True, slots=True)
class Expired:
    """What is older than a cut hour (the rules are in :mod:`tipbox.services.ops.retention`)."""

    items: int
    submissions: int
    replies: int
    sources: tuple[str, ...]  # designations, oldest first


def count_expired(conn: sqlite3.Connection, cut: int) -> Expired:
    """What :func:`delete_expired` with the same ``cut`` deletes (read-only)."""
    args = {"cut": cut}

    def count(query: str) -> int:
        return int(conn.execute(f"SELECT count(*) {query}", args).fetchone()[0])  # noqa: S608

    designations = conn.execute(
        f"SELECT designation {_EXPIRED_SOURCES} ORDER BY id", args  # noqa: S608
    )
    return Expired(
        items=count(_EXPIRED_ITEMS),
        submissions=count(_EXPIRED_SUBMISSIONS),
        replies=count(_EXPIRED_ITEMS + f" AND kind = '{ItemKind.REPLY}'"),
        sources=tuple(str(row[0]) for row in designations),
    )


def delete_expired(conn: sqlite3.Connection, cut: int) -> list[str]:
    """Delete expired items, then emptied submissions and sources; return the items' blobs."""
    args = {"cut": cut}
    deleted = conn.execute(f"DELETE {_EXPIRED_ITEMS} RETURNING blob", args)  # noqa: S608
    blobs = [str(row[0]) for row in deleted]
    conn.execute(f"DELETE {_EXPIRED_SUBMISSIONS}", args)  # noqa: S608
    conn.execute(f"DELETE {_EXPIRED_SOURCES}", args)  # noqa: S608
    return blobs


# -- replies -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    """A reply or note to record: its committed blob, header and newsroom key."""

    source_id: int
    kind: ItemKind
    key_id: int | None
    header: bytes
    blob: str
    author: str
    created_hour: int


def insert_written(conn: sqlite3.Connection, item: Written) -> int:
    """Record a reply or a note by ``item.author`` (a username); return the new item's id."""
    row = conn.execute(
        "INSERT INTO items (source_id, submission_id, kind, position, key_id, header, blob,"
        " created_hour, author_id) VALUES (?, NULL, ?, 0, ?, ?, ?, ?,"
        " (SELECT id FROM reviewers WHERE username = ?)) RETURNING id",
        (item.source_id, item.kind, item.key_id, item.header, item.blob, item.created_hour,
         item.author),
    ).fetchone()
    return int(row[0])


def reply_of_source(conn: sqlite3.Connection, reply_id: int, source_id: int) -> sqlite3.Row | None:
    """The ``id, key_id, header, blob`` of a reply the source still has; None otherwise."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT id, key_id, header, blob FROM items WHERE id = ? AND source_id = ?"
        " AND kind = 'reply' AND source_deleted_hour IS NULL",
        (reply_id, source_id),
    ).fetchone()
    return row


def delete_reply(conn: sqlite3.Connection, reply_id: int, source_id: int) -> str | None:
    """Delete the source's reply ``reply_id``; its blob, or None if it has no such reply."""
    row = conn.execute(
        "DELETE FROM items WHERE id = ? AND source_id = ? AND kind = 'reply' RETURNING blob",
        (reply_id, source_id),
    ).fetchone()
    return None if row is None else str(row[0])


def keep_for_newsroom(
    conn: sqlite3.Connection, reply_id: int, old: bytes, header: bytes, stamp: int
) -> bool:
    """The source deleted its copy of a reply: ``header`` (newsroom key only) replaces its
    header ``old``, and the hour ``stamp`` is recorded. False if the reply is gone or its
    header is no longer ``old`` (re-wrapped meanwhile)."""
    return conn.execute(
        "UPDATE items SET header = ?, source_deleted_hour = ? WHERE id = ? AND kind = 'reply'"
        " AND source_deleted_hour IS NULL AND header = ?",
        (header, stamp, reply_id, old),
    ).rowcount > 0


def mark_replies_seen_by_source(conn: sqlite3.Connection, source_id: int, stamp: int) -> int:
    """Record the hour ``stamp`` on the source's replies it had not seen; how many."""
    return conn.execute(
        "UPDATE items SET source_seen_hour = ? WHERE source_id = ? AND kind = 'reply'"
        " AND source_seen_hour IS NULL AND source_deleted_hour IS NULL",
        (stamp, source_id),
    ).rowcount


# -- a submission ------------------------------------------------------------------------

#: The next activity sequence number: orders activity within an hour, in the
#: writer's transaction (writers hold the database's one write lock).
_NEXT_SEQ = "(SELECT coalesce(max(activity_seq), 0) + 1 FROM sources)"


def insert_source(
    conn: sqlite3.Connection,
    designation: str,
    lookup_id: bytes | None,
    reply_recipient: str | None,
    *,
    created_hour: int,
    desk_id: int,
) -> int:
    """Insert a new source of a desk; return its id.

    :class:`sqlite3.IntegrityError` naming ``designation`` if that
    designation is taken (the caller draws another).
    """
    row = conn.execute(
        "INSERT INTO sources (designation, lookup_id, reply_recipient, created_hour,"  # noqa: S608
        f" last_activity_hour, activity_seq, desk_id) VALUES (?, ?, ?, ?, ?, {_NEXT_SEQ}, ?)"
        " RETURNING id",
        (designation, lookup_id, reply_recipient, created_hour, created_hour, desk_id),
    ).fetchone()
    return int(row[0])


def touch_source(conn: sqlite3.Connection, source_id: int, stamp: int) -> str | None:
    """Set the source's last activity to the hour ``stamp``; its designation, None if gone."""
    row = conn.execute(
        f"UPDATE sources SET last_activity_hour = ?, activity_seq = {_NEXT_SEQ}"  # noqa: S608
        " WHERE id = ? RETURNING designation",
        (stamp, source_id),
    ).fetchone()
    return None if row is None else str(row[0])


def insert_submission(conn: sqlite3.Connection, source_id: int, *, created_hour: int) -> int:
    """Insert a submission of the source; return its id."""
    row = conn.execute(
        "INSERT INTO submissions (source_id, created_hour) VALUES (?, ?) RETURNING id",
        (source_id, created_hour),
    ).fetchone()
    return int(row[0])


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item of a submission, its blob already committed."""

    kind: ItemKind
    position: int
    key_id: int
    header: bytes
    blob: str


def insert_item(
    conn: sqlite3.Connection, source_id: int, submission_id: int, item: NewItem,
    *, created_hour: int,
) -> None:
    """Record one item of a submission."""
    conn.execute(
        "INSERT INTO items (source_id, submission_id, kind, position, key_id,"
        " header, blob, created_hour) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            source_id,
            submission_id,
            item.kind,
            item.position,
            item.key_id,
            item.header,
            item.blob,
            created_hour,
        ),
    )


# -- deletion (the caller shreds the returned blobs after the commit) --------------------


def delete_item(conn: sqlite3.Connection, item_id: int, submission_id: int | None) -> list[str]:
    """Delete an item, and its submission with the manifest if no message or file is left."""
    blobs = [
        str(conn.execute("DELETE FROM items WHERE id = ? RETURNING blob", (item_id,)).fetchone()[0])
    ]
    if submission_id is not None:
        blobs += _delete_empty_submission(conn, submission_id)
    return blobs


def delete_source(conn: sqlite3.Connection, source_id: int) -> tuple[str, list[str]] | None:
    """Delete a source and all of its items: ``(designation, blobs)``; None if no such source."""
    found = conn.execute("SELECT designation FROM sources WHERE id = ?", (source_id,)).fetchone()
    if found is None:
        return None
    blobs = [
        str(row[0])
        for row in conn.execute(
            "DELETE FROM items WHERE source_id = ? RETURNING blob", (source_id,)
        ).fetchall()
    ]
    conn.execute("DELETE FROM sources WHERE id = ?", (source_id,))
    return str(found[0]), blobs


def _delete_empty_submission(conn: sqlite3.Connection, submission_id: int) -> list[str]:
    """If a submission has no message or file left, delete it and its manifest."""
    left = conn.execute(
        "SELECT count(*) FROM items WHERE submission_id = ? AND kind IN ('message', 'file')",
        (submission_id,),
    ).fetchone()[0]
    if left:
        return []
    blobs = [
        str(row[0])
        for row in conn.execute(
            "DELETE FROM items WHERE submission_id = ? RETURNING blob", (submission_id,)
        ).fetchall()
    ]
    conn.execute("DELETE FROM submissions WHERE id = ?", (submission_id,))
    return blobs


# -- the inbox ---------------------------------------------------------------------------

_ORDER_SQL = {
    "starred": "s.starred DESC, s.activity_seq DESC, s.id DESC",
    "newest": "s.activity_seq DESC, s.id DESC",
}
_AFTER_SQL = {
    "starred": "(s.starred, s.activity_seq, s.id) < (?, ?, ?)",
    "newest": "(s.activity_seq, s.id) < (?, ?)",
}
#: Separates names in the ``labels`` and ``assignees`` columns of a summary.
NAME_SEPARATOR = "\x1f"


def _summary_select(dialect: Dialect) -> str:
    return (  # the dialect's fragments are fixed text, never input
        "SELECT s.id, s.designation, s.starred, s.status, s.activity_seq,"  # noqa: S608
        " s.last_activity_hour, s.reply_recipient,"
        " (SELECT count(*) FROM items i WHERE i.source_id = s.id"
        "  AND i.kind IN ('message', 'file')) AS items,"
        " (SELECT count(*) FROM items i WHERE i.source_id = s.id AND i.seen = 0"
        "  AND i.kind IN ('message', 'file')) AS unread,"
        " (SELECT count(*) FROM items i WHERE i.source_id = s.id AND i.kind = 'file') AS files,"
        f" (SELECT {dialect.names_joined('l.name')} FROM source_labels sl"
        "  JOIN labels l ON l.id = sl.label_id WHERE sl.source_id = s.id) AS labels,"
        f" (SELECT {dialect.names_joined('r.username')} FROM assignments a"
        "  JOIN reviewers r ON r.id = a.reviewer_id WHERE a.source_id = s.id) AS assignees"
        " FROM sources s"
    )


@dataclass(frozen=True, slots=True)
class SourceFilter:
    """Which sources a page lists; ``None`` means "any". Hours are inclusive.

    ``ids`` restricts the page to those sources (a search's results);
    ``desks`` to the sources of those desks (the reviewer's own).
    """

    status: str | None = None
    label: int | None = None
    assignee: int | None = None
    starred: bool | None = None
    unread: bool | None = None
    has_files: bool | None = None
    from_hour: int | None = None
    to_hour: int | None = None
    ids: Sequence[int] | None = None
    desks: Sequence[int] | None = None


_UNREAD = (
    "EXISTS (SELECT 1 FROM items i WHERE i.source_id = s.id AND i.seen = 0"
    " AND i.kind IN ('message', 'file'))"
)
_HAS_FILES = "EXISTS (SELECT 1 FROM items i WHERE i.source_id = s.id AND i.kind = 'file')"


def _yes_no(condition: str, wanted: bool | None) -> list[str]:
    if wanted is None:
        return []
    return [condition if wanted else f"NOT {condition}"]


def conditions_of(
    chosen: SourceFilter, *, dialect: Dialect = SQLITE
) -> tuple[list[str], list[object]]:
    """The SQL conditions of a filter, and their parameters in order."""
    parts: list[str] = []
    params: list[object] = []
    for condition, value in (
        ("s.status = ?", chosen.status),
        ("EXISTS (SELECT 1 FROM source_labels sl WHERE sl.source_id = s.id"
         " AND sl.label_id = ?)", chosen.label),
        ("EXISTS (SELECT 1 FROM assignments a WHERE a.source_id = s.id"
         " AND a.reviewer_id = ?)", chosen.assignee),
        ("s.last_activity_hour >= ?", chosen.from_hour),
        ("s.last_activity_hour <= ?", chosen.to_hour),
    ):
        if value is not None:
            parts.append(condition)
            params.append(value)
    if chosen.starred is not None:
        parts.append("s.starred = ?")
        params.append(int(chosen.starred))
    parts += _yes_no(_UNREAD, chosen.unread) + _yes_no(_HAS_FILES, chosen.has_files)
    if chosen.ids is not None:
        parts.append(f"s.id IN ({dialect.ids_of_json})")
        params.append(json.dumps([int(i) for i in chosen.ids]))
    if chosen.desks is not None:
        parts.append(f"s.desk_id IN ({dialect.ids_of_json})")
        params.append(json.dumps([int(i) for i in chosen.desks]))
    return parts, params


def page_query(
    order: str, conditions: Sequence[str] = (), *, with_cursor: bool = False,
    fixed_star: bool = False, dialect: Dialect = SQLITE,
) -> str:
    """The SQL of one page of sources: an index walk in ``order``, never a sort.

    With ``fixed_star`` (a filter on the star) every row has the same star, so
    "starred first" walks as "newest" does (and takes the cursor without its star).
    """
    walk = "newest" if fixed_star else order
    conditions = [*conditions, _AFTER_SQL[walk]] if with_cursor else list(conditions)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"{_summary_select(dialect)}{where} ORDER BY {_ORDER_SQL[walk]} LIMIT ?"  # noqa: S608


def source_page(
    conn: sqlite3.Connection,
    order: str,
    after: tuple[int, ...],
    limit: int,
    chosen: SourceFilter = SourceFilter(),
) -> list[sqlite3.Row]:
    """Up to ``limit`` source summaries in ``order`` that match ``chosen``, after the
    cursor key ``after`` (if any).

    A summary is ``id, designation, starred, status, activity_seq,
    last_activity_hour, reply_recipient, items, unread, files`` (items and
    unread count messages and files), and ``labels`` and ``assignees``: names
    joined by :data:`NAME_SEPARATOR` in no particular order, or None.
    """
    dialect = dialect_of(conn)
    conditions, params = conditions_of(chosen, dialect=dialect)
    fixed_star = chosen.starred is not None
    if fixed_star and order == "starred":
        after = after[1:]
    sql = page_query(
        order, conditions, with_cursor=bool(after), fixed_star=fixed_star, dialect=dialect
    )
    return conn.execute(sql, (*params, *after, limit)).fetchall()


def source_of_item(conn: sqlite3.Connection, item_id: int) -> int | None:
    """The id of the source item ``item_id`` belongs to; None if there is no such item."""
    row = conn.execute("SELECT source_id FROM items WHERE id = ?", (item_id,)).fetchone()
    return None if row is None else int(row[0])


def searchable_items(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every message, manifest and note: ``id, source_id, kind, header, blob``, in id order."""
    return conn.execute(
        "SELECT id, source_id, kind, header, blob FROM items"
        " WHERE kind IN ('message', 'manifest', 'note') ORDER BY id"
    ).fetchall()


def existing_sources(conn: sqlite3.Connection, source_ids: Sequence[int]) -> list[str]:
    """The designations of those of ``source_ids`` that exist, in id order."""
    return [
        str(row[0])
        for row in conn.execute(
            f"SELECT designation FROM sources WHERE id IN ({dialect_of(conn).ids_of_json})"  # noqa: S608
            " ORDER BY id",
            (json.dumps([int(i) for i in source_ids]),),
        )
    ]


def source_summary(conn: sqlite3.Connection, source_id: int) -> sqlite3.Row | None:
    """One source's summary (as in :func:`source_page`); None if there is no such source."""
    row: sqlite3.Row | None = conn.execute(
        f"{_summary_select(dialect_of(conn))} WHERE s.id = ?", (source_id,)  # noqa: S608
    ).fetchone()
    return row


def conversation_items(conn: sqlite3.Connection, source_id: int) -> list[sqlite3.Row]:
    """A source's items in order: ``id, submission_id, kind, position, key_id, header,
    blob, created_hour, seen, author`` (a username, or None), ``source_seen_hour`` and
    ``source_deleted_hour``."""
    return conn.execute(
        "SELECT i.id, i.submission_id, i.kind, i.position, i.key_id, i.header, i.blob,"
        " i.created_hour, i.seen, r.username AS author, i.source_seen_hour,"
        " i.source_deleted_hour"
        " FROM items i LEFT JOIN reviewers r ON r.id = i.author_id"
        " WHERE i.source_id = ? ORDER BY i.id",
        (source_id,),
    ).fetchall()


def item_of_source(conn: sqlite3.Connection, source_id: int, item_id: int) -> sqlite3.Row | None:
    """The whole row of the source's item ``item_id``; None if it has none."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM items WHERE id = ? AND source_id = ?", (item_id, source_id)
    ).fetchone()
    return row


def manifest_of(conn: sqlite3.Connection, submission_id: int) -> sqlite3.Row | None:
    """The ``header, blob`` of a submission's manifest; None if it has none."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT header, blob FROM items WHERE submission_id = ? AND kind = 'manifest'",
        (submission_id,),
    ).fetchone()
    return row


def content_items(conn: sqlite3.Connection, source_id: int) -> list[sqlite3.Row]:
    """The ``id, seen`` of a source's messages and files, in order."""
    return conn.execute(
        "SELECT id, seen FROM items WHERE source_id = ? AND kind IN ('message', 'file')"
        " ORDER BY id",
        (source_id,),
    ).fetchall()


def set_seen(
    conn: sqlite3.Connection, source_id: int, item_ids: Sequence[int] | None, *, seen: bool
) -> int:
    """Mark the source's items (all if ``item_ids`` is None) read or unread; how many matched."""
    if item_ids is None:
        cursor = conn.execute(
            "UPDATE items SET seen = ? WHERE source_id = ?", (int(seen), source_id)
        )
        return cursor.rowcount
    count = 0
    for item_id in item_ids:
        count += conn.execute(
            "UPDATE items SET seen = ? WHERE source_id = ? AND id = ?",
            (int(seen), source_id, item_id),
        ).rowcount
    return count


def set_starred(conn: sqlite3.Connection, source_id: int, *, starred: bool) -> bool:
    """Star or unstar a source; False if there is no such source."""
    cursor = conn.execute(
        "UPDATE sources SET starred = ? WHERE id = ?", (int(starred), source_id)
    )
    return cursor.rowcount > 0


# -- key rotation ------------------------------------------------------------------------


def items_under_retired_keys(
    conn: sqlite3.Connection, after: int, limit: int
) -> list[sqlite3.Row]:
    """Up to ``limit`` items past id ``after`` whose key is retired, in id order.

    Each row: ``id, key_id, kind, header, source_deleted_hour``, the source's
    ``reply_recipient`` and the ``desk_id`` of the item's key.
    """
    return conn.execute(
        "SELECT i.id, i.key_id, i.kind, i.header, i.source_deleted_hour, s.reply_recipient,"
        " k.desk_id FROM items i"
        " JOIN newsroom_keys k ON k.id = i.key_id JOIN sources s ON s.id = i.source_id"
        " WHERE k.state = 'retired' AND i.id > ? ORDER BY i.id LIMIT ?",
        (after, limit),
    ).fetchall()


def items_of_source_to_move(conn: sqlite3.Connection, source_id: int) -> list[sqlite3.Row]:
    """Every item of a source with what re-wrapping it needs: ``id, key_id, kind, header,
    source_deleted_hour`` and the source's ``reply_recipient``, in id order."""
    return conn.execute(
        "SELECT i.id, i.key_id, i.kind, i.header, i.source_deleted_hour, s.reply_recipient"
        " FROM items i JOIN sources s ON s.id = i.source_id WHERE i.source_id = ? ORDER BY i.id",
        (source_id,),
    ).fetchall()


def replace_header(
    conn: sqlite3.Connection,
    item_id: int,
    *,
    old: tuple[int, bytes],
    new: tuple[int | None, bytes],
) -> bool:
    """Give an item a new ``(key_id, header)`` if it still has ``old``; whether it had."""
    cursor = conn.execute(
        "UPDATE items SET header = ?, key_id = ? WHERE id = ? AND key_id = ? AND header = ?",
        (new[1], new[0], item_id, old[0], old[1]),
    )
    return cursor.rowcount > 0


def count_items_of_key(conn: sqlite3.Connection, key_id: int) -> int:
    """How many items the newsroom key ``key_id`` protects."""
    return int(conn.execute("SELECT count(*) FROM items WHERE key_id = ?", (key_id,)).fetchone()[0])


def count_items_under_retired_keys(conn: sqlite3.Connection) -> int:
    """How many items are still wrapped to a retired key (waiting for a re-wrap)."""
    return int(
        conn.execute(
            "SELECT count(*) FROM items i JOIN newsroom_keys k ON k.id = i.key_id"
            " WHERE k.state = 'retired'"
        ).fetchone()[0]
    )
