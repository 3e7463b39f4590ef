"""A database snapshot for backups: a private, self-contained copy of the live database.

Contract: the functions take the snapshot's path (or a read-only
connection from :func:`open_read_only`) and never touch the live database
except :func:`copy_database`, which reads it in one consistent step.

A snapshot is an SQLite file whatever the live back end: from PostgreSQL,
:func:`copy_database` copies every table's rows into a new SQLite database
at the same schema version, so a backup has one format.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

from tipbox.store import db

__all__ = [
    "all_blobs",
    "copy_database",
    "count_items",
    "forget_items",
    "integrity_ok",
    "open_read_only",
    "referenced_blobs",
    "schema_version",
]


def copy_database(source: Path, target: Path, *, url: str | None = None) -> None:
    """Copy the live database into a self-contained SQLite file ``target``.

    The live database is the SQLite file ``source`` (copied page by page by
    the online backup API), or the PostgreSQL database ``url`` (see
    :func:`_copy_rows`).
    """
    if url is not None:
        _copy_from_postgresql(url, target)
        return
    live = db.connect(source)
    copy = sqlite3.connect(target, isolation_level=None)
    try:
        live.backup(copy)  # all pages in one step: one consistent read snapshot
        copy.execute("PRAGMA journal_mode = DELETE")  # a self-contained file
    finally:
        copy.close()
        live.close()


_BATCH = 1000


def _copy_from_postgresql(url: str, target: Path) -> None:
    """Every row of the PostgreSQL database ``url``, read in one snapshot, into a new
    SQLite file ``target`` migrated to the same schema version."""
    from tipbox.store import postgres  # psycopg is loaded only when it is used

    live = cast(sqlite3.Connection, postgres.connect(url))
    copy = db.connect(target)
    try:
        with db.transaction(live, immediate=False):
            db.migrate(copy, db.MIGRATIONS[:db.schema_version(live)])
            copy.execute("PRAGMA foreign_keys = OFF")  # rows arrive table by table
            with db.transaction(copy):
                _copy_rows(live, copy)
        if copy.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise sqlite3.IntegrityError("the copied database breaks a foreign key")
        copy.execute("PRAGMA journal_mode = DELETE")  # a self-contained file
    finally:
        copy.close()
        live.close()


def _copy_rows(live: sqlite3.Connection, copy: sqlite3.Connection) -> None:
    """Replace the rows of every table of ``copy`` by ``live``'s, ids and counters included.

    Tables with an ``id`` are read in batches of :data:`_BATCH` ids; each
    ``AUTOINCREMENT`` counter is set to its PostgreSQL sequence's, so that a
    restored instance never reuses an id either.
    """
    tables = [str(row[0]) for row in copy.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name"
    )]
    for table in tables:
        columns = [str(row[1]) for row in copy.execute(f'PRAGMA table_info("{table}")')]
        names = ", ".join(f'"{column}"' for column in columns)
        insert = (f'INSERT INTO "{table}" ({names})'  # noqa: S608 - our own tables
                  f" VALUES ({', '.join('?' * len(columns))})")
        copy.execute(f'DELETE FROM "{table}"')  # noqa: S608 - rows a migration added
        for batch in _batches(live, table, names, keyed="id" in columns):
            copy.executemany(insert, [tuple(row) for row in batch])
        if "id" in columns:
            _copy_counter(live, copy, table)


def _batches(
    live: sqlite3.Connection, table: str, names: str, *, keyed: bool
) -> Iterator[list[sqlite3.Row]]:
    select = f'SELECT {names} FROM "{table}"'  # noqa: S608 - our own tables
    if not keyed:
        yield live.execute(select).fetchall()
        return
    after = -1 << 62
    while batch := live.execute(f"{select} WHERE id > ? ORDER BY id LIMIT ?",
                                (after, _BATCH)).fetchall():
        yield batch
        after = int(batch[-1]["id"])


def _copy_counter(live: sqlite3.Connection, copy: sqlite3.Connection, table: str) -> None:
    last = live.execute(
        "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence(?, 'id')::regclass), 0)",
        (table,),
    ).fetchone()[0]
    copy.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
    copy.execute(
        f'INSERT INTO sqlite_sequence (name, seq) SELECT ?, max(?, coalesce(max(id), 0))'  # noqa: S608
        f' FROM "{table}"',
        (table, int(last)),
    )


def referenced_blobs(snapshot: Path) -> list[str]:
    """Every item's blob, in item order."""
    conn = sqlite3.connect(snapshot)
    try:
        return [row[0] for row in conn.execute("SELECT blob FROM items ORDER BY id")]
    finally:
        conn.close()


def forget_items(snapshot: Path, blobs: Sequence[str]) -> None:
    """Delete (zeroing, ``secure_delete``) the items whose blob is one of ``blobs``."""
    conn = sqlite3.connect(snapshot, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.executemany("DELETE FROM items WHERE blob = ?", [(name,) for name in blobs])
    finally:
        conn.close()


def count_items(snapshot: Path) -> int:
    """How many items the snapshot holds."""
    conn = sqlite3.connect(snapshot)
    try:
        return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    finally:
        conn.close()


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection (:class:`sqlite3.Error` if it cannot be opened)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def integrity_ok(conn: sqlite3.Connection) -> bool:
    """Whether SQLite's integrity check passes."""
    return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version (``PRAGMA user_version``)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def all_blobs(conn: sqlite3.Connection) -> list[str]:
    """Every item's blob."""
    return [row[0] for row in conn.execute("SELECT blob FROM items")]
