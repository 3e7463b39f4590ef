"""Moving an instance's database from SQLite into PostgreSQL, and checking the move.

``python -m tipbox store migrate --to URL`` (:func:`migrate_to_postgresql`)
and a restore into PostgreSQL (:func:`copy_in_one_transaction`) copy every
table of an SQLite database into a PostgreSQL one. Contract:

- **Source.** The SQLite file is opened alone
  (:func:`~tipbox.store.copying.open_alone`): refused while the apps or
  another command have it open, then kept locked and unchanged for the
  whole run. Nothing is written to it.
- **Target.** An empty database, or one holding an unfinished copy of the
  same instance: the same schema version and the same :data:`IDENTITY`
  facts in ``meta``. Anything else is refused with :class:`MigrationRefused`
  before a row is written: tables that are no tipbox schema, another
  instance, a newer or an older schema, another migration running into it.
- **Copy.** The first transaction creates the schema (the same migrations,
  the same version), removes the rows migrations insert and copies
  ``meta``. Then each table, parents first, in primary-key order,
  ``batch_rows`` rows per transaction: a run stopped anywhere, even by
  ``kill -9``, leaves whole batches, and the next run goes on after the
  highest key each table holds, so no row is copied twice. Last, every
  identity sequence moves past SQLite's ``AUTOINCREMENT`` counter, so an id
  deleted before the move is never given out again.
- **Verification** (:func:`verify_migration`, also the end of every copy):
  per table the row count and SHA-256 of every row in key order, and the
  export view: each source's items as ``export --encrypted`` reads them
  through the store (designation; each item's id, submission, kind,
  position, header and blob name), hashed on each back end. A difference
  raises :class:`VerificationFailed` naming tables, never a value. Given the
  blob store, it also counts items whose payload is missing from it.
- **Not copied.** Blobs, ``secrets.json`` and the keys directory stay where
  they are: the PostgreSQL instance uses the same directories.
- **Quiet.** Reports hold names and counts only; no value of a row is
  returned, printed or put in an error message.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from tipbox.errors import NotInitialised, TipboxError
from tipbox.store import postgres
from tipbox.store.blob_store import BlobStore
from tipbox.store.copying import (
    Table,
    batches,
    canonical,
    column_types,
    count_rows,
    create_schema,
    delete_rows,
    highest_key,
    insert_rows,
    open_alone,
    postgresql_tables,
    sqlite_counters,
    table_digest,
    tables_in_order,
    take_session_lock,
)
from tipbox.store.db import MIGRATIONS, read_meta, schema_version, transaction
from tipbox.store.dialect import move_sequences
from tipbox.store.items import items_of_source, sources_in_order
from tipbox.store.snapshot import all_blobs

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "IDENTITY",
    "MIGRATION_LOCK",
    "MigrationFailed",
    "MigrationRefused",
    "MigrationReport",
    "TableCopy",
    "Verification",
    "VerificationFailed",
    "copy_in_one_transaction",
    "migrate_to_postgresql",
    "require_empty_database",
    "verify_migration",
]

DEFAULT_BATCH_ROWS = 1000
#: The ``meta`` facts that name an instance: a copy continues only where they are equal.
IDENTITY = ("created_hour", "recovery_recipient")
#: The session-level advisory lock a migration holds on its target ("tipbox-m").
MIGRATION_LOCK = 0x746970626F782D6D
_META = "meta"
_READ_ROWS = 2000


class MigrationFailed(TipboxError):
    """A migration stopped: what was copied so far stays, a new run goes on from there."""

    code = "migration_failed"


class MigrationRefused(MigrationFailed):
    """The source or the target is not one a migration may use; nothing was written."""

    code = "migration_refused"


class VerificationFailed(MigrationFailed):
    """The PostgreSQL database does not hold exactly what the SQLite one holds."""

    code = "verification_failed"


@dataclass(frozen=True, slots=True)
class TableCopy:
    """One table: its rows in the source, and how many this run copied (the rest were there)."""

    name: str
    rows: int
    copied: int


@dataclass(frozen=True, slots=True)
class Verification:
    """What was found equal on both back ends: tables and their rows, and the export view's
    sources and items; ``missing_payloads``: items whose blob is missing (None: not checked)."""

    tables: int
    rows: int
    sources: int
    items: int
    missing_payloads: int | None = None


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """A finished, verified copy."""

    schema_version: int
    tables: tuple[TableCopy, ...]
    verification: Verification

    @property
    def copied(self) -> int:
        """Rows this run copied."""
        return sum(table.copied for table in self.tables)


Progress = Callable[[TableCopy], None]


def _quiet(_: TableCopy) -> None:
    """No progress shown."""


def migrate_to_postgresql(
    database_path: Path,
    url: str,
    *,
    blobs: BlobStore | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Progress = _quiet,
) -> MigrationReport:
    """Copy the SQLite database ``database_path`` into the PostgreSQL database ``url`` in
    batches, or go on with an unfinished copy; then verify (see the module docstring).

    ``progress`` is called once per table, when it is done. Raises
    :class:`MigrationRefused`, :class:`VerificationFailed`, :class:`MigrationFailed`
    (PostgreSQL refused a row), :class:`~tipbox.errors.StorageUnavailable` (a database
    cannot be opened, or the SQLite one is in use).
    """
    with _Move.open(database_path, url, atomic=False) as move:
        return move.run(batch_rows=batch_rows, progress=progress, blobs=blobs)


def verify_migration(
    database_path: Path, url: str, *, blobs: BlobStore | None = None
) -> Verification:
    """Compare the SQLite database with its copy in PostgreSQL (see the module docstring).

    :class:`MigrationRefused` if ``url`` holds no copy of it.
    """
    with _Move.open(database_path, url, atomic=False) as move:
        with move.reading():
            move.check_target(allow_empty=False)
        return move.verify(blobs)


@contextlib.contextmanager
def copy_in_one_transaction(
    database_path: Path, url: str, *, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[MigrationReport]:
    """Copy ``database_path`` into the empty PostgreSQL database ``url`` in one transaction
    and verify it; yield the report with the transaction still open.

    The copy commits when the block ends and rolls back if it raises: until
    then nobody else sees a row, and on any failure the database is left as
    it was. The SQLite file is closed before the block runs.
    """
    with _Move.open(database_path, url, atomic=True) as move, transaction(move.target):
        report = move.run(batch_rows=batch_rows, progress=_quiet, blobs=None)
        move.close_source()
        yield report


def require_empty_database(url: str) -> None:
    """Raise :class:`MigrationRefused` unless ``url`` is a reachable, empty database."""
    target = _connect(url)
    try:
        if postgresql_tables(target) - {"tipbox_schema"} or schema_version(target):
            raise MigrationRefused(
                "the PostgreSQL database is not empty: use a new, empty database")
    finally:
        target.close()


def _connect(url: str) -> sqlite3.Connection:
    """A store connection to ``url`` (:class:`~tipbox.errors.StorageUnavailable` if it
    cannot be reached or logged into)."""
    return cast(sqlite3.Connection, postgres.connect(url))


class _Move:
    """One copy of an SQLite database (``source``, locked alone) into PostgreSQL
    (``target``). ``atomic``: the caller holds one transaction around everything."""

    def __init__(self, source: sqlite3.Connection, target: sqlite3.Connection, *,
                 atomic: bool) -> None:
        self.source = source
        self.target = target
        self._atomic = atomic
        self.version = schema_version(source)
        if not 0 < self.version <= len(MIGRATIONS):
            raise MigrationRefused(
                "the SQLite database holds no tipbox schema" if self.version == 0 else
                "the SQLite database comes from a newer tipbox: upgrade tipbox first")
        self.tables = tables_in_order(source)

    @classmethod
    @contextlib.contextmanager
    def open(cls, database_path: Path, url: str, *, atomic: bool) -> Iterator[_Move]:
        if not database_path.is_file():
            raise NotInitialised(f"no initialised instance in {database_path.parent}"
                                 f" ({database_path.name} not found)")
        source = open_alone(database_path)
        try:
            target = _connect(url)
            try:
                _lock_for_migration(target)
                yield cls(source, target, atomic=atomic)
            finally:
                target.close()
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError):
                raise
            raise MigrationFailed(f"the copy failed: {error}") from None
        finally:
            _close_quietly(source)

    def close_source(self) -> None:
        """Release the SQLite file (the copy is done)."""
        _close_quietly(self.source)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """One unit of writes: its own transaction, or part of the caller's."""
        with contextlib.nullcontext() if self._atomic else transaction(self.target):
            yield

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Reads of one snapshot: a read transaction, or the caller's."""
        with contextlib.nullcontext() if self._atomic else transaction(
                self.target, immediate=False):
            yield

    def run(self, *, batch_rows: int, progress: Progress,
            blobs: BlobStore | None) -> MigrationReport:
        copies = [self._start(progress)]
        for table in self.tables:
            if table.name != _META:
                copies.append(self._copy(table, batch_rows, progress))
        with self.writing():
            move_sequences(self.target, sqlite_counters(self.source))
        return MigrationReport(self.version, tuple(copies), self.verify(blobs))

    # -- the target ------------------------------------------------------------------

    def check_target(self, *, allow_empty: bool) -> bool:
        """Whether the target is empty (and ``allow_empty``); raise
        :class:`MigrationRefused` unless it is that or an unfinished copy of this instance."""
        found = schema_version(self.target)
        if found == 0:
            if not allow_empty:
                raise MigrationRefused("the PostgreSQL database holds no copy of this instance")
            if postgresql_tables(self.target) - {"tipbox_schema"}:
                raise MigrationRefused("the PostgreSQL database holds tables that are no tipbox"
                                       " instance: use a new, empty database")
            return True
        if self._atomic:
            raise MigrationRefused("the PostgreSQL database is not empty: use a new, empty"
                                   " database")
        if found != self.version:
            which = "newer" if found > self.version else "older"
            raise MigrationRefused(
                f"the PostgreSQL database's schema (version {found}) is {which} than the"
                f" SQLite database's ({self.version}): it is not a copy of this instance")
        if not self._same_instance():
            raise MigrationRefused("the PostgreSQL database holds another tipbox instance:"
                                   " use a new, empty database")
        return False

    def _same_instance(self) -> bool:
        theirs = [read_meta(self.target, key) for key in IDENTITY]
        return None not in theirs and theirs == [read_meta(self.source, key) for key in IDENTITY]

    def _start(self, progress: Progress) -> TableCopy:
        """Create the schema and copy ``meta`` in one transaction, or check what is there."""
        meta = self._table(_META)
        with self.writing():
            if not self.check_target(allow_empty=True):
                copied = TableCopy(_META, count_rows(self.source, meta), 0)
            else:
                create_schema(self.target, self.version)
                delete_rows(self.target, self.tables)
                rows = [row for batch in batches(self.source, meta, size=_READ_ROWS)
                        for row in batch]
                self._insert(meta, column_types(self.target, meta), rows)
                copied = TableCopy(_META, len(rows), len(rows))
        progress(copied)
        return copied

    def _table(self, name: str) -> Table:
        return next(table for table in self.tables if table.name == name)

    def _copy(self, table: Table, batch_rows: int, progress: Progress) -> TableCopy:
        """Copy the rows after the highest key the target holds, one batch per unit."""
        with self.reading():
            after = highest_key(self.target, table)
            whole_and_there = not table.key and count_rows(self.target, table) > 0
        copied = 0
        if not whole_and_there:
            types = column_types(self.target, table)
            for batch in batches(self.source, table, size=batch_rows, after=after):
                with self.writing():
                    self._insert(table, types, batch)
                copied += len(batch)
        done = TableCopy(table.name, count_rows(self.source, table), copied)
        progress(done)
        return done

    def _insert(self, table: Table, types: tuple[str, ...], rows: list[tuple[object, ...]]
                ) -> None:
        try:
            insert_rows(self.target, table, types, rows)
        except (sqlite3.IntegrityError, sqlite3.DataError) as error:
            raise MigrationFailed(f"PostgreSQL refused a row of {table.name}: {error}") from None

    # -- verification -----------------------------------------------------------------

    def verify(self, blobs: BlobStore | None) -> Verification:
        with self.reading():
            differences = [found for table in self.tables
                           if (found := self._difference(table)) is not None]
            mine, theirs = _export_view(self.source), _export_view(self.target)
            rows = sum(count_rows(self.source, table) for table in self.tables)
        if differences:
            raise VerificationFailed(
                f"the copy differs from the SQLite database: {'; '.join(differences)}. If the"
                " SQLite instance changed since the copy began, start again with a new, empty"
                " database")
        if mine != theirs:
            raise VerificationFailed("the export view differs between the two databases")
        return Verification(len(self.tables), rows, mine[1], mine[2], self._missing(blobs))

    def _difference(self, table: Table) -> str | None:
        """How ``table`` differs (counts only), or None when every row is equal."""
        ours, theirs = count_rows(self.source, table), count_rows(self.target, table)
        if ours != theirs:
            return f"{table.name}: {ours} rows in SQLite, {theirs} in PostgreSQL"
        if table_digest(self.source, table, size=_READ_ROWS) != table_digest(
                self.target, table, size=_READ_ROWS):
            return f"{table.name}: rows differ"
        return None

    def _missing(self, blobs: BlobStore | None) -> int | None:
        if blobs is None:
            return None
        present = set(blobs.names())
        return sum(1 for name in all_blobs(self.source) if name not in present)


def _export_view(conn: sqlite3.Connection) -> tuple[str, int, int]:
    """SHA-256 of every source's items as the export reads them; sources and items counted."""
    digest = hashlib.sha256()
    sources = items = 0
    for source in sources_in_order(conn):
        digest.update(canonical((source["designation"],)))
        sources += 1
        for item in items_of_source(conn, int(source["id"])):
            digest.update(canonical(tuple(item)))
            items += 1
    return digest.hexdigest(), sources, items


def _lock_for_migration(target: sqlite3.Connection) -> None:
    if not take_session_lock(target, MIGRATION_LOCK):
        raise MigrationRefused("another migration into this PostgreSQL database is running")


def _close_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
