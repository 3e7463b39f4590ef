"""Two source hosts and two reviewer hosts of one instance: what one host knows, every host knows.

A real deployment of :mod:`tests.hosts.deployment` (four gunicorn masters, one
PostgreSQL database, one shared blob and keys directory): a source sends on
one host and logs in on the other; a reviewer's session, the login throttle,
the TOTP replay guard, the codename-login cap, the settings, the logo and
the key-maintenance lock each hold across hosts; two hosts rotating a key
at once rotate it once.
"""

from __future__ import annotations

import http.client
import io
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from PIL import Image

from tests.hosts.deployment import Deployment, deployed
from tests.postgres_cluster import PostgresCluster
from tests.servers import AppServer, FormClient, free_port, wait_until
from tipbox.config import load_settings
from tipbox.services.accounts.throttle import MAX_FAILURES
from tipbox.services.accounts.totp import totp_code
from tipbox.services.sources.returning import LOGIN_SLOTS
from tipbox.services.wiring import ReviewerServices, open_instance
from tipbox.store.db import Database
from tipbox.store.shared_slots import DatabaseSlots

PASSWORD = "correct horse battery staple"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_CODENAME = re.compile(r'<p class="codename" lang="en"><strong>([a-z\- ]+)</strong></p>')
_DOWNLOAD = re.compile(r'href="(/sources/\d+/items/\d+/download)"')


@pytest.fixture(scope="module")
def hosts(
    tmp_path_factory: pytest.TempPathFactory, postgres_cluster: PostgresCluster
) -> Iterator[Deployment]:
    url = postgres_cluster.create_database()
    try:
        with deployed(tmp_path_factory.mktemp("hosts"), url) as deployment:
            _enrol_admin(deployment)
            yield deployment
    finally:
        postgres_cluster.drop_database(url)


def _enrol_admin(deployment: Deployment) -> None:
    """The first admin has set a password and TOTP (a minute ago, so the codes of now are
    still unused)."""
    instance = open_instance(load_settings(deployment.reviewers[0].env))
    try:
        services = ReviewerServices.open(instance)
        then = time.time() - 60
        pending = services.logins.login("admin", deployment.admin.password, "", now=then)
        services.logins.complete_enrolment(
            pending.token, PASSWORD, totp_code(deployment.admin.totp_secret, then), now=then)
    finally:
        instance.close()


def _log_in(
    server: AppServer, username: str, password: str, code: str
) -> tuple[int, FormClient]:
    client = FormClient(server.port)
    form = {"csrf_token": client.token("/login"), "username": username,
            "password": password, "code": code}
    return client.request("POST", "/login", urlencode(form).encode(), FORM)[0], client


@dataclass
class AdminSession:
    """The session the admin opened on the first reviewer host, for use on any host."""

    cookie: str | None

    def on(self, server: AppServer) -> FormClient:
        return FormClient(server.port, cookie=self.cookie)


@pytest.fixture(scope="module")
def admin(hosts: Deployment) -> AdminSession:
    code = totp_code(hosts.admin.totp_secret, time.time())
    status, first = _log_in(hosts.reviewers[0], "admin", PASSWORD, code)
    assert status == 303
    return AdminSession(first.cookie)


def _post(client: FormClient, page: str, path: str, fields: dict[str, str]) -> tuple[int, str]:
    """Post ``fields`` to ``path`` with the CSRF token of the form on ``page``."""
    form = {"csrf_token": client.token(page), **fields}
    return client.request("POST", path, urlencode(form).encode(), FORM)


