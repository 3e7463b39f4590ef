"""PostgreSQL for metadata: a psycopg 3 connection that speaks like the store's SQLite one.

The store's functions are written against :class:`sqlite3.Connection`.
:class:`PostgresConnection` presents the part of it they use, so that the
same functions, the same migrations and the same services run on
PostgreSQL (``TIPBOX_DATABASE_URL``). Contract:

- **SQL**: ``?`` and ``:name`` placeholders become psycopg's ``%s`` and
  ``%(name)s`` (and a literal ``%`` is doubled), outside string literals and
  quoted names; the text is otherwise sent as written (see
  :mod:`tipbox.store.dialect` for the few things that differ).
- **Rows** are :class:`Row`: tuples that also answer ``row["name"]`` and
  ``keys()``, as :class:`sqlite3.Row` does. ``bytea`` comes back as
  ``bytes``; a ``bool`` parameter is sent as 0 or 1 (SQLite has no booleans);
  text holding U+0000, which PostgreSQL cannot store, is refused by a write
  and matches nothing in a read.
- **Errors** are SQLite's: an integrity violation raises
  :class:`sqlite3.IntegrityError`, a connection or lock failure
  :class:`sqlite3.OperationalError` (which transactions turn into
  :class:`~tipbox.errors.StorageUnavailable`), with PostgreSQL's primary
  message only (never its DETAIL, which quotes the values).
- **Statements fail alone**, as in SQLite: inside a transaction each write
  runs under a savepoint, so a caller that catches an error (a designation
  already taken) goes on with the same transaction.
- **One writer at a time**, as in SQLite: a write transaction holds the
  advisory lock :data:`~tipbox.store.dialect.WRITE_LOCK` (taken at ``BEGIN``
  by :meth:`~tipbox.store.dialect.Dialect.begin`, or before the first write
  of a read transaction), and a write outside any transaction runs in one of
  its own that takes it. A lock not granted within
  :data:`~tipbox.store.db.BUSY_TIMEOUT_MS` is an ``OperationalError``, like
  SQLite's busy timeout.

The connection is in autocommit mode; transactions are begun and ended with
plain ``BEGIN`` / ``COMMIT`` / ``ROLLBACK`` statements, as on SQLite.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg import pq

from tipbox.errors import StorageUnavailable
from tipbox.store.dialect import POSTGRESQL, WRITE_LOCK, Dialect

__all__ = ["PostgresConnection", "Row", "connect", "placeholders"]

_LOCK_TIMEOUT_MS = 10_000
_WRITES = ("INSERT", "UPDATE", "DELETE")

Params = Sequence[Any] | Mapping[str, Any]


class Row(tuple[Any, ...]):
    """A result row: a tuple that is also read by column name, like :class:`sqlite3.Row`."""

    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                raise IndexError(f"no such column: {key}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._index)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(name, position)
    return type("Row", (Row,), {"_index": index, "__slots__": ()})


def _row_maker(cursor: Any) -> Any:
    names = tuple(column.name for column in cursor.description or ())
    kind = _row_class(names)
    return lambda values: tuple.__new__(kind, values)


@functools.lru_cache(maxsize=4096)
def placeholders(sql: str) -> str:
    """``sql`` with SQLite's ``?`` and ``:name`` as psycopg's ``%s`` and ``%(name)s``.

    String literals (``'...'``) and quoted names (``"..."``) are copied as
    they are; elsewhere ``%`` becomes ``%%`` and ``::`` (a PostgreSQL cast)
    stays.
    """
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = sql.find(char, i + 1)
            while end != -1 and sql[end + 1:end + 2] == char:
                end = sql.find(char, end + 2)
            end = n - 1 if end == -1 else end
            out.append(sql[i:end + 1])
            i = end + 1
        elif char == "?":
            out.append("%s")
            i += 1
        elif char == "%":
            out.append("%%")
            i += 1
        elif sql.startswith("::", i):
            out.append("::")
            i += 2
        elif char == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(f"%({sql[i + 1:j]})s")
            i = j
        else:
            out.append(char)
            i += 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _is_write(sql: str) -> bool:
    return sql.lstrip().split(None, 1)[0].upper() in _WRITES


def _plain(params: Params, *, write: bool) -> Params:
    """Parameters as PostgreSQL can take them (see :func:`_plain_value`)."""
    if isinstance(params, Mapping):
        return {key: _plain_value(value, write=write) for key, value in params.items()}
    return [_plain_value(value, write=write) for value in params]


def _plain_value(value: Any, *, write: bool) -> Any:
    """A ``bool`` is an integer, as SQLite stores it. PostgreSQL text cannot hold U+0000:
    such a string is refused by a write (``IntegrityError``) and, as no stored text can
    equal it, matches nothing in a read (it is sent as NULL, which equals nothing)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        if write:
            raise sqlite3.IntegrityError("PostgreSQL text cannot hold a NUL character")
        return None
    return value


