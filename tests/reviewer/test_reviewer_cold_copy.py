"""A copy of the data and keys directories, taken while nobody is logged in,
opens nothing (issue 4, "must show").

The test harvests every value of every database row and every file of both
directories, turns everything that could be key material into candidate
keys (age identity strings, 32-byte values as X25519 secrets, ML-KEM seeds
and symmetric keys, hex decoded too) and tries them all against every
submission, reply, grant and sealed reviewer secret. A positive control
shows the same harness does open a grant when given the recovery identity,
which the copy does not contain.
"""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from reviewer_kit import ReviewerSite, submit

from tipbox.crypto import (
    DecryptionError,
    HybridIdentity,
    Identity,
    SealError,
    X25519Identity,
    decrypt,
    decrypt_detached,
    parse_identity,
    unseal,
)

_AGE_SECRET = re.compile(r"AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]+")
_HEX64 = re.compile(r"\b[0-9a-fA-F]{64}\b")


def harvest(data_dir: Path, keys_dir: Path) -> tuple[set[str], set[bytes]]:
    """Every string and byte string found in the copy (database cells and files)."""
    texts: set[str] = set()
    blobs: set[bytes] = set()
    for path in [*data_dir.rglob("*"), *keys_dir.rglob("*")]:
        if path.is_file():
            content = path.read_bytes()
            blobs.add(content)
            texts.add(content.decode("utf-8", "replace"))
    conn = sqlite3.connect(data_dir / "tipbox.db")
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608 - names from the db
            for value in row:
                if isinstance(value, str):
                    texts.add(value)
                elif isinstance(value, bytes):
                    blobs.add(value)
                    texts.add(value.decode("utf-8", "replace"))
    conn.close()
    return texts, blobs


def candidate_keys(texts: set[str], blobs: set[bytes]) -> tuple[list[Identity], set[bytes]]:
    """Identities and 32-byte symmetric keys made from everything harvested."""
    raw32 = {b for b in blobs if len(b) == 32}
    for text in texts:
        raw32 |= {bytes.fromhex(h) for h in _HEX64.findall(text)}
        raw32 |= {t.encode() for t in text.split() if len(t.encode()) == 32}
    for blob in blobs:  # every 32-byte window of small values (salts, verifiers, ...)
        if len(blob) <= 128:
            raw32 |= {blob[i : i + 32] for i in range(len(blob) - 31)}
    identities: list[Identity] = []
    for text in texts:
        for found in _AGE_SECRET.findall(text):
            identities.append(parse_identity(found))
    for key in raw32:
        identities += [X25519Identity(key), HybridIdentity.from_seed(key)]
    return identities, raw32


def assert_nothing_opens(copy_db: Path, blobs_dir: Path, keys_dir: Path,
                         identities: list[Identity], keys: set[bytes]) -> None:
    conn = sqlite3.connect(copy_db)
    conn.row_factory = sqlite3.Row
    for item in conn.execute("SELECT header, blob FROM items"):
        payload = (blobs_dir / item["blob"]).read_bytes()
        with pytest.raises(DecryptionError):
            b"".join(decrypt_detached(identities, item["header"], io.BytesIO(payload)))
    grants = [row["sealed"] for row in conn.execute("SELECT sealed FROM grants")]
    grants += [path.read_bytes() for path in keys_dir.glob("*.age")]
    for sealed in grants:
        with pytest.raises(DecryptionError):
            decrypt(identities, sealed)
    sealed_values = [
        (row[column], f"tipbox reviewer {kind}|{row['username']}".encode())
        for row in conn.execute("SELECT * FROM reviewers")
        for column, kind in (("sealed_identity", "identity"), ("sealed_totp", "totp"))
    ]
    sessions = [(row["sealed"], b"tipbox reviewer session|" + row["id_hash"])
                for row in conn.execute("SELECT * FROM reviewer_sessions")]
    for sealed, context in sealed_values + sessions:
        for key in keys:
            with pytest.raises(SealError):
                unseal(key, sealed, context=context)
    conn.close()


def test_a_cold_copy_opens_nothing(site: ReviewerSite, tmp_path: Path) -> None:
    instance = site.services.instance
    submitted = submit(instance, files={"doc.pdf": b"top secret document"})
    site.services.inbox.reply(submitted.source_id, "a reply", reviewer="admin")
    client = site.client()
    site.log_in(client)  # a session left open: its key is only in that browser
    settings = instance.settings
    instance.store.db.checkpoint()
    copy = tmp_path / "copy"
    shutil.copytree(settings.data_dir, copy / "data")
    shutil.copytree(settings.keys_dir, copy / "keys")

    texts, blobs = harvest(copy / "data", copy / "keys")
    assert any(site.init.newsroom_recipient in text for text in texts)  # the harvest works
    identities, keys = candidate_keys(texts, blobs)
    assert len(keys) > 20
    assert_nothing_opens(copy / "data" / "tipbox.db", copy / "data" / "blobs", copy / "keys",
                         identities, keys)

    # Positive control: the recovery identity (printed once, kept offline) opens a grant.
    conn = sqlite3.connect(copy / "data" / "tipbox.db")
    sealed = conn.execute("SELECT sealed FROM grants WHERE holder = 'recovery'").fetchone()[0]
    conn.close()
    opened = decrypt([*identities, parse_identity(site.init.recovery_identity)], sealed)
    assert opened.startswith(b"AGE-SECRET-KEY-")