def _get_bytes(server: AppServer, path: str, cookie: str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_source_sends_on_one_host_and_comes_back_on_the_other(
    hosts: Deployment, admin: AdminSession
) -> None:
    document = b"%PDF-1.7 shared across hosts\n" * 1000
    status, receipt = FormClient(hosts.sources[0].port).submit(
        "sent to host one", [("evidence.pdf", document)])
    assert status == 200, receipt[:300]
    match = _CODENAME.search(receipt)
    assert match is not None
    source = FormClient(hosts.sources[1].port)
    form = urlencode({"csrf_token": source.token("/login"), "codename": match.group(1)})
    assert source.request("POST", "/login", form.encode(), FORM)[0] == 303
    back_on_first = FormClient(hosts.sources[0].port, cookie=source.cookie)
    status, page = back_on_first.request("GET", "/replies")
    assert status == 200  # the session is known there too
    assert 'name="codename"' not in page

    client = admin.on(hosts.reviewers[1])  # logged in on the first reviewer host
    status, inbox = client.request("GET", "/")
    assert status == 200  # the inbox shows no plaintext
    assert "sent to host one" not in inbox
    source_id = max(int(found) for found in re.findall(r'href="/sources/(\d+)"', inbox))
    status, conversation = client.request("GET", f"/sources/{source_id}")
    assert status == 200
    assert "sent to host one" in conversation
    download = _DOWNLOAD.search(conversation)
    assert download is not None
    assert _get_bytes(hosts.reviewers[1], download.group(1), client.cookie) == (200, document)


def test_the_login_throttle_and_the_totp_replay_guard_hold_across_hosts(
    hosts: Deployment,
) -> None:
    first, second = hosts.reviewers
    for attempt in range(MAX_FAILURES):
        host = (first, second)[attempt % 2]
        assert _log_in(host, "mallory", f"guess {attempt}", "123456")[0] == 403
    for host in (first, second):
        assert _log_in(host, "mallory", "guess again", "123456")[0] == 429  # locked

    code = totp_code(hosts.admin.totp_secret, time.time() + 30)  # a step nobody has used
    while totp_code(hosts.admin.totp_secret, time.time()) != code:
        time.sleep(0.5)
    assert _log_in(first, "admin", PASSWORD, code)[0] == 303
    assert _log_in(second, "admin", PASSWORD, code)[0] == 403  # the same code, replayed


def test_a_codename_login_waits_for_a_login_running_on_another_host(
    hosts: Deployment,
) -> None:
    """While another host holds every codename-login slot of the instance, logins get 503."""
    settings = hosts.settings
    database = Database(settings.database_path, url=settings.database_url)
    other_host = DatabaseSlots(database, "codename_login", LOGIN_SLOTS)
    source = FormClient(hosts.sources[1].port)
    form = urlencode({"csrf_token": source.token("/login"),
                      "codename": "one two three four five six seven"}).encode()
    try:
        with other_host.slot(wait_seconds=0):
            assert other_host.held() == LOGIN_SLOTS
            assert source.request("POST", "/login", form, FORM)[0] == 503
        assert other_host.held() == 0
        assert source.request("POST", "/login", form, FORM)[0] == 403  # derived, unknown
    finally:
        database.close()


def test_settings_and_the_logo_changed_on_one_host_show_on_every_host(
    hosts: Deployment, admin: AdminSession,
) -> None:
    client = admin.on(hosts.reviewers[1])
    status, _ = _post(client, "/admin/settings", "/admin/settings",
                      {"organisation": "The Shared Gazette"})
    assert status == 200
    assert all(
        wait_until(lambda s=server: "The Shared Gazette" in FormClient(s.port).request(
            "GET", "/")[1], timeout=10)
        for server in hosts.sources
    )
    picture = io.BytesIO()
    Image.new("RGB", (40, 20), (10, 120, 200)).save(picture, format="PNG")
    logo_form, logo_headers = _logo_form(client, picture.getvalue())
    status, _ = client.request("POST", "/admin/settings/logo", logo_form, logo_headers)
    assert status == 200
    def served() -> set[tuple[int, bytes]]:  # every worker's caches last 2 s at most
        return {_get_bytes(server, "/logo.png") for server in hosts.sources for _ in range(4)}

    seen: list[set[tuple[int, bytes]]] = []

    def one_logo_everywhere() -> bool:
        seen.append(served())
        return {status for status, _ in seen[-1]} == {200} and len(seen[-1]) == 1

    assert wait_until(one_logo_everywhere, timeout=10), seen[-1]
    [(_, png)] = seen[-1]  # one logo, the same through every worker of every host
    assert png.startswith(b"\x89PNG")
    for host in (*hosts.sources, *hosts.reviewers):  # no host keeps it as a file of its own
        assert not (load_settings(host.env).data_dir / "logo.png").exists()


def _logo_form(client: FormClient, png: bytes) -> tuple[bytes, dict[str, str]]:
    token = client.token("/admin/settings")
    boundary = client.boundary
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="logo"; filename="logo.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + png + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_two_hosts_rotating_at_once_rotate_once(hosts: Deployment, admin: AdminSession) -> None:
    clients = [admin.on(server) for server in hosts.reviewers]
    status, page = clients[0].request("GET", "/admin/keys")
    assert status == 200
    settings = hosts.settings
    before = _keys(settings.database_url)
    active = [key_id for key_id, state in before if state == "active"]
    forms = [
        {"csrf_token": client.token("/admin/keys"), "confirm": "yes", "desk": "1",
         "replacing": str(active[0])}
        for client in clients
    ]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(
            lambda pair: pair[0].request(
                "POST", "/admin/keys/rotate", urlencode(pair[1]).encode(), FORM)[0],
            zip(clients, forms, strict=True)))
    assert sorted(answers) in ([200, 409], [200, 503]), answers
    # The session took the new key on the host that rotated: the browser keeps that cookie.
    admin.cookie = clients[answers.index(200)].cookie
    after = _keys(settings.database_url)
    assert len(after) == len(before) + 1
    assert [state for _, state in after].count("active") == 1


