"""A real gunicorn serving the source app, on a free loopback port, with temp dirs.

The server uses ``deploy/gunicorn_source.py`` unchanged except for the bind
address (from ``TIPBOX_SOURCE_BIND``). :class:`Browser` speaks plain HTTP
the way a browser without JavaScript does: one session cookie, forms posted
as ``multipart/form-data``.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tipbox.config import Settings, load_settings
from tipbox.services.instance import InitResult, init_instance

ROOT = Path(__file__).resolve().parents[2]
CHEAP_ARGON2 = {
    f"TIPBOX_{which}_ARGON2_{name}": value
    for which in ("CODENAME", "PASSWORD")
    for name, value in (("TIME_COST", "1"), ("MEMORY_KIB", "8"), ("PARALLELISM", "1"))
}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gunicorn:
    """One gunicorn master for the source app; restartable."""

    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, extra_args: tuple[str, ...] = ()) -> None:
        command = [sys.executable, "-m", "gunicorn", "--config",
                   str(ROOT / "deploy" / "gunicorn_source.py"), *extra_args]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process is not None
            assert self.process.poll() is None, self.log.read_text()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("gunicorn did not start:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class Browser:
    """A cookie-keeping HTTP client that posts forms like a browser without JavaScript."""

    port: int
    cookie: str | None = None
    boundary: str = field(default_factory=lambda: "----geckoformboundary" + secrets.token_hex(16))

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        all_headers = dict(headers or {})
        if self.cookie:
            all_headers["Cookie"] = self.cookie
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        set_cookie = response.getheader("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";", 1)[0]
        text = response.read().decode("utf-8")
        connection.close()
        return response.status, text

    def token(self, path: str = "/submit") -> str:
        status, page = self.request("GET", path)
        assert status == 200
        match = _CSRF.search(page)
        assert match is not None
        return match.group(1)

    def multipart(self, fields: list[tuple[str, str]],
                  files: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
        parts = []
        for name, value in fields:
            parts.append(f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"'
                         f"\r\n\r\n{value}\r\n".encode())
        for filename, content in files:
            parts.append(f'--{self.boundary}\r\nContent-Disposition: form-data; name="files"; '
                         f'filename="{filename}"\r\nContent-Type: application/octet-stream'
                         "\r\n\r\n".encode() + content + b"\r\n")
        body = b"".join(parts) + f"--{self.boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={self.boundary}"}
        return body, headers

    def submit(self, message: str, files: list[tuple[str, bytes]]) -> tuple[int, str]:
        body, headers = self.multipart([("csrf_token", self.token()), ("message", message)], files)
        return self.request("POST", "/submit", body, headers)


@dataclass
class Served:
    settings: Settings
    init: InitResult
    server: Gunicorn

    def browser(self) -> Browser:
        return Browser(self.server.port)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env_values = {
        "TIPBOX_DATA_DIR": str(tmp_path / "data"),
        "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
        "TIPBOX_SOURCE_BIND": f"127.0.0.1:{port}",
        "TIPBOX_MIN_FREE_BYTES": "0",
        "TIPBOX_MAX_UPLOAD_BYTES": str(64 * 1024 * 1024),
        "TIPBOX_DEV": "1",
        **CHEAP_ARGON2,
    }
    settings = load_settings(env_values)
    result = init_instance(settings)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPBOX_")}
    env.update(env_values)
    server = Gunicorn(env=env, port=port, log=tmp_path / "gunicorn.log")
    server.start()
    try:
        yield Served(settings=settings, init=result, server=server)
    finally:
        server.stop()


@pytest.fixture
def isolated_env(tmp_path: Path) -> tuple[dict[str, str], int]:
    """The process environment for a tipbox under ``tmp_path`` and a free port."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPBOX_")}
    env.update(CHEAP_ARGON2, TIPBOX_DATA_DIR=str(tmp_path / "data"),
               TIPBOX_KEYS_DIR=str(tmp_path / "keys"), TIPBOX_SOURCE_BIND=f"127.0.0.1:{port}",
               TIPBOX_MIN_FREE_BYTES="0")
    return env, port
