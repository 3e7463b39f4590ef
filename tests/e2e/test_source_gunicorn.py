"""The source app under a real gunicorn: interrupted uploads and concurrency."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tipbox.crypto import decrypt_detached, parse_identity
from tipbox.services.wiring import open_instance


def submission_count(served) -> int:
    uri = f"file:{served.settings.database_path}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM submissions").fetchone()[0])


def blob_files(served) -> list[Path]:
    return sorted(p for p in served.settings.blobs_dir.rglob("*") if p.is_file())


def wait_until(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_client_disconnect_mid_body_stores_nothing(served) -> None:
    browser = served.browser()
    content = os.urandom(8 * 1024 * 1024)
    body, headers = browser.multipart([("csrf_token", browser.token()), ("message", "cut")],
                                      [("half.bin", content)])
    head = (f"POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {browser.cookie}\r\n"
            f"Content-Type: {headers['Content-Type']}\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", served.server.port)) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
        # The upload is being encrypted into a temporary blob right now.
        assert wait_until(lambda: blob_files(served) != [])
    # Connection closed half-way: the draft is aborted, its temporary removed.
    assert wait_until(lambda: blob_files(served) == [])
    assert submission_count(served) == 0

    served.server.restart()
    assert blob_files(served) == []
    assert submission_count(served) == 0

    status, page = served.browser().submit("after the cut", [("ok.txt", b"fine")])
    assert status == 200
    assert "memorise your codename" in page
    assert submission_count(served) == 1


def test_twenty_concurrent_submissions_all_stored_and_decrypt(served) -> None:
    def send(number: int) -> int:
        browser = served.browser()
        content = number.to_bytes(2, "big") * 50_000
        status, _ = browser.submit(f"message {number}", [(f"file-{number}.bin", content)])
        return status

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(send, range(20)))
    assert statuses == [200] * 20
    assert submission_count(served) == 20

    instance = open_instance(served.settings)
    try:
        identities = instance.keyring.open_identities(
            parse_identity(served.init.recovery_identity))  # type: ignore[arg-type]
        by_submission: dict[int, dict[str, bytes]] = {}
        with instance.store.db.connection() as conn:
            rows = conn.execute("SELECT submission_id, kind, header, blob FROM items").fetchall()
        for row in rows:
            with instance.store.blobs.open_blob(row["blob"]) as payload:
                data = b"".join(decrypt_detached(identities, row["header"], payload))
            by_submission.setdefault(row["submission_id"], {})[row["kind"]] = data
    finally:
        instance.close()
    assert len(by_submission) == 20
    numbers = set()
    for items in by_submission.values():
        number = int(items["message"].decode().split()[1])
        numbers.add(number)
        assert items["file"] == number.to_bytes(2, "big") * 50_000
        manifest = json.loads(items["manifest"])
        assert manifest["files"][0]["name"] == f"file-{number}.bin"
    assert numbers == set(range(20))


def test_error_log_has_no_client_address(served) -> None:
    browser = served.browser()
    with socket.create_connection(("127.0.0.1", served.server.port)) as sock:
        sock.sendall(b"G\x01T / HTTP/1.1\r\n\r\n")
        sock.recv(1000)
    assert browser.request("GET", "/")[0] == 200
    served.server.stop()
    log = served.server.log.read_text()
    assert "ip=[not recorded]" in log  # the bad request line was logged...
    assert "127.0.0.1" not in log.replace(f"127.0.0.1:{served.server.port}", "")  # ...anonymously
    assert not re.search(r"\d\d:\d\d:\d\d", log)  # and without a time
    assert "GET /" not in log


def test_server_killed_mid_upload_leaves_nothing_after_restart(served) -> None:
    browser = served.browser()
    body, headers = browser.multipart([("csrf_token", browser.token()), ("message", "cut")],
                                      [("half.bin", os.urandom(4 * 1024 * 1024))])
    head = (f"POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {browser.cookie}\r\n"
            f"Content-Type: {headers['Content-Type']}\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", served.server.port)) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
        assert wait_until(lambda: blob_files(served) != [])
        process = served.server.process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)  # power cut: no cleanup runs
        process.wait()
    assert blob_files(served) != []  # the temporary is still there...
    served.server.process = None
    served.server.start()
    assert blob_files(served) == []  # ...and gone once the server is back
    assert submission_count(served) == 0
    status, _ = served.browser().submit("after the crash", [])
    assert status == 200
    assert submission_count(served) == 1
