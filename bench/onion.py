"""Landing-page latency and upload throughput through a private onion vs loopback, one run.

    .venv/bin/python bench/onion.py                     # 20 page loads, a 20 MiB upload
    .venv/bin/python bench/onion.py --loads 50 --size 64M

The private Tor network of ``tests/tor/network.py`` (three authorities, three
relays, a client, the shipped ``deploy/torrc`` publishing the services) runs
on this machine, and the source app under its shipped gunicorn configuration
behind it. Every figure is measured both ways in the same run: through the
client's SOCKS port to the ``.onion`` address (six hops of onion routing,
all on loopback: this is Tor's own cost, not the internet's latency), and
straight to gunicorn on loopback.

- ``first page``: ``GET /`` on a new circuit, so it includes fetching the
  descriptor, the introduction and the rendezvous (a source's first visit).
- ``page, new connection``: ``GET /`` on a new TCP connection each time, over
  the established circuit; median and 90th percentile of ``--loads``.
- ``upload``: one ``POST /submit`` of a ``--size`` file as a browser without
  JavaScript sends it, from the first byte to the response, which comes
  after the encrypted blob is committed.

Prints a table; never asserts (DESIGN 2: benchmarks print figures).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import (  # noqa: E402
    AppServer,
    FormClient,
    init_with_first_admin,
    instance_env,
    process_env,
)
from tests.tor.network import TOR, TorNetwork  # noqa: E402
from tests.tor.socks import SocksHTTPConnection  # noqa: E402
from tipbox.cli.onion import onion_client_keys  # noqa: E402
from tipbox.config import load_settings  # noqa: E402

MIB = 1024 * 1024

Connect = Callable[[], http.client.HTTPConnection]


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text}")
    return int(match.group(1)) * {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[
        match.group(2).upper()]


@dataclass
class RoutedFormClient(FormClient):
    """:class:`FormClient` whose connections come from ``connect`` (e.g. through Tor)."""

    connect: Connect | None = None

    def connection(self) -> http.client.HTTPConnection:
        assert self.connect is not None
        return self.connect()


def page_load(connect: Connect) -> float:
    """Seconds for ``GET /`` on a new connection, until the whole page is read."""
    start = time.perf_counter()
    connection = connect()
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
    finally:
        connection.close()
    return time.perf_counter() - start


def upload(connect: Connect, content: bytes) -> float:
    """Seconds for one ``POST /submit`` carrying ``content`` (token fetched beforehand)."""
    client = RoutedFormClient(0, connect=connect)
    body, headers = client.submission("benchmark upload", [("upload.bin", content)])
    start = time.perf_counter()
    status, _ = client.request("POST", "/submit", body, headers)
    elapsed = time.perf_counter() - start
    assert status == 303, status
    return elapsed


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def measure(connect: Connect, loads: int, content: bytes) -> dict[str, float]:
    first = page_load(connect)
    times = sorted(page_load(connect) for _ in range(loads))
    return {
        "first": first,
        "median": statistics.median(times),
        "p90": times[min(len(times) - 1, int(len(times) * 0.9))],
        "upload": upload(connect, content),
    }


def report(onion: dict[str, float], loopback: dict[str, float], loads: int, size: int,
           started: float) -> None:
    version = subprocess.run([str(TOR), "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    print(f"{version}; private network up in {started:.1f} s")
    print(f"{'':40}{'onion':>14}{'loopback':>14}")
    print(f"{'first page (new circuit)':40}{milliseconds(onion['first']):>14}"
          f"{milliseconds(loopback['first']):>14}")
    for key, label in (("median", "median"), ("p90", "90th percentile")):
        print(f"{f'page, new connection, {label}':40}{milliseconds(onion[key]):>14}"
              f"{milliseconds(loopback[key]):>14}")
    mib = size / MIB
    print(f"{f'upload {mib:g} MiB':40}{onion['upload']:>12.2f} s{loopback['upload']:>12.2f} s")
    print(f"{'upload throughput':40}{mib / onion['upload']:>9.1f} MiB/s"
          f"{mib / loopback['upload']:>9.1f} MiB/s")
    print(f"({loads} page loads each; the onion path runs six relays' crypto on this "
          f"machine's {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=20, help="page loads per path")
    parser.add_argument("--size", type=parse_size, default=20 * MIB, help="upload size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tipbox-bench-onion-") as tmp:
        base = Path(tmp)
        values = instance_env(base, TIPBOX_MAX_UPLOAD_BYTES=str(args.size + MIB))
        targets = {"tipbox-source": values["TIPBOX_SOURCE_BIND"],
                   "tipbox-reviewer": values["TIPBOX_REVIEWER_BIND"]}
        desk, _ = onion_client_keys()
        network = TorNetwork(base / "tor", targets, {"desk": f"descriptor:x25519:{desk}"})
        server: AppServer | None = None
        try:
            start = time.perf_counter()
            network.launch()
            values["TIPBOX_ONION_HOSTS"] = network.source.hostname
            init_with_first_admin(load_settings(values))
            server = AppServer("source", process_env(values), base / "source.log")
            server.start()
            network.wait_ready()
            started = time.perf_counter() - start
            content = os.urandom(args.size)
            host = network.source.hostname
            onion = measure(lambda: SocksHTTPConnection(network.socks_port, host, timeout=600),
                            args.loads, content)
            port = server.port
            loopback = measure(lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=600),
                               args.loads, content)
            report(onion, loopback, args.loads, args.size, started)
        finally:
            if server is not None:
                server.stop()
            network.stop()


if __name__ == "__main__":
    main()
