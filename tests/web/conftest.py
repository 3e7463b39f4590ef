"""Fixtures for the web tests: a fresh, initialised instance and source app per test.

Argon2 is made cheap, limits small (so that "too large" is cheap to reach)
and the data, keys and temp directories live under pytest's ``tmp_path``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tipbox.config import Settings, load_settings
from tipbox.crypto import decrypt_detached, parse_identity
from tipbox.services.instance import InitResult, init_instance
from tipbox.services.wiring import Instance
from tipbox.source import create_source_app
from tipbox.web import instance as app_instance

CHEAP_ARGON2 = {
    "TIPBOX_CODENAME_ARGON2_TIME_COST": "1",
    "TIPBOX_CODENAME_ARGON2_MEMORY_KIB": "8",
    "TIPBOX_CODENAME_ARGON2_PARALLELISM": "1",
    "TIPBOX_PASSWORD_ARGON2_TIME_COST": "1",
    "TIPBOX_PASSWORD_ARGON2_MEMORY_KIB": "8",
    "TIPBOX_PASSWORD_ARGON2_PARALLELISM": "1",
}

MAX_UPLOAD = 8 * 1024 * 1024
MAX_FILES = 3
MAX_MESSAGE = 2000

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_settings(tmp_path: Path, **extra: str) -> Settings:
    env = {
        "TIPBOX_DATA_DIR": str(tmp_path / "data"),
        "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
        "TIPBOX_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "TIPBOX_MAX_FILES": str(MAX_FILES),
        "TIPBOX_MAX_MESSAGE_CHARS": str(MAX_MESSAGE),
        "TIPBOX_MIN_FREE_BYTES": "0",
        **CHEAP_ARGON2,
        **extra,
    }
    return load_settings(env)


@dataclass
class SourceSite:
    """A source app under test plus what the tests inspect."""

    app: Flask
    settings: Settings
    init: InitResult

    @property
    def instance(self) -> Instance:
        with self.app.app_context():
            return app_instance()

    def submission_count(self) -> int:
        with self.instance.store.db.connection() as conn:
            return int(conn.execute("SELECT count(*) FROM submissions").fetchone()[0])

    def blob_files(self) -> list[Path]:
        """Every file under the blob directory, temporaries included."""
        return sorted(p for p in self.settings.blobs_dir.rglob("*") if p.is_file())

    def decrypt_items(self) -> list[tuple[int, str, bytes]]:
        """Every stored item as ``(submission_id, kind, plaintext)``, via the recovery key."""
        recovery = parse_identity(self.init.recovery_identity)
        identities = self.instance.keyring.open_identities(recovery)  # type: ignore[arg-type]
        with self.instance.store.db.connection() as conn:
            rows = conn.execute(
                "SELECT submission_id, kind, header, blob FROM items"
                " WHERE kind != 'reply' ORDER BY id"
            ).fetchall()
        items = []
        for row in rows:
            with self.instance.store.blobs.open_blob(row["blob"]) as payload:
                data = b"".join(decrypt_detached(identities, row["header"], payload))
            items.append((int(row["submission_id"]), str(row["kind"]), data))
        return items

    def assert_nothing_stored(self) -> None:
        assert self.submission_count() == 0
        assert self.blob_files() == []


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator[Callable[..., SourceSite]]:
    """``make_site(**env)``: a new instance + source app with extra ``TIPBOX_*`` values."""
    sites: list[SourceSite] = []

    def make(**env: str) -> SourceSite:
        settings = make_settings(tmp_path / f"site{len(sites)}", **env)
        result = init_instance(settings)
        app = create_source_app(settings)
        app.config["TESTING"] = True
        sites.append(SourceSite(app=app, settings=settings, init=result))
        return sites[-1]

    yield make
    for made in sites:
        made.instance.close()


@pytest.fixture
def site(make_site: Callable[..., SourceSite]) -> SourceSite:
    return make_site()


@pytest.fixture
def client(site: SourceSite) -> FlaskClient:
    return site.app.test_client()


@pytest.fixture
def token(client: FlaskClient) -> Callable[..., str]:
    """``token(path="/submit")``: load a form page and return its CSRF token."""

    def load(path: str = "/submit") -> str:
        match = _CSRF.search(client.get(path).get_data(as_text=True))
        assert match is not None
        return match.group(1)

    return load
