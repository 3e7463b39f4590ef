"""Reviewer inbox: list cost vs number of sources (unfiltered and filtered), full-text
search over encrypted messages, and a large download through gunicorn.

    .venv/bin/python bench/inbox.py                 # 100 vs 10,000 sources, 1 GiB file
    .venv/bin/python bench/inbox.py --size 256M --sources 100,10000 --messages 10000

What is measured:

- **Sources list.** ``GET /`` of the reviewer app (Flask test client, logged
  in, template rendered) over an instance with N sources of 3 items each,
  first page and a page from the middle (keyset cursor). Median of
  ``--repeats`` runs after a warm-up. The ratio between the largest and the
  smallest N is what issue 4 targets (< 1.5x).
- **Filtered list.** The same, with the filters of :data:`FILTERS` (status;
  label; ``assignee=me``; status + label + unread) over instances triaged in
  the same proportions at every N (:func:`fill_sources`). Issue 13 targets a
  ratio <= 1.5x between the largest and the smallest N. Over 100 sources a
  filtered list is a single, shorter page (it says how many rows), so the
  ratio to the full unfiltered page over 100 is printed as well.
- **Full-text search.** ``--messages`` sources of one ``--message-size``
  message each, really encrypted to the newsroom key (sealed directly, not
  through Argon2 submissions), then ``GET /?q=word`` in one logged-in
  session for a word in 1% of the messages: the first query (it decrypts
  every message into the session's in-memory index), the median of
  ``--searches`` later ones (other words, same share), and this process's
  peak RSS growth during the first. Issue 13 targets <= 3 s and <= 0.3 s
  on 2 cores.
- **Download.** A file of ``--size`` bytes submitted through the submissions
  service (encrypted to the newsroom key), then fetched over HTTP from a real
  gunicorn (``deploy/gunicorn_reviewer.py``, one worker): decrypted
  (``/download``) and as the stored ciphertext (``/export``, header +
  payload, no decryption) through the same stack, best of ``--fetches``
  each. Throughput of each, their ratio (target >= 0.7x), the SHA-256 of the
  decrypted bytes checked against the input, and the worker's resident
  memory: before, and peak while downloading (sampled ``VmRSS``; target
  growth < 64 MiB). One server for each ``--crypto-threads`` count
  (``TIPBOX_CRYPTO_THREADS``: the threads that open a download; default
  ``1,2``, before and after issue 19's parallel STREAM), fetches interleaved.

Last run (2 cores, defaults): unfiltered list 1.17x / 1.10x; filtered lists
1.74x-2.63x against the same filter over 100 (1.17x-1.57x against the full
page over 100); search first query 2.2 s (2.2-2.9 s over runs), later 0.045 s,
RSS +57 MiB; download 0.83x-1.24x, RSS +0.4 MiB.

Prints figures; never asserts (DESIGN 2).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import re
import secrets
import socket
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tipbox.config import Settings, load_settings  # noqa: E402
from tipbox.reviewer import create_reviewer_app  # noqa: E402
from tipbox.services.accounts.reviewers import create_first_admin  # noqa: E402
from tipbox.services.accounts.totp import totp_code  # noqa: E402
from tipbox.services.inbox.triage import Filters  # noqa: E402
from tipbox.services.instance import init_instance  # noqa: E402
from tipbox.services.sealing import seal_bytes  # noqa: E402
from tipbox.services.wiring import ReviewerServices, open_instance  # noqa: E402
from tipbox.store.items import (  # noqa: E402
    ItemKind,
    NewItem,
    insert_item,
    insert_source,
    insert_submission,
)
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

#: The list pages timed: a name, the query string of ``GET /`` and the same
#: filters as the services take them (to walk the pages to the middle one).
FILTERS = {
    "unfiltered": ("", Filters()),
    "status": ("status=in_progress", Filters(status="in_progress")),
    "label": ("label=urgent", Filters(label="urgent")),
    "assignee=me": ("assignee=me", Filters(assignee="admin")),
    "status+label+unread": ("status=in_progress&label=urgent&unread=1",
                            Filters(status="in_progress", label="urgent", unread=True)),
}
#: A quarter in progress, and some waiting or closed (one status per source, in turn).
STATUS_CYCLE = ("new", "in_progress", "new", "waiting", "new", "in_progress", "closed", "new")


def fill_sources(settings: Settings, count: int) -> None:
    """``count`` sources with a message, a file and a manifest each (rows only), and
    triage in the same proportions at every size: statuses in :data:`STATUS_CYCLE`, a
    third unread, "urgent" on a fifth, "legal" on a ninth, a quarter assigned to the
    admin, activity sequence numbers increasing as the app gives them."""
    conn = sqlite3.connect(settings.database_path)
    with conn:
        hour = int(time.time()) // 3600 * 3600
        labels = {name: int(conn.execute("INSERT INTO labels (name) VALUES (?) RETURNING id",
                                         (name,)).fetchone()[0])
                  for name in ("urgent", "legal")}
        for n in range(count):
            source_id = int(conn.execute(
                "INSERT INTO sources (designation, created_hour, last_activity_hour, status,"
                " activity_seq, desk_id) VALUES (?, ?, ?, ?, ?, 1) RETURNING id",
                (f"bench source {n}", hour, hour - 3600 * (n % 500),
                 STATUS_CYCLE[n % len(STATUS_CYCLE)], n + 1),
            ).fetchone()[0])
            submission = conn.execute(
                "INSERT INTO submissions (source_id, created_hour) VALUES (?, ?)",
                (source_id, hour)).lastrowid
            conn.executemany(
                "INSERT INTO items (source_id, submission_id, kind, position, key_id, header,"
                " blob, created_hour, seen) VALUES (?, ?, ?, ?, 1, x'00', ?, ?, ?)",
                [(source_id, submission, kind, pos, secrets.token_hex(16), hour,
                  int(n % 3 != 0)) for pos, kind in enumerate(("message", "file", "manifest"))],
            )
            triage_rows(conn, source_id, n, labels)
        conn.execute("UPDATE sources SET starred = 1 WHERE id % 97 = 0")
    conn.close()


def triage_rows(conn: sqlite3.Connection, source_id: int, n: int, labels: dict[str, int]
                ) -> None:
    """The labels and the assignment of the ``n``-th bench source (the admin is id 1)."""
    for name, every in (("urgent", 5), ("legal", 9)):
        if n % every == 0:
            conn.execute("INSERT INTO source_labels (source_id, label_id) VALUES (?, ?)",
                         (source_id, labels[name]))
    if n % 4 == 2:
        conn.execute("INSERT INTO assignments (source_id, reviewer_id) VALUES (?, 1)",
                     (source_id,))


class Timed(NamedTuple):
    """Median seconds of a list's first page and of a middle one (None: a single page),
    and how many sources the first page shows."""

    first: float
    middle: float | None
    rows: int


def time_list(base: Path, count: int, repeats: int) -> dict[str, Timed]:
    """The list pages of ``GET /`` with ``count`` sources, for each of :data:`FILTERS`."""
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
        results = {}
        for name, (query, filters) in FILTERS.items():
            cursor = middle_cursor(services, filters)
            first = median_get(client, f"/?{query}", repeats)
            middle = None if cursor is None else median_get(
                client, f"/?{query}&after={cursor}", repeats)
            results[name] = Timed(first, middle, len(listed(client, f"/?{query}")))
    finally:
        with app.app_context():
            app_instance().close()
    return results


def middle_cursor(services: ReviewerServices, filters: Filters) -> str | None:
    """The cursor of the middle page of the list under ``filters``; None if one page."""
    chosen = services.triage.resolve(filters)
    cursors: list[str] = []
    cursor = services.inbox.sources(chosen=chosen).next_cursor
    while cursor is not None:
        cursors.append(cursor)
        cursor = services.inbox.sources(cursor=cursor, chosen=chosen).next_cursor
    return cursors[(len(cursors) - 1) // 2] if cursors else None


def median_get(client: object, path: str, repeats: int) -> float:
    times = []
    for _ in range(repeats + 3):
        start = time.perf_counter()
        response = client.get(path)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    return statistics.median(times[3:])


def listed(client: object, path: str) -> set[str]:
    """The bench sources (their numbers) that the page at ``path`` shows."""
    page = client.get(path).get_data(as_text=True)  # type: ignore[attr-defined]
    return set(re.findall(r"bench source (\d+)", page))


def report_list(results: dict[int, dict[str, Timed]]) -> None:
    small, large = min(results), max(results)
    print("Sources list, GET / (median, template included):")
    for n, timed in results.items():
        first, middle, _ = timed["unfiltered"]
        print(f"  {n:>7,} sources: first page {first * 1000:7.2f} ms,"
              f" middle page {(middle or first) * 1000:7.2f} ms")
    ratio = ratios(results[small]["unfiltered"], results[large]["unfiltered"])
    print(f"  ratio {large:,} / {small:,}: {ratio}  (target < 1.5x)")
    print("\nFiltered sources list, GET /?... (median; rows: sources on the first page):")
    full = results[small]["unfiltered"]
    for name, (query, _) in FILTERS.items():
        if query:
            report_filter(query, {n: results[n][name] for n in (small, large)}, full)


def report_filter(query: str, timed: dict[int, Timed], full: Timed) -> None:
    """One filter's pages over the fewest and the most sources, and their ratios."""
    print(f"  {query}")
    for n, pair in timed.items():
        print(f"    {n:>7,} sources: first page {pair.first * 1000:6.2f} ms ({pair.rows:>2} rows),"
              f" middle page {pages(pair.middle)}")
    few, many = timed[min(timed)], timed[max(timed)]
    print(f"    ratio, most / fewest sources: {ratios(few, many)}  (target <= 1.5x)")
    print(f"    ratio to the full unfiltered page over the fewest: {ratios(full, many)}")


