"""One onion address for two source hosts (Onionbalance); a host killed during a flood.

Two source hosts of :mod:`tests.hosts.deployment` (one PostgreSQL database,
one shared blob directory), each behind its own backend tor, and
Onionbalance publishing one frontend address for both in a private Tor
network (:mod:`tests.tor.balance`). Through the client's SOCKS port to that
one address, visitors load the landing page and uploaders send a message
and a file, each user on a circuit of its own as separate Tor Browsers
would be.

The frontend descriptor a client fetches carries two introduction points of
each host, and no proof-of-work parameters: Onionbalance 0.2.4 does not copy
them, although each host's own descriptor has them (docs/deploy.md, "Onionbalance",
says what that costs under attack).

Mid-flood the host that serves the most circuits dies at once (``SIGKILL``
to its gunicorn and to its tor). Then:

- no visitor goes :data:`RECOVERY_SECONDS` without a page, from the kill to
  the end of the flood: the client tries the frontend's other introduction
  points, which lead to the surviving host;
- a newcomer (the client's "New Identity": no descriptor, no memory of
  failed introduction points) loads the page too, although the frontend
  descriptor still lists the dead host's introduction points;
- uploads keep succeeding through the survivor;
- every upload that got its ``303`` is in the export, byte-identical, and
  every submission stored (the cut ones included) is whole: its message and
  its one file, exactly as sent. Nothing fails to decrypt.

The figures (time until the frontend first answered, each visitor's wait
after the kill, the longest time no page loaded, counts) are printed.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from tests.hosts.deployment import Deployment, deployed
from tests.postgres_cluster import PostgresCluster
from tests.servers import AppServer, FormClient
from tests.tor.balance import BalancedNetwork, make_frontend
from tests.tor.socks import SocksHTTPConnection
from tipbox.crypto import parse_identity
from tipbox.services.ops.export import export_submissions, unlock_identities
from tipbox.services.wiring import open_instance
from tipbox.store import find_orphans

pytestmark = pytest.mark.tor

T = TypeVar("T")

HOSTS = ("host-a", "host-b")
VISITORS = 4
UPLOADERS = 2
UPLOAD_BYTES = 256 * 1024
#: Flooding before the kill (every user has a circuit by then), and after it.
WARM_UP_SECONDS = 10.0
AFTER_KILL_SECONDS = 30.0
#: When the newcomer arrives, after the kill.
NEWCOMER_SECONDS = 10.0
#: The longest a visitor may wait for the landing page after the kill.
RECOVERY_SECONDS = 60.0
REQUEST_TIMEOUT = 60.0
LANDING_HEADING = b"Send us information safely"


@dataclass
class BalancedSite:
    deployment: Deployment
    network: BalancedNetwork
    ready_seconds: float

    def server(self, host: str) -> AppServer:
        return self.deployment.sources[HOSTS.index(host)]

    def connection(self, user: str) -> http.client.HTTPConnection:
        """A new connection on ``user``'s own circuit (SOCKS isolation, like one browser)."""
        return SocksHTTPConnection(self.network.socks_port, self.network.frontend_hostname,
                                   isolation=user, timeout=REQUEST_TIMEOUT)


@pytest.fixture(scope="module")
def balanced(
    tor_installed: None, tmp_path_factory: pytest.TempPathFactory,
    postgres_cluster: PostgresCluster,
) -> Iterator[BalancedSite]:
    base = tmp_path_factory.mktemp("onionbalance")
    frontend = make_frontend(base / "frontend")
    url = postgres_cluster.create_database()
    try:
        with deployed(base / "hosts", url, sources=len(HOSTS), reviewers=0,
                      TIPBOX_ONION_HOSTS=frontend.hostname) as deployment:
            targets = {host: server.env["TIPBOX_SOURCE_BIND"]
                       for host, server in zip(HOSTS, deployment.sources, strict=True)}
            network = BalancedNetwork(base / "tor", targets, {}, frontend=frontend)
            try:
                started = time.monotonic()
                network.start()
                yield BalancedSite(deployment, network, time.monotonic() - started)
            finally:
                network.stop()
    finally:
        postgres_cluster.drop_database(url)


@dataclass(frozen=True)
class Attempt:
    """One page view or one upload: who, when, and whether it succeeded."""

    user: str
    started: float
    ended: float
    ok: bool


@dataclass
class OnionFormClient(FormClient):
    """:class:`FormClient` whose connections go through ``connect`` (the client tor)."""

    connect: Callable[[], http.client.HTTPConnection] | None = None

    def connection(self) -> http.client.HTTPConnection:
        assert self.connect is not None
        return self.connect()


