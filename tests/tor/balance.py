"""Onionbalance in front of several source hosts, on a private Tor network of its own.

:class:`BalancedNetwork` is a :class:`~tests.tor.network.TorNetwork`
(authorities, relays, a client) whose onion services are those of a
several-host deployment instead of the shipped two-service tor:

- one backend tor per source host (``targets``: host name -> its gunicorn):
  the shipped ``deploy/torrc`` cut to its source service (a source host
  publishes no reviewer service), plus what Onionbalance asks of a backend,
  ``HiddenServiceOnionbalanceInstance 1`` and an ``ob_config`` file naming
  the frontend address (:func:`backend_torrc`);
- the balancer's tor, a client with a control socket like Debian's
  ``/run/tor/control``, through which
- ``onionbalance --is-testnet`` (PyPI) fetches the backends' descriptors and
  publishes the frontend's: their introduction points, signed with the
  frontend key that ``onionbalance-config`` made (:func:`make_frontend`).

Onionbalance's test-network mode takes the authorities' voting interval to be
20 s (chutney's), so this network votes every 20 s: with another interval it
would compute other time periods than Tor and publish where no client looks.
:meth:`BalancedNetwork.start` returns once a descriptor of the frontend,
fetched by the client from an HSDir, carries introduction points of every
host and a page has loaded through it; otherwise it raises
:class:`~tests.tor.network.TorNetworkError` with every log tail,
onionbalance's included. Onionbalance dies with this Python process
(``PR_SET_PDEATHSIG``), as the tors do.
"""

from __future__ import annotations

import ctypes
import re
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.tor.descriptor import inner_layer
from tests.tor.network import (
    SHIPPED_TORRC,
    OnionService,
    TorNetwork,
    TorNetworkError,
    TorProcess,
    _process,
    service_torrc,
)
from tests.tor.socks import SocksHTTPConnection

__all__ = ["BalancedNetwork", "Frontend", "backend_torrc", "make_frontend"]

