"""A codename login flood next to first submissions: do new sources still get their codename fast?

    .venv/bin/python bench/login_flood.py                  # 16 flooding connections, 10 submissions
    .venv/bin/python bench/login_flood.py --flood 32 --submissions 20

One real gunicorn with ``deploy/gunicorn_source.py`` unchanged, loopback only,
the **default Argon2 cost** (the shipped one, not the tests' cheap one):

1. **Idle**: ``--submissions`` first submissions one after the other, each as
   a browser without JavaScript sends it (load the form, post a short
   message); every one derives a new codename with Argon2id.
2. **Flood**: ``--flood`` threads post codename logins as fast as the server
   answers (random codenames: each costs a full Argon2id run, like a
   guessing attack), each on a new connection; after a second of warm-up
   the same submissions are timed again.

The two phases alternate ``--rounds`` times, so that other load on the
machine weighs on both alike; the figures are over all rounds.

Prints the submission times (median, max) idle and under the flood, their
ratio, and what the flood got (logins answered per second, how many got
"that codename did not work" and how many the "busy" page). Never asserts
(DESIGN 2: benchmarks print figures).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import AppServer, FormClient, free_port, process_env  # noqa: E402
from tipbox.codenames import Codename  # noqa: E402
from tipbox.config import load_settings  # noqa: E402
from tipbox.services.instance import init_instance  # noqa: E402


def start_server(base: Path) -> AppServer:
    """An initialised instance with the default Argon2 cost, served by gunicorn."""
    values = {
        "TIPBOX_DATA_DIR": str(base / "data"),
        "TIPBOX_KEYS_DIR": str(base / "keys"),
        "TIPBOX_SOURCE_BIND": f"127.0.0.1:{free_port()}",
        "TIPBOX_MIN_FREE_BYTES": "0",
        "TIPBOX_DEV": "1",
    }
    init_instance(load_settings(values))
    server = AppServer("source", process_env(values), base / "gunicorn.log")
    server.start()
    return server


def new_submission(port: int) -> float:
    """Seconds for one first submission (form page + post); raises if it did not get a codename."""
    client = FormClient(port)
    started = time.perf_counter()
    status, page = client.submit("a tip from the benchmark", [])
    elapsed = time.perf_counter() - started
    if status != 200 or 'class="codename"' not in page:
        raise RuntimeError(f"submission failed: {status}")
    return elapsed


def time_submissions(port: int, count: int) -> list[float]:
    new_submission(port)  # warm-up: imports, connections, page cache
    return [new_submission(port) for _ in range(count)]


class Flood:
    """``connections`` threads posting codename logins until stopped; counts the answers."""

    def __init__(self, port: int, connections: int) -> None:
        self._port = port
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.answers: collections.Counter[int] = collections.Counter()
        self._threads = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(connections)]

    def __enter__(self) -> Flood:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def _run(self) -> None:
        client = FormClient(self._port)
        token = client.token("/login")
        while not self._stop.is_set():
            body = f"csrf_token={token}&codename={str(Codename.generate()).replace(' ', '+')}"
            try:
                status, _ = client.request("POST", "/login", body.encode(), {
                    "Content-Type": "application/x-www-form-urlencoded"})
            except OSError:
                status = 0
            with self._lock:
                self.answers[status] += 1


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times):.3f} s, max {max(times):.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood", type=int, default=16, help="flooding connections")
    parser.add_argument("--submissions", type=int, default=8,
                        help="timed submissions per phase and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="idle and flood phases alternate this many times")
    args = parser.parse_args()
    idle: list[float] = []
    loaded: list[float] = []
    answers: collections.Counter[int] = collections.Counter()
    rates = []
    with tempfile.TemporaryDirectory(prefix="tipbox-login-flood-") as temp:
        server = start_server(Path(temp))
        try:
            for _ in range(args.rounds):
                idle += time_submissions(server.port, args.submissions)
                with Flood(server.port, args.flood) as flood:
                    time.sleep(1.0)
                    before, started = sum(flood.answers.values()), time.perf_counter()
                    loaded += time_submissions(server.port, args.submissions)
                    logins = sum(flood.answers.values()) - before
                    rates.append(logins / (time.perf_counter() - started))
                answers += flood.answers
        finally:
            server.stop()
    ratio = statistics.median(loaded) / statistics.median(idle)
    print(f"first submission, idle:        {summary(idle)}")
    print(f"first submission, login flood: {summary(loaded)}")
    print(f"ratio flood / idle (median):   {ratio:.2f}x (target <= 1.5x)")
    other = sum(count for status, count in answers.items() if status not in (403, 503))
    print(f"login flood: {args.flood} connections, {statistics.median(rates):.1f} logins "
          f"answered/s; 403 (codename did not work): {answers[403]}, 503 (busy): "
          f"{answers[503]}, other: {other}")


if __name__ == "__main__":
    main()