def pages(seconds: float | None) -> str:
    return "(one page)" if seconds is None else f"{seconds * 1000:6.2f} ms"


def ratios(few: Timed, many: Timed) -> str:
    """First and middle page ratios; a list of one page stands for its own middle."""
    first = many[0] / few[0]
    middle = (many[1] or many[0]) / (few[1] or few[0])
    return f"first page {first:.2f}x, middle page {middle:.2f}x"


# --- full-text search -----------------------------------------------------------------

#: Words that each occur in 1% of the bench messages (message n holds word n % 100).
NEEDLES = ("kestrel", "osprey", "harrier", "merlin", "hobby", "goshawk")


def message_text(n: int, size: int, rng: random.Random, vocabulary: list[str]) -> bytes:
    """``size`` bytes of words; ``NEEDLES[n % 100]`` in the middle when there is one."""
    words = rng.choices(vocabulary, k=size // 4)
    if n % 100 < len(NEEDLES):
        words[len(words) // 2] = NEEDLES[n % 100]
    return " ".join(words).encode()[:size]


def fill_messages(settings: Settings, count: int, size: int) -> None:
    """``count`` sources of one ``size``-byte message each, really encrypted to the
    active newsroom key (rows and blobs as a submission stores them, one batch)."""
    rng = random.Random(13)  # noqa: S311 - filler text
    vocabulary = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))
                  for _ in range(3000)]
    vocabulary = [word for word in vocabulary if not any(n in word for n in NEEDLES)]
    instance = open_instance(settings)
    try:
        key = instance.keyring.active_key(1)  # the first desk, which init makes
        recipients = [key.parsed_recipient()]
        hour = int(time.time()) // 3600 * 3600
        with instance.store.db.transaction() as conn:
            for n in range(count):
                data = message_text(n, size, rng, vocabulary)
                sealed = seal_bytes(instance.store, recipients, data, kind=ItemKind.MESSAGE)
                source_id = insert_source(conn, f"bench source {n}", None, None,
                                          created_hour=hour, desk_id=1)
                submission = insert_submission(conn, source_id, created_hour=hour)
                insert_item(conn, source_id, submission, NewItem(
                    ItemKind.MESSAGE, 0, key.id, sealed.header,
                    sealed.writer.commit(sync_dir=False)), created_hour=hour)
        instance.store.blobs.sync()
    finally:
        instance.close()


