"""Schema 9 (desks) on a copy of an instance made by schema 8: it becomes one desk, nothing lost.

``fixtures/instance-v8.tar.gz`` was made by the previous version
(``fixtures/make_previous_instance.py``): an admin, a source with a message,
a file and a reply, all under the one newsroom key.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest

from tests.conftest import CHEAP_ARGON2
from tipbox.config import Settings, load_settings
from tipbox.services.accounts.totp import totp_code
from tipbox.services.desks.desks import DEFAULT_DESK
from tipbox.services.wiring import Instance, ReviewerServices, open_instance
from tipbox.store.db import MIGRATIONS

#: Earlier releases made SQLite instances only: their upgrades are SQLite's.
pytestmark = pytest.mark.sqlite_only

FIXTURE = Path(__file__).parent / "fixtures" / "instance-v8.tar.gz"


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Settings, dict[str, object]]:
    """A fresh copy of the schema 8 instance, and what the fixture says it holds."""
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    facts = json.loads((tmp_path / "fixture.json").read_text())
    settings = load_settings({
        "TIPBOX_DATA_DIR": str(tmp_path / "data"), "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
        "TIPBOX_MIN_FREE_BYTES": "0", **CHEAP_ARGON2})
    return settings, facts


def schema_of(settings: Settings) -> int:
    with sqlite3.connect(settings.database_path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_the_fixture_is_schema_8(previous: tuple[Settings, dict[str, object]]) -> None:
    settings, facts = previous
    assert facts["schema"] == 8 == schema_of(settings)
    assert len(MIGRATIONS) >= 9


def test_the_previous_instance_becomes_one_desk(
    previous: tuple[Settings, dict[str, object]]
) -> None:
    settings, _ = previous
    instance = open_instance(settings)
    try:
        assert schema_of(settings) == len(MIGRATIONS)
        [desk] = instance.desks.all()
        assert (desk.id, desk.slug, desk.is_open) == (DEFAULT_DESK, "newsroom", True)
        [key] = instance.keyring.keys()
        assert (key.desk_id, key.state) == (DEFAULT_DESK, "active")
        assert [name for _, name, _ in instance.desks.members(DEFAULT_DESK)] == ["admin"]
        with instance.store.db.reading() as conn:
            desks_of_sources = {row[0] for row in conn.execute("SELECT desk_id FROM sources")}
        assert desks_of_sources == {DEFAULT_DESK}
    finally:
        instance.close()


def test_the_admin_logs_in_and_reads_everything_as_before(
    previous: tuple[Settings, dict[str, object]]
) -> None:
    settings, facts = previous
    instance = open_instance(settings)
    try:
        reader = _log_in(instance, facts["admin"])  # type: ignore[arg-type]
        services, session = reader
        [summary] = services.inbox.sources().sources
        conversation = services.inbox.conversation(summary.id, session.identities(),
                                                   reviewer="admin")
        texts = [entry.text for entry in conversation.entries]
        assert facts["message"] in texts
        assert facts["reply"] in texts
        [file_entry] = [e for e in conversation.entries if e.kind == "file"]
        assert file_entry.name == facts["file_name"]
        download = services.inbox.open_file(summary.id, file_entry.id, session.identities(),
                                            reviewer="admin")
        assert b"".join(download.chunks) == base64.b64decode(str(facts["file_bytes"]))
        login = instance.sources.login(str(facts["source"]["codename"]))  # type: ignore[index]
        assert [reply.text for reply in instance.sources.replies(login)] == [facts["reply"]]
        draft = instance.submissions.start(login)
        draft.add_message("after the upgrade")
        draft.commit()
        assert services.inbox.source(summary.id).items == 3
    finally:
        instance.close()


def _log_in(instance: Instance, admin: dict[str, str]) -> tuple[ReviewerServices, object]:
    now = 1_900_000_000.0
    services = ReviewerServices.open(instance, clock=lambda: now)
    secret = base64.b32decode(admin["totp_secret"])
    result = services.logins.login(admin["username"], admin["password"],
                                   totp_code(secret, now), now=now)
    assert result.kind == "full"
    return services, services.sessions.load(result.token, now=now)
