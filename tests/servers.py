"""tipbox's two apps under real gunicorn, on free loopback ports, with temp directories.

Shared by the end-to-end, browser and fault tests. Each :class:`AppServer` runs
``deploy/gunicorn_<app>.py`` unchanged (the bind address comes from
``TIPBOX_<APP>_BIND``) in its own process group, with an optional ``preexec``
hook (e.g. a resource limit) applied to the master and thereby to its workers.
The instance is initialised in-process through the services, the way
``python -m tipbox init`` does it, with cheap Argon2 parameters.
:class:`FormClient` speaks plain HTTP like a browser without JavaScript, and
:func:`decrypt_all` opens everything stored with the recovery identity.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import CHEAP_ARGON2
from tipbox.config import Settings, load_settings
from tipbox.crypto import decrypt_detached, parse_identity
from tipbox.services.accounts.reviewers import create_first_admin
from tipbox.services.accounts.totp import Enrolment
from tipbox.services.instance import InitResult, init_instance
from tipbox.services.wiring import ReviewerServices, open_instance

ROOT = Path(__file__).resolve().parents[1]
READY_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def instance_env(base: Path, **extra: str) -> dict[str, str]:
    """``TIPBOX_*`` values for an instance under ``base`` with fresh ports for both apps."""
    return {
        "TIPBOX_DATA_DIR": str(base / "data"),
        "TIPBOX_KEYS_DIR": str(base / "keys"),
        "TIPBOX_SOURCE_BIND": f"127.0.0.1:{free_port()}",
        "TIPBOX_REVIEWER_BIND": f"127.0.0.1:{free_port()}",
        "TIPBOX_MIN_FREE_BYTES": "0",
        "TIPBOX_DEV": "1",
        **CHEAP_ARGON2,
        **extra,
    }


@contextmanager
def running(app: str, base: Path, **extra: str) -> Iterator[AppServer]:
    """``app`` under the shipped gunicorn configuration, for an instance under ``base``.

    ``extra`` are ``TIPBOX_*`` values on top of :func:`instance_env`'s; the
    instance has its first admin; the server log is ``base/<app>.log``.
    """
    env = instance_env(base, **extra)
    init_with_first_admin(load_settings(env))
    with serving(app, env, base) as server:
        yield server


@contextmanager
def serving(app: str, env: dict[str, str], logs: Path) -> Iterator[AppServer]:
    """``app`` of the instance ``env`` (its ``TIPBOX_*`` values) under the shipped gunicorn
    configuration, stopped afterwards; the server log is ``logs/<app>.log``."""
    server = AppServer(app, process_env(env), logs / f"{app}.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def process_env(values: dict[str, str]) -> dict[str, str]:
    """This process's environment without its ``TIPBOX_*`` variables, plus ``values``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPBOX_")}
    env.update(values)
    return env


def init_with_first_admin(settings: Settings) -> tuple[InitResult, Enrolment]:
    """``init`` plus the first admin account (its one-time password and TOTP secret)."""
    result = init_instance(settings)
    instance = open_instance(settings)
    try:
        services = ReviewerServices.open(instance)
        enrolment = create_first_admin(
            services.reviewers, instance.keyring, result.recovery_identity
        )
    finally:
        instance.close()
    return result, enrolment


