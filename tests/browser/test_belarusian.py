"""The source's whole flow once in Belarusian, in Chromium with JavaScript off.

The expected texts come from the compiled Belarusian catalog, so the test
checks that what the source reads is the translation, not English, without
copying translations into the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.support import Translations
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Site
from tests.servers import reply_to_newest_source

pytestmark = pytest.mark.browser

CATALOGS = Path(__file__).resolve().parents[2] / "tipbox" / "translations"
MESSAGE = "Міністэрства хавае справаздачы аб закупках."
REPLY = "Дзякуй. Ці можаце вы даслаць больш дакументаў?"


@pytest.fixture(scope="module")
def be() -> Translations:
    translations = Translations.load(str(CATALOGS), ["be"])
    assert isinstance(translations, Translations), "the Belarusian catalog is not compiled"
    return translations


@pytest.fixture
def page(chromium: Browser, site: Site) -> Iterator[Page]:
    context = chromium.new_context(java_script_enabled=False, base_url=site.source.url)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def heading(page: Page) -> str:
    return page.locator("h1").inner_text().strip()


def test_source_flow_in_belarusian(
    page: Page, site: Site, be: Translations, tmp_path: Path, screenshots: Path
) -> None:
    page.goto("/")
    page.click("nav.languages a[hreflang=be]")
    expect(page.locator("html")).to_have_attribute("lang", "be")
    assert heading(page) == be.gettext("Send us information safely")
    page.screenshot(path=str(screenshots / "source-landing-be.png"), full_page=True)

    page.click(f"text={be.gettext('Send information for the first time')}")
    assert heading(page) == be.gettext("Send information")
    document = tmp_path / "справаздача.txt"
    document.write_bytes("закупкі 2025\n".encode())
    page.fill("#message", MESSAGE)
    page.set_input_files("#files", str(document))
    page.click("form button[type=submit]")

    codename_title = be.gettext("We received your information. Now memorise your codename.")
    expect(page).to_have_url(re.compile(r"/submit/receipt$"))  # post/redirect/get
    expect(page.locator("h1")).to_have_text(codename_title)
    codename = page.locator(".codename strong").inner_text().strip()
    assert len(codename.split()) == 7
    assert codename.isascii()  # English words: typed on any keyboard
    expect(page.locator("html")).to_have_attribute("lang", "be")

    reply_to_newest_source(site.settings, REPLY)
    page.goto("/login")
    page.fill("#codename", codename)
    page.click("form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/replies$"))
    expect(page.locator("html")).to_have_attribute("lang", "be")
    expect(page.locator("body")).to_contain_text(REPLY)
    page.click(f"button:has-text('{be.gettext('Delete this reply')}')")
    expect(page.locator("body")).not_to_contain_text(REPLY)
