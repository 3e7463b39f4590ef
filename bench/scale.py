"""Several hosts: landing pages and submissions per second with one source host and with two,
and the inbox page at 100,000 sources on PostgreSQL against SQLite.

    .venv/bin/python bench/scale.py                  # 100,000 sources, 10 s phases, 3 rounds
    .venv/bin/python bench/scale.py --quick          # small counts (the smoke test runs this)
    .venv/bin/python bench/scale.py --sources 20000 --seconds 5 --argon2 cheap

Everything runs on this machine: one PostgreSQL server (Debian's initdb and
pg_ctl, :class:`Durable`: fsync and synchronous commit on, as SQLite's
``synchronous = FULL``), and each host a gunicorn master of its own under the
shipped configuration (:func:`tests.hosts.deployment.deployed`: own data
directory, shared blob and keys directory, one database).

1. **Throughput.** An SQLite instance with one source host, and a
   PostgreSQL instance with two source hosts, both up at once. Each round
   runs, for each configuration (SQLite 1 host; PostgreSQL 1 host, i.e. all
   clients on the first host while the second idles; PostgreSQL 2 hosts),
   ``--seconds`` of ``GET /`` from ``--clients`` client processes on
   keep-alive connections, then ``--seconds`` of complete first submissions
   (``GET /submit`` for the token, a multipart ``POST /submit`` of a short
   message and a 4 KiB file, the receipt page: a new source, so a new
   codename derived with Argon2). Requests go round-robin over the hosts.
   Rounds interleave the configurations, so drift of the machine weighs on
   all; the median of ``--rounds`` is shown with the range. With ``--argon2
   both`` the submissions run again on new instances whose codenames use
   the default Argon2 parameters (t=3, 64 MiB, p=4) instead of the tests'
   cheap ones. CPU seconds of the hosts' processes and of PostgreSQL's are
   read from ``/proc`` over each phase, and the clients' own; peak RSS is
   each host's processes' ``VmHWM`` summed.
2. **PostgreSQL's serial part.** Every write transaction holds one advisory
   lock (:data:`tipbox.store.dialect.WRITE_LOCK`) through its commit's WAL
   flush, so commits never share a flush. How often the lock is held is
   sampled in ``pg_locks`` during every PostgreSQL phase (:class:`LockSampler`)
   and in one more phase of a single client (no lock holder then waits for
   a core): its milliseconds per submission bound the instance's
   submissions per second whatever the hosts. The WAL flushes per submission and their mean
   time (``pg_stat_wal``, read once the hosts have stopped and their
   sessions reported) say how much of it is the disk.
3. **On paper.** Expected rates for 1-3 hosts from the measured CPU cost
   per request and the serial part (see :func:`report_paper`).
4. **Inbox.** ``--sources`` sources of three items each, triaged as
   ``bench/inbox.py`` does (:func:`inbox.fill_sources`, SQLite), the same
   rows copied into a PostgreSQL instance; ``GET /`` of the reviewer app
   through its shipped gunicorn, logged in as the admin: first page, a
   filtered one, newest first and a middle page (keyset cursor), both
   back ends' hosts up and taking turns; median and 90th percentile of
   ``--repeats`` after a warm-up.

Two cores run the hosts, PostgreSQL and the clients alike: two hosts here
share the CPUs of one, so their ratio to one host measures contention, not
scaling (the output says so). Figures of the last run and what they mean:
README.md, "Several hosts". Prints figures; never asserts (DESIGN 2).
"""

from __future__ import annotations

import argparse
import http.client
import math
import multiprocessing
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from inbox import FILTERS, Browser, enrolled_admin, fill_sources, middle_cursor  # noqa: E402

