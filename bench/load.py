"""The source app under load: concurrent uploads, slow clients, landing-page latency and rate.

    .venv/bin/python bench/load.py                      # 50 x 10 MiB, 20 slow clients
    .venv/bin/python bench/load.py --uploads 10 --size 2M --slow 5 --seconds 3

One run, one real gunicorn per app (``deploy/gunicorn_source.py`` unchanged,
two gthread workers of 16 threads), loopback only, every loop bounded:

1. **Idle latency**: ``GET /`` one after the other, each on a new connection
   (a new Tor circuit does not reuse one); p50 and p99.
2. **Under load**: ``--uploads`` concurrent uploads of ``--size`` random bytes,
   posted as a browser without JavaScript posts them, plus ``--slow`` clients
   trickling a small upload a few KiB at a time, while ``GET /`` is sampled
   again. Afterwards every stored file is decrypted with the recovery identity
   and compared (SHA-256) with what was sent.
3. **Requests per second** of ``GET /`` for ``--seconds``, from ``--clients``
   client processes on keep-alive connections, next to a bare Flask "hello"
   app served by gunicorn with the same configuration file.

Prints a table; never asserts (DESIGN 2: benchmarks print figures).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tipbox.config import Settings, load_settings  # noqa: E402
from tipbox.crypto import decrypt_detached, parse_identity  # noqa: E402
from tipbox.services.instance import init_instance  # noqa: E402
from tipbox.services.wiring import open_instance  # noqa: E402

MIB = 1024 * 1024
CHUNK = 256 * 1024
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HELLO_APP = '''from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"
'''


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text}")
    return int(match.group(1)) * {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[
        match.group(2).upper()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A gunicorn master with ``deploy/gunicorn_source.py``, serving ``app`` (or its own)."""

    def __init__(self, env: dict[str, str], port: int, app: str | None = None,
                 pythonpath: Path | None = None) -> None:
        self.port = port
        command = [sys.executable, "-m", "gunicorn", "--config",
                   str(ROOT / "deploy" / "gunicorn_source.py")]
        if pythonpath is not None:
            command += ["--pythonpath", str(pythonpath)]
        if app is not None:
            command.append(app)
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        for _ in range(300):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


# -- clients ----------------------------------------------------------------------------


def get_latency(port: int) -> float:
    """One ``GET /`` on a fresh connection; seconds until the whole page is read."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET / answered {response.status}")
    finally:
        connection.close()
    return time.perf_counter() - started


def form_token(port: int) -> tuple[str, str]:
    """A session cookie and its CSRF token, as the submit page hands them out."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", "/submit")
        response = connection.getresponse()
        page = response.read().decode()
        cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
    finally:
        connection.close()
    match = _CSRF.search(page)
    if match is None:
        raise RuntimeError("no CSRF token on /submit")
    return cookie, match.group(1)


