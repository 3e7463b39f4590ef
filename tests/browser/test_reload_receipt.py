"""Chromium reloads the receipt page: the same form is never sent twice (issue 14)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import Site
from tests.browser.test_journey import OpenContext, open_context
from tests.servers import count_rows

__all__ = ["open_context"]  # the fixture, reused


def test_reloading_the_receipt_sends_nothing_again(
    site: Site, open_context: OpenContext, tmp_path: Path
) -> None:
    document = tmp_path / "minutes.txt"
    document.write_bytes(b"the minutes\n" * 100)
    sources = count_rows(site.settings, "sources")
    submissions = count_rows(site.settings, "submissions")
    page = open_context(site.source.url)
    page.goto("/submit")
    page.fill("#message", "reload me")
    page.set_input_files("#files", str(document))
    page.click("button:has-text('Send securely')")

    expect(page).to_have_url(re.compile(r"/submit/receipt$"))
    codename = page.locator(".codename strong").inner_text().strip()
    assert len(codename.split()) == 7
    expect(page.locator(".receipt-files")).to_contain_text("minutes.txt (1.17 KB)")

    page.reload()
    expect(page.locator("h1")).to_have_text("This receipt was already shown")
    expect(page.locator(".codename")).to_have_count(0)
    assert count_rows(site.settings, "sources") == sources + 1
    assert count_rows(site.settings, "submissions") == submissions + 1