from tests.hosts.deployment import Deployment, deployed  # noqa: E402
from tests.postgres_cluster import PostgresCluster  # noqa: E402
from tests.servers import AppServer, FormClient, instance_env, process_env  # noqa: E402
from tipbox.config import Settings, load_settings  # noqa: E402
from tipbox.passwords import Argon2Params, codename_keys  # noqa: E402
from tipbox.services.inbox.triage import Filters  # noqa: E402
from tipbox.services.wiring import ReviewerServices, open_instance  # noqa: E402
from tipbox.store.db import open_database  # noqa: E402
from tipbox.store.dialect import POSTGRESQL, WRITE_LOCK  # noqa: E402

CORES = os.cpu_count() or 1
TICKS = os.sysconf("SC_CLK_TCK")
MESSAGE = "A short tip sent by bench/scale.py, with a small file attached."
ATTACHMENT = bytes(range(256)) * 16  # 4 KiB
DEFAULT = Argon2Params()
#: Codename Argon2 parameters of the hosts: the tests' cheap ones, or tipbox's defaults.
ARGON2 = {
    "cheap": {},  # tests.servers.instance_env sets the cheap ones already
    "default": {
        "TIPBOX_CODENAME_ARGON2_TIME_COST": str(DEFAULT.time_cost),
        "TIPBOX_CODENAME_ARGON2_MEMORY_KIB": str(DEFAULT.memory_kib),
        "TIPBOX_CODENAME_ARGON2_PARALLELISM": str(DEFAULT.parallelism),
    },
}
#: The server's options here: durable commits as in production (fsync,
#: synchronous_commit and full_page_writes left on, where the tests' cluster
#: turns them off), and WAL flushes timed for ``pg_stat_wal``.
DURABLE_OPTIONS = (
    "-c listen_addresses='' -c max_connections=400 -c shared_buffers=128MB"
    " -c track_wal_io_timing=on"
)
#: How often the write lock's holder is looked for (a cheap query: ~1% of a core).
SAMPLE_SECONDS = 0.01
#: Whether the writers' transaction-level advisory lock is held (its one bigint key
#: shows as two 32-bit halves, ``objsubid`` 1).
_WRITE_LOCK_HELD = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1"
)
#: The tables bench/inbox.py's fill_sources writes, parents first.
FILLED_TABLES = ("labels", "sources", "submissions", "items", "source_labels", "assignments")


class Durable(PostgresCluster):
    """The tests' throwaway server, with :data:`DURABLE_OPTIONS`."""

    def __init__(self) -> None:
        super().__init__(DURABLE_OPTIONS)

    def postmaster(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])


# -- /proc ----------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def _children(pid: int) -> list[int]:
    try:
        return [int(n) for n in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid``, of its children that have exited and of its live children."""
    fields = _stat_fields(pid)
    ticks = sum(int(fields[n]) for n in (11, 12, 13, 14))  # utime stime cutime cstime
    for child in _children(pid):
        try:
            ticks += sum(int(n) for n in _stat_fields(child)[11:15])
        except OSError:
            continue  # exited meanwhile: now in the parent's cutime
    return ticks / TICKS


def tree_peak_rss_mib(pid: int) -> float:
    """The peak resident memory (``VmHWM``) of ``pid`` and its children, summed, in MiB."""
    total = 0
    for one in (pid, *_children(pid)):
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (every core, every process)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS  # all but idle and iowait


def master(server: AppServer) -> int:
    assert server.process is not None
    return server.process.pid


# -- clients (run in client processes) -----------------------------------------------


class Tally(NamedTuple):
    """One client's phase: successes before the deadline, all successes, failures, its CPU."""

    in_time: int
    done: int
    failed: int
    cpu: float


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def landing_client(ports: list[int], first: int, start_at: float, end_at: float) -> Tally:
    """``GET /`` on one keep-alive connection per host, the hosts in turn from ``first``."""
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for port in ports]
    _sleep_until(start_at)
    cpu, done, failed, turn = time.process_time(), 0, 0, first
    while time.time() < end_at:
        connection = connections[turn % len(ports)]
        turn += 1
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            connection.close()
            ok = False
        done, failed = done + ok, failed + (not ok)
    for connection in connections:
        connection.close()
    return Tally(done, done, failed, time.process_time() - cpu)