_ERRORS: tuple[tuple[type[psycopg.Error], type[sqlite3.Error]], ...] = (
    (psycopg.IntegrityError, sqlite3.IntegrityError),
    (psycopg.OperationalError, sqlite3.OperationalError),
    (psycopg.DataError, sqlite3.DataError),
    # SQLite reports a statement it cannot run (syntax, unknown table) as operational.
    (psycopg.ProgrammingError, sqlite3.OperationalError),
)


def _as_sqlite_error(error: psycopg.Error) -> sqlite3.Error:
    """SQLite's exception class for ``error``, with PostgreSQL's primary message only."""
    message = error.diag.message_primary or str(error).splitlines()[0]
    for theirs, ours in _ERRORS:
        if isinstance(error, theirs):
            return ours(message)
    return sqlite3.DatabaseError(message)


class PostgresConnection:
    """One PostgreSQL connection presenting :class:`sqlite3.Connection`'s interface (see
    the module contract). Used by one thread at a time, like the SQLite ones."""

    dialect: ClassVar[Dialect] = POSTGRESQL

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self._raw = raw
        self._write_locked = False

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (as :attr:`sqlite3.Connection.in_transaction`)."""
        return self._raw.info.transaction_status != pq.TransactionStatus.IDLE

    @property
    def broken(self) -> bool:
        """Whether the connection is closed or lost (it cannot go back to a pool)."""
        return self._raw.closed or self._raw.broken

    def begin(self, *, write: bool) -> None:
        """Begin a transaction: a write one holding the writers' lock from the start, a
        read one on one snapshot (``REPEATABLE READ``), as SQLite's deferred ``BEGIN``."""
        self._run("BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ", ())
        if write:
            try:
                self._take_write_lock()
            except BaseException:
                self._end("ROLLBACK")
                raise

    def execute(self, sql: str, params: Params = ()) -> Any:
        """Run one statement; returns a cursor (``fetchone``, ``fetchall``, iteration,
        ``rowcount``)."""
        ending = sql.strip().upper()
        if ending in ("COMMIT", "ROLLBACK"):
            return self._end(ending)
        if not _is_write(sql):
            return self._run(sql, params)
        if not self.in_transaction:
            return self._write_alone(sql, params)
        self._take_write_lock()
        self._run("SAVEPOINT tipbox_statement", ())
        try:
            cursor = self._run(sql, params)
        except BaseException:
            if not self.broken:
                self._run("ROLLBACK TO SAVEPOINT tipbox_statement", ())
            raise
        self._run("RELEASE SAVEPOINT tipbox_statement", ())
        return cursor

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        """Run one statement once per parameter set."""
        for params in rows:
            self.execute(sql, params)

    def close(self) -> None:
        self._raw.close()

    def _run(self, sql: str, params: Params) -> Any:
        try:
            cursor = self._raw.cursor()  # raises too, on a connection already lost
            if params:
                cursor.execute(placeholders(sql), _plain(params, write=_is_write(sql)))
            else:
                cursor.execute(sql)
        except psycopg.Error as error:
            raise _as_sqlite_error(error) from error
        return cursor

    def _end(self, command: str) -> Any:
        self._write_locked = False
        return self._run(command, ())

    def _take_write_lock(self) -> None:
        """Hold the writers' lock for the rest of the transaction (taken once)."""
        if not self._write_locked:
            self._run("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))
            self._write_locked = True

    def _write_alone(self, sql: str, params: Params) -> Any:
        """A write outside any transaction: its own transaction, holding the writers' lock."""
        self.begin(write=True)
        try:
            cursor = self._run(sql, params)
        except BaseException:
            if not self.broken:
                self._end("ROLLBACK")
            raise
        self._end("COMMIT")
        return cursor


def connect(url: str) -> PostgresConnection:
    """Open the PostgreSQL database ``url`` (libpq's syntax); autocommit, SQLite-like rows.

    :class:`~tipbox.errors.StorageUnavailable` if it cannot be reached.
    """
    try:
        raw = psycopg.connect(url, autocommit=True, row_factory=_row_maker)
        raw.execute(f"SET lock_timeout = {_LOCK_TIMEOUT_MS:d}")
    except psycopg.Error as error:
        message = error.diag.message_primary or " ".join(str(error).split())
        raise StorageUnavailable(f"cannot open the database: {message}") from None
    return PostgresConnection(raw)
