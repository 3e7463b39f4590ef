"""The items table: its kinds and its storage functions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import pytest

from tipbox.store import BlobDir, Store
from tipbox.store.db import Database
from tipbox.store.items import CONTENT_KINDS, ItemKind


@pytest.mark.sqlite_only  # reads the schema's text; the migrations are the same on both
def test_item_kinds_are_the_schemas_kinds(tmp_path: Path) -> None:
    db = Database(tmp_path / "tipbox.db")
    db.migrate()
    with db.connection() as conn:
        schema = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()[0]
    db.close()
    allowed = re.search(r"kind IN \(([^)]*)\)", schema)
    assert allowed is not None
    assert set(re.findall(r"'(\w+)'", allowed.group(1))) == {kind.value for kind in ItemKind}


def test_a_kind_equals_the_string_stored_in_a_row() -> None:
    assert ItemKind("reply") is ItemKind.REPLY
    assert ItemKind.FILE == "file"
    assert f"{ItemKind.MESSAGE}-1.txt" == "message-1.txt"
    assert set(CONTENT_KINDS) == {"message", "file"}


class _Recorder:
    """Stands in for the database and the blob directory, recording calls in order."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def checkpoint(self) -> None:
        self.calls.append("checkpoint")

    def delete_blob(self, name: str) -> None:
        self.calls.append(f"unlink {name}")

    def sync(self) -> None:
        self.calls.append("sync")


def _shred_calls(blobs: list[str], *, rows_deleted: bool = True) -> list[str]:
    calls: list[str] = []
    recorder = _Recorder(calls)
    store = Store(db=cast(Database, recorder), blobs=cast(BlobDir, recorder))
    store.shred(iter(blobs), rows_deleted=rows_deleted)
    return calls


def test_shred_truncates_the_wal_before_unlinking_then_syncs() -> None:
    assert _shred_calls(["a", "b"]) == ["checkpoint", "unlink a", "unlink b", "sync"]


def test_shred_of_rows_without_blobs_still_truncates_the_wal() -> None:
    assert _shred_calls([]) == ["checkpoint"]


def test_shred_of_nothing_does_nothing() -> None:
    assert _shred_calls([], rows_deleted=False) == []
    assert _shred_calls(["a"], rows_deleted=False) == ["checkpoint", "unlink a", "sync"]
