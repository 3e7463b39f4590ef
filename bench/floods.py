"""Both apps under a flood of slow clients, as a state adversary would send it.

    .venv/bin/python bench/floods.py                          # source app: 500 + 500, 60 s
    .venv/bin/python bench/floods.py --app reviewer --trickle 200
    .venv/bin/python bench/floods.py --trickle 50 --uploads 50 --seconds 15   # quick look

One real gunicorn with the shipped configuration (``deploy/gunicorn_<app>.py``),
loopback only, every loop bounded by ``--seconds``:

- ``--trickle`` sockets send a request line and then one header line a second,
  never finishing their headers (slowloris); a socket the server closes is
  opened again at once, so the pressure stays constant.
- ``--uploads`` multipart uploads (source app) send at ``--rate`` bytes a second,
  sized to finish a few seconds before the end.
- Meanwhile a probe loads the page a person would (the source landing page, or
  a logged-in reviewer's inbox) on a fresh connection ten times a second, and
  one fast client sends a ``--fast`` upload (source app).

Prints the probes' success rate and p50/p99 latency, the uploads completed and
stored (decrypted with the recovery identity and compared by SHA-256), how
often the server shed a trickling socket, and the peak total RSS of the
workers. Never asserts: benchmarks print figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import MIB, Upload, form_token, parse_size, percentiles, send_upload, stored_digests  # noqa: E402

from tests.e2e.make_run_kit import Client  # noqa: E402
from tests.servers import AppServer, init_with_first_admin, instance_env, process_env  # noqa: E402
from tipbox.config import load_settings  # noqa: E402
from tipbox.services.accounts.totp import Enrolment, totp_code  # noqa: E402

PROBE_TIMEOUT = 5.0
PIECE = 1024
REVIEWER_PASSWORD = "grey heron sleeps under the frozen viaduct"


@dataclass
class Tally:
    """What the attackers saw; updated from the event loop's thread only."""

    shed: int = 0
    upload_statuses: list[int] = field(default_factory=list)
    stored_expected: list[str] = field(default_factory=list)


# -- attackers (one asyncio loop) ------------------------------------------------------


async def trickle_headers(port: int, stop_at: float, tally: Tally) -> None:
    """Keep one socket sending a request a byte a second; reopen it when the server sheds it."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: x\r\n" * 1000
    while time.monotonic() < stop_at:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        try:
            for byte in request:
                if time.monotonic() >= stop_at or reader.at_eof():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(4096), timeout=1.0 + random.random() * 0.2)
        except (OSError, ConnectionError):
            pass
        finally:
            writer.close()
        if time.monotonic() < stop_at:
            tally.shed += 1


async def slow_upload(port: int, upload: Upload, form: tuple[str, str], rate: int,
                      tally: Tally) -> None:
    """One upload sent at ``rate`` bytes a second; its status (0 when cut off)."""
    status = 0
    cookie, token = form
    try:
        head, tail = upload.framing(token)
        body = head + b"".join(upload.content()) + tail
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upload.request_head(cookie, len(body)))
        for start in range(0, len(body), PIECE):
            writer.write(body[start:start + PIECE])
            await writer.drain()
            await asyncio.sleep(PIECE / rate)
        line = await asyncio.wait_for(reader.readline(), timeout=60)
        status = int(line.split(b" ", 2)[1]) if line.startswith(b"HTTP/") else 0
        writer.close()
    except (TimeoutError, OSError, ConnectionError, ValueError):
        status = 0
    tally.upload_statuses.append(status)
    if status == 200:
        tally.stored_expected.append(upload.digest())


async def attack(args: argparse.Namespace, port: int, forms: list[tuple[str, str]],
                 tally: Tally) -> None:
    stop_at = time.monotonic() + args.seconds
    tasks = [trickle_headers(port, stop_at, tally) for _ in range(args.trickle)]
    size = max(PIECE, int(args.rate * (args.seconds - 10)))
    grace = args.seconds + 30  # an upload not answered by then counts as failed
    tasks += [asyncio.wait_for(slow_upload(port, Upload(seed, size), form, args.rate, tally),
                               timeout=grace) for seed, form in enumerate(forms)]
    await asyncio.gather(*tasks, return_exceptions=True)


# -- the person's view (plain threads) -------------------------------------------------


@dataclass
class Probe:
    """Loads one page on a fresh connection every 0.1 s until stopped."""

    port: int
    path: str
    cookie: str = ""
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    def once(self) -> None:
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=PROBE_TIMEOUT)
        try:
            connection.request("GET", self.path, headers={"Cookie": self.cookie})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise OSError(f"status {response.status}")
            self.latencies.append(time.perf_counter() - started)
        except (OSError, http.client.HTTPException):
            self.failures += 1
        finally:
            connection.close()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.once()
            stop.wait(0.1)


def worker_rss_kib(server: AppServer) -> int:
    total = 0
    for pid in server.workers():
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def sample_rss(server: AppServer, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], worker_rss_kib(server))
        stop.wait(0.5)


# -- set-up ----------------------------------------------------------------------------


def reviewer_cookie(port: int, enrolment: Enrolment) -> str:
    """Enrol the first admin through the forms; the logged-in session's cookie header."""
    client = Client(port, "bench")
    client.post("/login", {"username": enrolment.username, "code": "",
                           "password": enrolment.password}, token_from="/login")
    enrolled = client.post("/enrol", {
        "new_password": REVIEWER_PASSWORD, "confirm_password": REVIEWER_PASSWORD,
        "code": totp_code(enrolment.totp_secret, time.time())}, token_from="/enrol")
    if enrolled.status != 303:
        raise RuntimeError(f"enrolment answered {enrolled.status}")
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def run(args: argparse.Namespace, workdir: Path) -> None:
    env = instance_env(workdir, TIPBOX_MAX_UPLOAD_BYTES=str(max(args.fast, MIB) * 2))
    settings = load_settings(env)
    result, enrolment = init_with_first_admin(settings)
    server = AppServer(args.app, process_env(env), workdir / "server.log")
    server.start()
    try:
        probe = Probe(server.port, "/")
        if args.app == "reviewer":
            probe.cookie = reviewer_cookie(server.port, enrolment)
        figures = flood(args, server, probe)
    finally:
        server.stop()
    stored = stored_digests(settings, result.recovery_identity) if args.app == "source" else []
    report(args, figures, stored)