def bench_search(base: Path, count: int, size: int, repeats: int) -> None:
    settings = load_settings(environment(base))
    password, secret = enrolled_admin(settings)
    start = time.perf_counter()
    fill_messages(settings, count, size)
    print(f"\n(filled {count:,} encrypted messages in {time.perf_counter() - start:.1f} s)")
    app = create_reviewer_app(settings)
    try:
        client = app.test_client()
        log_in(client, password, secret)
        median_get(client, "/", 3)  # the page itself warm; the search index still empty
        before = rss_kib(os.getpid())
        first, peak, listed = timed_search(client, f"/?q={NEEDLES[0]}")
        later = [timed_search(client, f"/?q={NEEDLES[1 + n % (len(NEEDLES) - 1)]}")[0]
                 for n in range(repeats)]
    finally:
        with app.app_context():
            app_instance().close()
    print(f"Full-text search, GET /?q=word over {count:,} messages of {size:,} bytes"
          f" (word in 1% of them, {os.cpu_count()} cores):")
    print(f"  first query of the session:  {first:6.3f} s  (target <= 3 s;"
          f" {listed} sources on its first page)")
    print(f"  later queries (median of {repeats}): {statistics.median(later):6.3f} s"
          "  (target <= 0.3 s)")
    print(f"  process RSS {before / 1024:.1f} -> peak {peak / 1024:.1f} MiB during the first"
          f" query (growth {(peak - before) / 1024:.1f} MiB)")


def log_in(client: object, password: str, secret: bytes) -> None:
    """Log the test client in as the admin through the login page (a full session)."""
    page = client.get("/login").get_data(as_text=True)  # type: ignore[attr-defined]
    token = _CSRF.search(page).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={  # type: ignore[attr-defined]
        "csrf_token": token, "username": "admin", "password": password,
        "code": totp_code(secret, time.time() + 30)})
    if response.status_code != 303:
        raise SystemExit(f"login failed: {response.status_code}")