def submitting_client(ports: list[int], first: int, start_at: float, end_at: float) -> Tally:
    """Complete first submissions one after the other, each on the next host in turn.

    A submission finished after ``end_at`` counts in ``done`` only.
    """
    _sleep_until(start_at)
    cpu, in_time, done, failed, turn = time.process_time(), 0, 0, 0, first
    while time.time() < end_at:
        port = ports[turn % len(ports)]
        turn += 1
        try:
            status, _page = FormClient(port).submit(MESSAGE, [("note.txt", ATTACHMENT)])
        except (OSError, http.client.HTTPException, AssertionError):
            status = 0
        if status == 200:
            done += 1
            in_time += time.time() <= end_at
        else:
            failed += 1
    return Tally(in_time, done, failed, time.process_time() - cpu)


def ready() -> int:
    """This client process's id, after a moment (so that the next task goes to another)."""
    time.sleep(0.2)
    return os.getpid()


def start_clients(pool: Executor, clients: int) -> None:
    """Return once all ``clients`` processes have started (and imported this module)."""
    seen: set[int] = set()
    while len(seen) < clients:
        seen |= {future.result() for future in [pool.submit(ready) for _ in range(clients)]}


# -- throughput -----------------------------------------------------------------------


@dataclass
class Phase:
    """One timed phase of one configuration: successes within its ``seconds`` and in all,
    failures, CPU seconds of the hosts and of PostgreSQL over the phase and of the clients,
    and the whole machine's (``/proc/stat``: other users of the cores too)."""

    seconds: float
    counted: int
    done: int
    failed: int
    app_cpu: float
    db_cpu: float
    client_cpu: float
    machine_cpu: float
    lock_busy: float  # share of samples that found PostgreSQL's write lock held

    @property
    def rate(self) -> float:
        return self.counted / self.seconds

    def per_request_ms(self, cpu: float) -> float:
        return 1000 * cpu / max(1, self.counted)


@dataclass
class Config:
    """A configuration: the hosts that receive requests, of a deployment."""

    name: str
    deployment: Deployment
    hosts: int
    cluster: Durable | None = None
    phases: dict[str, list[Phase]] = field(default_factory=dict)

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.deployment.sources[: self.hosts]]

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of every source host of the deployment, and of PostgreSQL."""
        app = sum(tree_cpu(master(server)) for server in self.deployment.sources)
        return app, (tree_cpu(self.cluster.postmaster()) if self.cluster else 0.0)



Client = Callable[[list[int], int, float, float], Tally]


def run_phase(pool: Executor, config: Config, client: Client, clients: int,
              seconds: float) -> Phase:
    """``clients`` processes running ``client`` against ``config``'s hosts for ``seconds``."""
    start_at = time.time() + 0.5
    end_at = start_at + seconds
    futures = [pool.submit(client, config.ports, n, start_at, end_at) for n in range(clients)]
    sampler = LockSampler(config.cluster, start_at, end_at)
    sampler.start()
    _sleep_until(start_at)
    app_before, db_before = config.cpu()
    machine_before = machine_cpu()
    _sleep_until(end_at)
    app_after, db_after = config.cpu()
    machine_after = machine_cpu()
    tallies = [future.result() for future in futures]
    sampler.join()
    return Phase(
        seconds=seconds,
        counted=sum(t.in_time for t in tallies),
        done=sum(t.done for t in tallies),
        failed=sum(t.failed for t in tallies),
        app_cpu=app_after - app_before,
        db_cpu=db_after - db_before,
        client_cpu=sum(t.cpu for t in tallies),
        machine_cpu=machine_after - machine_before,
        lock_busy=sampler.busy,
    )


