"""Settings: defaults, parsing of TIPBOX_* variables, and clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tipbox.config import GIB, load_settings
from tipbox.errors import ConfigError, InvalidInput
from tipbox.passwords import Argon2Params


def test_defaults_are_safe_for_a_local_run() -> None:
    settings = load_settings({})
    assert settings.data_dir == Path("./data").absolute()
    assert settings.keys_dir == Path("./keys").absolute()
    assert settings.source_bind == "127.0.0.1:8080"
    assert settings.reviewer_bind == "127.0.0.1:8081"
    assert settings.max_upload_bytes == 2 * GIB
    assert settings.max_files == 20
    assert settings.max_message_chars == 100_000
    assert settings.min_free_bytes == GIB
    assert settings.retention_days == 0
    assert settings.dev is False
    assert settings.codename_argon2 == Argon2Params(3, 65536, 4)
    assert settings.password_argon2 == Argon2Params(3, 65536, 4)
    assert settings.session_idle_seconds == 30 * 60
    assert settings.session_absolute_seconds == 8 * 3600


def test_every_variable_is_read(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "TIPBOX_DATA_DIR": str(tmp_path / "d"),
            "TIPBOX_KEYS_DIR": str(tmp_path / "k"),
            "TIPBOX_SOURCE_BIND": "0.0.0.0:9000",
            "TIPBOX_REVIEWER_BIND": "[::1]:9001",
            "TIPBOX_MAX_UPLOAD_BYTES": "1_000",
            "TIPBOX_MAX_FILES": "3",
            "TIPBOX_MAX_MESSAGE_CHARS": "50",
            "TIPBOX_MIN_FREE_BYTES": "0",
            "TIPBOX_RETENTION_DAYS": "30",
            "TIPBOX_DEV": "yes",
            "TIPBOX_CODENAME_ARGON2_TIME_COST": "2",
            "TIPBOX_CODENAME_ARGON2_MEMORY_KIB": "1024",
            "TIPBOX_CODENAME_ARGON2_PARALLELISM": "2",
            "TIPBOX_PASSWORD_ARGON2_TIME_COST": "4",
            "TIPBOX_SESSION_IDLE_SECONDS": "60",
            "TIPBOX_SESSION_ABSOLUTE_SECONDS": "120",
            "UNRELATED": "ignored",
        }
    )
    assert settings.data_dir == tmp_path / "d"
    assert settings.database_path == tmp_path / "d" / "tipbox.db"
    assert settings.blobs_dir == tmp_path / "d" / "blobs"
    assert settings.secrets_path == tmp_path / "d" / "secrets.json"
    assert settings.keys_dir == tmp_path / "k"
    assert (settings.source_bind, settings.reviewer_bind) == ("0.0.0.0:9000", "[::1]:9001")
    assert (settings.max_upload_bytes, settings.max_files) == (1000, 3)
    assert (settings.max_message_chars, settings.min_free_bytes) == (50, 0)
    assert settings.retention_days == 30
    assert settings.dev is True
    assert settings.codename_argon2 == Argon2Params(2, 1024, 2)
    assert settings.password_argon2 == Argon2Params(4, 65536, 4)
    assert (settings.session_idle_seconds, settings.session_absolute_seconds) == (60, 120)


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.dev = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("TIPBOX_MAX_FILES", "many", "TIPBOX_MAX_FILES must be a whole number"),
        ("TIPBOX_MAX_FILES", "0", "TIPBOX_MAX_FILES must be at least 1"),
        ("TIPBOX_MAX_UPLOAD_BYTES", "-5", "at least 1"),
        ("TIPBOX_RETENTION_DAYS", "-1", "TIPBOX_RETENTION_DAYS must be at least 0"),
        ("TIPBOX_SOURCE_BIND", "localhost", "TIPBOX_SOURCE_BIND must be host:port"),
        ("TIPBOX_REVIEWER_BIND", "127.0.0.1:70000", "TIPBOX_REVIEWER_BIND"),
        ("TIPBOX_DEV", "maybe", "TIPBOX_DEV must be one of"),
        ("TIPBOX_CODENAME_ARGON2_MEMORY_KIB", "4", "TIPBOX_CODENAME_ARGON2_MEMORY_KIB"),
        ("TIPBOX_PASSWORD_ARGON2_PARALLELISM", "0", "TIPBOX_PASSWORD_ARGON2_PARALLELISM"),
        ("TIPBOX_DATA_DIR", "a\0b", "TIPBOX_DATA_DIR is not a valid path"),
        ("TIPBOX_SESSION_IDLE_SECONDS", "999999", "must not exceed"),
        ("TIPBOX_DATABASE_URL", "mysql://db/tipbox", "TIPBOX_DATABASE_URL must be a postgresql"),
        ("TIPBOX_DATABASE_URL", "/var/lib/tipbox.db", "TIPBOX_DATABASE_URL must be a postgresql"),
        ("TIPBOX_DATABASE_URL", "postgresql://tipbox:hunter2@db/tipbox", "must not hold a pass"),
        ("TIPBOX_DATABASE_URL", "postgresql://db/tipbox?password=hunter2", "must not hold a pa"),
        ("TIPBOX_DATABASE_URL", "postgresql://[::1/tipbox", "TIPBOX_DATABASE_URL is not a valid"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        load_settings({name: value})


def test_argon2_combination_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="TIPBOX_CODENAME_ARGON2"):
        load_settings(
            {"TIPBOX_CODENAME_ARGON2_PARALLELISM": "8", "TIPBOX_CODENAME_ARGON2_MEMORY_KIB": "16"}
        )


def test_config_error_is_invalid_input() -> None:
    assert issubclass(ConfigError, InvalidInput)


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIPBOX_MAX_FILES", "7")
    assert load_settings().max_files == 7


@pytest.mark.parametrize(
    "url",
    ["postgresql:///tipbox?host=/run/postgresql", "postgres://tipbox@db.internal:5432/tipbox",
     "postgresql://db/tipbox?sslmode=verify-full&passfile=/etc/tipbox/pgpass"],
)
def test_a_postgresql_url_selects_postgresql(url: str) -> None:
    assert load_settings({"TIPBOX_DATABASE_URL": f" {url} "}).database_url == url


def test_sqlite_is_the_default() -> None:
    assert load_settings({}).database_url is None
    assert load_settings({"TIPBOX_DATABASE_URL": ""}).database_url is None
