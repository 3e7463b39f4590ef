"""The storage layer is the only door to SQL and to the blob directory.

Every module under ``tipbox/`` outside ``tipbox/store/`` is parsed (never
imported) and searched for:

- SQL text: a string constant (or the literal parts of an f-string) that
  reads like a statement (``SELECT ... FROM``, ``INSERT INTO``, ``UPDATE ...
  SET``, ``DELETE FROM``, ``CREATE TABLE``) or a fragment of one (a string
  starting with ``FROM``, ``WHERE`` or ``PRAGMA``). Keywords count in upper
  case only, so English prose ("select a file from...") does not.
- The blob directory: ``.blobs_dir``, ``BlobDir`` (use ``Store.blobs`` or
  ``open_blob_store``, both a ``BlobStore``), ``<x>.blobs.path`` /
  ``<x>.blobs.pool``, and a path joined with ``"blobs"``.

Moving all SQL into ``tipbox/store/`` is under way: :data:`SQL_NOT_MOVED_YET`
lists the modules that still hold SQL. The list must stay true both ways:
a module not on it must hold no SQL, and a module on it that no longer
holds any must leave it. So the list only shrinks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tipbox"

_SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE)\b.*\b(FROM|INTO|SET|TABLE|WHERE)\b"
    r"|^\s*(FROM|WHERE|PRAGMA)\s",
    re.DOTALL,
)

#: Modules that still hold SQL, by table family. Strike a line when its SQL
#: has moved to tipbox/store/ (the test fails until you do).
SQL_NOT_MOVED_YET = frozenset({
})

#: Modules that may name the blob directory, and why.
BLOB_DIRECTORY_ALLOWED = frozenset({
    # the setting: where the blobs are (Settings.blobs_dir = data_dir / "blobs")
    "config.py",
    # init creates the store there; the wiring opens it (both hand the
    # configured location to Store.open)
    "services/instance.py",
    "services/wiring.py",
    # restore builds a whole new data directory (data/blobs) in a staging
    # directory before renaming it into place
    "services/ops/backup.py",
})


def _modules() -> list[Path]:
    return sorted(
        path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] != "store"
    )


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant, and every f-string with its fields as ``{}``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
            )
            found.append((node.lineno, text))
    return found


def sql_in(source: str) -> list[tuple[int, str]]:
    """The strings of ``source`` that read like SQL, with their line numbers."""
    return [(line, text) for line, text in _strings(ast.parse(source)) if _SQL.search(text)]


def blob_directory_uses(source: str) -> list[tuple[int, str]]:
    """Where ``source`` reaches for the blob directory itself."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            if node.attr == "blobs_dir":
                found.append((node.lineno, ".blobs_dir"))
            elif (
                node.attr in {"path", "pool"}
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "blobs"
            ):
                found.append((node.lineno, f".blobs.{node.attr}"))
        elif isinstance(node, ast.Name | ast.alias) and "BlobDir" in {
            getattr(node, "id", None),
            getattr(node, "name", None),
        }:
            found.append((getattr(node, "lineno", 0), "BlobDir"))
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Div)
            and isinstance(node.right, ast.Constant)
            and node.right.value == "blobs"
        ):
            found.append((node.lineno, '/ "blobs"'))
    return found


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_sql_stays_in_the_store(path: Path) -> None:
    found = sql_in(path.read_text(encoding="utf-8"))
    if _name(path) in SQL_NOT_MOVED_YET:
        assert found, f"{_name(path)} holds no SQL any more: take it off SQL_NOT_MOVED_YET"
    else:
        assert not found, f"SQL outside tipbox/store/ in {_name(path)}: {found[:3]}"


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_only_the_store_touches_the_blob_directory(path: Path) -> None:
    found = blob_directory_uses(path.read_text(encoding="utf-8"))
    if _name(path) in BLOB_DIRECTORY_ALLOWED:
        assert found, f"{_name(path)} no longer names the blob directory: take it off the list"
    else:
        assert not found, f"{_name(path)} reaches into the blob directory: {found[:3]}"


def test_the_lists_name_existing_modules() -> None:
    names = {_name(path) for path in _modules()}
    assert names >= SQL_NOT_MOVED_YET | BLOB_DIRECTORY_ALLOWED


@pytest.mark.parametrize(
    "source",
    [
        'q = "SELECT id FROM items WHERE kind = ?"',
        'q = ("INSERT INTO items (a)"\n     " VALUES (?)")',
        'q = f"DELETE FROM {table} WHERE id = ?"',
        'q = "UPDATE sources SET starred = 1"',
        'q = "CREATE TABLE t (x)"',
        'WHERE = " WHERE created_hour < :cut"',
        'conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")',
    ],
)
def test_sql_is_recognised(source: str) -> None:
    assert sql_in(source)


@pytest.mark.parametrize(
    "source",
    [
        'help = "select the files from your computer"',
        'label = "Delete this source"',
        'message = "the update is in progress"',
        '"""Docstring: rows go FROM the draft INTO nothing."""',
    ],
)
def test_prose_is_not_sql(source: str) -> None:
    assert not sql_in(source)


@pytest.mark.parametrize(
    "source",
    [
        "where = settings.blobs_dir",
        "path = store.blobs.path / name",
        "pool = instance.store.blobs.pool",
        "from tipbox.store import BlobDir",
        "blobs = BlobDir(directory, min_free_bytes=0)",
        'staged = data / "blobs"',
    ],
)
def test_blob_directory_uses_are_recognised(source: str) -> None:
    assert blob_directory_uses(source)


def test_the_blob_store_is_not_a_blob_directory_use() -> None:
    source = "blobs = open_blob_store(settings)\nwith store.blobs.open_blob(name) as f: pass"
    assert not blob_directory_uses(source)