def landing_page(connection: http.client.HTTPConnection) -> bool:
    """Whether ``GET /`` on ``connection`` returned the landing page (closes it)."""
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.status == 200 and LANDING_HEADING in response.read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


@dataclass
class Flood:
    """Visitors and uploaders on ``site`` until :attr:`stop` is set."""

    site: BalancedSite
    stop: threading.Event = field(default_factory=threading.Event)
    views: list[Attempt] = field(default_factory=list)
    uploads: list[Attempt] = field(default_factory=list)
    sent: dict[str, bytes] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    receipts: set[str] = field(default_factory=set)

    def visit(self, user: str) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            ok = landing_page(self.site.connection(user))
            self.views.append(Attempt(user, started, time.monotonic(), ok))
            if not ok:
                time.sleep(0.5)  # as a person would retry; no busy loop

    def upload(self, user: str) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            name = f"{user}-{number}.bin"
            self.sent[name] = os.urandom(UPLOAD_BYTES)
            started = time.monotonic()
            ok = self._submit(user, name)
            self.uploads.append(Attempt(user, started, time.monotonic(), ok))

    def _submit(self, user: str, name: str) -> bool:
        """One source's first submission; True once it got the 303 and the receipt."""
        client = OnionFormClient(0, connect=lambda: self.site.connection(user))
        try:
            body, headers = client.submission(f"upload {name}", [(name, self.sent[name])])
            if client.request("POST", "/submit", body, headers)[0] != 303:
                return False
            self.confirmed.add(name)
            if client.request("GET", "/submit/receipt")[0] != 200:
                return False
        except (OSError, http.client.HTTPException, AssertionError):
            return False
        self.receipts.add(name)
        return True

    def run(self, during: Callable[[], T]) -> T:
        """Flood while ``during`` runs; its result."""
        threads = [threading.Thread(target=self.visit, args=(f"visitor-{n}",))
                   for n in range(VISITORS)]
        threads += [threading.Thread(target=self.upload, args=(f"uploader-{n}",))
                    for n in range(UPLOADERS)]
        for thread in threads:
            thread.start()
        try:
            return during()
        finally:
            self.stop.set()
            for thread in threads:
                thread.join()


@dataclass(frozen=True)
class Failover:
    """What happened around the kill: who died, when, and how long a newcomer waited."""

    victim: str
    killed_at: float
    newcomer_seconds: float
    ended_at: float


def kill_mid_flood(site: BalancedSite) -> Failover:
    """After the warm-up, kill the host serving the most circuits; a newcomer arrives."""
    time.sleep(WARM_UP_SECONDS)
    circuits = {host: site.network.rendezvous_circuits(host) for host in HOSTS}
    victim = max(HOSTS, key=lambda host: circuits[host])
    assert circuits[victim] > 0, circuits
    killed_at = kill_host(site, victim)
    time.sleep(NEWCOMER_SECONDS)
    newcomer = newcomer_wait(site)
    time.sleep(max(0.0, killed_at + AFTER_KILL_SECONDS - time.monotonic()))
    return Failover(victim, killed_at, newcomer, time.monotonic())


def kill_host(site: BalancedSite, host: str) -> float:
    """SIGKILL the host's gunicorn (master and workers) and its tor, as a power cut would."""
    server = site.server(host)
    assert server.process is not None
    killed_at = time.monotonic()
    os.killpg(server.process.pid, signal.SIGKILL)
    site.network.kill_host_tor(host)
    server.process.wait()
    return killed_at


def newcomer_wait(site: BalancedSite) -> float:
    """Seconds until a visitor whose tor knows nothing of the site yet gets the page."""
    site.network.new_identity()
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_SECONDS:
        if landing_page(site.connection("newcomer")):
            return time.monotonic() - started
        time.sleep(0.5)
    return float("inf")


def first_pages(views: list[Attempt], killed_at: float) -> dict[str, float]:
    """Per visitor: seconds from the kill until the end of its first good view begun after it."""
    waits: dict[str, float] = {}
    for view in sorted(views, key=lambda view: view.ended):
        if view.ok and view.started >= killed_at and view.user not in waits:
            waits[view.user] = view.ended - killed_at
    return waits


def longest_silence(views: list[Attempt], start: float, end: float) -> float:
    """The longest time between ``start`` and ``end`` in which none of ``views`` succeeded."""
    ends = sorted(view.ended for view in views if view.ok and start <= view.ended <= end)
    marks = [start, *ends, end]
    return max(later - earlier for earlier, later in zip(marks, marks[1:], strict=False))