def test_a_rewrap_refuses_to_start_while_another_host_holds_the_key_lock(
    hosts: Deployment, admin: AdminSession,
) -> None:
    settings = hosts.settings
    database = Database(settings.database_path, url=settings.database_url)
    other_host = DatabaseSlots(database, "key_maintenance", 1)
    client = admin.on(hosts.reviewers[0])
    try:
        with other_host.slot(wait_seconds=0):
            status, page = _post(client, "/admin/keys", "/admin/keys/rewrap", {})
            assert status == 503
            assert "perhaps on another host" in page
        status, page = _post(client, "/admin/keys", "/admin/keys/rewrap", {})
        assert status == 200
    finally:
        database.close()


def test_a_host_with_another_instances_secrets_refuses_to_start(
    hosts: Deployment, tmp_path: Path
) -> None:
    stranger = dict(hosts.sources[0].env)
    stranger["TIPBOX_DATA_DIR"] = str(tmp_path / "stranger")
    stranger["TIPBOX_SOURCE_BIND"] = f"127.0.0.1:{free_port()}"
    (tmp_path / "stranger").mkdir(mode=0o700)
    (tmp_path / "stranger" / "secrets.json").write_text(
        '{"version": 1, "flask_secret_key": "' + "ab" * 32
        + '", "instance_salt": "' + "cd" * 16 + '"}\n')
    server = AppServer("source", stranger, tmp_path / "stranger.log")
    server.start(wait=False)
    assert server.process is not None
    try:
        server.process.wait(timeout=60)
    finally:
        server.stop()
    log = server.log.read_text()
    assert "tipbox: this host's secrets.json belongs to another instance" in log
    assert "Traceback" not in log


def _keys(url: str | None) -> list[tuple[int, str]]:
    database = Database(Path("unused.db"), url=url)
    try:
        with database.reading() as conn:
            rows = conn.execute("SELECT id, state FROM newsroom_keys ORDER BY id").fetchall()
        return [(int(row[0]), str(row[1])) for row in rows]
    finally:
        database.close()


def test_every_host_answers_503_while_the_database_is_down_and_recovers(
    hosts: Deployment, admin: AdminSession, postgres_cluster: PostgresCluster
) -> None:
    url = hosts.settings.database_url
    assert url is not None
    client = admin.on(hosts.reviewers[0])
    postgres_cluster.cut_off(url)
    try:
        time.sleep(2.5)  # past every process's 2-second caches
        for server in hosts.sources:
            status, page = FormClient(server.port).request("GET", "/")
            assert status == 503
            assert "briefly unavailable" in page
        assert client.request("GET", "/")[0] == 503
    finally:
        postgres_cluster.cut_off(url, cut=False)
    for server in hosts.sources:
        assert wait_until(lambda s=server: FormClient(s.port).request("GET", "/")[0] == 200)
    assert wait_until(lambda: client.request("GET", "/")[0] == 200)
