"""The items table: its kinds and its storage functions."""

from __future__ import annotations

import re
from pathlib import Path

from tipbox.store.db import Database
from tipbox.store.items import CONTENT_KINDS, ItemKind


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
