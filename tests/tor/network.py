"""A private Tor network on 127.0.0.1, built the way Tor's own chutney builds one.

:class:`TorNetwork` runs Debian's ``tor`` as:

- three directory authorities, whose keys are made here with ``tor-gencert``
  and whose relay fingerprints come from ``tor --list-fingerprint``;
- relays (with the authorities, enough to build circuits and to hold the
  onion-service descriptors: every relay is voted Guard and HSDir);
- one client with a SOCKS port (``ExtendedErrors``: onion failures get
  precise reply codes), a control port and a ``ClientOnionAuthDir``;
- one onion-service tor whose torrc is the shipped ``deploy/torrc`` with only
  its ``HiddenServiceDir`` paths and ``HiddenServicePort`` targets changed.
  What the private network needs (``TestingTorNetwork``, the authorities, a
  data directory, a control port) goes on its command line, which Tor lets
  override the file, so every other line of the shipped file is what runs.

All of it under ``TestingTorNetwork 1`` with short voting intervals, so a
consensus exists within seconds. :meth:`TorNetwork.start` returns once the
client has bootstrapped and both services have published their descriptors
(control-port ``HS_DESC UPLOADED`` events), or raises
:class:`TorNetworkError` with the tail of every tor's log. Every tor also
exits by itself when this Python process ends (``__OwningControllerProcess``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import ROOT, free_port
from tests.tor.control import Controller

__all__ = ["SHIPPED_TORRC", "OnionService", "TorNetwork", "TorNetworkError", "TorProcess"]

TOR = Path("/usr/sbin/tor")
TOR_GENCERT = Path("/usr/bin/tor-gencert")
SHIPPED_TORRC = ROOT / "deploy" / "torrc"
#: What deploy/torrc forwards each service to; the tests' gunicorn ports replace them.
SHIPPED_TARGETS = {"tipbox-source": "127.0.0.1:8080", "tipbox-reviewer": "127.0.0.1:8081"}
START_SECONDS = 150.0
STOP_SECONDS = 15.0
#: Reloads tried when the HSDirs refuse new descriptors (see TorNetwork._republish).
REPUBLISH_ATTEMPTS = 3
#: How long the client lets a connection wait for its circuit (Tor's default: 120 s).
SOCKS_TIMEOUT = 20

#: Every tor of the network (chutney's common.i): a test network that votes
#: every relay Guard, HSDir and Exit, and trusts relays to be reachable.
NETWORK_OPTIONS = [
    ("TestingTorNetwork", "1"),
    ("AssumeReachable", "1"),
    ("PathsNeededToBuildCircuits", "0.67"),
    ("TestingDirAuthVoteGuard", "*"),
    ("TestingDirAuthVoteHSDir", "*"),
    ("TestingDirAuthVoteExit", "*"),
    ("TestingMinExitFlagThreshold", "0"),
    ("V3AuthNIntervalsValid", "2"),
    ("SafeLogging", "0"),
    ("ShutdownWaitLength", "0"),
]
#: Authorities vote every ``voting_interval`` seconds (5 s until the first consensus).
AUTHORITY_OPTIONS = [
    ("AuthoritativeDirectory", "1"),
    ("V3AuthoritativeDirectory", "1"),
    ("ContactInfo", "tipbox tests"),
    ("ExitPolicy", "reject *:*"),
    ("TestingV3AuthInitialVotingInterval", "5"),
    ("TestingV3AuthInitialVoteDelay", "2"),
    ("TestingV3AuthInitialDistDelay", "2"),
    ("V3AuthVoteDelay", "2"),
    ("V3AuthDistDelay", "2"),
]
RELAY_OPTIONS = [("SocksPort", "0"), ("Address", "127.0.0.1"), ("ExitRelay", "0")]


class TorNetworkError(Exception):
    """The private network did not come up (the message holds every tor's log tail)."""


class DescriptorsRefused(TorNetworkError):
    """Every HSDir refused a service's new descriptor."""


@dataclass
class TorProcess:
    """One tor: its directory (data, logs), command-line options and process."""

    name: str
    directory: Path
    options: list[tuple[str, str]]
    torrc: Path | None = None
    control_port: int | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.directory / "notice.log"

    def command(self) -> list[str]:
        """``tor -f TORRC --Option value ...`` (no torrc: an empty one)."""
        torrc = self.torrc or self.directory / "torrc"
        if self.torrc is None:
            torrc.write_text("")
        arguments = [str(TOR), "-f", str(torrc)]
        for key, value in self.options:
            arguments += [f"--{key}", value]
        return arguments

    def start(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (self.directory / "stdout.log").open("wb") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def reload(self) -> None:
        """SIGHUP: tor reads its torrc and its key directories again."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGHUP)

    def kill(self) -> None:
        """SIGKILL, as a host that loses power: no descriptor, no circuit is closed cleanly."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL if it has not exited within :data:`STOP_SECONDS`."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def controller(self) -> Controller:
        """A new authenticated control connection (the caller closes it)."""
        assert self.control_port is not None, f"{self.name} has no control port"
        return Controller(self.control_port, self.directory / "control_auth_cookie")

    def tail(self, lines: int = 25) -> str:
        """The last ``lines`` of the notice log (or of stdout, before the log exists)."""
        texts = []
        for path in (self.directory / "stdout.log", self.log):
            with suppress(OSError):
                texts.append(path.read_text("utf-8", "replace"))
        status = "running" if self.alive() else f"exited {self.process and self.process.poll()}"
        body = "\n".join("\n".join(texts).splitlines()[-lines:])
        return f"--- {self.name} ({status}), {self.log} ---\n{body}"


@dataclass(frozen=True)
class OnionService:
    """One ``HiddenServiceDir`` of the service tor."""

    name: str
    directory: Path

    @property
    def hostname(self) -> str:
        """``<56 characters>.onion``, as Tor wrote it into the directory."""
        return (self.directory / "hostname").read_text().strip()

    @property
    def address(self) -> str:
        """The hostname without ``.onion``, as control-port events name it."""
        return self.hostname.removesuffix(".onion")

    @property
    def authorized_clients(self) -> Path:
        return self.directory / "authorized_clients"


@dataclass
class Authority:
    """A directory authority's ports and its two fingerprints."""

    name: str
    or_port: int
    dir_port: int
    v3ident: str = ""
    fingerprint: str = ""

    def line(self) -> str:
        return (f"{self.name} orport={self.or_port} no-v2 v3ident={self.v3ident} "
                f"127.0.0.1:{self.dir_port} {self.fingerprint}")


@dataclass
class TorNetwork:
    """The network under ``base``; the services forward to ``targets`` (name -> host:port).

    ``authorized`` maps a reviewer-service client name to the public key line
    (``descriptor:x25519:...``) installed before the first start: with none,
    Tor would publish that service without client authorization.
    ``voting_interval`` is the authorities' (seconds; the onion-service time
    period lasts 24 of them).
    """

    base: Path
    targets: dict[str, str]
    authorized: dict[str, str]
    relay_count: int = 3
    voting_interval: int = 10
    processes: list[TorProcess] = field(default_factory=list)
    socks_port: int = 0
    deadline: float = 0.0
    last_change: int = 0

    @property
    def client(self) -> TorProcess:
        return self._named("client")

    @property
    def service(self) -> TorProcess:
        return self._named("service")

    @property
    def source(self) -> OnionService:
        return OnionService("tipbox-source", self.base / "service" / "tipbox-source")

    @property
    def reviewer(self) -> OnionService:
        return OnionService("tipbox-reviewer", self.base / "service" / "tipbox-reviewer")

    @property
    def client_auth_dir(self) -> Path:
        """The client's ``ClientOnionAuthDir`` (``NAME.auth_private`` files)."""
        return self.base / "client" / "onion-auth"

    def _named(self, name: str) -> TorProcess:
        return next(process for process in self.processes if process.name == name)

    def start(self, timeout: float = START_SECONDS) -> None:
        """:meth:`launch`, then :meth:`wait_ready`."""
        self.launch(timeout)
        self.wait_ready()

    def launch(self, timeout: float = START_SECONDS) -> None:
        """Configure and start every tor; return once the services have their addresses.

        ``timeout`` bounds this and the following :meth:`wait_ready` together.
        """
        self.deadline = time.monotonic() + timeout
        self.base.mkdir(mode=0o700, parents=True, exist_ok=True)
        authorities = [self._make_authority(n) for n in range(3)]
        common = NETWORK_OPTIONS + [("DirAuthority", a.line()) for a in authorities]
        self.processes = [self._authority_process(a, common) for a in authorities]
        self.processes += [self._relay(n, common) for n in range(self.relay_count)]
        self.processes += [*self._service_tors(common), self._client(common)]
        for process in self.processes:
            process.start()
        self._guard(self._wait_hostnames)

    def wait_ready(self) -> None:
        """Return once both descriptors are published and the client has bootstrapped."""
        self._guard(lambda: self._wait_published(settled=False))
        self._guard(self._wait_bootstrapped)

    def reload_service(self, changed: OnionService, timeout: float = START_SECONDS) -> None:
        """SIGHUP the service tor (``systemctl reload tor``) after a change to the
        ``changed`` service's directory; wait until that service has published again."""
        self.deadline = time.monotonic() + timeout
        self._next_second()
        self._guard(lambda: self._republish((changed,), self.service.reload))

    def restart_service(self, timeout: float = START_SECONDS) -> None:
        """Stop and start the service tor (``systemctl restart tor``); wait until published."""
        self.deadline = time.monotonic() + timeout
        self.service.stop()
        self._next_second()
        self.service.start()
        self._guard(lambda: self._republish((self.source, self.reviewer), None))

    def _republish(self, services: tuple[OnionService, ...],
                   trigger: Callable[[], None] | None) -> None:
        """Wait for new descriptors after ``trigger``, reloading again if the HSDirs refused.

        A descriptor's revision counter is the time in whole seconds, and an HSDir
        refuses one no newer than what it holds: when tor made two descriptors in
        one second (a reload just after one of its own rebuilds), the second, with
        the change, is refused everywhere. A reload a second later publishes it.
        """
        for attempt in range(REPUBLISH_ATTEMPTS):
            try:
                self._wait_published(services, trigger)
                return
            except DescriptorsRefused:
                if attempt + 1 == REPUBLISH_ATTEMPTS:
                    raise
            self._next_second()
            trigger = self.service.reload

    def _next_second(self) -> None:
        """Wait for a wall-clock second after the last change made here (see _republish)."""
        while int(time.time()) <= self.last_change:
            time.sleep(0.05)
        self.last_change = int(time.time())

    def _guard(self, wait: Callable[[], None]) -> None:
        try:
            wait()
        except TorNetworkError as error:
            raise self.failure(str(error)) from None

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def failure(self, reason: str) -> TorNetworkError:
        """An error naming ``reason``, with the tail of every tor's log."""
        tails = "\n".join(process.tail() for process in self.processes)
        return TorNetworkError(f"private Tor network: {reason}\n{tails}")

    # -- configuration --------------------------------------------------------

    def _node_options(self, name: str, *, control: bool = False) -> list[tuple[str, str]]:
        directory = self.base / name
        options = [
            ("DataDirectory", str(directory)),
            ("Nickname", name.replace("-", "")),
            ("Log", f"notice file {directory / 'notice.log'}"),
            ("__OwningControllerProcess", str(os.getpid())),
        ]
        if control:  # the client and the service: what the tests watch, in detail
            options += [("ControlPort", f"127.0.0.1:{free_port()}"),
                        ("CookieAuthentication", "1"),
                        ("Log", f"info file {directory / 'info.log'}")]
        return options

    def _make_authority(self, number: int) -> Authority:
        """Identity and signing keys from ``tor-gencert``, relay keys from tor itself."""
        authority = Authority(f"auth{number}", free_port(), free_port())
        (self.base / authority.name).mkdir(mode=0o700)
        keys = self.base / authority.name / "keys"
        keys.mkdir(mode=0o700)
        subprocess.run(
            [str(TOR_GENCERT), "--create-identity-key", "--passphrase-fd", "0", "-m", "12",
             "-a", f"127.0.0.1:{authority.dir_port}",
             "-i", str(keys / "authority_identity_key"),
             "-s", str(keys / "authority_signing_key"),
             "-c", str(keys / "authority_certificate")],
            input=b"\n", capture_output=True, check=True, timeout=60,
        )
        certificate = (keys / "authority_certificate").read_text()
        authority.v3ident = _field(certificate, "fingerprint")
        listed = subprocess.run(
            [str(TOR), "--list-fingerprint", "--quiet", "--ignore-missing-torrc",
             "-f", os.devnull, "--DataDirectory", str(keys.parent), "--ORPort", "1",
             "--Nickname", authority.name],
            capture_output=True, check=True, timeout=60, text=True,
        )
        authority.fingerprint = "".join(listed.stdout.split()[1:])
        return authority

    def _authority_process(self, authority: Authority,
                           common: list[tuple[str, str]]) -> TorProcess:
        options = [*common, *self._node_options(authority.name),
                   *RELAY_OPTIONS, *AUTHORITY_OPTIONS,
                   ("V3AuthVotingInterval", str(self.voting_interval)),
                   ("ORPort", str(authority.or_port)), ("DirPort", str(authority.dir_port))]
        return _process(authority.name, self.base, options)

    def _relay(self, number: int, common: list[tuple[str, str]]) -> TorProcess:
        name = f"relay{number}"
        options = [*common, *self._node_options(name), *RELAY_OPTIONS,
                   ("ORPort", str(free_port())), ("DirPort", str(free_port()))]
        return _process(name, self.base, options)

    def _client(self, common: list[tuple[str, str]]) -> TorProcess:
        self.socks_port = free_port()
        self.client_auth_dir.mkdir(mode=0o700, parents=True)
        options = [*common, *self._node_options("client", control=True),
                   ("SocksPort", f"127.0.0.1:{self.socks_port} ExtendedErrors"),
                   ("SocksTimeout", str(SOCKS_TIMEOUT)),
                   ("ClientOnionAuthDir", str(self.client_auth_dir))]
        return _process("client", self.base, options)

    def _service_tors(self, common: list[tuple[str, str]]) -> list[TorProcess]:
        """The tors that publish onion services (a subclass may run others instead)."""
        return [self._service(common)]

    def _service(self, common: list[tuple[str, str]]) -> TorProcess:
        """The shipped torrc, its paths and targets changed; the rest on the command line."""
        directory = self.base / "service"
        directory.mkdir(mode=0o700)
        torrc = directory / "torrc"
        torrc.write_text(service_torrc(SHIPPED_TORRC.read_text(), directory, self.targets))
        self.reviewer.authorized_clients.mkdir(mode=0o700, parents=True)
        for name, public in self.authorized.items():
            (self.reviewer.authorized_clients / f"{name}.auth").write_text(public + "\n")
        options = [*common, *self._node_options("service", control=True)]
        return _process("service", self.base, options, torrc=torrc)

    # -- readiness ------------------------------------------------------------

    def _wait_hostnames(self) -> None:
        for service in (self.source, self.reviewer):
            while not (service.directory / "hostname").exists():
                self._check(f"{service.name} has no hostname file")
                time.sleep(0.1)

    def _wait_published(self, services: tuple[OnionService, ...] = (),
                        trigger: Callable[[], None] | None = None, *,
                        settled: bool = True) -> None:
        """The ``services`` (default: both) have uploaded a descriptor and no upload is
        pending. ``trigger`` runs once the events are subscribed: what makes tor publish.
        On a ``settled`` network, descriptors every HSDir refused are an error at once.
        """
        deadline = self.deadline
        with self._connect(self.service) as control:
            control.command("SETEVENTS HS_DESC")
            if trigger is not None:
                trigger()
            uploads = {service.address: DescriptorUploads()
                       for service in services or (self.source, self.reviewer)}
            while not all(upload.done() for upload in uploads.values()):
                event = control.wait_event(lambda line: line.startswith("HS_DESC "),
                                           min(1.0, max(0.0, deadline - time.monotonic())))
                if event is not None and event.split()[2] in uploads:
                    uploads[event.split()[2]].record(event)
                state = ", ".join(f"{address[:8]}...: {upload}"
                                  for address, upload in uploads.items())
                if settled and any(upload.refused() for upload in uploads.values()):
                    raise DescriptorsRefused(f"the HSDirs refused the descriptors: {state}")
                self._check(f"onion-service descriptors not published: {state}")

    def _wait_bootstrapped(self, process: TorProcess | None = None) -> None:
        """``process`` (default: the client) has bootstrapped."""
        process = process or self.client
        with self._connect(process) as control:
            while "PROGRESS=100" not in (phase := control.getinfo("status/bootstrap-phase")):
                self._check(f"{process.name} did not bootstrap: {phase}")
                time.sleep(0.5)

    @contextmanager
    def _connect(self, process: TorProcess) -> Iterator[Controller]:
        """A control connection, retried until tor has opened its control port."""
        while True:
            try:
                control = process.controller()
                break
            except (ConnectionRefusedError, FileNotFoundError):
                self._check(f"{process.name} opened no control port")
                time.sleep(0.2)
        with control:
            yield control

    def _check(self, reason: str) -> None:
        """Raise with ``reason`` once the deadline passed or any tor has exited."""
        dead = [process.name for process in self.processes if not process.alive()]
        if dead:
            raise TorNetworkError(f"{', '.join(dead)} exited ({reason})")
        if time.monotonic() > self.deadline:
            raise TorNetworkError(f"timed out: {reason}")


@dataclass
class DescriptorUploads:
    """One service's ``HS_DESC`` upload events: launched, succeeded, failed (and why)."""

    pending: set[str] = field(default_factory=set)
    uploaded: int = 0
    failures: list[str] = field(default_factory=list)

    def record(self, event: str) -> None:
        action, hsdir = event.split()[1], event.split()[4]
        if action == "UPLOAD":
            self.pending.add(hsdir)
        elif action in ("UPLOADED", "FAILED"):
            self.pending.discard(hsdir)
            self.uploaded += action == "UPLOADED"
        if action == "FAILED":
            self.failures.append(event.rpartition("REASON=")[2] if "REASON=" in event else "?")

    def done(self) -> bool:
        """At least one HSDir stored it and none is still being sent it."""
        return self.uploaded > 0 and not self.pending

    def refused(self) -> bool:
        """Every upload failed (tor tries again only when the network changes)."""
        return bool(self.failures) and not self.uploaded and not self.pending

    def __str__(self) -> str:
        reasons = ", ".join(sorted(set(self.failures)))
        return (f"{self.uploaded} uploaded, {len(self.pending)} pending, "
                f"{len(self.failures)} failed{f' ({reasons})' if reasons else ''}")


def service_torrc(shipped: str, directory: Path, targets: dict[str, str]) -> str:
    """``shipped`` with each ``HiddenServiceDir`` under ``directory`` and its port's target
    replaced by ``targets[name]``; every other line as shipped.

    Raises ``ValueError`` if the shipped file no longer has the two services it had.
    """
    lines, service = [], None
    for line in shipped.splitlines():
        key, _, value = line.partition(" ")
        if key == "HiddenServiceDir":
            service = Path(value.strip()).name
            line = f"HiddenServiceDir {directory / service}/"
        elif key == "HiddenServicePort":
            shipped_target = SHIPPED_TARGETS.get(service or "")
            if shipped_target is None or not value.endswith(" " + shipped_target):
                raise ValueError(f"unexpected line in deploy/torrc: {line}")
            line = f"HiddenServicePort {value.split()[0]} {targets[service or '']}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _process(name: str, base: Path, options: list[tuple[str, str]], *,
             torrc: Path | None = None) -> TorProcess:
    control = dict(options).get("ControlPort")
    port = int(control.rsplit(":", 1)[1]) if control else None
    return TorProcess(name, base / name, options, torrc=torrc, control_port=port)


def _field(document: str, keyword: str) -> str:
    """The value of the first ``keyword value`` line of a directory document."""
    for line in document.splitlines():
        if line.startswith(keyword + " "):
            return line.split(" ", 1)[1].strip()
    raise ValueError(f"no {keyword} line")
