"""Form bombs against both apps under real gunicorn (issue 11).

A 20 MB URL-encoded body of ``a=&`` used to be read whole and parsed into
millions of fields (13.6 s and +905 MiB of worker memory each). Now every
body that is not an upload is capped before it is read: the bomb gets its
413 page at once, and ten at once leave the workers' memory where it was.
The figures are printed (``pytest -s``); the status and the memory bound are
asserted, the time only generously (machines differ).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import AppServer, running
from tipbox.config import load_settings
from tipbox.web.app import form_limit

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
BOMB = b"a=&" * (20_000_000 // 3)
#: The issue's bounds: the page within 100 ms (asserted with room to spare:
#: machines differ), ten bombs at once adding less than 16 MiB to the workers.
SECONDS_ASSERTED = 1.0
RSS_BOUND = 16 * MIB


@dataclass
class Answer:
    status: int
    seconds: float  # from the end of the request headers to the status line
    page: str


def _send_quietly(sock: socket.socket, data: bytes, *, chunked: bool) -> None:
    """Send the body as fast as the server takes it; a closed connection ends it."""
    try:
        if not chunked:
            sock.sendall(data)
            return
        for at in range(0, len(data), 64 * 1024):
            piece = data[at:at + 64 * 1024]
            sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        return


def _read_response(sock: socket.socket) -> tuple[int, bytes, float]:
    """The status, the body and when the status line arrived (monotonic)."""
    received = bytearray()
    first_line_at = None
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        received += chunk
        if first_line_at is None and b"\r\n" in received:
            first_line_at = time.monotonic()
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in
               (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    assert first_line_at is not None
    return int(lines[0].split()[1]), body, first_line_at


def send_bomb(port: int, path: str, body: bytes = BOMB, *, chunked: bool = False,
              announce: int | None = None) -> Answer:
    """POST ``body`` as a form (``announce`` overrides the Content-Length sent)."""
    framing = ("Transfer-Encoding: chunked" if chunked
               else f"Content-Length: {announce if announce is not None else len(body)}")
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"{framing}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        started = time.monotonic()
        sender = threading.Thread(target=_send_quietly, args=(sock, body),
                                  kwargs={"chunked": chunked}, daemon=True)
        sender.start()
        status, page, answered = _read_response(sock)
        with contextlib.suppress(OSError):  # the server may have closed already
            sock.shutdown(socket.SHUT_RDWR)
    sender.join(timeout=30)
    return Answer(status, answered - started, page.decode("utf-8", "replace"))


def worker_rss(server: AppServer) -> int:
    """The workers' resident memory in bytes (``VmRSS`` of each worker process)."""
    total = 0
    for pid in server.workers():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


class PeakRss:
    """Samples the workers' RSS every few milliseconds while in a ``with`` block."""

    def __init__(self, server: AppServer) -> None:
        self._server = server
        self._stop = threading.Event()
        self.peak = worker_rss(server)
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, worker_rss(self._server))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, worker_rss(self._server))


ROUTES = {"source": ["/login", "/submit", "/logout", "/replies/delete"],
          "reviewer": ["/login", "/logout", "/admin/settings", "/sources/1/reply"]}


def warm_up(server: AppServer, paths: list[str]) -> None:
    """The path the bombs take, on more threads of each worker than the bombs will use.

    The bodies announced are just over the cap and never sent: what is
    measured afterwards is the bombs, not a worker's first threads and pages.
    """
    cap = form_limit(load_settings(server.env))
    with ThreadPoolExecutor(20) as pool:
        for answer in pool.map(lambda path: send_bomb(server.port, path, b"", announce=cap + 1),
                               paths * 10):
            assert answer.status == 413


@pytest.mark.parametrize("app", ["source", "reviewer"])
def test_a_20_mb_form_bomb_gets_its_413_page_at_once(tmp_path: Path, app: str) -> None:
    with running(app, tmp_path) as server:
        warm_up(server, ROUTES[app])
        for path in ROUTES[app]:
            answer = send_bomb(server.port, path)
            print(f"{app} {path}: 20 MB form bomb -> {answer.status} "
                  f"in {answer.seconds * 1000:.1f} ms")
            assert answer.status == 413
            assert "too large" in answer.page
            assert answer.seconds < SECONDS_ASSERTED


@pytest.mark.parametrize("app", ["source", "reviewer"])
def test_ten_form_bombs_at_once_cost_the_workers_almost_nothing(tmp_path: Path,
                                                                app: str) -> None:
    with running(app, tmp_path) as server:
        warm_up(server, ROUTES[app])
        before = worker_rss(server)
        paths = (ROUTES[app] * 3)[:10]
        with PeakRss(server) as rss, ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda path: send_bomb(server.port, path), paths))
        after = worker_rss(server)
        slowest = max(answer.seconds for answer in answers)
        print(f"{app}: ten 20 MB form bombs at once -> {sorted({a.status for a in answers})}, "
              f"slowest page {slowest * 1000:.1f} ms, worker RSS {before / MIB:.1f} MiB -> "
              f"peak {rss.peak / MIB:.1f} MiB (+{(rss.peak - before) / MIB:.1f}), "
              f"after {after / MIB:.1f} MiB")
        assert [answer.status for answer in answers] == [413] * 10
        assert rss.peak - before < RSS_BOUND
        assert slowest < SECONDS_ASSERTED


def test_chunked_form_bombs_are_refused_after_one_read(tmp_path: Path) -> None:
    """No Content-Length to refuse from: cut off by counting fields as they arrive."""
    with running("source", tmp_path) as server:
        warm_up(server, ROUTES["source"])
        before = worker_rss(server)
        with PeakRss(server) as rss, ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda path: send_bomb(server.port, path, chunked=True),
                                    (ROUTES["source"] * 3)[:10]))
        slowest = max(answer.seconds for answer in answers)
        print(f"source: ten chunked 20 MB form bombs at once -> "
              f"{sorted({a.status for a in answers})}, slowest page {slowest * 1000:.1f} ms, "
              f"worker RSS +{(rss.peak - before) / MIB:.1f} MiB at the peak")
        assert [answer.status for answer in answers] == [400] * 10
        assert all("could not be read" in answer.page for answer in answers)
        assert rss.peak - before < RSS_BOUND
        assert slowest < SECONDS_ASSERTED
