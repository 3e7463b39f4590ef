"""``python -m tipbox store migrate --to URL``: an SQLite instance moves into PostgreSQL.

A populated instance (tests/postgres/moving.py) is copied by the command in
a process of its own, then both apps run under the shipped gunicorn on the
PostgreSQL database alone (the SQLite file moved away): a reviewer reads
every message and file byte for byte through the JSON API, the source logs
in with its codename and reads its reply, and a new source gets an id past
every id SQLite ever gave out. A run killed with SIGKILL half-way goes on
where it stopped when run again, without a duplicate; every refusal is one
``error:`` line with exit status 1 and writes nothing.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from tests.e2e.test_json_api import ApiServer
from tests.postgres.moving import (
    PASSWORD,
    REPLY,
    Populated,
    assert_one_line_error,
    cli,
    objects,
    populate,
    query,
)
from tests.postgres_cluster import PostgresCluster
from tests.servers import (
    ROOT,
    AppServer,
    FormClient,
    init_with_first_admin,
    instance_env,
    process_env,
    serving,
    wait_until,
)
from tipbox.config import load_settings
from tipbox.services.accounts.totp import totp_code
from tipbox.services.ops.migrate import MIGRATION_LOCK
from tipbox.services.wiring import open_instance

BATCH = 20
FILLER = 30_000


@pytest.fixture
def populated(tmp_path: Path) -> Populated:
    return populate(tmp_path / "site")


def test_a_migrated_instance_serves_from_postgresql(
    populated: Populated, tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    url = new_database_url()
    done = cli(populated.env, "store", "migrate", "--to", url, check=True)
    for line in ("  meta: ", "  sources: 5 rows\n", "  items: ", "  desks: 2 rows\n",
                 "  source_labels: 1 row\n", "  assignments: 1 row\n",
                 "the same counts and the same rows",
                 "the export view (5 sources, ", "Every item's payload is in the blob directory"):
        assert line in done.stdout, done.stdout

    _move_away(populated.settings.database_path, tmp_path / "old")
    env = {**populated.env, "TIPBOX_DATABASE_URL": url}
    with serving("source", env, tmp_path) as source, serving("reviewer", env, tmp_path) as rev:
        api = ApiServer(load_settings(env), rev, populated.totp_secret, source_id=0)
        assert _inbox(api) == populated.files
        assert REPLY in _replies_page(source, populated.codename)
        _submit(source, "after the move")
    newest = query(url, "SELECT max(id) FROM sources")[0][0]
    assert isinstance(newest, int)
    assert newest > populated.deleted_source  # SQLite's counter moved with the rows


def test_a_killed_migration_goes_on_where_it_stopped(
    tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    env = instance_env(tmp_path / "site")
    settings = load_settings(env)
    init_with_first_admin(settings)
    total = _add_audit_rows(settings.database_path, FILLER)
    url = new_database_url()

    run = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "tipbox", "store", "migrate", "--to", url,
         "--batch-rows", str(BATCH)],
        cwd=ROOT, env=process_env(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: _rows(url, "audit_log") > 0, timeout=60)
        os.kill(run.pid, signal.SIGKILL)
    finally:
        run.wait()
    assert run.returncode == -signal.SIGKILL
    assert wait_until(lambda: not query(url, "SELECT 1 FROM pg_stat_activity WHERE datname ="
                                             " current_database() AND pid <> pg_backend_pid()"))
    copied = _rows(url, "audit_log")
    assert 0 < copied < total
    assert copied % BATCH == 0  # whole batches only

    again = cli(env, "store", "migrate", "--to", url, check=True)
    assert f"  audit_log: {total} rows ({copied} were there already)" in again.stdout
    assert "the same counts and the same rows" in again.stdout
    assert query(url, "SELECT count(*), count(DISTINCT id) FROM audit_log") == [(total, total)]
    assert "Verified" in cli(env, "store", "verify", "--to", url, check=True).stdout


def test_run_again_after_the_move_copies_nothing(
    populated: Populated, new_database_url: Callable[[], str]
) -> None:
    url = new_database_url()
    cli(populated.env, "store", "migrate", "--to", url, check=True)
    again = cli(populated.env, "store", "migrate", "--to", url, check=True)
    assert "Copied 0 rows in " in again.stdout
    assert "  items: " in again.stdout
    assert "were there already" in again.stdout


def test_a_changed_copy_fails_verification(
    populated: Populated, new_database_url: Callable[[], str]
) -> None:
    url = new_database_url()
    cli(populated.env, "store", "migrate", "--to", url, check=True)
    query(url, "UPDATE items SET header = header || '\\x00'::bytea"
               " WHERE id = (SELECT max(id) FROM items)")
    query(url, "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)")
    failed = cli(populated.env, "store", "verify", "--to", url)
    assert_one_line_error(failed, "items: rows differ", "audit_log: ", " rows in SQLite, ")


# -- refusals -----------------------------------------------------------------------------


def test_a_target_holding_another_instance_is_refused(
    populated: Populated, tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    url = new_database_url()
    init_with_first_admin(load_settings(instance_env(tmp_path / "other",
                                                     TIPBOX_DATABASE_URL=url)))
    before = query(url, "SELECT count(*) FROM sources")
    failed = cli(populated.env, "store", "migrate", "--to", url)
    assert_one_line_error(failed, "holds another tipbox instance")
    assert query(url, "SELECT count(*) FROM sources") == before


@pytest.mark.parametrize(("change", "word"), [(1, "newer"), (-1, "older")])
def test_a_target_with_another_schema_is_refused(
    populated: Populated, new_database_url: Callable[[], str], change: int, word: str
) -> None:
    url = new_database_url()
    cli(populated.env, "store", "migrate", "--to", url, check=True)
    query(url, f"UPDATE tipbox_schema SET version = version + {change}")  # noqa: S608
    failed = cli(populated.env, "store", "migrate", "--to", url)
    assert_one_line_error(failed, f") is {word} than the SQLite database's")


def test_a_target_with_other_tables_is_refused(
    populated: Populated, new_database_url: Callable[[], str]
) -> None:
    url = new_database_url()
    query(url, "CREATE TABLE notes (line text)")
    failed = cli(populated.env, "store", "migrate", "--to", url)
    assert_one_line_error(failed, "holds tables that are no tipbox instance")
    assert objects(url) == {"table:notes"}


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://localhost/tipbox", "--to must be a postgresql:// URL"),
    ("postgresql://tipbox:hunter2@localhost/tipbox", "--to must not hold a password"),
    ("postgresql:///tipbox?host=/nonexistent/socket", "cannot open the database"),
])
def test_a_bad_url_is_one_line(populated: Populated, url: str, message: str) -> None:
    failed = cli(populated.env, "store", "migrate", "--to", url)
    assert_one_line_error(failed, message)
    assert "hunter2" not in failed.stderr


def test_a_wrong_password_is_one_line(
    populated: Populated, password_url: str
) -> None:
    failed = cli(populated.env, "store", "migrate", "--to", password_url)
    assert_one_line_error(failed, "password authentication failed", "migrator")


def test_a_missing_instance_is_one_line(
    tmp_path: Path, new_database_url: Callable[[], str]
) -> None:
    env = instance_env(tmp_path / "nothing")
    failed = cli(env, "store", "migrate", "--to", new_database_url())
    assert_one_line_error(failed, "no initialised instance in", "tipbox.db not found",
                          "TIPBOX_DATA_DIR")


def test_an_instance_in_use_is_refused(
    populated: Populated, new_database_url: Callable[[], str]
) -> None:
    url = new_database_url()
    instance = open_instance(populated.settings)  # as the apps keep it open
    try:
        with instance.store.db.connection() as conn:
            conn.execute("SELECT count(*) FROM sources").fetchone()
        failed = cli(populated.env, "store", "migrate", "--to", url)
    finally:
        instance.close()
    assert_one_line_error(failed, "is in use", "stop them first")
    assert objects(url) == set()


def test_a_second_migration_into_the_same_database_is_refused(
    populated: Populated, new_database_url: Callable[[], str]
) -> None:
    url = new_database_url()
    with psycopg.connect(url, autocommit=True) as running:  # as a first migration holds it
        running.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        failed = cli(populated.env, "store", "migrate", "--to", url)
    assert_one_line_error(failed, "another migration into this PostgreSQL database is running")
    assert objects(url) == set()


def test_a_file_that_is_no_database_is_one_line(
    populated: Populated, new_database_url: Callable[[], str]
) -> None:
    populated.settings.database_path.write_bytes(b"not a database" * 100)
    failed = cli(populated.env, "store", "migrate", "--to", new_database_url())
    assert_one_line_error(failed, "file is not a database")


def test_verify_of_an_empty_database_is_refused(
    populated: Populated, new_database_url: Callable[[], str]
) -> None:
    failed = cli(populated.env, "store", "verify", "--to", new_database_url())
    assert_one_line_error(failed, "holds no copy of this instance")


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
def password_url(
    postgres_cluster: PostgresCluster, new_database_url: Callable[[], str], tmp_path: Path
) -> Iterator[str]:
    """A URL for a role that must give a password, with a password file holding a wrong one.

    The throwaway server trusts every local connection; one line ahead of
    the others in its pg_hba.conf asks this role alone for a password.
    """
    url = new_database_url()
    hba = postgres_cluster.data / "pg_hba.conf"
    original = hba.read_text()
    query(postgres_cluster.url(), "CREATE ROLE migrator LOGIN PASSWORD 'the right one'")
    hba.write_text("local all migrator scram-sha-256\n" + original)
    query(postgres_cluster.url(), "SELECT pg_reload_conf()")
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:migrator:a wrong one\n")
    passfile.chmod(0o600)
    base, _, _ = url.partition("&user=")
    try:
        yield f"{base}&user=migrator&passfile={passfile}"
    finally:
        hba.write_text(original)
        query(postgres_cluster.url(), "SELECT pg_reload_conf()")
        postgres_cluster.drop_database(url)
        query(postgres_cluster.url(), "DROP ROLE migrator")


def _add_audit_rows(database: Path, count: int) -> int:
    """``count`` more audit rows (filler that makes the copy take long); the total."""
    conn = sqlite3.connect(database)
    try:
        with conn:
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
                " INSERT INTO audit_log (hour, reviewer, action, target)"
                " SELECT 0, 'admin', 'view', 'row ' || i FROM n", (count,))
        return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
    finally:
        conn.close()


def _rows(url: str, table: str) -> int:
    try:
        return cast(int, query(url, f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608
    except psycopg.errors.UndefinedTable:
        return 0


def _move_away(database: Path, where: Path) -> None:
    """Take the SQLite file (and its WAL) out of the data directory."""
    where.mkdir()
    for path in database.parent.glob(database.name + "*"):
        path.rename(where / path.name)


def _inbox(api: ApiServer) -> dict[str, bytes]:
    """Every source's message and file bytes, as a script reads them through the JSON API."""
    answer = api.call("POST", "/api/v1/token", {
        "username": "admin", "password": PASSWORD,
        "code": totp_code(api.totp_secret, time.time())})
    assert answer.status == 200, answer.body
    token = str(answer.json()["token"])
    found: dict[str, bytes] = {}
    for source in api.call("GET", "/api/v1/sources", token=token).json()["sources"]:
        detail: dict[str, Any] = api.call(
            "GET", f"/api/v1/sources/{source['id']}", token=token).json()
        kinds = {item["kind"]: item for item in detail["items"]}
        found[kinds["message"]["text"]] = api.call(
            "GET", f"/api/v1/items/{kinds['file']['id']}/content", token=token).body
    return found


def _submit(source: AppServer, message: str) -> None:
    """A new source's submission to the default desk through the source app."""
    client = FormClient(source.port)
    body, headers = client.multipart([("csrf_token", client.token("/submit?desk=newsroom")),
                                      ("message", message)], [])
    status, page = client.request("POST", "/submit?desk=newsroom", body, headers)
    assert status == 303, page[:300]


def _replies_page(source: AppServer, codename: str) -> str:
    """The replies page after logging in with ``codename`` on the source app."""
    client = FormClient(source.port)
    body, headers = client.multipart([("csrf_token", client.token("/login")),
                                      ("codename", codename)], [])
    status, _ = client.request("POST", "/login", body, headers)
    assert status == 303
    status, page = client.request("GET", "/replies")
    assert status == 200
    return page
