"""A real Chromium (Playwright) against both apps under real gunicorn.

One instance and one pair of servers per session: the browser tests form one
story (a source submits, a reviewer answers, the source reads the answer, an
admin rotates the key) and run in file order. Screenshots of every main page
go to ``artifacts/screenshots/`` (git-ignored, kept by CI).

Chromium is Debian's ``/usr/bin/chromium``; without it these tests are
skipped, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import (
    ROOT,
    AppServer,
    init_with_first_admin,
    instance_env,
    process_env,
)
from tipbox.config import Settings, load_settings
from tipbox.services.accounts.reviewers import create_first_admin
from tipbox.services.accounts.totp import Enrolment
from tipbox.services.instance import InitResult
from tipbox.services.wiring import ReviewerServices, open_instance

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AXE = ROOT / "tests" / "node_modules" / "axe-core" / "axe.min.js"


@dataclass
class Site:
    """The running instance: settings, what init printed, the two servers."""

    settings: Settings
    init: InitResult
    first_admin: Enrolment
    source: AppServer
    reviewer: AppServer


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("site")
    # Room for the several-MiB file of the story; small enough to reach "too large".
    values = instance_env(base, TIPBOX_MAX_UPLOAD_BYTES=str(32 * 1024 * 1024))
    settings = load_settings(values)
    result, enrolment = init_with_first_admin(settings)
    env = process_env(values)
    servers = [AppServer(app, env, base / f"{app}.log") for app in ("source", "reviewer")]
    try:
        for server in servers:
            server.start()
        yield Site(settings, result, enrolment, *servers)
    finally:
        for server in servers:
            server.stop()


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing (install Debian's chromium)")
    pytest.skip(f"{CHROMIUM} is missing")


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """One headless Chromium for the session (a ``playwright`` ``Browser``)."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is missing (make node)")
        pytest.skip(f"{AXE} is missing (make node)")
    return AXE.read_text("utf-8")


def add_admin(site: Site, username: str) -> str:
    """A new admin holding every newsroom key (made as ``init`` makes the first);
    returns its one-time password."""
    instance = open_instance(site.settings)
    try:
        services = ReviewerServices.open(instance)
        enrolment = create_first_admin(services.reviewers, instance.keyring,
                                       site.init.recovery_identity, username=username)
    finally:
        instance.close()
    return enrolment.password
