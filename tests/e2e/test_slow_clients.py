"""Both apps under real gunicorn against hostile clients (tipbox.web.worker).

Slow headers cost no thread, stalled bodies free theirs, refusals reach the
client as their page (never a reset), responses name no software, and a
master restarted while its old workers drain binds again at once.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers import (
    AppServer,
    FormClient,
    count_rows,
    init_with_first_admin,
    instance_env,
    process_env,
    running,
    wait_until,
)
from tipbox.config import load_settings
from tipbox.web.worker import MAX_HEAD_BYTES, SMALL_BODY_BYTES, bytes_wanted

pytestmark = pytest.mark.slow

MIB = 1024 * 1024


def get(port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def trickling_sockets(port: int, count: int, stack: ExitStack) -> list[socket.socket]:
    """``count`` connections that sent part of a request line and then went quiet."""
    sockets = []
    for _ in range(count):
        sock = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        sockets.append(sock)
    return sockets


@pytest.mark.parametrize(("app", "path"), [("source", "/"), ("reviewer", "/login")])
def test_slow_headers_take_no_thread(tmp_path: Path, app: str, path: str) -> None:
    """More trickling sockets than the app has threads: pages still answer at once."""
    with running(app, tmp_path) as server, ExitStack() as stack:
        threads = 1024 if app == "source" else 16
        sockets = trickling_sockets(server.port, threads * 2 + 40, stack)
        for round_ in range(3):
            for sock in sockets:
                sock.sendall(b"x")
            started = time.monotonic()
            assert get(server.port, path)[0] == 200, round_
            assert time.monotonic() - started < 2.0


def test_late_headers_are_shed(tmp_path: Path) -> None:
    with running("source", tmp_path, TIPBOX_CLIENT_HEADER_SECONDS="2") as server, \
            ExitStack() as stack:
        (sock,) = trickling_sockets(server.port, 1, stack)
        sock.settimeout(10)
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server, no response
        assert 1.0 < time.monotonic() - started < 6.0


def test_oversized_headers_get_431(tmp_path: Path) -> None:
    with running("source", tmp_path) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Long: " + b"a" * (MAX_HEAD_BYTES + 10))
        assert recv_all(sock).startswith(b"HTTP/1.1 431 ")


def test_stalled_upload_ends_and_stores_nothing(tmp_path: Path) -> None:
    with running("source", tmp_path, TIPBOX_CLIENT_IDLE_SECONDS="2") as server:
        first = upload_request(server.port, 4 * MIB)
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(first[: len(first) // 2])
            sock.settimeout(8)
            answer = recv_all(sock)  # quiet past the idle limit: the server ends it
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:100]
        assert upload_status(server.port, b"done") == 303  # to the receipt
        assert count_rows(load_settings(server.env), "submissions") == 1  # the second only
        assert "Traceback" not in server.log.read_text()


def admitted_upload(port: int, request: bytes, stack: ExitStack) -> bool:
    """Start an upload and leave it half sent; whether the app admitted it (no answer yet)."""
    sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
    sock.sendall(request[: len(request) // 2])
    sock.settimeout(1.0)
    try:
        return sock.recv(64) == b""  # closed without an answer would be a bug, caught below
    except TimeoutError:
        return True


def test_uploads_past_the_cap_get_the_busy_page(tmp_path: Path) -> None:
    """One upload at a time per worker: with both workers busy, the next ones hear 503."""
    with running("source", tmp_path, TIPBOX_MAX_CONCURRENT_UPLOADS="1") as server, \
            ExitStack() as stack:
        request = upload_request(server.port, 2 * MIB)
        admitted = 0
        for _ in range(30):
            admitted += admitted_upload(server.port, request, stack)
            if admitted == 2:
                break
        assert admitted == 2
        statuses = [send_whole(server.port, MIB) for _ in range(4)]
        assert [code for code, _ in statuses] == [503] * 4
        assert all(b"try again" in page.lower() or b"send again" in page.lower()
                   for _, page in statuses)


@pytest.mark.parametrize(("extra", "status"), [
    ({"TIPBOX_MAX_UPLOAD_BYTES": str(MIB)}, 413),
    ({"TIPBOX_MIN_FREE_BYTES": str(2**62)}, 507),
])
def test_refusals_reach_the_client_as_pages(tmp_path: Path, extra: dict[str, str],
                                            status: int) -> None:
    """A client still sending its body reads the refusal page: never a reset."""
    with running("source", tmp_path, **extra) as server:
        sizes = [32 * MIB, 4 * MIB] * 10
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda size: send_whole(server.port, size), sizes))
        assert [code for code, _ in answers] == [status] * len(sizes)
        assert all(b"<html" in page.lower() for _, page in answers)


def test_too_many_files_reaches_the_client_as_its_page(tmp_path: Path) -> None:
    """Refused at the second file part, with 30 MiB still to come: the page arrives."""
    with running("source", tmp_path, TIPBOX_MAX_FILES="1") as server:
        client = FormClient(server.port)
        files = [(f"f{n}.bin", b"\0" * (10 * MIB)) for n in range(3)]
        body, headers = client.multipart(
            [("csrf_token", client.token("/login")), ("message", "many"), ("no_codename", "1")],
            files)
        head = (f"POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {client.cookie}\r\n"
                f"Content-Type: {headers['Content-Type']}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            sock.sendall(head + body)
            answer = recv_all(sock)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
        assert b"<html" in answer.lower()
        assert count_rows(load_settings(server.env), "submissions") == 0


@pytest.mark.parametrize("app", ["source", "reviewer"])
def test_no_server_header(tmp_path: Path, app: str) -> None:
    with running(app, tmp_path) as server:
        for path in ("/", "/login", "/no-such-page"):
            assert "server" not in get(server.port, path)[1]


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_master_restarts_while_old_workers_drain(tmp_path: Path, stop: int) -> None:
    """The master stops (or crashes) while a worker finishes an upload: a new one serves."""
    env = instance_env(tmp_path)
    init_with_first_admin(load_settings(env))
    old = AppServer("source", process_env(env), tmp_path / "old.log")
    new = AppServer("source", process_env(env), tmp_path / "new.log")
    old.start()
    workers = old.workers()
    try:
        request = upload_request(old.port, 4 * MIB)
        with socket.create_connection(("127.0.0.1", old.port), timeout=30) as draining:
            draining.sendall(request[: len(request) // 2])  # keeps an old worker busy
            assert old.process is not None
            os.kill(old.process.pid, stop)
            new.start()
            assert wait_until(lambda: len(new.workers()) == 2)
            assert any(Path(f"/proc/{pid}").exists() for pid in workers)  # still draining
            assert all(get(new.port)[0] == 200 for _ in range(20))
            assert "Retrying" not in new.log.read_text()
    finally:
        new.stop()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        old.stop()


# -- properties of the gathering rule ------------------------------------------------------

_HEAD = st.binary(max_size=300).filter(lambda b: b"\r\n\r\n" not in b)


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(head=_HEAD, length=st.one_of(st.none(), st.integers(0, 10 * SMALL_BODY_BYTES)),
       rest=st.binary(max_size=64))
def test_bytes_wanted_is_total_and_bounded(head: bytes, length: int | None,
                                           rest: bytes) -> None:
    """Never raises; None until the headers end; never more than headers + a small body."""
    assert bytes_wanted(head) is None
    declared = b"" if length is None else b"\r\nContent-Length: %d" % length
    complete = head + declared + b"\r\n\r\n"
    wanted = bytes_wanted(complete + rest)
    assert wanted is not None
    assert len(complete) <= wanted <= len(complete) + SMALL_BODY_BYTES
    if length is not None and length <= SMALL_BODY_BYTES and b"\r\n" not in head[-1:]:
        assert wanted in (len(complete), len(complete) + length)


@settings(max_examples=15, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(1, 400), min_size=1, max_size=6, unique=True))
def test_any_split_of_a_form_post_is_served(served_source: AppServer, cuts: list[int]) -> None:
    """A login form sent in arbitrary pieces is answered like one sent whole."""
    client = FormClient(served_source.port)
    token = client.token("/login")
    body = f"csrf_token={token}&codename=not+a+real+codename".encode()
    request = (f"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {client.cookie}\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", served_source.port), timeout=30) as sock:
        start = 0
        for cut in sorted(c for c in cuts if c < len(request)) + [len(request)]:
            sock.sendall(request[start:cut])
            start = cut
            time.sleep(0.01)
        answer = recv_all(sock)
    assert answer.startswith(b"HTTP/1.1 403 "), answer[:200]


@pytest.fixture(scope="module")
def served_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with running("source", tmp_path_factory.mktemp("split")) as server:
        yield server


# -- helpers -----------------------------------------------------------------------------


def recv_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def upload_request(port: int, size: int, content: bytes | None = None) -> bytes:
    """A complete ``POST /submit`` carrying one file of ``size`` bytes (fresh token)."""
    client = FormClient(port)
    body, headers = client.multipart(
        [("csrf_token", client.token("/login")), ("message", "slow"), ("no_codename", "1")],
        [("f.bin", content if content is not None else os.urandom(size))])
    head = (f"POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {client.cookie}\r\n"
            f"Content-Type: {headers['Content-Type']}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


def upload_status(port: int, content: bytes) -> int:
    request = upload_request(port, len(content), content)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        return int(recv_all(sock).split(b" ", 2)[1])


def send_whole(port: int, size: int) -> tuple[int, bytes]:
    """Send a whole upload of ``size`` bytes, then read the answer; (status, page)."""
    request = upload_request(port, size, b"\0" * size)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request)
        answer = recv_all(sock)
    head, _, page = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), page
