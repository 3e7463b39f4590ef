"""The source site over a real onion circuit: Chromium through Tor, JavaScript off.

A source loads the landing page at the ``.onion`` address, sends a message
and a 20 MiB file, gets a codename and logs in again with it; the newsroom
decrypts the file byte-identical. The wrong-address warning
(``TIPBOX_ONION_HOSTS``) stays off through the onion and shows on loopback.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers import count_rows, decrypt_all
from tests.tor.conftest import BrowserThread, OnionSite

pytestmark = [pytest.mark.tor, pytest.mark.browser]

MESSAGE = "Sent through Tor: the contracts are in the attached archive."
FILE_NAME = "contracts.zip"
FILE_SIZE = 20 * 1024 * 1024
#: A 20 MiB upload through six relays on a loaded CI machine: minutes at worst.
UPLOAD_TIMEOUT_MS = 300_000


def new_page(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(java_script_enabled=False, base_url=base_url)
    context.set_default_timeout(60_000)
    return context.new_page()


def heading(page: Page) -> str:
    return page.locator("h1").inner_text().strip()


def send_and_return(browser: Browser, site: OnionSite, upload: Path) -> str:
    """The source's visit over the onion; returns the codename it was given."""
    page = new_page(browser, site.source_url)
    try:
        response = page.goto("/")
        assert response is not None
        assert response.ok
        assert page.url == site.source_url + "/"
        assert heading(page) == "Send us information safely"
        expect(page.locator(".fingerprint code")).to_have_text(site.init.fingerprint)

        page.click("text=Send information for the first time")
        page.fill("#message", MESSAGE)
        page.set_input_files("#files", str(upload))
        page.click("button:has-text('Send securely')", timeout=UPLOAD_TIMEOUT_MS)
        expect(page).to_have_url(re.compile(r"\.onion/submit/receipt$"))
        codename = page.locator(".codename strong").inner_text().strip()
        assert len(codename.split()) == 7
        page.click("text=I have memorised my codename")

        page.goto("/")
        page.click("text=I already have a codename")
        page.fill("#codename", codename)
        page.click("button:has-text('Continue')")
        assert heading(page) == "Replies from our journalists"
        return codename
    finally:
        page.context.close()


def test_a_source_sends_a_file_over_the_onion_and_logs_in_again(
    onion_site: OnionSite, onion_browser: BrowserThread, tmp_path: Path
) -> None:
    upload = tmp_path / FILE_NAME
    content = os.urandom(FILE_SIZE)
    upload.write_bytes(content)
    before = count_rows(onion_site.settings, "submissions")

    onion_browser.run(lambda browser: send_and_return(browser, onion_site, upload))

    assert count_rows(onion_site.settings, "submissions") == before + 1
    stored = decrypt_all(onion_site.settings, onion_site.init.recovery_identity)
    newest = stored[max(stored)]
    assert newest["message"].decode() == MESSAGE
    assert newest["file:1"] == content


def warning_on(browser: Browser, url: str) -> tuple[int, str | None]:
    """How many wrong-address warnings the page at ``url`` shows, and the address it names."""
    page = new_page(browser, url)
    try:
        response = page.goto("/")
        assert response is not None
        assert response.ok
        warnings = page.locator("aside.wrong-address")
        count = warnings.count()
        named = warnings.locator("code.onion-address").inner_text() if count else None
        return count, named
    finally:
        page.context.close()


def test_the_wrong_address_warning_shows_on_loopback_not_over_the_onion(
    onion_site: OnionSite, onion_browser: BrowserThread
) -> None:
    assert onion_site.settings.onion_hosts == (onion_site.network.source.hostname,)
    over_onion = onion_browser.run(lambda browser: warning_on(browser, onion_site.source_url))
    on_loopback = onion_browser.run(lambda browser: warning_on(browser, onion_site.source.url))
    assert over_onion == (0, None)
    assert on_loopback == (1, onion_site.network.source.hostname)