class LockSampler(threading.Thread):
    """How often PostgreSQL's write lock is held between ``start_at`` and ``end_at``: one
    look at ``pg_locks`` every :data:`SAMPLE_SECONDS` (none without a cluster)."""

    def __init__(self, cluster: Durable | None, start_at: float, end_at: float) -> None:
        super().__init__(daemon=True)
        self.cluster, self.start_at, self.end_at = cluster, start_at, end_at
        self.samples = self.held = 0

    @property
    def busy(self) -> float:
        return self.held / self.samples if self.samples else math.nan

    def run(self) -> None:
        if self.cluster is None:
            return
        with psycopg.connect(self.cluster.url(), autocommit=True) as conn:
            _sleep_until(self.start_at)
            while time.time() < self.end_at:
                row = conn.execute(_WRITE_LOCK_HELD, (WRITE_LOCK >> 32, WRITE_LOCK & 0xFFFFFFFF)
                                   ).fetchone()
                self.samples += 1
                self.held += bool(row and row[0])
                time.sleep(SAMPLE_SECONDS)


@dataclass
class Throughput:
    """The configurations of one Argon2 setting, their phases, peak RSS and WAL flushes;
    ``alone``: submissions from one client to one PostgreSQL host (nothing else competes
    for the cores or the write lock)."""

    argon2: str
    configs: list[Config]
    alone: Phase | None = None
    rss_mib: dict[str, float] = field(default_factory=dict)
    wal: tuple[int, float] = (0, 0.0)  # flushes, total ms


def wal_flushes(cluster: Durable) -> tuple[int, float]:
    """``pg_stat_wal``'s WAL flushes (``wal_sync``) and their total milliseconds."""
    with psycopg.connect(cluster.url()) as conn:
        row = conn.execute("SELECT wal_sync, wal_sync_time FROM pg_stat_wal").fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def wait_disconnected(cluster: Durable, url: str) -> None:
    """Wait until no session of ``url``'s database is left (each reports its statistics
    as it ends)."""
    name = url.split("?", 1)[0].rsplit("/", 1)[1]
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        for _ in range(200):
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                               (name,)).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)


def measure_throughput(pool: Executor, cluster: Durable, work: Path, argon2: str,
                       args: argparse.Namespace) -> Throughput:
    """Rounds of the three configurations (see the module) for one Argon2 setting."""
    url = cluster.create_database()
    try:
        with ExitStack() as stack:
            extra = ARGON2[argon2]
            sqlite = stack.enter_context(
                deployed(work / f"sqlite-{argon2}", "", sources=1, reviewers=0, **extra))
            hosts = stack.enter_context(
                deployed(work / f"postgresql-{argon2}", url, sources=2, reviewers=0, **extra))
            result = Throughput(argon2, [
                Config("SQLite, 1 host", sqlite, 1),
                Config("PostgreSQL, 1 host", hosts, 1, cluster),
                Config("PostgreSQL, 2 hosts", hosts, 2, cluster),
            ])
            flushes = wal_flushes(cluster)  # after init's, which the hosts did not make
            run_rounds(pool, result, args)
            result.alone = run_phase(pool, result.configs[1], submitting_client, 1,
                                     args.seconds)
            for deployment, name in ((sqlite, "SQLite"), (hosts, "PostgreSQL")):
                result.rss_mib[name] = max(tree_peak_rss_mib(master(server))
                                           for server in deployment.sources)
        wait_disconnected(cluster, url)
        after = wal_flushes(cluster)
        result.wal = (after[0] - flushes[0], after[1] - flushes[1])
    finally:
        cluster.drop_database(url)
    return result


def run_rounds(pool: Executor, result: Throughput, args: argparse.Namespace) -> None:
    """``args.rounds`` rounds, each every configuration in turn: landing pages (with the
    cheap setting only: no codename there), then submissions."""
    kinds: dict[str, Client] = {"submissions": submitting_client}
    if result.argon2 == "cheap":
        kinds = {"landing": landing_client, **kinds}
    for round_number in range(args.rounds):
        for config in result.configs:
            for kind, client in kinds.items():
                phase = run_phase(pool, config, client, args.clients, args.seconds)
                config.phases.setdefault(kind, []).append(phase)
                print(f"  [{result.argon2} Argon2, round {round_number + 1}] {config.name}:"
                      f" {kind} {phase.rate:.1f}/s ({phase.failed} failed)", flush=True)