@dataclass
class Upload:
    """One multipart upload of a file made of ``size`` pseudo-random bytes from ``seed``."""

    seed: int
    size: int
    boundary: str = field(default_factory=lambda: "----bench" + secrets.token_hex(12))

    def content(self) -> Iterator[bytes]:
        block = random.Random(self.seed).randbytes(min(CHUNK, self.size))
        for offset in range(0, self.size, len(block)):
            yield block[: self.size - offset]

    def digest(self) -> str:
        sha = hashlib.sha256()
        for chunk in self.content():
            sha.update(chunk)
        return sha.hexdigest()

    def framing(self, token: str) -> tuple[bytes, bytes]:
        head = (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n"
                f"\r\n{token}\r\n--{self.boundary}\r\nContent-Disposition: form-data; "
                f"name=\"no_codename\"\r\n\r\n1\r\n--{self.boundary}\r\nContent-Disposition: "
                f"form-data; name=\"files\"; filename=\"load-{self.seed}.bin\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        return head, f"\r\n--{self.boundary}--\r\n".encode()

    def request_head(self, cookie: str, length: int) -> bytes:
        return (f"POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                f"Content-Type: multipart/form-data; boundary={self.boundary}\r\n"
                f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()


def send_upload(port: int, upload: Upload, pause: float = 0.0, piece: int = CHUNK) -> int:
    """POST ``upload``, ``piece`` bytes at a time with ``pause`` between; the status."""
    cookie, token = form_token(port)
    head, tail = upload.framing(token)
    length = len(head) + upload.size + len(tail)
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        sock.sendall(upload.request_head(cookie, length) + head)
        for chunk in upload.content():
            for start in range(0, len(chunk), piece):
                sock.sendall(chunk[start:start + piece])
                if pause:
                    time.sleep(pause)
        sock.sendall(tail)
        reply = b""
        while b"\r\n" not in reply and (data := sock.recv(4096)):
            reply += data
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


def hammer(port: int, seconds: float) -> int:
    """``GET /`` on one keep-alive connection for ``seconds``; how many succeeded."""
    done = 0
    deadline = time.monotonic() + seconds
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while time.monotonic() < deadline:
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                done += 1
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
    finally:
        connection.close()
    return done


def requests_per_second(port: int, clients: int, seconds: float) -> float:
    with ProcessPoolExecutor(max_workers=clients) as pool:
        counts = list(pool.map(hammer, [port] * clients, [seconds] * clients))
    return sum(counts) / seconds


# -- phases -----------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def idle_latency(port: int, count: int) -> list[float]:
    return [get_latency(port) for _ in range(count)]


def sample_latency(port: int, stop: threading.Event, samples: list[float],
                   limit: int = 100_000) -> None:
    while not stop.is_set() and len(samples) < limit:
        samples.append(get_latency(port))
        stop.wait(0.02)


@dataclass
class LoadResult:
    statuses: list[int]
    slow_statuses: list[int]
    seconds: float
    latencies: list[float]


def under_load(port: int, uploads: list[Upload], slow: list[Upload]) -> LoadResult:
    stop, latencies = threading.Event(), []
    sampler = threading.Thread(target=sample_latency, args=(port, stop, latencies))
    started = time.monotonic()
    sampler.start()
    with ThreadPoolExecutor(max_workers=len(uploads) + len(slow)) as pool:
        fast = [pool.submit(send_upload, port, upload) for upload in uploads]
        trickle = [pool.submit(send_upload, port, upload, 0.05, 4096) for upload in slow]
        statuses = [future.result() for future in fast]
        slow_statuses = [future.result() for future in trickle]
    seconds = time.monotonic() - started
    stop.set()
    sampler.join()
    return LoadResult(statuses, slow_statuses, seconds, latencies)


def stored_digests(settings: Settings, recovery_identity: str) -> list[str]:
    """SHA-256 of every stored file, decrypted with the recovery identity."""
    instance = open_instance(settings)
    try:
        identities = instance.keyring.open_identities(parse_identity(recovery_identity))
        with instance.store.db.connection() as conn:
            rows = conn.execute("SELECT header, blob FROM items WHERE kind = 'file'").fetchall()
        digests = []
        for row in rows:
            sha = hashlib.sha256()
            with instance.store.blobs.open_blob(row["blob"]) as payload:
                for chunk in decrypt_detached(identities, row["header"], payload):
                    sha.update(chunk)
            digests.append(sha.hexdigest())
        return digests
    finally:
        instance.close()


# -- main -------------------------------------------------------------------------------


def environment(workdir: Path, port: int, max_upload: int) -> dict[str, str]:
    values = {
        "TIPBOX_DATA_DIR": str(workdir / "data"),
        "TIPBOX_KEYS_DIR": str(workdir / "keys"),
        "TIPBOX_SOURCE_BIND": f"127.0.0.1:{port}",
        "TIPBOX_MAX_UPLOAD_BYTES": str(max_upload),
        "TIPBOX_MIN_FREE_BYTES": "0",
        "TIPBOX_DEV": "1",
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPBOX_")}
    env.update(values)
    return env


def row(label: str, value: str) -> None:
    print(f"  {label:<44} {value}")


def run(args: argparse.Namespace, workdir: Path) -> None:
    port = free_port()
    env = environment(workdir, port, max(args.size, 256 * 1024) + MIB)
    settings = load_settings({k: v for k, v in env.items() if k.startswith("TIPBOX_")})
    recovery = init_instance(settings).recovery_identity
    uploads = [Upload(seed, args.size) for seed in range(args.uploads)]
    slow = [Upload(10_000 + seed, 256 * 1024) for seed in range(args.slow)]
    server = Server(env, port)
    try:
        idle = idle_latency(port, args.samples)
        load = under_load(port, uploads, slow)
        os.sync()  # the uploads' writeback must not weigh on the rate phase
        tipbox_rate, hello_rate = interleaved_rates(workdir, env, port, args)
    finally:
        server.stop()
    sent = sorted(upload.digest() for upload in uploads + slow)
    stored = sorted(stored_digests(settings, recovery))
    report(args, idle, load, sent, stored, tipbox_rate, hello_rate)


def interleaved_rates(workdir: Path, env: dict[str, str], port: int,
                      args: argparse.Namespace) -> tuple[float, float]:
    """Best req/s of the landing page and of a bare Flask hello, in alternating rounds.

    Both servers run side by side and take turns, so that drift of the
    machine (other load, CPU frequency) weighs on both alike.
    """
    (workdir / "hello_app.py").write_text(HELLO_APP)
    hello_port = free_port()
    hello_env = dict(env, TIPBOX_SOURCE_BIND=f"127.0.0.1:{hello_port}")
    hello = Server(hello_env, hello_port, app="hello_app:app", pythonpath=workdir)
    tipbox_rates: list[float] = []
    hello_rates: list[float] = []
    try:
        for _ in range(args.rounds):
            tipbox_rates.append(requests_per_second(port, args.clients, args.seconds))
            hello_rates.append(requests_per_second(hello_port, args.clients, args.seconds))
    finally:
        hello.stop()
    return max(tipbox_rates), max(hello_rates)


def report(args: argparse.Namespace, idle: list[float], load: LoadResult, sent: list[str],
           stored: list[str], tipbox_rate: float, hello_rate: float) -> None:
    idle_p50, idle_p99 = percentiles(idle)
    load_p50, load_p99 = percentiles(load.latencies or [float("nan")])
    ok = load.statuses.count(200)
    slow_ok = load.slow_statuses.count(200)
    moved = (args.uploads * args.size + args.slow * 256 * 1024) / MIB
    print(f"\nsource app, gunicorn (deploy/gunicorn_source.py), {os.cpu_count()} CPUs")
    row(f"uploads of {args.size / MIB:g} MiB answered 200", f"{ok} / {args.uploads}")
    row("slow clients (256 KiB, 4 KiB / 50 ms) answered 200", f"{slow_ok} / {args.slow}")
    row("stored files decrypted and matching", f"{len(set(sent) & set(stored))} / {len(sent)}"
        f"  (stored: {len(stored)})")
    row("load phase", f"{load.seconds:.1f} s, {moved / load.seconds:.0f} MiB/s received")
    print(f"\n  {'GET / latency':<30} {'requests':>8} {'p50 ms':>9} {'p99 ms':>9}")
    print(f"  {'idle':<30} {len(idle):>8} {idle_p50:>9.1f} {idle_p99:>9.1f}")
    print(f"  {'under load':<30} {len(load.latencies):>8} {load_p50:>9.1f} {load_p99:>9.1f}")
    print(f"\n  {'GET / requests per second':<30} {'req/s':>9}")
    print(f"  {'tipbox landing page':<30} {tipbox_rate:>9.0f}")
    print(f"  {'bare Flask hello':<30} {hello_rate:>9.0f}")
    ratio = tipbox_rate / hello_rate if hello_rate else float("nan")
    print(f"  {'ratio (target >= 0.5)':<30} {ratio:>9.2f}")
    print(f"\n  ({args.clients} client processes, keep-alive, {args.seconds:g} s a round,"
          f" best of {args.rounds} alternating rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=50, help="concurrent uploads (50)")
    parser.add_argument("--size", type=parse_size, default=10 * MIB, help="upload size (10M)")
    parser.add_argument("--slow", type=int, default=20, help="slow trickling clients (20)")
    parser.add_argument("--samples", type=int, default=200, help="idle GET / samples (200)")
    parser.add_argument("--seconds", type=float, default=5.0, help="rate phase length (5)")
    parser.add_argument("--clients", type=int, default=4, help="rate client processes (4)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rate rounds; the best of each is shown (3)")
    parser.add_argument("--dir", type=Path, default=ROOT / ".bench",
                        help="work directory (default ./.bench, removed afterwards)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="load-", dir=args.dir))
    try:
        run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            args.dir.rmdir()  # only if empty


if __name__ == "__main__":
    main()
