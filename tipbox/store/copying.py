"""Copying a database table by table: what moving an instance into PostgreSQL needs.

Contract:

- The tables are those of the SQLite database a copy starts from:
  :func:`tables_in_order` lists them parents first (by their foreign keys),
  each with its columns and primary key.
- Rows are read in primary-key order, in batches (:func:`batches`), through
  either back end's connection. Both give the same order: integers compare
  as numbers, text and blobs byte by byte (PostgreSQL's text is
  ``COLLATE "C"``, see :mod:`tipbox.store.dialect`).
- :func:`table_digest` is SHA-256 over :func:`canonical` encodings of every
  row in key order: equal digests mean equal rows, value for value and type
  for type. Nothing here returns values to log or puts one in an error.
- :func:`create_schema` builds the schema of one version inside the
  caller's transaction, the way :func:`tipbox.store.db.migrate` does, and
  :func:`delete_rows` then removes the rows migrations insert (the first
  desk), so that a copy starts from no rows at all.
- :func:`insert_rows` (one statement per batch, a PostgreSQL array per
  column), :func:`column_types`, :func:`postgresql_tables` and
  :func:`take_session_lock` speak to PostgreSQL only (and
  :func:`tipbox.store.dialect.move_sequences`, which migrations use too).
- :func:`open_alone` opens an SQLite file that no other connection has
  open, and keeps everyone else out until it is closed.
"""

from __future__ import annotations

import graphlib
import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tipbox.errors import StorageUnavailable
from tipbox.store.db import MIGRATIONS
from tipbox.store.dialect import dialect_of

__all__ = [
    "Table",
    "batches",
    "canonical",
    "column_types",
    "count_rows",
    "create_schema",
    "delete_rows",
    "highest_key",
    "insert_rows",
    "open_alone",
    "postgresql_tables",
    "sqlite_counters",
    "table_digest",
    "tables_in_order",
    "take_session_lock",
]

#: How long :func:`open_alone` waits for a connection that is about to close.
_WAIT_SECONDS = 2.0

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A table's name, its columns in order and its primary key (``()``: none)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]

    def key_of(self, row: Sequence[Any]) -> Key:
        """The primary key of ``row`` (read with :attr:`columns`)."""
        return tuple(row[self.columns.index(column)] for column in self.key)


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def tables_in_order(conn: sqlite3.Connection) -> list[Table]:
    """Every table of the SQLite database ``conn``, each after the tables it references."""
    names = [str(row[0]) for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name"
    )]
    parents = {
        name: sorted({str(row[2]) for row in conn.execute(
            f'PRAGMA foreign_key_list("{name}")')} - {name})
        for name in names
    }
    return [_table(conn, name) for name in graphlib.TopologicalSorter(parents).static_order()]


def _table(conn: sqlite3.Connection, name: str) -> Table:
    info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
    columns = tuple(str(row[1]) for row in info)
    key = sorted((int(row[5]), str(row[1])) for row in info if int(row[5]) > 0)
    return Table(name, columns, tuple(column for _, column in key))


def batches(
    conn: sqlite3.Connection, table: Table, *, size: int, after: Key | None = None
) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of ``table`` after the key ``after`` (None: from the first), in key order,
    ``size`` at a time. A table without a primary key comes as one batch."""
    select = f'SELECT {_quoted(table.columns)} FROM "{table.name}"'  # noqa: S608 - our tables
    if not table.key:
        yield [tuple(row) for row in conn.execute(select)]
        return
    key = _quoted(table.key)
    while True:
        if after is None:
            found = conn.execute(f"{select} ORDER BY {key} LIMIT ?", (size,)).fetchall()
        else:
            marks = ", ".join("?" * len(after))
            found = conn.execute(f"{select} WHERE ({key}) > ({marks}) ORDER BY {key} LIMIT ?",
                                 (*after, size)).fetchall()
        if not found:
            return
        yield [tuple(row) for row in found]
        after = table.key_of(found[-1])


def highest_key(conn: sqlite3.Connection, table: Table) -> Key | None:
    """The highest primary key ``table`` holds (None: no rows, or no primary key)."""
    if not table.key:
        return None
    order = ", ".join(f'"{column}" DESC' for column in table.key)
    row = conn.execute(
        f'SELECT {_quoted(table.key)} FROM "{table.name}" ORDER BY {order} LIMIT 1'  # noqa: S608
    ).fetchone()
    return None if row is None else tuple(row)


def count_rows(conn: sqlite3.Connection, table: Table) -> int:
    """How many rows ``table`` holds."""
    return int(conn.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0])  # noqa: S608


def column_types(conn: sqlite3.Connection, table: Table) -> tuple[str, ...]:
    """The PostgreSQL types of ``table``'s columns, in :attr:`Table.columns` order."""
    found = dict(conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ?", (table.name,)
    ).fetchall())
    return tuple(str(found[column]) for column in table.columns)


