"""Fixtures for service tests: read back what was stored, as a reviewer would."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

import pytest

from tests.conftest import BACKENDS
from tipbox.crypto import decrypt_detached, parse_identity
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.instance import InitResult
from tipbox.services.wiring import Instance


@dataclass
class StoredItem:
    """One decrypted item row."""

    id: int
    source_id: int
    submission_id: int | None
    kind: str
    position: int
    key_id: int | None
    created_hour: int
    blob: str
    plaintext: bytes

    def manifest(self) -> dict[str, object]:
        assert self.kind == "manifest"
        document: dict[str, object] = json.loads(self.plaintext)
        return document


@dataclass
class Reader:
    """Decrypts stored items with the newsroom identities opened by the recovery key."""

    instance: Instance
    identities: list[KeyIdentity]

    def items(self) -> list[StoredItem]:
        with self.instance.store.db.connection() as conn:
            rows = conn.execute("SELECT * FROM items ORDER BY id").fetchall()
        return [self._decrypt(row) for row in rows]

    def _decrypt(self, row: sqlite3.Row) -> StoredItem:
        with self.instance.store.blobs.open_blob(row["blob"]) as payload:
            data = b"".join(decrypt_detached(self.identities, row["header"], payload))
        names = [name for name in StoredItem.__dataclass_fields__ if name != "plaintext"]
        return StoredItem(plaintext=data, **{name: row[name] for name in names})

    def count(self, table: str) -> int:
        with self.instance.store.db.connection() as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


@pytest.fixture
def reader(instance: Instance, init_result: InitResult) -> Reader:
    recovery = parse_identity(init_result.recovery_identity)
    return Reader(instance, instance.keyring.open_identities(recovery))


@pytest.fixture(params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """These tests run on both back ends (see tests/conftest.py)."""
    return str(request.param)
