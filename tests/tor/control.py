"""A small Tor control-port client (control-spec.txt): commands, replies, events.

Enough for the tests: authenticate with the cookie file, send a command and
read its reply (``250`` lines, ``250+`` data blocks), and collect the
asynchronous ``650`` events that arrive in between. Not thread-safe: one
connection per caller.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

__all__ = ["ControlError", "Controller"]


class ControlError(Exception):
    """Tor answered a command with an error status (4xx or 5xx)."""


class Controller:
    """One authenticated control connection to the tor at ``127.0.0.1:port``."""

    def __init__(self, port: int, cookie: Path, *, timeout: float = 30.0) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buffer = bytearray()
        self._taken = bytearray()
        self._timeout = timeout
        self.events: deque[str] = deque()
        self.command(f"AUTHENTICATE {cookie.read_bytes().hex()}")

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def command(self, line: str) -> list[str]:
        """Send one command; its reply lines without status codes (data blocks joined).

        Raises :class:`ControlError` on a 4xx or 5xx status.
        """
        self._socket.sendall(line.encode() + b"\r\n")
        while True:
            status, lines = self._read_reply(time.monotonic() + self._timeout)
            if status != "650":
                break
            self.events.append(lines[0])
        if not status.startswith("2"):
            raise ControlError(f"{line.split()[0]}: {status} {' / '.join(lines)}")
        return lines

    def getinfo(self, key: str) -> str:
        """The value of ``GETINFO key`` (a multi-line value keeps its newlines)."""
        first, *rest = self.command(f"GETINFO {key}")
        name, _, value = first.partition("=")
        assert name == key, first
        return value.lstrip("\n")

    def signal(self, name: str) -> None:
        self.command(f"SIGNAL {name}")

    def wait_event(self, matches: Callable[[str], bool], timeout: float) -> str | None:
        """The first queued or arriving event line that ``matches``; None after ``timeout``.

        Events that do not match are dropped.
        """
        deadline = time.monotonic() + timeout
        while True:
            while self.events:
                event = self.events.popleft()
                if matches(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                status, lines = self._read_reply(deadline)
            except TimeoutError:
                return None
            if status == "650":
                self.events.append(lines[0])

    def _read_reply(self, deadline: float) -> tuple[str, list[str]]:
        """One reply: its status and its lines (a ``+`` line's data block joined to it).

        Raises ``TimeoutError`` at ``deadline``; a partial reply is put back, unread.
        """
        self._taken = bytearray()
        try:
            return self._parse_reply(deadline)
        except TimeoutError:
            self._buffer[0:0] = self._taken
            raise

    def _parse_reply(self, deadline: float) -> tuple[str, list[str]]:
        lines: list[str] = []
        while True:
            text = self._readline(deadline)
            status, kind, rest = text[:3], text[3:4], text[4:]
            if kind == "+":
                rest += "\n" + self._read_data(deadline)
            lines.append(rest)
            if kind == " ":
                return status, lines

    def _read_data(self, deadline: float) -> str:
        """A data block, up to the line holding a single dot (dot-unstuffed)."""
        lines: list[str] = []
        while (line := self._readline(deadline)) != ".":
            lines.append(line[1:] if line.startswith("..") else line)
        return "\n".join(lines)

    def _readline(self, deadline: float) -> str:
        while (end := self._buffer.find(b"\n")) < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self._socket.settimeout(left)
            try:
                chunk = self._socket.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("the control connection closed")
            self._buffer += chunk
        line = self._buffer[: end + 1]
        del self._buffer[: end + 1]
        self._taken += line
        return line.decode("utf-8", "replace").rstrip("\r\n")