def insert_rows(conn: sqlite3.Connection, table: Table, types: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (values in :attr:`Table.columns` order) into the PostgreSQL table
    whose column ``types`` (:func:`column_types`) are given: one statement, one array per
    column, so the statement's text is the same for every batch."""
    if not rows:
        return
    arrays = [f"?::{kind}[]" for kind in types]
    conn.execute(
        f'INSERT INTO "{table.name}" ({_quoted(table.columns)})'  # noqa: S608 - our tables
        f" SELECT * FROM unnest({', '.join(arrays)})",
        [list(values) for values in zip(*rows, strict=True)],
    )


def delete_rows(conn: sqlite3.Connection, tables: Sequence[Table]) -> None:
    """Delete every row of ``tables`` (given parents first; children go first)."""
    for table in reversed(tables):
        conn.execute(f'DELETE FROM "{table.name}"')  # noqa: S608 - our tables


def canonical(row: Sequence[Any]) -> bytes:
    """An unambiguous encoding of ``row``: each value's type, length and exact value."""
    parts = [len(row).to_bytes(4, "big")]
    for value in row:
        encoded = _canonical_value(value)
        parts.append(len(encoded).to_bytes(8, "big") + encoded)
    return b"".join(parts)


def _canonical_value(value: Any) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, int):
        return b"I" + str(value).encode("ascii")
    if isinstance(value, float):
        return b"F" + value.hex().encode("ascii")
    if isinstance(value, str):
        return b"T" + value.encode("utf-8")
    if isinstance(value, bytes | memoryview):
        return b"B" + bytes(value)
    raise TypeError(f"a database value of type {type(value).__name__}")


def table_digest(conn: sqlite3.Connection, table: Table, *, size: int) -> str:
    """SHA-256 of every row of ``table`` in key order (hex), read ``size`` rows at a time."""
    digest = hashlib.sha256()
    for batch in batches(conn, table, size=size):
        for row in batch:
            digest.update(canonical(row))
    return digest.hexdigest()


def create_schema(conn: sqlite3.Connection, version: int) -> None:
    """In the caller's transaction: the schema at ``version``, made by the first
    ``version`` migrations as this back end renders them (rows they insert included)."""
    dialect = dialect_of(conn)
    for migration in MIGRATIONS[:version]:
        for step in migration:
            if callable(step):
                step(conn)
                continue
            for statement in dialect.render(step):
                conn.execute(statement)
    dialect.set_schema_version(conn, version)
    dialect.after_migrations(conn)


def postgresql_tables(conn: sqlite3.Connection) -> set[str]:
    """The tables of the PostgreSQL database ``conn`` (in its current schema)."""
    return {str(row[0]) for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )}


def sqlite_counters(conn: sqlite3.Connection) -> dict[str, int]:
    """SQLite's ``AUTOINCREMENT`` counters: the highest id each table ever gave out."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).fetchone()
    if found is None:
        return {}
    return {str(name): int(seq) for name, seq in conn.execute(
        "SELECT name, seq FROM sqlite_sequence")}


def take_session_lock(conn: sqlite3.Connection, key: int) -> bool:
    """Take PostgreSQL's session-level advisory lock ``key`` unless another session holds
    it; whether it was taken (it is released when the connection closes)."""
    return bool(conn.execute("SELECT pg_try_advisory_lock(?)", (key,)).fetchone()[0])


def open_alone(path: Path) -> sqlite3.Connection:
    """The existing SQLite file ``path``, locked for this connection alone until it closes.

    The connection holds SQLite's exclusive lock in an open transaction (roll
    it back before closing): no other connection reads or writes meanwhile,
    and what this one reads is one unchanging state. A file that another
    connection has open (the apps keep theirs open between requests) is
    refused with :class:`~tipbox.errors.StorageUnavailable`.
    """
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True,
                               isolation_level=None, timeout=_WAIT_SECONDS)
    except sqlite3.Error as error:
        raise StorageUnavailable(f"cannot open {path}: {error}") from None
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # is it a database?
    except sqlite3.DatabaseError as error:
        conn.close()
        if "locked" in str(error) or "busy" in str(error):
            raise StorageUnavailable(
                f"{path} is in use (the apps or another command have it open): stop them first"
            ) from None
        raise StorageUnavailable(f"cannot open {path}: {error}") from None
    return conn
