"""Reviewer inbox: list cost vs number of sources, and a large download through gunicorn.

    .venv/bin/python bench/inbox.py                 # 100 vs 10,000 sources, 1 GiB file
    .venv/bin/python bench/inbox.py --size 256M --sources 100,10000

What is measured:

- **Sources list.** ``GET /`` of the reviewer app (Flask test client, logged
  in, template rendered) over an instance with N sources of 3 items each,
  first page and a page from the middle (keyset cursor). Median of
  ``--repeats`` runs after a warm-up. The ratio between the largest and the
  smallest N is what issue 4 targets (< 1.5x).
- **Download.** A file of ``--size`` bytes submitted through the submissions
  service (encrypted to the newsroom key), then fetched over HTTP from a real
  gunicorn (``deploy/gunicorn_reviewer.py``, one worker): once decrypted
  (``/download``), once as the stored ciphertext (``/export``, header +
  payload, no decryption) through the same stack. Throughput of each, their
  ratio (target >= 0.7x), the SHA-256 of the decrypted bytes checked against
  the input, and the worker's resident memory: before, and peak while
  downloading (sampled ``VmRSS``; target growth < 64 MiB).

Prints figures; never asserts (DESIGN 2).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tipbox.config import Settings, load_settings  # noqa: E402
from tipbox.reviewer import create_reviewer_app  # noqa: E402
from tipbox.services.accounts.reviewers import create_first_admin  # noqa: E402
from tipbox.services.accounts.totp import totp_code  # noqa: E402
from tipbox.services.instance import init_instance  # noqa: E402
from tipbox.services.wiring import ReviewerServices, open_instance  # noqa: E402
from tipbox.web import instance as app_instance  # noqa: E402

MIB = 1024 * 1024
PASSWORD = "benchmark password of some length"  # noqa: S105 - a throwaway instance
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHEAP = {
    "TIPBOX_PASSWORD_ARGON2_TIME_COST": "1",
    "TIPBOX_PASSWORD_ARGON2_MEMORY_KIB": "8",
    "TIPBOX_PASSWORD_ARGON2_PARALLELISM": "1",
    "TIPBOX_CODENAME_ARGON2_TIME_COST": "1",
    "TIPBOX_CODENAME_ARGON2_MEMORY_KIB": "8",
    "TIPBOX_CODENAME_ARGON2_PARALLELISM": "1",
}


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text}")
    return int(match.group(1)) * {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[
        match.group(2).upper()]


def environment(base: Path, **extra: str) -> dict[str, str]:
    return {
        "TIPBOX_DATA_DIR": str(base / "data"),
        "TIPBOX_KEYS_DIR": str(base / "keys"),
        "TIPBOX_MIN_FREE_BYTES": "0",
        "TIPBOX_DEV": "1",
        **CHEAP,
        **extra,
    }


def enrolled_admin(settings: Settings) -> tuple[str, bytes]:
    """Init, create and enrol the first admin; return (password, TOTP secret)."""
    result = init_instance(settings)
    instance = open_instance(settings)
    try:
        services = ReviewerServices.open(instance)
        enrolment = create_first_admin(services.reviewers, instance.keyring,
                                       result.recovery_identity)
        now = time.time()
        login = services.logins.login("admin", enrolment.password, "", now=now)
        services.logins.complete_enrolment(
            login.token, PASSWORD, totp_code(enrolment.totp_secret, now), now=now)
    finally:
        instance.close()
    return PASSWORD, enrolment.totp_secret


# --- sources list --------------------------------------------------------------------


def fill_sources(settings: Settings, count: int) -> None:
    """``count`` sources with a message, a file and a manifest each (rows only)."""
    conn = sqlite3.connect(settings.database_path)
    with conn:
        hour = int(time.time()) // 3600 * 3600
        for n in range(count):
            source_id = conn.execute(
                "INSERT INTO sources (designation, created_hour, last_activity_hour)"
                " VALUES (?, ?, ?)", (f"bench source {n}", hour, hour - 3600 * (n % 500)),
            ).lastrowid
            submission = conn.execute(
                "INSERT INTO submissions (source_id, created_hour) VALUES (?, ?)",
                (source_id, hour)).lastrowid
            conn.executemany(
                "INSERT INTO items (source_id, submission_id, kind, position, key_id, header,"
                " blob, created_hour, seen) VALUES (?, ?, ?, ?, 1, x'00', ?, ?, ?)",
                [(source_id, submission, kind, pos, secrets.token_hex(16), hour, n % 2)
                 for pos, kind in enumerate(("message", "file", "manifest"))],
            )
        conn.execute("UPDATE sources SET starred = 1 WHERE id % 97 = 0")
    conn.close()


def time_list(base: Path, count: int, repeats: int) -> tuple[float, float]:
    """Median seconds of the first and a middle page of ``GET /`` with ``count`` sources."""
    settings = load_settings(environment(base))
    enrolled_admin(settings)
    fill_sources(settings, count)
    app = create_reviewer_app(settings)
    try:
        with app.app_context():
            services = ReviewerServices.open(app_instance())
        token = services.sessions.open(1, kind="full", secrets_={"newsroom": ""})
        client = app.test_client()
        with client.session_transaction() as session:
            session["token"] = token
        cursor = None
        for _ in range(count // 2 // 50):
            cursor = services.inbox.sources(cursor=cursor).next_cursor
        first = median_get(client, "/", repeats)
        middle = median_get(client, f"/?after={cursor}" if cursor else "/", repeats)
    finally:
        with app.app_context():
            app_instance().close()
    return first, middle


def median_get(client: object, path: str, repeats: int) -> float:
    times = []
    for _ in range(repeats + 3):
        start = time.perf_counter()
        response = client.get(path)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    return statistics.median(times[3:])


# --- download through gunicorn --------------------------------------------------------------


def submit_file(settings: Settings, size: int) -> tuple[int, int, str]:
    """Submit ``size`` random-ish bytes; return (source id, item id, sha256)."""
    instance = open_instance(settings)
    digest = hashlib.sha256()
    block = os.urandom(MIB)
    try:
        draft = instance.submissions.start(None)
        upload = draft.open_file("big.bin", "application/octet-stream")
        remaining = size
        while remaining:
            chunk = block[: min(MIB, remaining)]
            upload.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
        upload.close()
        draft.commit(want_codename=False)
        with instance.store.db.connection() as conn:
            row = conn.execute("SELECT source_id, id FROM items WHERE kind = 'file'").fetchone()
    finally:
        instance.close()
    return int(row[0]), int(row[1]), digest.hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Browser:
    """A tiny cookie-keeping HTTP client for one host."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, body: str | None = None
                ) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response

    def log_in(self, password: str, secret: bytes) -> None:
        page = self.request("GET", "/login").read().decode()
        token = _CSRF.search(page).group(1)  # type: ignore[union-attr]
        form = urllib.parse.urlencode({
            "csrf_token": token, "username": "admin", "password": password,
            "code": totp_code(secret, time.time() + 30)})
        response = self.request("POST", "/login", form)
        response.read()
        if response.status != 303:
            raise SystemExit(f"login failed: {response.status}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise SystemExit("no gunicorn worker")


def fetch(browser: Browser, path: str, pid: int) -> tuple[float, int, str, int]:
    """(seconds, bytes, sha256, peak worker RSS KiB) of one download."""
    peak = [rss_kib(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    digest, total = hashlib.sha256(), 0
    start = time.perf_counter()
    response = browser.request("GET", path)
    while chunk := response.read(MIB):
        digest.update(chunk)
        total += len(chunk)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    return elapsed, total, digest.hexdigest(), peak[0]


def bench_download(base: Path, size: int) -> None:
    port = free_port()
    env = environment(base, TIPBOX_REVIEWER_BIND=f"127.0.0.1:{port}",
                      TIPBOX_MAX_UPLOAD_BYTES=str(size + MIB))
    settings = load_settings(env)
    password, secret = enrolled_admin(settings)
    print(f"submitting {size / MIB:.0f} MiB ...", flush=True)
    source_id, item_id, expected = submit_file(settings, size)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn_reviewer.py",
         "--workers", "1"], cwd=ROOT, env={**os.environ, **env})
    try:
        pid = worker_pid(server.pid)
        time.sleep(1.5)
        browser = Browser(port)
        browser.log_in(password, secret)
        base_path = f"/sources/{source_id}/items/{item_id}"
        fetch(browser, base_path + "/export", pid)  # warm the page cache and the worker
        idle = rss_kib(pid)
        raw = fetch(browser, base_path + "/export", pid)
        plain = fetch(browser, base_path + "/download", pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    report_download(size, raw, plain, idle, expected)


def report_download(size: int, raw: tuple[float, int, str, int],
                    plain: tuple[float, int, str, int], idle: int, expected: str) -> None:
    raw_rate = raw[1] / MIB / raw[0]
    plain_rate = plain[1] / MIB / plain[0]
    print(f"\nDownload of a {size / MIB:.0f} MiB file through gunicorn (1 worker):")
    print(f"  ciphertext as stored (/export):  {raw_rate:8.1f} MiB/s  ({raw[0]:.2f} s)")
    print(f"  decrypted stream (/download):    {plain_rate:8.1f} MiB/s  ({plain[0]:.2f} s)")
    print(f"  ratio decrypted / ciphertext:    {plain_rate / raw_rate:8.2f}x  (target >= 0.7x)")
    print(f"  decrypted bytes identical:       {plain[2] == expected and plain[1] == size}")
    print(f"  worker RSS idle:                 {idle / 1024:8.1f} MiB")
    print(f"  worker RSS peak, /export:        {raw[3] / 1024:8.1f} MiB")
    print(f"  worker RSS peak, /download:      {plain[3] / 1024:8.1f} MiB"
          f"  (growth {(plain[3] - idle) / 1024:.1f} MiB, target < 64 MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=1024 * MIB)
    parser.add_argument("--sources", default="100,10000")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--skip-download", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.sources.split(",")]
    with tempfile.TemporaryDirectory(prefix="tipbox-bench-") as tmp:
        results = {n: time_list(Path(tmp) / f"list{n}", n, args.repeats) for n in counts}
        print("Sources list, GET / (median, template included):")
        for n, (first, middle) in results.items():
            print(f"  {n:>7,} sources: first page {first * 1000:7.2f} ms,"
                  f" middle page {middle * 1000:7.2f} ms")
        small, large = results[min(counts)], results[max(counts)]
        print(f"  ratio {max(counts):,} / {min(counts):,}: first page {large[0] / small[0]:.2f}x,"
              f" middle page {large[1] / small[1]:.2f}x  (target < 1.5x)")
        if not args.skip_download:
            bench_download(Path(tmp) / "download", args.size)


if __name__ == "__main__":
    main()
