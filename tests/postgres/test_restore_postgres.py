"""Backups and restores across back ends: SQLite to PostgreSQL, PostgreSQL to either.

``backup`` and ``restore`` run as processes of their own; a restore with
``TIPBOX_DATABASE_URL`` puts the database into that (empty) PostgreSQL
database and leaves no SQLite file in the data directory. Every stored item
decrypts to the same bytes afterwards, and a new source gets an id past
every id the backed-up instance gave out. A restore that fails anywhere,
down to a connection lost at the final commit, leaves the target as it
was: no data directory, no key file, no table.
"""

from __future__ import annotations

import io
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.desks.desk_kit import send
from tests.postgres.moving import Populated, assert_one_line_error, cli, objects, populate, query
from tests.servers import decrypt_all, instance_env
from tipbox.config import Settings, load_settings
from tipbox.crypto import DecryptionError, X25519Identity, parse_identity
from tipbox.errors import StorageUnavailable
from tipbox.services.desks.desks import DEFAULT_DESK
from tipbox.services.ops import backup as backup_module
from tipbox.services.ops.backup import restore_backup
from tipbox.services.ops.migrate import MigrationFailed
from tipbox.services.wiring import open_instance


@pytest.fixture
def populated(tmp_path: Path) -> Populated:
    return populate(tmp_path / "site")


def test_a_backup_of_an_sqlite_instance_restores_into_postgresql(
    populated: Populated, tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    backup = _backup(populated, tmp_path)
    restored = _restore(populated, backup, instance_env(
        tmp_path / "restored", TIPBOX_DATABASE_URL=new_database_url()))
    _assert_same_instance(populated, restored)


def test_a_backup_of_a_postgresql_instance_restores_into_sqlite_and_postgresql(
    tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    populated = populate(tmp_path / "site", TIPBOX_DATABASE_URL=new_database_url())
    backup = _backup(populated, tmp_path)
    into_sqlite = _restore(populated, backup, instance_env(tmp_path / "into-sqlite"))
    assert into_sqlite.database_path.is_file()
    _assert_same_instance(populated, into_sqlite)
    into_postgresql = _restore(populated, backup, instance_env(
        tmp_path / "into-postgresql", TIPBOX_DATABASE_URL=new_database_url()))
    _assert_same_instance(populated, into_postgresql)


# -- failures leave the target as it was ------------------------------------------------


def test_a_database_that_is_not_empty_is_refused(
    populated: Populated, tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    backup = _backup(populated, tmp_path)
    url = new_database_url()
    query(url, "CREATE TABLE notes (line text)")
    target = instance_env(tmp_path / "restored", TIPBOX_DATABASE_URL=url)
    failed = cli(target, "restore", backup, "--recovery-identity", populated.recovery)
    assert_one_line_error(failed, "the PostgreSQL database of TIPBOX_DATABASE_URL is not empty")
    assert objects(url) == {"table:notes"}
    assert not (tmp_path / "restored").exists()


def test_the_wrong_identity_writes_nothing(
    populated: Populated, tmp_path: Path, target: Settings
) -> None:
    data = _backup(populated, tmp_path).read_bytes()
    with pytest.raises(DecryptionError):
        restore_backup(target, io.BytesIO(data), [X25519Identity.generate()])
    _assert_untouched(target)


def test_a_row_postgresql_refuses_writes_nothing(
    populated: Populated, tmp_path: Path, target: Settings
) -> None:
    """PostgreSQL's text cannot hold U+0000, SQLite's can: the copy fails at that table."""
    conn = sqlite3.connect(populated.settings.database_path)
    with conn:
        conn.execute("INSERT INTO labels (name) VALUES (?)", ("nul\x00label",))
    conn.close()
    data = _backup(populated, tmp_path).read_bytes()
    with pytest.raises(MigrationFailed, match="PostgreSQL refused a row of labels"):
        restore_backup(target, io.BytesIO(data), _recovery(populated))
    _assert_untouched(target)


def test_a_failed_publish_writes_nothing(
    populated: Populated, tmp_path: Path, target: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _backup(populated, tmp_path).read_bytes()

    def refuse(staged: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup_module, "_replace_empty_dir", refuse)
    with pytest.raises(OSError, match="No space left"):
        restore_backup(target, io.BytesIO(data), _recovery(populated))
    _assert_untouched(target)


def test_a_connection_lost_at_the_commit_moves_the_published_files_back(
    populated: Populated, tmp_path: Path, target: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _backup(populated, tmp_path).read_bytes()
    publish = backup_module._Staging.publish
    assert target.database_url is not None
    url = target.database_url

    def publish_then_lose_the_connection(staging: backup_module._Staging) -> None:
        publish(staging)
        assert (target.data_dir / "secrets.json").is_file()
        query(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                   " WHERE datname = current_database() AND pid <> pg_backend_pid()")

    monkeypatch.setattr(backup_module._Staging, "publish", publish_then_lose_the_connection)
    with pytest.raises(StorageUnavailable):
        restore_backup(target, io.BytesIO(data), _recovery(populated))
    _assert_untouched(target)


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
def target(tmp_path: Path, new_database_url: Callable[[], str]) -> Settings:
    """An empty instance whose database is a new PostgreSQL database."""
    return load_settings(instance_env(tmp_path / "target",
                                      TIPBOX_DATABASE_URL=new_database_url()))


def _backup(populated: Populated, tmp_path: Path) -> Path:
    backup = tmp_path / "tipbox.backup.age"
    backup.unlink(missing_ok=True)
    cli(populated.env, "backup", backup, check=True)
    return backup


def _restore(populated: Populated, backup: Path, env: dict[str, str]) -> Settings:
    done = cli(env, "restore", backup, "--recovery-identity", populated.recovery, check=True)
    assert "Restored 1" in done.stdout
    settings = load_settings(env)
    if settings.database_url is not None:
        assert "into PostgreSQL (TIPBOX_DATABASE_URL), verified row by row" in done.stdout
        assert sorted(os.listdir(settings.data_dir)) == ["blobs", "secrets.json"]
    return settings


def _recovery(populated: Populated) -> list[X25519Identity]:
    return [parse_identity(populated.recovery.read_text().strip())]  # type: ignore[list-item]


def _assert_same_instance(populated: Populated, restored: Settings) -> None:
    """Every item decrypts alike; a new source's id is past every id given out before."""
    identity = populated.recovery.read_text().strip()
    assert decrypt_all(restored, identity) == decrypt_all(populated.settings, identity)
    instance = open_instance(restored)
    try:
        _, source_id = send(instance, DEFAULT_DESK, "after the restore")
    finally:
        instance.close()
    assert source_id > populated.deleted_source


def _assert_untouched(target: Settings) -> None:
    assert target.database_url is not None
    assert objects(target.database_url) == set()
    assert not target.data_dir.exists()
    assert not target.keys_dir.exists()