@dataclass
class AppServer:
    """One gunicorn master serving ``app`` ("source" or "reviewer"); restartable."""

    app: str
    env: dict[str, str]
    log: Path
    preexec: Callable[[], None] | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        return int(self.env[f"TIPBOX_{self.app.upper()}_BIND"].rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> None:
        """Start the master; with ``wait``, return once a worker answers."""
        config = ROOT / "deploy" / f"gunicorn_{self.app}.py"
        command = [sys.executable, "-m", "gunicorn", "--config", str(config)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=self.preexec,
            )
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Return once a worker answers; fail with the server log otherwise."""
        path = "/" if self.app == "source" else "/login"
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            assert self.process.poll() is None, self.log.read_text()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"gunicorn ({self.app}) did not start:\n{self.log.read_text()}")

    def restart(self) -> None:
        self.stop()
        self.start()

    def workers(self) -> list[int]:
        """The pids of the master's live worker processes."""
        assert self.process is not None
        master = self.process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def reply_to_newest_source(settings: Settings, text: str) -> None:
    """A reply to the newest source, as a reviewer would send it."""
    instance = open_instance(settings)
    try:
        with instance.store.db.connection() as conn:
            source_id = conn.execute("SELECT max(id) FROM sources").fetchone()[0]
        instance.sources.add_reply(int(source_id), text, author="reviewer")
    finally:
        instance.close()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def count_rows(settings: Settings, table: str) -> int:
    """Rows in ``table``, read through a separate read-only connection."""
    assert table.isidentifier()
    uri = f"file:{settings.database_path}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
    finally:
        conn.close()


def blob_files(settings: Settings) -> list[Path]:
    """Every file in the blob directory, committed blobs and temporaries alike."""
    return sorted(path for path in settings.blobs_dir.rglob("*") if path.is_file())


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class FormClient:
    """Plain HTTP the way a browser without JavaScript posts forms: one cookie, multipart."""

    port: int
    cookie: str | None = None
    boundary: str = field(default_factory=lambda: "----formboundary" + secrets.token_hex(16))

    def connection(self) -> http.client.HTTPConnection:
        """A new connection to the app (a subclass may route it elsewhere, e.g. Tor)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        connection = self.connection()
        try:
            all_headers = dict(headers or {})
            if self.cookie:
                all_headers["Cookie"] = self.cookie
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            set_cookie = response.getheader("Set-Cookie")
            if set_cookie:
                self.cookie = set_cookie.split(";", 1)[0]
            return response.status, response.read().decode("utf-8")
        finally:
            connection.close()

    def token(self, path: str = "/submit") -> str:
        status, page = self.request("GET", path)
        assert status == 200, status
        match = _CSRF.search(page)
        assert match is not None
        return match.group(1)

    def multipart(self, fields: list[tuple[str, str]],
                  files: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
        parts = [f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"'
                 f"\r\n\r\n{value}\r\n".encode() for name, value in fields]
        for filename, content in files:
            parts.append(f'--{self.boundary}\r\nContent-Disposition: form-data; name="files"; '
                         f'filename="{filename}"\r\nContent-Type: application/octet-stream'
                         "\r\n\r\n".encode() + content + b"\r\n")
        body = b"".join(parts) + f"--{self.boundary}--\r\n".encode()
        return body, {"Content-Type": f"multipart/form-data; boundary={self.boundary}"}

    def submission(self, message: str, files: list[tuple[str, bytes]]
                   ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a complete ``POST /submit`` (fetches a fresh token)."""
        return self.multipart([("csrf_token", self.token()), ("message", message)], files)

    def submit(self, message: str, files: list[tuple[str, bytes]]) -> tuple[int, str]:
        """Send the form; a 303 (post/redirect/get) is followed to the receipt page."""
        body, headers = self.submission(message, files)
        status, page = self.request("POST", "/submit", body, headers)
        if status != 303:
            return status, page
        return self.request("GET", "/submit/receipt")


def decrypt_all(settings: Settings, recovery_identity: str) -> dict[int, dict[str, bytes]]:
    """Every stored item, decrypted with the recovery identity: ``{submission: {kind: data}}``.

    The n-th file of a submission is keyed ``file:<n>`` (from 1); raises if any
    item fails to decrypt.
    """
    instance = open_instance(settings)
    try:
        identities = instance.keyring.open_identities(parse_identity(recovery_identity))
        with instance.store.db.connection() as conn:
            rows = conn.execute("SELECT submission_id, kind, header, blob FROM items"
                                " WHERE submission_id IS NOT NULL ORDER BY id").fetchall()
        found: dict[int, dict[str, bytes]] = {}
        for row in rows:
            with instance.store.blobs.open_blob(row["blob"]) as payload:
                data = b"".join(decrypt_detached(identities, row["header"], payload))
            items = found.setdefault(int(row["submission_id"]), {})
            kind = row["kind"]
            if kind == "file":
                kind = f"file:{1 + sum(name.startswith('file:') for name in items)}"
            items[kind] = data
        return found
    finally:
        instance.close()
