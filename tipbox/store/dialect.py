"""What differs between the two database back ends, in one place.

The store's SQL is written once, in the subset SQLite and PostgreSQL share,
with ``?`` (or ``:name``) placeholders. A PostgreSQL connection
(:mod:`tipbox.store.postgres`) presents the part of :class:`sqlite3.Connection`
the store uses, so every store function runs unchanged on either. What
cannot be written in the common subset is here:

- a few SQL fragments (:attr:`Dialect.ids_of_json`, :meth:`Dialect.names_joined`);
- how transactions begin (:meth:`Dialect.begin`): SQLite's ``BEGIN
  IMMEDIATE`` takes the database's one write lock; PostgreSQL writers take
  one transaction-level advisory lock (:data:`WRITE_LOCK`), so writers are
  serialised exactly as on SQLite and every read-modify-write of the store
  (sequence numbers, positions, compare-and-swap, throttles) keeps its
  meaning. Readers never wait on either;
- where the schema version is kept (``PRAGMA user_version``; a one-row
  ``tipbox_schema`` table) and how a migration step is rendered
  (:meth:`Dialect.render`): SQLite runs the steps as written, PostgreSQL runs
  the steps written for it (:class:`PerDialect`) and the others through
  :func:`postgresql_ddl`, which maps SQLite's column types.

:func:`dialect_of` tells which back end a connection belongs to.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "WRITE_LOCK",
    "Dialect",
    "PerDialect",
    "dialect_of",
    "move_sequences",
    "postgresql_ddl",
]

#: The key of PostgreSQL's transaction-level advisory lock that every writer
#: holds: the counterpart of SQLite's write lock. ("tipbox" in ASCII.)
WRITE_LOCK = 0x746970626F78


@dataclass(frozen=True, slots=True)
class PerDialect:
    """A migration step written once per back end; ``None`` runs nothing there.

    A back end may need several statements (a trigger on PostgreSQL is a
    function and a trigger): ``postgresql`` may be a tuple of them.
    """

    sqlite: str | None
    postgresql: str | tuple[str, ...] | None


class Dialect:
    """SQLite's dialect; :class:`_PostgreSQL` overrides what differs."""

    name = "sqlite"
    #: A subquery of the integers in one JSON array bound to its ``?``.
    ids_of_json = "SELECT value FROM json_each(?)"

    def names_joined(self, expression: str) -> str:
        """An aggregate of ``expression`` over a group, joined by U+001F, in no order."""
        return f"group_concat({expression}, char(31))"

    def begin(self, conn: sqlite3.Connection, *, write: bool) -> None:
        """Start a transaction; a ``write`` one holds the write lock from the start."""
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def schema_version(self, conn: sqlite3.Connection) -> int:
        """The schema version recorded in the database (0 for a new one)."""
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, conn: sqlite3.Connection, version: int) -> None:
        """Record ``version`` (inside the migrating transaction)."""
        conn.execute(f"PRAGMA user_version = {int(version):d}")

    def render(self, step: str | PerDialect) -> tuple[str, ...]:
        """The statements a migration step runs on this back end."""
        if isinstance(step, PerDialect):
            return () if step.sqlite is None else (step.sqlite,)
        return (step,)

    def after_migrations(self, conn: sqlite3.Connection) -> None:
        """Whatever a back end needs once migrations ran (SQLite: nothing)."""


