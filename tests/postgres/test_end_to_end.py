"""The real flows on PostgreSQL: both apps under the shipped gunicorn, the command line in
processes of its own, one throwaway PostgreSQL server (``TIPBOX_DATABASE_URL``).

Uploads race through the source app's two worker processes; a script reads the
inbox through the reviewer app's JSON API (messages and files, byte for byte);
``keys rotate`` and ``keys rewrap`` run while the apps serve; ``backup`` writes
an encrypted archive that ``restore`` turns into an SQLite instance holding the
same plaintext; ``purge`` crypto-shreds what the retention period let expire.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.e2e.test_json_api import ApiServer
from tests.servers import (
    ROOT,
    AppServer,
    FormClient,
    decrypt_all,
    init_with_first_admin,
    instance_env,
    process_env,
    serving,
)
from tipbox.config import Settings, load_settings
from tipbox.services.accounts.totp import totp_code
from tipbox.services.wiring import ReviewerServices, open_instance
from tipbox.store.db import open_database

PASSWORD = "correct horse battery staple"
UPLOADS = 12


def test_upload_inbox_rotation_backup_and_retention_on_postgresql(
    tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    env = instance_env(tmp_path / "site", TIPBOX_DATABASE_URL=new_database_url(),
                       TIPBOX_RETENTION_DAYS="30")
    settings = load_settings(env)
    recovery, totp_secret = _enrolled(settings, tmp_path / "recovery.key")
    assert not settings.database_path.exists()  # the database is PostgreSQL's
    files = {number: os.urandom(40_000 + number) for number in range(UPLOADS + 1)}
    with serving("source", env, tmp_path) as source, serving("reviewer", env, tmp_path) as rev:
        api = ApiServer(settings, rev, totp_secret, source_id=0)
        token = _token(api)
        with ThreadPoolExecutor(6) as pool:
            pages = list(pool.map(lambda n: _upload(source, n, files[n]), range(UPLOADS)))
        assert all("memorise your codename" in page for page in pages)
        assert _distinct_activity(settings) == UPLOADS  # the writers took turns
        assert _inbox(api, token) == {f"tip {n}": files[n] for n in range(UPLOADS)}

        _cli(env, "keys", "rotate")
        _upload(source, UPLOADS, files[UPLOADS])  # under the new key
        assert "Re-wrapped" in _cli(env, "keys", "rewrap", "--recovery-identity", recovery)
        assert _keys_in_use(settings) == 1  # every item under the active key now
        stored = decrypt_all(settings, recovery.read_text().strip())
        assert len(stored) == UPLOADS + 1
        assert _inbox(api, token) == {f"tip {n}": files[n] for n in range(UPLOADS + 1)}

        backup = tmp_path / "tipbox.backup.age"
        _cli(env, "backup", str(backup))
        elsewhere = instance_env(tmp_path / "restored")
        assert "Restored 39 items" in _cli(
            elsewhere, "restore", str(backup), "--recovery-identity", recovery)
        assert not (tmp_path / "restored" / "data" / "tipbox.db-wal").exists()
        restored = load_settings(elsewhere)
        assert restored.database_url is None
        assert sorted(decrypt_all(restored, recovery.read_text().strip()).values(),
                      key=repr) == sorted(stored.values(), key=repr)

        source_id, expired = _age_the_first_source(settings, days=40)
        assert "Removed 3 items (0 replies) in 1 submissions" in _cli(env, "purge")
        assert len(_inbox(api, token)) == UPLOADS
        assert api.call("GET", f"/api/v1/sources/{source_id}", token=token).status == 404
        assert not [name for name in expired if (settings.blobs_dir / name).exists()]


def _enrolled(settings: Settings, identity_file: Path) -> tuple[Path, bytes]:
    """``init``, the first admin enrolled a minute ago; the recovery identity's file."""
    init, enrolment = init_with_first_admin(settings)
    identity_file.write_text(init.recovery_identity + "\n")
    identity_file.chmod(0o600)
    instance = open_instance(settings)
    try:
        services = ReviewerServices.open(instance)
        then = time.time() - 60
        pending = services.logins.login("admin", enrolment.password, "", now=then)
        services.logins.complete_enrolment(
            pending.token, PASSWORD, totp_code(enrolment.totp_secret, then), now=then)
    finally:
        instance.close()
    return identity_file, enrolment.totp_secret


def _upload(server: AppServer, number: int, content: bytes) -> str:
    status, page = FormClient(server.port).submit(f"tip {number}", [(f"f{number}.bin", content)])
    assert status == 200, page[:300]
    return page


def _inbox(api: ApiServer, token: str) -> dict[str, bytes]:
    """Every source's message and file, as a script reads them through the JSON API."""
    found: dict[str, bytes] = {}
    path: str | None = "/api/v1/sources"
    while path is not None:
        listed = api.call("GET", path, token=token).json()
        for source in listed["sources"]:
            detail: dict[str, Any] = api.call(
                "GET", f"/api/v1/sources/{source['id']}", token=token).json()
            message, document = detail["items"]
            found[message["text"]] = api.call(
                "GET", f"/api/v1/items/{document['id']}/content", token=token).body
        cursor = listed["next_cursor"]
        path = None if cursor is None else f"/api/v1/sources?cursor={cursor}"
    return found


def _token(api: ApiServer) -> str:
    """A bearer token for the admin (password and the current TOTP code)."""
    answer = api.call("POST", "/api/v1/token", {
        "username": "admin", "password": PASSWORD,
        "code": totp_code(api.totp_secret, time.time())})
    assert answer.status == 200, answer.body
    return str(answer.json()["token"])


def _cli(env: dict[str, str], *args: str | Path) -> str:
    """``python -m tipbox ARGS`` in a process of its own; its output."""
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "tipbox", *map(str, args)], cwd=ROOT, env=process_env(env),
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _distinct_activity(settings: Settings) -> int:
    """How many different activity sequence numbers the sources have (each writer takes
    max + 1 under the writers' lock: two at once would take the same)."""
    database = open_database(settings)
    try:
        with database.reading() as conn:
            return int(conn.execute(
                "SELECT count(DISTINCT activity_seq) FROM sources").fetchone()[0])
    finally:
        database.close()


def _keys_in_use(settings: Settings) -> int:
    database = open_database(settings)
    try:
        with database.reading() as conn:
            return int(conn.execute("SELECT count(DISTINCT key_id) FROM items").fetchone()[0])
    finally:
        database.close()


def _age_the_first_source(settings: Settings, *, days: int) -> tuple[int, list[str]]:
    """Move the first source and its items ``days`` back in time; its id, their blobs."""
    database = open_database(settings)
    try:
        with database.transaction() as conn:
            first = conn.execute("SELECT min(id) FROM sources").fetchone()[0]
            conn.execute("UPDATE sources SET last_activity_hour = last_activity_hour - ?"
                         " WHERE id = ?", (days * 86400, first))
            conn.execute("UPDATE submissions SET created_hour = created_hour - ?"
                         " WHERE source_id = ?", (days * 86400, first))
            return int(first), [str(row[0]) for row in conn.execute(
                "UPDATE items SET created_hour = created_hour - ? WHERE source_id = ?"
                " RETURNING blob", (days * 86400, first))]
    finally:
        database.close()

