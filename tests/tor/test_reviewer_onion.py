"""The reviewer onion service with client authorization, as docs/deploy.md installs it.

Keys come from ``python -m tipbox onion-auth NAME --onion ADDRESS``: the
``descriptor:x25519:...`` line goes to the service's
``authorized_clients/NAME.auth``, the ``ADDRESS:descriptor:x25519:...`` line
to the client's ``ClientOnionAuthDir`` as ``NAME.auth_private``, and both
tors reload. The SOCKS port's ``ExtendedErrors`` make Tor name each refusal.

Revocation has two steps, and the tests show why: after the ``.auth`` file
is removed and Tor reloaded, a client that must fetch the descriptor again
is refused, but one that still holds it keeps reaching the unchanged
introduction points; restarting Tor replaces them and locks it out too.
And the last ``.auth`` file must never go: with none, Tor publishes the
service without client authorization.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.servers import ROOT
from tests.tor.conftest import BrowserThread, OnionSite
from tests.tor.network import TorNetwork, TorProcess
from tests.tor.socks import SocksError, SocksHTTPConnection

pytestmark = pytest.mark.tor

MISSING_AUTH = 0xF4
WRONG_AUTH = 0xF5
TTL_EXPIRED = 0x06  # the client gave up waiting for the service (SocksTimeout)
MISSING_AUTH_LOG = ("Fail to decrypt descriptor for requested onion address. "
                    "It is likely requiring client authorization.")
WRONG_AUTH_LOG = ("Client authorization for requested onion address is invalid. "
                  "Can't decrypt the descriptor.")


@dataclass(frozen=True)
class ClientKey:
    """The two lines ``onion-auth`` prints for the server and for a tor client."""

    name: str
    server_line: str
    client_line: str


def onion_auth(name: str, hostname: str) -> ClientKey:
    """A key pair from the real command, as a reviewer would run it."""
    result = subprocess.run(
        [sys.executable, "-m", "tipbox", "onion-auth", name, "--onion", hostname],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )
    lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
    address = hostname.removesuffix(".onion")
    server = [line for line in lines if line.startswith("descriptor:x25519:")]
    client = [line for line in lines if line.startswith(f"{address}:descriptor:x25519:")]
    assert len(server) == len(client) == 1, result.stdout
    return ClientKey(name, server[0], client[0])


def server_file(network: TorNetwork, key: ClientKey) -> Path:
    return network.reviewer.authorized_clients / f"{key.name}.auth"


@contextmanager
def authorized(network: TorNetwork, name: str) -> Iterator[ClientKey]:
    """A key installed on both sides and both tors reloaded; afterwards the client's
    key file is gone again (and the server's, if the test left it)."""
    key = onion_auth(name, network.reviewer.hostname)
    client_file = network.client_auth_dir / f"{name}.auth_private"
    try:
        _write_private(server_file(network, key), key.server_line)
        _write_private(client_file, key.client_line)
        network.client.reload()
        network.reload_service(network.reviewer)
        new_identity(network)  # else the client may keep a descriptor older than the key
        yield key
    finally:
        # Two keys for one address in ClientOnionAuthDir: tor refuses the reload and exits.
        client_file.unlink(missing_ok=True)
        network.client.reload()
        if server_file(network, key).exists():
            server_file(network, key).unlink()
            network.reload_service(network.reviewer)


def _write_private(path: Path, line: str) -> None:
    path.write_text(line + "\n")
    path.chmod(0o600)


def login_status(network: TorNetwork, isolation: str) -> int:
    """``GET /login`` on the reviewer onion over a circuit of its own (``isolation``)."""
    connection = SocksHTTPConnection(network.socks_port, network.reviewer.hostname,
                                     isolation=isolation)
    try:
        connection.request("GET", "/login")
        return connection.getresponse().status
    finally:
        connection.close()


def served(network: TorNetwork, isolation: str, *, attempts: int = 3) -> int:
    """:func:`login_status` where the page is expected, tried again as a loaded machine needs:
    a circuit that timed out (TTL expired) on a new circuit, as a browser's reload would; a
    descriptor that lacked a key just added (wrong authorization: the client fetched it from
    a directory the new one had not reached yet) after the client forgets it. A client
    that should not be served is refused every time, so these retries hide no refusal.
    Any other failure fails at once."""
    for attempt in range(1, attempts + 1):
        try:
            return login_status(network, f"{isolation} {attempt}")
        except SocksError as error:
            if error.code not in (TTL_EXPIRED, WRONG_AUTH) or attempt == attempts:
                raise
            if error.code == WRONG_AUTH:
                time.sleep(2)
                new_identity(network)
    raise AssertionError("unreachable")


def refusal(network: TorNetwork, isolation: str) -> int:
    """The SOCKS reply code Tor refuses ``GET /login`` with (fails if it is served)."""
    with pytest.raises(SocksError) as refused:
        login_status(network, isolation)
    return refused.value.code


def new_identity(network: TorNetwork) -> None:
    """``SIGNAL NEWNYM`` (Tor Browser's "New Identity"): the client forgets descriptors.

    Returns once Tor reports it done (it delays a NEWNYM within 10 s of the last one).
    """
    with network.client.controller() as control:
        control.command("SETEVENTS SIGNAL")
        control.signal("NEWNYM")
        assert control.wait_event(lambda event: event == "SIGNAL NEWNYM", 30) is not None


def log_size(process: TorProcess) -> int:
    return process.log.stat().st_size


def log_since(process: TorProcess, offset: int) -> str:
    with process.log.open("rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", "replace")


def test_a_client_without_a_key_cannot_fetch_the_descriptor(onion_site: OnionSite) -> None:
    network = onion_site.network
    assert list(network.client_auth_dir.iterdir()) == []
    assert [p.name for p in network.reviewer.authorized_clients.iterdir()] == [
        "newsroom-desk.auth"]
    before = log_size(network.client)
    assert refusal(network, "no key") == MISSING_AUTH
    assert MISSING_AUTH_LOG in log_since(network.client, before)


def login_heading(browser: Browser, url: str) -> str:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        response = page.goto(f"{url}/login", timeout=60_000)
        assert response is not None
        assert response.status == 200
        return page.locator("h1").inner_text().strip()
    finally:
        context.close()


def test_a_key_from_onion_auth_opens_the_login_page(
    onion_site: OnionSite, onion_browser: BrowserThread
) -> None:
    with authorized(onion_site.network, "alice"):
        heading = onion_browser.run(lambda b: login_heading(b, onion_site.reviewer_url))
    assert heading == "Reviewer login"


def test_after_revocation_and_reload_a_client_fetching_anew_is_refused(
    onion_site: OnionSite,
) -> None:
    network = onion_site.network
    with authorized(network, "bob") as key:
        assert served(network, "bob before") == 200
        server_file(network, key).unlink()
        network.reload_service(network.reviewer)
        # Still holding the descriptor, the client reaches the same introduction points.
        assert served(network, "bob holding the descriptor") == 200
        new_identity(network)
        before = log_size(network.client)
        assert refusal(network, "bob fetching anew") == WRONG_AUTH
        assert WRONG_AUTH_LOG in log_since(network.client, before)


def test_after_revocation_a_restart_locks_out_a_client_holding_the_descriptor(
    onion_site: OnionSite,
) -> None:
    network = onion_site.network
    try:
        with authorized(network, "carol") as key:
            assert served(network, "carol before") == 200
            server_file(network, key).unlink()
            network.restart_service()
            # The held descriptor names the old introduction points, which lead
            # nowhere now: the client waits there until it gives up (a relay may
            # still acknowledge introductions for a while) or, once it fetches
            # the new descriptor, is refused for want of a listed key.
            assert refusal(network, "carol after the restart") in (TTL_EXPIRED, WRONG_AUTH)
    finally:
        new_identity(network)  # later tests fetch the restarted service's descriptors


def test_with_no_authorized_client_left_the_service_is_public(onion_site: OnionSite) -> None:
    """Why doctor and the docs insist on at least one ``.auth`` file: without any,
    Tor publishes the reviewer service with no client authorization at all."""
    network = onion_site.network
    desk = network.reviewer.authorized_clients / "newsroom-desk.auth"
    kept = network.base / "newsroom-desk.auth"
    desk.rename(kept)
    try:
        network.reload_service(network.reviewer)
        new_identity(network)
        assert served(network, "anyone") == 200
    finally:
        kept.rename(desk)
        network.reload_service(network.reviewer)
        new_identity(network)