class _PostgreSQL(Dialect):
    name = "postgresql"
    ids_of_json = "SELECT value::bigint FROM jsonb_array_elements_text(?::jsonb)"

    def names_joined(self, expression: str) -> str:
        return f"string_agg({expression}, chr(31))"

    def begin(self, conn: sqlite3.Connection, *, write: bool) -> None:
        # A PostgresConnection: it takes WRITE_LOCK, and remembers it holds it.
        conn.begin(write=write)  # type: ignore[attr-defined]

    def schema_version(self, conn: sqlite3.Connection) -> int:
        if conn.execute("SELECT to_regclass('tipbox_schema')").fetchone()[0] is None:
            return 0
        row = conn.execute("SELECT version FROM tipbox_schema").fetchone()
        return 0 if row is None else int(row[0])

    def set_schema_version(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS tipbox_schema (version BIGINT NOT NULL)")
        conn.execute("DELETE FROM tipbox_schema")
        conn.execute("INSERT INTO tipbox_schema (version) VALUES (?)", (version,))

    def render(self, step: str | PerDialect) -> tuple[str, ...]:
        if isinstance(step, PerDialect):
            found = step.postgresql
            return () if found is None else (found,) if isinstance(found, str) else found
        return (postgresql_ddl(step),)

    def after_migrations(self, conn: sqlite3.Connection) -> None:
        """Move every identity sequence past the highest id its table holds.

        Migrations insert explicit ids (the first desk; a table rebuilt by
        copying), which SQLite's ``AUTOINCREMENT`` counts and a PostgreSQL
        sequence does not.
        """
        move_sequences(conn)


def move_sequences(conn: sqlite3.Connection, counters: Mapping[str, int] | None = None) -> None:
    """Move each identity sequence of the PostgreSQL database ``conn`` past its table's
    highest id and past ``counters[table]`` (e.g. SQLite's ``AUTOINCREMENT`` counters of
    a copied database), never back: no id is given out twice."""
    columns = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in columns:
        sequence = conn.execute(
            "SELECT pg_get_serial_sequence(?, ?)", (table, column)
        ).fetchone()[0]
        highest = conn.execute(
            f'SELECT coalesce(max("{column}"), 0) FROM "{table}"'  # noqa: S608 - our tables
        ).fetchone()[0]
        wanted = max(int(highest), (counters or {}).get(table, 0))
        last = conn.execute(
            "SELECT coalesce(pg_sequence_last_value(?::regclass), 0)", (sequence,)
        ).fetchone()[0]
        if wanted > last:
            conn.execute("SELECT setval(?::regclass, ?)", (sequence, wanted))


SQLITE = Dialect()
POSTGRESQL: Dialect = _PostgreSQL()


def dialect_of(conn: object) -> Dialect:
    """The dialect of a store connection (a PostgreSQL connection says so itself)."""
    found = getattr(conn, "dialect", SQLITE)
    return found if isinstance(found, Dialect) else SQLITE


# -- SQLite's DDL on PostgreSQL ----------------------------------------------------------

_TABLE_DDL = re.compile(r"\s*(CREATE\s+TABLE|ALTER\s+TABLE\s+\w+\s+ADD\s+COLUMN)\b")
#: SQLite column types and table options, and what they are on PostgreSQL.
#: SQLite's INTEGER is 64 bits; its text compares byte by byte ("C" collation).
_TYPES = (
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"),
     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"\bTEXT\b"), 'TEXT COLLATE "C"'),
    (re.compile(r"\)\s*STRICT(\s*,\s*WITHOUT ROWID)?\s*$"), ")"),
)
#: What :func:`postgresql_ddl` cannot translate: such a step needs a :class:`PerDialect`.
UNTRANSLATABLE = re.compile(
    r"\b(AUTOINCREMENT|STRICT|ROWID|GLOB|json_valid|unixepoch|NOCASE|PRAGMA|RAISE|"
    r"INSERT OR|CREATE TRIGGER|group_concat)\b",
    re.IGNORECASE,
)


def postgresql_ddl(sql: str) -> str:
    """A SQLite migration statement as PostgreSQL runs it.

    ``CREATE TABLE`` and ``ADD COLUMN`` get PostgreSQL's column types
    (``INTEGER PRIMARY KEY AUTOINCREMENT``: a 64-bit identity; ``INTEGER``:
    ``BIGINT``; ``REAL``: ``DOUBLE PRECISION``; ``BLOB``: ``BYTEA``; ``TEXT``:
    ``TEXT COLLATE "C"``) and lose ``STRICT`` and ``WITHOUT ROWID``; other
    statements are the same on both. ``ValueError`` for a statement using
    something only SQLite has: write that step as a :class:`PerDialect`.
    """
    rendered = sql
    if _TABLE_DDL.match(sql):
        for pattern, replacement in _TYPES:
            rendered = pattern.sub(replacement, rendered)
    if UNTRANSLATABLE.search(rendered):
        raise ValueError(f"write this step for each dialect: {sql[:80]!r}")
    return rendered
