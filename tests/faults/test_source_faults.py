"""Faults under a real gunicorn: a killed worker, a full disk, a locked or read-only database.

Each test starts from an instance holding one earlier submission and checks
the same three things: the source gets a clear answer (or a cut
connection), nothing partial is stored or left behind, and what was stored
before is intact and the next submission works.

(Killing the whole server mid-upload and restarting it is covered by
``tests/e2e``; here only the worker dies and its master carries on.)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import socket
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.faults.fault_site import EARLIER_FILE, EARLIER_MESSAGE, FaultSite
from tests.servers import FormClient, blob_files, decrypt_all, wait_until
from tipbox.store.db import BUSY_TIMEOUT_MS

MIB = 1024 * 1024
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3
NOTHING_KEPT = "Nothing you sent was kept"


def temporaries(site: FaultSite) -> list[Path]:
    return [path for path in blob_files(site.settings) if path.name.startswith(".tmp-")]


def assert_intact(site: FaultSite, submissions: int = 1) -> dict[int, dict[str, bytes]]:
    """Exactly ``submissions`` stored, each decrypting; the earlier one unchanged."""
    assert temporaries(site) == []
    assert site.submissions() == submissions
    stored = decrypt_all(site.settings, site.init.recovery_identity)
    assert len(stored) == submissions
    earlier = stored[min(stored)]
    assert earlier["message"].decode() == EARLIER_MESSAGE
    assert earlier["file:1"] == EARLIER_FILE
    return stored


def integrity(site: FaultSite) -> str:
    conn = sqlite3.connect(f"file:{site.settings.database_path}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def send_half(site: FaultSite, client: FormClient, size: int) -> tuple[socket.socket, bytes]:
    """Open a ``POST /submit`` of a ``size`` file and send half its body; the rest is returned."""
    body, headers = client.submission("cut short", [("big.bin", os.urandom(size))])
    head = (f"POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {client.cookie}\r\n"
            f"Content-Type: {headers['Content-Type']}\r\nContent-Length: {len(body)}\r\n\r\n")
    sock = socket.create_connection(("127.0.0.1", site.server.port))
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock, body[len(body) // 2:]


def worker_writing_blob(site: FaultSite) -> int:
    """The worker that has a temporary blob open (the one receiving the upload)."""
    for pid in site.server.workers():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith(str(site.settings.blobs_dir)) and "/.tmp-" in target:
                return pid
    raise AssertionError("no worker is writing a blob")


def test_worker_killed_mid_upload_master_recovers(make_source: Callable[..., FaultSite]) -> None:
    site = make_source()
    client = site.client()
    sock, _rest = send_half(site, client, 8 * MIB)
    with sock:
        assert wait_until(lambda: temporaries(site) != [])
        master, killed = site.server.workers(), worker_writing_blob(site)
        os.kill(killed, signal.SIGKILL)
        sock.settimeout(20)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(100) == b""  # the connection is cut, no response
    assert site.server.process is not None
    assert site.server.process.poll() is None  # the master lives on
    assert wait_until(lambda: killed not in site.server.workers()
                      and len(site.server.workers()) == len(master))
    # The replacement worker removed the dead one's temporary when it booted.
    assert wait_until(lambda: temporaries(site) == [])
    assert_intact(site)

    data = os.urandom(3 * MIB)
    status, page = client.submit("after the kill", [("next.bin", data)])
    assert status == 200
    assert "memorise your codename" in page
    stored = assert_intact(site, submissions=2)
    assert stored[max(stored)]["file:1"] == data


def limit_file_size(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        # Ignored SIGXFSZ: a write past the limit fails with EFBIG instead of killing.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_disk_full_mid_upload_gives_the_storage_page(
    make_source: Callable[..., FaultSite],
) -> None:
    site = make_source(limit_file_size(5 * MIB))
    client = site.client()
    blobs_before = blob_files(site.settings)

    status, page = client.submit("too big for the disk", [("big.bin", os.urandom(8 * MIB))])
    assert status == 507, page
    assert NOTHING_KEPT in page
    assert "Traceback" not in page
    assert blob_files(site.settings) == blobs_before
    assert_intact(site)

    assert client.request("GET", "/")[0] == 200
    status, _ = client.submit("small enough", [("small.bin", b"fits\n" * 1000)])
    assert status == 200
    assert_intact(site, submissions=2)
    assert integrity(site) == "ok"


def test_locked_database_gives_the_unavailable_page(
    make_source: Callable[..., FaultSite],
) -> None:
    site = make_source()
    client = site.client()
    body, headers = client.submission("while locked", [("doc.bin", os.urandom(MIB))])
    blobs_before = blob_files(site.settings)
    lock = sqlite3.connect(site.settings.database_path, isolation_level=None, timeout=0)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(client.request, "POST", "/submit", body, headers)
            # Readers are not blocked (WAL): the landing page answers meanwhile.
            assert FormClient(site.server.port).request("GET", "/")[0] == 200
            status, page = pending.result(timeout=BUSY_TIMEOUT_MS / 1000 + 30)
        waited = time.monotonic() - started
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert status == 503, page
    assert NOTHING_KEPT in page
    assert waited >= BUSY_TIMEOUT_MS / 1000 * 0.9  # it did wait for the lock first
    assert blob_files(site.settings) == blobs_before
    assert_intact(site)

    status, _ = client.submit("after the lock", [])
    assert status == 200
    assert_intact(site, submissions=2)
    assert integrity(site) == "ok"


def without_file_override() -> None:
    """Drop root's power to ignore file modes (it keeps its uid; a non-root user has none)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        # Out of the bounding set, the capability is gone once the server execs.
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def database_files(site: FaultSite) -> list[Path]:
    path = site.settings.database_path
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def test_read_only_database_gives_the_unavailable_page(
    make_source: Callable[..., FaultSite],
) -> None:
    site = make_source(without_file_override)
    client = site.client()
    site.server.stop()
    # This connection keeps the WAL files in place while everything turns read-only.
    keeper = sqlite3.connect(site.settings.database_path)
    try:
        keeper.execute("SELECT count(*) FROM sources").fetchone()
        for path in database_files(site):
            path.chmod(0o444)
        site.server.start()
    finally:
        keeper.close()
    blobs_before = blob_files(site.settings)

    status, page = client.submit("into a read-only database", [("doc.bin", os.urandom(MIB))])
    assert status == 503, page
    assert NOTHING_KEPT in page
    assert client.request("GET", "/")[0] == 200
    assert blob_files(site.settings) == blobs_before
    assert_intact(site)
    assert integrity(site) == "ok"

    site.server.stop()
    for path in database_files(site):
        if path.exists():
            path.chmod(0o600)
    site.server.start()
    status, _ = client.submit("writable again", [])
    assert status == 200
    assert_intact(site, submissions=2)
    assert integrity(site) == "ok"


@pytest.fixture(autouse=True)
def _no_stray_limits() -> None:
    """The limits above apply to the server processes only, never to this one."""
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY
