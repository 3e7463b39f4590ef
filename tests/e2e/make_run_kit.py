"""Helpers for ``test_make_run.py``: the ``make run`` process, an HTTP client, log scanning.

:class:`MakeRun` starts the real Makefile target in its own process group
with stdout and stderr in one file (the log); :meth:`MakeRun.interrupt` is
Ctrl-C on a terminal (SIGINT to the whole foreground group). The gunicorn
masters that ``tipbox run`` starts live in sessions of their own, so they
are found, for the leftover check and for cleanup after a failure, by the
``TIPBOX_DATA_DIR`` in their environment.

:class:`Client` speaks HTTP like a browser without JavaScript: cookies
kept, forms posted urlencoded (or multipart when they carry files), one
fixed ``User-Agent``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 90.0
STOP_SECONDS = 60.0
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Variables of an enclosing ``make`` (``make pytest``): the inner make starts fresh.
_MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


# --- the make run process -------------------------------------------------------------


def make_env(base: dict[str, str], **values: str) -> dict[str, str]:
    """``base`` without an enclosing make's variables, plus ``values``."""
    env = {key: value for key, value in base.items() if key not in _MAKE_VARIABLES}
    env.update(values)
    return env


@dataclass
class MakeRun:
    """``make -C ROOT run`` in the background, its output in ``log``."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["make", "-C", str(ROOT), "run"], cwd=ROOT, env=self.env, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_bytes().decode("utf-8", errors="replace")

    def tail(self, lines: int = 25) -> str:
        """The end of the output, for failure messages (the QR code left out)."""
        kept = [line for line in self.output().splitlines() if "\u2588" not in line]
        return "\n".join(kept[-lines:])

    def wait_for_output(self, pattern: str, timeout: float = READY_SECONDS) -> re.Match[str]:
        """The first match of ``pattern`` in the log; fails if make exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output(), re.MULTILINE)
            if match is not None:
                return match
            self._assert_running()
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the output of make run:\n{self.tail()}")

    def wait_ready(self, port: int, path: str, timeout: float = READY_SECONDS) -> None:
        """Return once ``GET path`` on ``port`` answers 200 (make still running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._assert_running()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", path)
                if connection.getresponse().status == 200:
                    connection.close()
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"nothing answered on port {port}:\n{self.tail()}")

    def _assert_running(self) -> None:
        assert self.process is not None
        assert self.process.poll() is None, f"make run exited early:\n{self.tail()}"

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT to make's process group; return make's exit status."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=STOP_SECONDS)

    def server_pids(self) -> list[int]:
        """Every live process whose environment names this instance's data directory."""
        marker = f"TIPBOX_DATA_DIR={self.env['TIPBOX_DATA_DIR']}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found

    def kill_everything(self) -> None:
        """After a failure: kill make's group and every server process it left."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for pid in self.server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def send_raw(port: int, data: bytes) -> bytes:
    """Send ``data`` as is and return what comes back (a malformed request's error)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.connect()
        assert connection.sock is not None
        connection.sock.sendall(data)
        chunks = []
        while chunk := connection.sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        connection.close()


# --- first-start output ---------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class FirstAdmin:
    """The credentials ``tipbox run`` prints on first start."""

    username: str
    password: str
    totp_secret: bytes
    secret_text: str


def parse_first_admin(output: str) -> FirstAdmin:
    def field_(label: str) -> str:
        match = re.search(rf"^\s+{label}:\s+(.+?)\s*$", output, re.MULTILINE)
        assert match is not None, f"no {label!r} in the first-start output"
        return match.group(1)

    secret_text = field_("TOTP secret")
    compact = secret_text.replace(" ", "")
    return FirstAdmin(field_("Username"), field_("One-time password"),
                      base64.b32decode(compact + "=" * (-len(compact) % 8)), secret_text)


# --- HTTP -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def location(self) -> str:
        """The path a redirect points to."""
        return urllib.parse.urlsplit(self.headers.get("location", "")).path


@dataclass
class Client:
    """One browser profile on one port: cookies kept, a fixed ``User-Agent``."""

    port: int
    user_agent: str
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        all_headers = {"User-Agent": self.user_agent, "Accept-Language": "en", **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            for set_cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = set_cookie.partition("=")
                value = rest.split(";", 1)[0]
                if value and "max-age=0" not in set_cookie.lower():
                    self.cookies[name.strip()] = value
                else:
                    self.cookies.pop(name.strip(), None)
            headers_ = {key.lower(): value for key, value in response.getheaders()}
            return Reply(response.status, headers_, response.read())
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def csrf(self, path: str) -> str:
        """The CSRF token of the form on ``path`` (fetched now)."""
        reply = self.get(path)
        assert reply.status == 200, (path, reply.status)
        match = _CSRF.search(reply.text)
        assert match is not None, f"no form on {path}"
        return match.group(1)

    def post(self, path: str, fields: dict[str, str], *, token_from: str) -> Reply:
        """Post ``fields`` urlencoded, with a CSRF token from the page ``token_from``."""
        data = {"csrf_token": self.csrf(token_from), **fields}
        return self.request("POST", path, urllib.parse.urlencode(data).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def post_multipart(self, path: str, fields: dict[str, str],
                       files: list[tuple[str, bytes]], *, token_from: str) -> Reply:
        boundary = "----geckoformboundary" + secrets.token_hex(16)
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
            for name, value in {"csrf_token": self.csrf(token_from), **fields}.items()
        ]
        for filename, content in files:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                         f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'.encode()
                         + content + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", path, body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})


# --- scanning -------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?![0-9A-Za-z:])")
_LOG_NAME = re.compile(r"log|journal|\.out$|\.err$", re.IGNORECASE)


def addresses_in(text: str) -> list[str]:
    """Every IPv4 or IPv6 address in ``text`` (bracketed, mapped and zoned forms too)."""
    found = [m for m in _IPV4.findall(text) if _is_address(m)]
    for candidate in _IPV6.findall(text):
        candidate = candidate.rstrip(".")
        if any(c in "0123456789abcdefABCDEF" for c in candidate) and _is_address(candidate):
            found.append(candidate)
    return found


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def encoded_forms(secret: str) -> list[bytes]:
    """``secret`` as a file could hold it: UTF-8 or UTF-16, each plain, hex or base64."""
    forms = []
    for raw in (secret.encode(), secret.encode("utf-16-le"), secret.encode("utf-16-be")):
        forms += [raw, raw.hex().encode(), raw.hex().upper().encode()]
        for shift in range(3):  # base64 at each alignment, the unstable edges cut off
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encode(b"\0" * shift + raw)
                forms.append(encoded[4:-4] if shift else encoded[:-4])
    return [form for form in forms if len(form) >= 12]


def files_under(root: Path) -> Iterator[Path]:
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                yield path


def is_log_like(path: Path) -> bool:
    return bool(_LOG_NAME.search(path.name))


def leaks_in(path: Path, secrets_: dict[str, str]) -> list[str]:
    """The labels of ``secrets_`` found, in any :func:`encoded_forms`, in the file."""
    data = path.read_bytes()
    return [label for label, secret in secrets_.items()
            if any(form in data for form in encoded_forms(secret))]