@dataclass
class Figures:
    tally: Tally
    probe: Probe
    fast_status: int
    idle_rss_kib: int
    peak_rss_kib: int
    seconds: float


def flood(args: argparse.Namespace, server: AppServer, probe: Probe) -> Figures:
    uploads = args.uploads if args.app == "source" else 0
    forms = [form_token(server.port) for _ in range(uploads)]  # each upload's page, beforehand
    idle_rss = worker_rss_kib(server)
    tally, stop, peak = Tally(), threading.Event(), [0]
    threads = [threading.Thread(target=probe.run, args=(stop,)),
               threading.Thread(target=sample_rss, args=(server, stop, peak))]
    fast: list[int] = []
    if args.app == "source":
        threads.append(threading.Thread(target=lambda: fast_upload(args, server.port, fast)))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    asyncio.run(attack(args, server.port, forms, tally))
    stop.set()
    for thread in threads:
        thread.join()
    return Figures(tally, probe, fast[0] if fast else 0, idle_rss, peak[0],
                   time.monotonic() - started)


def fast_upload(args: argparse.Namespace, port: int, out: list[int]) -> None:
    time.sleep(args.seconds / 3)  # well inside the flood
    try:
        out.append(send_upload(port, Upload(99_999, args.fast)))
    except OSError:
        out.append(0)


def report(args: argparse.Namespace, figures: Figures, stored: list[str]) -> None:
    probe, tally = figures.probe, figures.tally
    answered = len(probe.latencies)
    total = answered + probe.failures
    p50, p99 = percentiles(probe.latencies or [float("nan")])
    page = "landing page" if args.app == "source" else "logged-in inbox"
    print(f"\n{args.app} app, deploy/gunicorn_{args.app}.py, {args.seconds:g} s flood")
    print(f"  {'trickling-header sockets':<44} {args.trickle} (shed and reopened {tally.shed}x)")
    print(f"  {page + ' probes answered 200':<44} {answered} / {total}"
          f" ({100 * answered / max(total, 1):.1f} %)")
    print(f"  {page + ' latency p50 / p99':<44} {p50:.0f} ms / {p99:.0f} ms")
    if args.app == "source":
        completed = tally.upload_statuses.count(200)
        label = f"slow uploads ({args.rate} B/s) answered 200"
        print(f"  {label:<44} {completed} / {args.uploads}")
        expected = set(tally.stored_expected)
        print(f"  {'completed uploads stored and decrypting':<44} "
              f"{len(expected & set(stored))} / {len(expected)}")
        label = f"fast {args.fast / MIB:g} MiB upload during the flood"
        print(f"  {label:<44} status {figures.fast_status}")
    print(f"  {'worker RSS idle / peak (all workers)':<44} "
          f"{figures.idle_rss_kib / 1024:.0f} MiB / {figures.peak_rss_kib / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=("source", "reviewer"), default="source")
    parser.add_argument("--trickle", type=int, default=500, help="slow-header sockets (500)")
    parser.add_argument("--uploads", type=int, default=500, help="slow uploads (500)")
    parser.add_argument("--rate", type=parse_size, default=10 * 1024,
                        help="bytes per second of each slow upload (10K)")
    parser.add_argument("--seconds", type=float, default=60.0, help="flood length (60)")
    parser.add_argument("--fast", type=parse_size, default=10 * MIB,
                        help="the fast upload sent during the flood (10M)")
    parser.add_argument("--dir", type=Path, default=ROOT / ".bench",
                        help="work directory (default ./.bench, removed afterwards)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    args.dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="floods-", dir=args.dir))
    try:
        run(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            args.dir.rmdir()


if __name__ == "__main__":
    main()