ONIONBALANCE = Path(sys.executable).parent / "onionbalance"
ONIONBALANCE_CONFIG = Path(sys.executable).parent / "onionbalance-config"
#: What ``onionbalance --is-testnet`` assumes (onionbalance/hs_v3/consensus.py).
TESTNET_VOTING_INTERVAL = 20
#: Seconds one descriptor fetch or one page load through the client may take.
PROBE_SECONDS = 30.0
FETCH_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1
_ENC_KEY = re.compile(r"^enc-key ntor (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class Frontend:
    """The directory ``onionbalance-config`` filled: the frontend key and ``config.yaml``."""

    directory: Path

    @property
    def key(self) -> Path:
        """``<address>.key``: the frontend's ed25519 private key (PEM)."""
        (key,) = self.directory.glob("*.key")
        return key

    @property
    def address(self) -> str:
        return self.key.stem

    @property
    def hostname(self) -> str:
        """The one address sources are given."""
        return f"{self.address}.onion"

    @property
    def config(self) -> Path:
        return self.directory / "config.yaml"

    def write_config(self, backends: dict[str, str]) -> None:
        """``config.yaml`` listing ``backends`` (name -> onion hostname), as an operator
        edits the file ``onionbalance-config`` wrote."""
        lines = ["services:", f"- key: {self.key.name}", "  instances:"]
        for name, hostname in backends.items():
            lines += [f"  - address: {hostname}", f"    name: {name}"]
        self.config.write_text("\n".join(lines) + "\n")


def make_frontend(directory: Path) -> Frontend:
    """A new frontend key made the way an operator makes it (``onionbalance-config``)."""
    subprocess.run(
        [str(ONIONBALANCE_CONFIG), "--hs-version", "v3", "--no-interactive",
         "--output", str(directory)],
        check=True, capture_output=True, timeout=60,
    )
    return Frontend(directory)


def backend_torrc(shipped: str, directory: Path, target: str) -> str:
    """``shipped`` with its source service under ``directory`` forwarding to ``target``,
    its reviewer service left out, and the service made an Onionbalance backend.

    Raises ``ValueError`` (from :func:`service_torrc`) if the shipped file changed shape.
    """
    lines = service_torrc(shipped, directory, {"tipbox-source": target,
                                               "tipbox-reviewer": target}).splitlines()
    end = next(number for number, line in enumerate(lines)
               if line.startswith("HiddenServiceDir") and "tipbox-reviewer" in line)
    while end and lines[end - 1].startswith("#"):
        end -= 1  # the reviewer block's comments
    return "\n".join([*lines[:end], "HiddenServiceOnionbalanceInstance 1"]) + "\n"


@dataclass
class BalancedNetwork(TorNetwork):
    """The network with one backend tor per entry of ``targets`` behind ``frontend``."""

    frontend: Frontend | None = None
    voting_interval: int = TESTNET_VOTING_INTERVAL
    balancer_process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def balancer(self) -> TorProcess:
        return self._named("balancer")

    @property
    def onionbalance_log(self) -> Path:
        return self.base / "onionbalance.log"

    @property
    def frontend_hostname(self) -> str:
        """The one address of every host (the sources' address)."""
        return self._frontend().hostname

    def backend(self, host: str) -> OnionService:
        return OnionService(host, self.base / host / "tipbox-source")

    def start(self, timeout: float = 240.0) -> None:
        """Start every tor, then onionbalance; return once the frontend answers."""
        self.launch(timeout)
        self.wait_ready()

    def wait_ready(self) -> None:
        """Onionbalance runs once its tor has bootstrapped; wait until the frontend answers."""
        self._guard(lambda: self._wait_bootstrapped(self.balancer))
        self._start_onionbalance()
        self._guard(self._wait_bootstrapped)
        self._guard(self._wait_frontend)

    def frontend_hosts(self) -> set[str]:
        """The hosts whose introduction points are in the frontend descriptor an HSDir
        gives the client now (empty if none could be fetched)."""
        carried = _introduction_keys(self.published(self.frontend_hostname))
        return {host for host in self.targets
                if carried & _introduction_keys(self.published(self.backend(host).hostname))}

    def published(self, hostname: str) -> str:
        """The inner layer of the descriptor of ``hostname`` that an HSDir gives the
        client now, as Onionbalance fetches the backends' (empty if none came).

        A backend's own tor also holds a descriptor for the next time period, with
        other introduction points: only a fetch shows what a client sees.
        """
        address = hostname.removesuffix(".onion")
        for _ in range(FETCH_ATTEMPTS):  # an HSDir it was not uploaded to answers nothing
            descriptor = self._fetch(address)
            if descriptor is not None:
                return inner_layer(descriptor, hostname)
        return ""

    def rendezvous_circuits(self, host: str) -> int:
        """How many circuits ``host``'s tor has open to clients (rendezvous, joined)."""
        with self._named(host).controller() as control:
            circuits = control.getinfo("circuit-status")
        return circuits.count("PURPOSE=HS_SERVICE_REND HS_STATE=HSSR_JOINED")

    def new_identity(self) -> None:
        """The client forgets descriptors, failed introduction points and circuits
        (``SIGNAL NEWNYM``: Tor Browser's "New Identity")."""
        with self.client.controller() as control:
            control.signal("NEWNYM")

    def kill_host_tor(self, host: str) -> None:
        self._named(host).kill()

    def stop(self) -> None:
        if self.balancer_process is not None:
            self.balancer_process.kill()
            self.balancer_process.wait()
            self.balancer_process = None
        super().stop()

    def failure(self, reason: str) -> TorNetworkError:
        error = super().failure(reason)
        with suppress(OSError):
            tail = self.onionbalance_log.read_text("utf-8", "replace").splitlines()[-25:]
            error = TorNetworkError(f"{error}\n--- onionbalance ---\n" + "\n".join(tail))
        return error

    # -- configuration --------------------------------------------------------

    def _frontend(self) -> Frontend:
        assert self.frontend is not None, "BalancedNetwork needs a frontend"
        return self.frontend

    def _service_tors(self, common: list[tuple[str, str]]) -> list[TorProcess]:
        tors = [self._backend(host, target, common) for host, target in self.targets.items()]
        options = [*common, *self._node_options("balancer", control=True),
                   ("SocksPort", "0"),
                   ("ControlSocket", str(self.base / "balancer" / "control"))]
        return [*tors, _process("balancer", self.base, options)]

    def _backend(self, host: str, target: str,
                 common: list[tuple[str, str]]) -> TorProcess:
        service = self.backend(host)
        service.directory.mkdir(mode=0o700, parents=True)
        (service.directory / "ob_config").write_text(
            f"MasterOnionAddress {self._frontend().hostname}\n")
        torrc = self.base / host / "torrc"
        torrc.write_text(backend_torrc(SHIPPED_TORRC.read_text(), self.base / host, target))
        options = [*common, *self._node_options(host, control=True)]
        return _process(host, self.base, options, torrc=torrc)

    def _start_onionbalance(self) -> None:
        frontend = self._frontend()
        frontend.write_config({host: self.backend(host).hostname for host in self.targets})
        with self.onionbalance_log.open("ab") as log:
            self.balancer_process = subprocess.Popen(
                [str(ONIONBALANCE), "--hs-version", "v3", "--is-testnet", "-v", "info",
                 "-c", str(frontend.config), "-s", str(self.base / "balancer" / "control")],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_die_with_parent,
            )

    # -- readiness ------------------------------------------------------------

    def _wait_hostnames(self) -> None:
        for host in self.targets:
            while not (self.backend(host).directory / "hostname").exists():
                self._check(f"{host} has no hostname file")
                time.sleep(0.1)

    def _wait_frontend(self) -> None:
        """Every host is in the frontend descriptor, and a page loads through it."""
        carried: set[str] = set()
        while True:
            carried = self.frontend_hosts()
            if carried == set(self.targets) and self._page_loads():
                return
            self._check(f"the frontend descriptor carries {sorted(carried) or 'no host'}")
            time.sleep(2)

    def _page_loads(self) -> bool:
        connection = SocksHTTPConnection(self.socks_port, self._frontend().hostname,
                                         isolation="readiness", timeout=PROBE_SECONDS)
        try:
            connection.request("GET", "/")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def _fetch(self, address: str) -> str | None:
        """The descriptor of ``address`` one HSDir gives the client (``HSFETCH``), or None."""
        with self._connect(self.client) as control:
            control.command("SETEVENTS HS_DESC_CONTENT")
            control.command(f"HSFETCH {address}")
            event = control.wait_event(
                lambda line: line.startswith(f"HS_DESC_CONTENT {address} "), PROBE_SECONDS)
        body = event.partition("\n")[2] if event else ""
        return body if len(body) > 5 else None

    def _check(self, reason: str) -> None:
        super()._check(reason)
        if self.balancer_process is not None and self.balancer_process.poll() is not None:
            raise TorNetworkError(f"onionbalance exited ({reason})")


def _introduction_keys(published: str) -> set[str]:
    """The ``enc-key`` of each introduction point of a descriptor's inner layer."""
    return set(_ENC_KEY.findall(published))


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills it when this test process ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
