"""tipbox behind a private Tor network: one network, one instance, one Chromium per session.

``onion_site`` starts the network of :mod:`tests.tor.network` (the shipped
``deploy/torrc`` publishing both services), then both apps under their
shipped gunicorn configuration on the ports the services forward to, with
``TIPBOX_ONION_HOSTS`` set to the source address as ``docs/deploy.md`` says.
The reviewer service starts with one authorized client (``newsroom-desk``),
as a deployment with a reviewer does: with none, Tor would publish it
without client authorization.

``onion_browser`` is Chromium whose proxy is the client tor's SOCKS port,
so ``.onion`` names go to Tor unresolved and other names resolve nowhere;
loopback addresses bypass the proxy (Chromium's default), which is how the
tests compare the onion path with direct requests.

Without ``tor`` (or Chromium, for the browser tests) these tests are
skipped, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.servers import AppServer, init_with_first_admin, instance_env, process_env
from tests.tor.network import TOR, TOR_GENCERT, TorNetwork
from tipbox.cli.onion import onion_client_keys
from tipbox.config import Settings, load_settings
from tipbox.services.accounts.totp import Enrolment
from tipbox.services.instance import InitResult

T = TypeVar("T")
#: Room for the 20 MiB file of the story.
MAX_UPLOAD = 64 * 1024 * 1024


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tor: tests through the private Tor network")


@dataclass
class OnionSite:
    """The network, the instance, and the two apps the onion services forward to."""

    network: TorNetwork
    settings: Settings
    init: InitResult
    first_admin: Enrolment
    source: AppServer
    reviewer: AppServer

    @property
    def source_url(self) -> str:
        return f"http://{self.network.source.hostname}"

    @property
    def reviewer_url(self) -> str:
        return f"http://{self.network.reviewer.hostname}"


def _require(binary: Path) -> None:
    if binary.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{binary} is missing (install Debian's {binary.name.split('-')[0]})")
    pytest.skip(f"{binary} is missing")


@pytest.fixture(scope="session")
def tor_installed() -> None:
    """Debian's tor and tor-gencert are there (else skipped, or failed under CI)."""
    _require(TOR)
    _require(TOR_GENCERT)


@pytest.fixture(scope="session")
def onion_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnionSite]:
    _require(TOR)
    _require(TOR_GENCERT)
    base = tmp_path_factory.mktemp("onion")
    # instance_env keeps TIPBOX_DEV=1: Chromium, unlike Tor Browser, does not take
    # http://*.onion for a secure context and would drop a Secure session cookie.
    values = instance_env(base, TIPBOX_MAX_UPLOAD_BYTES=str(MAX_UPLOAD))
    targets = {"tipbox-source": values["TIPBOX_SOURCE_BIND"],
               "tipbox-reviewer": values["TIPBOX_REVIEWER_BIND"]}
    desk_public, _ = onion_client_keys()
    network = TorNetwork(base / "tor", targets,
                         {"newsroom-desk": f"descriptor:x25519:{desk_public}"})
    servers: list[AppServer] = []
    try:
        network.launch()
        values["TIPBOX_ONION_HOSTS"] = network.source.hostname
        settings = load_settings(values)
        result, enrolment = init_with_first_admin(settings)
        env = process_env(values)
        servers = [AppServer(app, env, base / f"{app}.log") for app in ("source", "reviewer")]
        for server in servers:
            server.start()
        network.wait_ready()
        yield OnionSite(network, settings, result, enrolment, *servers)
    finally:
        for server in servers:
            server.stop()
        network.stop()


class BrowserThread:
    """One Chromium driven by Playwright's sync API on a thread of its own.

    Playwright allows one sync API instance per thread, and the browser
    tests' session may already hold the main thread's; so every call on
    this browser goes through :meth:`run`, which executes it on the thread.
    """

    def __init__(self, args: list[str]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onion-chromium")
        self._browser: Any = None
        self._stop: Callable[[], None] = lambda: None
        self._pool.submit(self._launch, args).result()

    def _launch(self, args: list[str]) -> None:
        from playwright.sync_api import sync_playwright

        assert threading.current_thread() is not threading.main_thread()
        playwright = sync_playwright().start()
        self._browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args)

        def stop() -> None:
            self._browser.close()
            playwright.stop()

        self._stop = stop

    def run(self, scenario: Callable[[Any], T]) -> T:
        """``scenario(browser)`` on the browser's thread; its result or its exception."""
        return self._pool.submit(scenario, self._browser).result()

    def close(self) -> None:
        self._pool.submit(self._stop).result()
        self._pool.shutdown()


@pytest.fixture(scope="session")
def onion_browser(onion_site: OnionSite) -> Iterator[BrowserThread]:
    """Chromium through the client tor's SOCKS port (see the module docstring)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (install Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is missing")
    browser = BrowserThread([
        *CHROMIUM_ARGS,
        f"--proxy-server=socks5://127.0.0.1:{onion_site.network.socks_port}",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ])
    try:
        yield browser
    finally:
        browser.close()