def silences(views: list[Attempt], failover: Failover) -> dict[str, float]:
    """Per visitor: its longest time without a page from the kill to the end of the flood."""
    users = sorted({view.user for view in views})
    return {user: longest_silence([view for view in views if view.user == user],
                                  failover.killed_at, failover.ended_at) for user in users}


def exported(site: BalancedSite, out: Path) -> tuple[dict[str, dict[str, bytes]], int]:
    """The decrypted export made with the recovery identity ({source folder: {file: bytes}}),
    and how many submissions the database holds."""
    instance = open_instance(site.deployment.settings)
    try:
        identities = unlock_identities(
            instance.keyring, [parse_identity(site.deployment.init.recovery_identity)])
        summary = export_submissions(instance.store, out, identities=identities)
        with instance.store.db.reading() as conn:
            submissions = int(conn.execute("SELECT count(*) FROM submissions").fetchone()[0])
    finally:
        instance.close()
    assert summary.failed == 0
    folders = {folder.name: {path.name: path.read_bytes() for path in folder.iterdir()}
               for folder in out.iterdir()}
    return folders, submissions


def orphan_blobs(site: BalancedSite) -> int:
    """Committed blobs no item references (an upload killed between its rename and commit)."""
    instance = open_instance(site.deployment.settings)
    try:
        store = instance.store
        return len(find_orphans(store.db, store.blobs, now=time.time(), grace_seconds=0))
    finally:
        instance.close()


def test_the_one_address_carries_both_hosts_but_not_their_proof_of_work(
    balanced: BalancedSite,
) -> None:
    """What docs/deploy.md ("Onionbalance") says of the frontend descriptor Onionbalance makes."""
    network = balanced.network
    assert network.frontend_hosts() == set(HOSTS)
    frontend = network.published(network.frontend_hostname)
    assert frontend.count("\nintroduction-point ") == 2 * len(HOSTS)
    assert "pow-params" not in frontend
    for host in HOSTS:
        assert "\npow-params v1 " in network.published(network.backend(host).hostname)


def test_the_frontend_keeps_answering_when_a_host_dies_mid_flood(
    balanced: BalancedSite, tmp_path: Path
) -> None:
    flood = Flood(balanced)
    failover = flood.run(lambda: kill_mid_flood(balanced))

    report(balanced, flood, failover)
    assert len(first_pages(flood.views, failover.killed_at)) == VISITORS
    assert max(silences(flood.views, failover).values()) < RECOVERY_SECONDS
    assert failover.newcomer_seconds < RECOVERY_SECONDS
    assert any(upload.ok for upload in flood.uploads if upload.started > failover.killed_at)

    stored, submissions = exported(balanced, tmp_path / "export")
    assert submissions == len(stored)
    files: dict[str, bytes] = {}
    for folder, contents in stored.items():  # each submission whole: message and file
        message = contents.pop("message-1.txt").decode()
        ((name, content),) = contents.items()
        assert message == f"upload {name}", folder
        assert content == flood.sent[name], name
        files[name] = content
    assert flood.confirmed <= set(files)


def report(site: BalancedSite, flood: Flood, failover: Failover) -> None:
    killed_at = failover.killed_at
    failed = [view for view in flood.views if not view.ok]
    first, longest = first_pages(flood.views, killed_at), silences(flood.views, failover)
    print(f"\nfrontend first answered {site.ready_seconds:.1f} s after the network started;"
          f" {failover.victim} killed after {WARM_UP_SECONDS:.0f} s of flood")
    print("per visitor, first page after the kill / longest time without a page until the"
          " end: " + ", ".join(f"{user} {first.get(user, float('inf')):.1f}/"
                               f"{longest[user]:.1f} s" for user in sorted(longest)))
    print(f"longest time no visitor got a page: "
          f"{longest_silence(flood.views, killed_at, failover.ended_at):.1f} s; a newcomer "
          f"{NEWCOMER_SECONDS:.0f} s after the kill waited {failover.newcomer_seconds:.1f} s")
    print(f"page views: {len(flood.views)} ({len(failed)} failed, "
          f"{sum(view.started >= killed_at for view in failed)} of them begun after the kill);"
          f" uploads: {len(flood.uploads)} ({len(flood.confirmed)} got their 303, "
          f"{len(flood.receipts)} their receipt); orphan blobs: {orphan_blobs(site)}")
