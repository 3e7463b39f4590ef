"""The flood defences of the shipped torrc, seen from the network.

- Proof of work (``HiddenServicePoWDefensesEnabled``): the source descriptor
  a client fetches from the HSDirs carries ``pow-params v1`` (seed, suggested
  effort, expiry), which is what makes clients solve puzzles under attack.
- Stream limits (``HiddenServiceMaxStreams 20`` with
  ``HiddenServiceMaxStreamsCloseCircuit 1``): the 21st stream on one
  rendezvous circuit is refused and the whole circuit closed.
"""

from __future__ import annotations

import base64
import re
import socket
from datetime import UTC, datetime

import pytest

from tests.tor.conftest import OnionSite
from tests.tor.descriptor import inner_layer
from tests.tor.network import SHIPPED_TORRC, TorNetwork
from tests.tor.socks import SocksError, SocksHTTPConnection, open_stream

pytestmark = pytest.mark.tor

POW_PARAMS = re.compile(r"^pow-params v1 (\S+) (\d+) (\S+)$", re.MULTILINE)


def shipped_options(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in SHIPPED_TORRC.read_text().splitlines()
            if line.split(None, 1)[:1] == [name]]


def fetched_descriptor(network: TorNetwork, hostname: str, attempts: int = 10) -> str:
    """The descriptor of ``hostname`` as the client fetched it from an HSDir just now.

    ``HSFETCH`` asks one HSDir; one the service has not uploaded to (yet) answers
    NOT_FOUND, so a failed fetch is tried again, up to ``attempts`` times.
    """
    address = hostname.removesuffix(".onion")
    outcomes = []
    with network.client.controller() as control:
        control.command("SETEVENTS HS_DESC")
        for _ in range(attempts):
            control.command(f"HSFETCH {address}")
            outcome = control.wait_event(
                lambda event: event.startswith(("HS_DESC RECEIVED", "HS_DESC FAILED"))
                and event.split()[2] == address, 60)
            outcomes.append(outcome)
            if outcome is not None and outcome.startswith("HS_DESC RECEIVED"):
                return control.getinfo(f"hs/client/desc/id/{address}")
    raise AssertionError(f"no HSDir served the descriptor: {outcomes}")


def test_the_source_descriptor_carries_proof_of_work_parameters(onion_site: OnionSite) -> None:
    assert shipped_options("HiddenServicePoWDefensesEnabled") == ["1"]
    network = onion_site.network
    published = inner_layer(fetched_descriptor(network, network.source.hostname),
                            network.source.hostname)
    match = POW_PARAMS.search(published)
    assert match is not None, published
    seed, effort, expiry = match.groups()
    assert len(base64.b64decode(seed)) == 32
    assert int(effort) == 0  # no attack: clients need not solve anything yet
    assert datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC) > datetime.now(UTC)
    with network.service.controller() as control:
        own = control.getinfo(f"hs/service/desc/id/{network.source.address}")
    assert f"pow-params v1 {seed} " in inner_layer(own, network.source.hostname)


def test_the_21st_stream_on_a_circuit_closes_it(onion_site: OnionSite) -> None:
    assert shipped_options("HiddenServiceMaxStreams") == ["20", "20"]
    assert shipped_options("HiddenServiceMaxStreamsCloseCircuit") == ["1", "1"]
    network = onion_site.network
    host = network.source.hostname
    streams = [open_stream(network.socks_port, host, 80, isolation="twenty")
               for _ in range(20)]
    try:
        before = network.service.log.stat().st_size
        with pytest.raises(SocksError):
            open_stream(network.socks_port, host, 80, isolation="twenty")
        for stream in streams:
            stream.settimeout(30)
            assert _closed(stream)
        with network.service.log.open("rb") as log:
            log.seek(before)
            assert b"Maximum streams per circuit limit reached" in log.read()
    finally:
        for stream in streams:
            stream.close()
    connection = SocksHTTPConnection(network.socks_port, host, isolation="twenty")
    connection.request("GET", "/")
    assert connection.getresponse().status == 200  # a new circuit is served again


def _closed(stream: socket.socket) -> bool:
    try:
        return stream.recv(1) == b""
    except ConnectionResetError:
        return True