# -- reports --------------------------------------------------------------------------


def median_phase(phases: list[Phase]) -> Phase:
    """The phase of median rate (for odd counts: a real phase, with its own CPU figures)."""
    return sorted(phases, key=lambda phase: phase.rate)[(len(phases) - 1) // 2]


def rates(phases: list[Phase] | None) -> str:
    if not phases:
        return f"{'-':>20}"
    low, high = min(p.rate for p in phases), max(p.rate for p in phases)
    return f"{median_phase(phases).rate:8.1f} ({low:.0f}-{high:.0f})".rjust(20)


def report_throughput(result: Throughput, args: argparse.Namespace) -> None:
    label = {"cheap": "cheap (t=1, 8 KiB, p=1: the tests' parameters)",
             "default": f"default (t={DEFAULT.time_cost}, {DEFAULT.memory_kib // 1024} MiB,"
                        f" p={DEFAULT.parallelism})"}[result.argon2]
    print(f"\nThroughput, codename Argon2 {label}; {args.clients} client processes,"
          f" {args.seconds:g} s phases, median (min-max) of {args.rounds} interleaved rounds:")
    print(f"  {'configuration':<22}{'GET / req/s':>20}{'submissions/s':>20}"
          f"{'ratio to 1 host':>17}")
    base: dict[str, tuple[float, float]] = {}
    for config in result.configs:
        landing, submissions = config.phases.get("landing"), config.phases["submissions"]
        now = (median_phase(landing).rate if landing else math.nan,
               median_phase(submissions).rate)
        backend = config.name.split(",")[0]
        first = base.setdefault(backend, now)
        ratio = "/".join(f"{a / b:.2f}" if b and not math.isnan(a) else "-"
                         for a, b in zip(now, first, strict=True))
        print(f"  {config.name:<22}{rates(landing)}{rates(submissions)}{ratio:>17}")
    report_costs(result)


def report_costs(result: Throughput) -> None:
    """CPU per request on the hosts, PostgreSQL and the clients; failures; memory."""
    print(f"  {'CPU ms per request':<34}{'hosts':>8}{'database':>10}{'clients':>9}"
          f"{'cores busy: ours, all':>23}{'lock held':>11}{'failed':>8}")
    for config in result.configs:
        for kind, phases in config.phases.items():
            phase = median_phase(phases)
            ours = (phase.app_cpu + phase.db_cpu + phase.client_cpu) / phase.seconds
            busy = f"{ours:.2f}, {phase.machine_cpu / phase.seconds:.2f}"
            lock = "-" if math.isnan(phase.lock_busy) else f"{100 * phase.lock_busy:.0f}%"
            print(f"  {config.name + ', ' + kind:<34}{phase.per_request_ms(phase.app_cpu):8.2f}"
                  f"{phase.per_request_ms(phase.db_cpu):10.2f}"
                  f"{phase.per_request_ms(phase.client_cpu):9.2f}"
                  f"{busy:>23}{lock:>11}{sum(p.failed for p in phases):8d}")
    rss = ", ".join(f"{name} {mib:.0f} MiB" for name, mib in result.rss_mib.items())
    print(f"  peak RSS of a source host (master + 2 workers, each one's peak summed): {rss}")


def lock_ms(phases: list[Phase]) -> float:
    """Milliseconds PostgreSQL's write lock was held per request over ``phases``."""
    held = sum(phase.lock_busy * phase.seconds for phase in phases)
    return 1000 * held / max(1, sum(phase.counted for phase in phases))


class Serial(NamedTuple):
    """PostgreSQL's serial part per submission, for one setting: milliseconds the write
    lock is held with every client and with one, WAL flushes and their mean ms."""

    lock_ms: float
    alone_ms: float
    flushes: float
    flush_ms: float


def serial_part(result: Throughput) -> Serial:
    phases = [phase for config in result.configs if config.cluster
              for phase in config.phases["submissions"]]
    alone = [result.alone] if result.alone else []
    flushes, flush_ms = result.wal  # landing pages write nothing: their lock is never held
    return Serial(lock_ms(phases), lock_ms(alone),
                  flushes / max(1, sum(phase.done for phase in phases + alone)),
                  flush_ms / max(1, flushes))


def report_serial(result: Throughput) -> None:
    serial = serial_part(result)
    print(f"  PostgreSQL's write lock, per submission: held {serial.lock_ms:.1f} ms (sampled),"
          f" of which {serial.flushes:.1f} WAL flushes of {serial.flush_ms:.2f} ms (each"
          " writing transaction flushes its commit under the lock): at most"
          f" {ceiling_of(serial.lock_ms):.0f} submissions/s for the whole instance, whatever"
          f" the hosts. From one client alone: held {serial.alone_ms:.1f} ms"
          f" ({ceiling_of(serial.alone_ms):.0f}/s): the rest is lock holders waiting for a"
          " core")


def ceiling_of(milliseconds: float) -> float:
    return 1000 / milliseconds if milliseconds else math.inf


def report_paper(results: list[Throughput], derive_ms: float) -> None:
    """Expected rates with H hosts of c cores: min(H * c / app, db cores / db, 1 / lock).

    ``app`` and ``db`` are the CPU seconds per request measured with one
    PostgreSQL host, ``lock`` the write lock's time per submission from one
    client alone (no lock holder waits for a core, as none would on hosts of
    their own; a network between hosts adds its round trips, which this
    machine cannot show); the database is assumed on a host of its own with
    4 cores.
    """
    db_cores = 4
    print("\nOn paper: expected rate with H source hosts of c cores each, PostgreSQL on its"
          f" own {db_cores}-core host; rate = min(H x c / host CPU, {db_cores} / database CPU,"
          " 1 / write-lock time of one client alone), CPU per request as measured with 1"
          " PostgreSQL host:")
    print(f"  {'what':<34}{'c':>3}{'H=1':>9}{'H=2':>9}{'H=3':>9}   bound at H=3")
    for result in results:
        single = next(c for c in result.configs if c.name == "PostgreSQL, 1 host")
        lock = serial_part(result).alone_ms / 1000
        for kind, phases in single.phases.items():
            phase = median_phase(phases)
            host, db = (phase.per_request_ms(cpu) / 1000 for cpu in (phase.app_cpu, phase.db_cpu))
            what = "GET /" if kind == "landing" else f"submissions, {result.argon2} Argon2"
            for cores in (2, 4):
                found = [ceilings(h, cores, host, db_cores, db,
                                  lock if kind == "submissions" else 0.0) for h in (1, 2, 3)]
                print(f"  {what:<34}{cores:>3}"
                      + "".join(f"{min(limits.values()):9.0f}" for limits in found)
                      + f"   {min(found[-1], key=lambda name: found[-1][name])}")
    print(f"  returning sources' codename logins: 1 slot for the whole instance, so at most"
          f" {1000 / derive_ms:.1f}/s whatever the hosts (one default derivation:"
          f" {derive_ms:.0f} ms here)")


def ceilings(hosts: int, cores: int, host: float, db_cores: int, db: float, lock: float
             ) -> dict[str, float]:
    """Requests per second each shared or per-host resource allows (seconds per request in)."""
    def ceiling(capacity: float, cost: float) -> float:
        return capacity / cost if cost else math.inf

    return {"host CPU": ceiling(hosts * cores, host), "database CPU": ceiling(db_cores, db),
            "write lock": ceiling(1, lock)}


def derivation_ms() -> float:
    """One codename derivation at the default Argon2 parameters, best of 3, in ms."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        codename_keys("bench scale codename", salt=bytes(16), params=DEFAULT)
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


# -- inbox ----------------------------------------------------------------------------


def copy_filled_rows(sqlite_path: Path, settings: Settings) -> None:
    """The rows :func:`inbox.fill_sources` wrote, copied as they are (``COPY``) into the
    PostgreSQL instance of ``settings``; then its sequences moved past them and its
    statistics gathered (autovacuum would, within a minute)."""
    source = sqlite3.connect(sqlite_path)
    assert settings.database_url is not None
    try:
        with psycopg.connect(settings.database_url) as target:
            for table in FILLED_TABLES:
                columns = ", ".join(f'"{row[1]}"' for row in
                                    source.execute(f"PRAGMA table_info({table})"))
                rows = source.execute(f"SELECT {columns} FROM {table}")  # noqa: S608
                with target.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
    finally:
        source.close()
    database = open_database(settings)
    try:
        with database.transaction() as conn:
            POSTGRESQL.after_migrations(conn)
    finally:
        database.close()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")


class Pages(NamedTuple):
    """Seconds of each timed request, per page, and the sources each page listed."""

    times: dict[str, list[float]]
    rows: dict[str, int]


class Enrolled(NamedTuple):
    """A new instance with its first admin enrolled: its variables, settings and login."""

    env: dict[str, str]
    settings: Settings
    login: tuple[str, bytes]  # password, TOTP secret


def enrolled(base: Path, **extra: str) -> Enrolled:
    env = instance_env(base, **extra)
    settings = load_settings(env)
    return Enrolled(env, settings, enrolled_admin(settings))


@contextmanager
def logged_in(instance: Enrolled) -> Iterator[Browser]:
    """The instance's reviewer app under the shipped gunicorn; a browser logged in there."""
    server = AppServer("reviewer", process_env(instance.env),
                       instance.settings.data_dir.parent / "reviewer.log")
    server.start()
    try:
        browser = Browser(server.port)
        browser.log_in(*instance.login)
        yield browser
    finally:
        server.stop()


def time_pages(browsers: dict[str, Browser], paths: dict[str, str], repeats: int
               ) -> dict[str, Pages]:
    """Each page of ``paths`` on each browser's host ``repeats`` times after 3 warm-ups,
    pages and hosts in turn (so that drift of the machine weighs on all alike)."""
    found = {name: Pages({page: [] for page in paths}, {}) for name in browsers}
    for turn in range(repeats + 3):
        for page, path in paths.items():
            for name, browser in browsers.items():
                start = time.perf_counter()
                response = browser.request("GET", path)
                body = response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    raise SystemExit(f"{name}: {path} answered {response.status}")
                if turn >= 3:
                    found[name].times[page].append(elapsed)
                found[name].rows[page] = len(set(re.findall(rb"bench source (\d+)", body)))
    return found


def inbox_paths(settings: Settings) -> dict[str, str]:
    """The pages timed; the middle page's cursor found once, in-process."""
    instance = open_instance(settings)
    try:
        cursor = middle_cursor(ReviewerServices.open(instance), Filters())
    finally:
        instance.close()
    return {
        "first page": "/",
        f"filtered ({FILTERS['status+label+unread'][0]})":
            f"/?{FILTERS['status+label+unread'][0]}",
        "newest first": "/?order=newest",
        "middle page (cursor)": f"/?after={cursor}" if cursor else "/",
    }


def measure_inbox(cluster: Durable, work: Path, count: int, repeats: int
                  ) -> dict[str, Pages]:
    """The reviewer inbox over ``count`` sources on SQLite and the same rows on PostgreSQL."""
    url = cluster.create_database()
    try:
        lite = enrolled(work / "inbox-sqlite")
        start = time.perf_counter()
        fill_sources(lite.settings, count)
        print(f"  (filled {count:,} sources in SQLite in {time.perf_counter() - start:.1f} s)",
              flush=True)
        pg = enrolled(work / "inbox-postgresql", TIPBOX_DATABASE_URL=url)
        start = time.perf_counter()
        copy_filled_rows(lite.settings.database_path, pg.settings)
        print(f"  (copied them into PostgreSQL in {time.perf_counter() - start:.1f} s)",
              flush=True)
        paths = inbox_paths(lite.settings)
        with logged_in(lite) as on_sqlite, logged_in(pg) as on_postgresql:
            return time_pages({"SQLite": on_sqlite, "PostgreSQL": on_postgresql}, paths,
                              repeats)
    finally:
        cluster.drop_database(url)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def report_inbox(results: dict[str, Pages], count: int, repeats: int) -> None:
    print(f"\nInbox, GET / of the reviewer app (shipped gunicorn, logged in), {count:,} sources"
          f" of 3 items; median / 90th percentile of {repeats}, ms:")
    print(f"  {'page':<48}{'SQLite':>15}{'PostgreSQL':>15}{'ratio':>8}{'rows':>6}")
    lite, pg = results["SQLite"], results["PostgreSQL"]
    for name in lite.times:
        a, b = lite.times[name], pg.times[name]
        cells = [f"{1000 * statistics.median(x):.1f} / {1000 * percentile(x, 0.9):.1f}"
                 for x in (a, b)]
        ratio = statistics.median(b) / statistics.median(a)
        rows = f"{lite.rows[name]}" if lite.rows[name] == pg.rows[name] else (
            f"{lite.rows[name]}!={pg.rows[name]}")
        print(f"  {name:<48}{cells[0]:>15}{cells[1]:>15}{ratio:7.2f}x{rows:>6}")


# -- main -----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small counts, cheap Argon2 only, 1 round (a smoke test)")
    parser.add_argument("--sources", type=int, help="inbox sources (100000; quick: 2000)")
    parser.add_argument("--seconds", type=float, help="length of a load phase (10; quick: 1.5)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (3; quick: 1)")
    parser.add_argument("--clients", type=int, help="client processes (8; quick: 4)")
    parser.add_argument("--repeats", type=int, help="requests per inbox page (30; quick: 5)")
    parser.add_argument("--argon2", choices=("cheap", "default", "both"),
                        help="codename Argon2 for the submissions (both; quick: cheap)")
    args = parser.parse_args()
    defaults = (dict(sources=2000, seconds=1.5, rounds=1, clients=4, repeats=5, argon2="cheap")
                if args.quick else
                dict(sources=100_000, seconds=10.0, rounds=3, clients=8, repeats=30,
                     argon2="both"))
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main() -> None:
    args = parse_args()
    settings = ("cheap", "default") if args.argon2 == "both" else (args.argon2,)
    load = os.getloadavg()
    print(f"{CORES} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start")
    with ProcessPoolExecutor(args.clients, mp_context=multiprocessing.get_context("spawn")
                             ) as pool, tempfile.TemporaryDirectory(prefix="tipbox-scale-") as tmp:
        start_clients(pool, args.clients)
        cluster = Durable()
        cluster.start()
        try:
            results = [measure_throughput(pool, cluster, Path(tmp), setting, args)
                       for setting in settings]
            inbox = measure_inbox(cluster, Path(tmp), args.sources, args.repeats)
        finally:
            cluster.stop()
    for result in results:
        report_throughput(result, args)
        report_serial(result)
    print(f"\n  On {CORES} cores the hosts, PostgreSQL and the client processes share the same"
          " CPUs: a second host adds no CPU here, so the 2-host ratio measures contention"
          " (more processes, the same cores), not scaling.")
    report_paper(results, derivation_ms())
    report_inbox(inbox, args.sources, args.repeats)
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")


if __name__ == "__main__":
    main()