def timed_search(client: object, path: str) -> tuple[float, int, int]:
    """(seconds, peak RSS KiB of this process, sources listed) of one search page."""
    with PeakRss(os.getpid()) as rss:
        start = time.perf_counter()
        response = client.get(path)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"search failed: {response.status_code}")
    shown = set(re.findall(r"bench source (\d+)", response.get_data(as_text=True)))
    return elapsed, rss.peak, len(shown)


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


class PeakRss:
    """The peak resident memory (KiB) of process ``pid`` while the block runs (sampled)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_kib(pid)
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._sampler.join()
        self.peak = max(self.peak, rss_kib(self.pid))

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.01)


def fetch(browser: Browser, path: str, pid: int) -> tuple[float, int, str, int]:
    """(seconds, bytes, sha256, peak worker RSS KiB) of one download."""
    digest, total = hashlib.sha256(), 0
    with PeakRss(pid) as rss:
        start = time.perf_counter()
        response = browser.request("GET", path)
        while chunk := response.read(MIB):
            digest.update(chunk)
            total += len(chunk)
        elapsed = time.perf_counter() - start
    return elapsed, total, digest.hexdigest(), rss.peak


class Server:
    """A reviewer gunicorn (one worker) with ``TIPBOX_CRYPTO_THREADS=threads``, logged in."""

    def __init__(self, env: dict[str, str], threads: int) -> None:
        self.threads, self.port = threads, free_port()
        env = {**env, "TIPBOX_REVIEWER_BIND": f"127.0.0.1:{self.port}",
               "TIPBOX_CRYPTO_THREADS": str(threads)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn_reviewer.py",
             "--workers", "1"], cwd=ROOT, env={**os.environ, **env})
        self.pid = worker_pid(self.process.pid)
        self.browser = Browser(self.port)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def bench_download(base: Path, size: int, threads: list[int], fetches: int) -> None:
    env = environment(base, TIPBOX_MAX_UPLOAD_BYTES=str(size + MIB))
    settings = load_settings(env)
    password, secret = enrolled_admin(settings)
    print(f"submitting {size / MIB:.0f} MiB ...", flush=True)
    source_id, item_id, expected = submit_file(settings, size)
    path = f"/sources/{source_id}/items/{item_id}"
    servers: list[Server] = []
    try:
        for count in threads:
            servers.append(Server(env, count))
        time.sleep(1.5)
        servers[0].browser.log_in(password, secret)  # one session (in the shared database)
        for server in servers:
            server.browser.cookie = servers[0].browser.cookie
            fetch(server.browser, path + "/export", server.pid)  # warm the cache and the worker
        idle = {server.threads: rss_kib(server.pid) for server in servers}
        best = best_fetches(servers, path, fetches)
    finally:
        for server in servers:
            server.stop()
    for count, (raw, plain) in best.items():
        report_download(size, raw, plain, idle[count], expected, count)


Fetched = tuple[float, int, str, int]


def best_fetches(servers: list[Server], path: str, fetches: int
                 ) -> dict[int, tuple[Fetched, Fetched]]:
    """Per thread count: the fastest /export and /download of ``fetches``, interleaved."""
    runs: dict[int, tuple[list[Fetched], list[Fetched]]] = {
        server.threads: ([], []) for server in servers}
    for _ in range(fetches):
        for server in servers:
            runs[server.threads][0].append(fetch(server.browser, path + "/export", server.pid))
            runs[server.threads][1].append(fetch(server.browser, path + "/download", server.pid))
    return {count: (min(raw), min(plain)) for count, (raw, plain) in runs.items()}


def report_download(size: int, raw: Fetched, plain: Fetched, idle: int, expected: str,
                    threads: int) -> None:
    raw_rate = raw[1] / MIB / raw[0]
    plain_rate = plain[1] / MIB / plain[0]
    print(f"\nDownload of a {size / MIB:.0f} MiB file through gunicorn (1 worker), "
          f"TIPBOX_CRYPTO_THREADS={threads}:")
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
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--message-size", type=parse_size, default=2048)
    parser.add_argument("--searches", type=int, default=5)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-download", action="store_true")
    parser.add_argument("--fetches", type=int, default=3,
                        help="downloads of each kind per server (best kept; default 3)")
    parser.add_argument("--crypto-threads", default="1,2",
                        help="TIPBOX_CRYPTO_THREADS values to compare (default 1,2)")
    args = parser.parse_args()
    threads = [int(count) for count in args.crypto_threads.split(",")]
    counts = [int(n) for n in args.sources.split(",")]
    with tempfile.TemporaryDirectory(prefix="tipbox-bench-") as tmp:
        report_list({n: time_list(Path(tmp) / f"list{n}", n, args.repeats) for n in counts})
        if not args.skip_search:
            bench_search(Path(tmp) / "search", args.messages, args.message_size, args.searches)
        if not args.skip_download:
            bench_download(Path(tmp) / "download", args.size, threads, max(1, args.fetches))


if __name__ == "__main__":
    main()
