"""axe-core on every page a source can reach, and on the reviewer and admin pages
(filtered list, triaged source, the confirmation pages): no serious or critical violation.

axe needs JavaScript, so these pages are loaded in a context with JavaScript
on; the pages' CSP (``default-src 'none'``) forbids page scripts, but
Playwright's ``evaluate`` runs through the DevTools protocol, which CSP does
not govern, so the pages are checked exactly as served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Site, add_admin
from tests.browser.test_journey import enrol, heading, shoot
from tests.servers import reply_to_newest_source

pytestmark = pytest.mark.browser

BLOCKING = ("serious", "critical")
_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => ["serious", "critical"].includes(v.impact))
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" "))}));
}"""


@pytest.fixture
def page(chromium: Browser, site: Site) -> Iterator[Page]:
    context = chromium.new_context(base_url=site.source.url)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def violations(page: Page, axe_source: str) -> list[dict[str, object]]:
    page.evaluate(axe_source)
    return list(page.evaluate(_RUN_AXE))


def check(page: Page, axe_source: str, checked: list[str]) -> None:
    found = violations(page, axe_source)
    assert found == [], f"{page.url}:\n{json.dumps(found, indent=2)}"
    checked.append(page.locator("title").inner_text())


def test_every_source_page_has_no_serious_violation(page: Page, site: Site,
                                                     axe_source: str) -> None:
    checked: list[str] = []
    page.goto("/")
    assert page.evaluate("typeof axe") == "undefined"  # nothing but our own script runs
    check(page, axe_source, checked)
    page.goto("/submit")
    check(page, axe_source, checked)
    page.click("button:has-text('Send securely')")  # nothing to send: the error page
    assert page.locator("h1").count() == 1
    check(page, axe_source, checked)

    page.goto("/submit")
    page.fill("#message", "accessibility check")
    page.click("button:has-text('Send securely')")
    codename = page.locator(".codename strong").inner_text()
    check(page, axe_source, checked)
    page.reload()  # the one-time receipt, viewed again
    expect(page.locator(".codename")).to_have_count(0)
    check(page, axe_source, checked)

    page.goto("/login")
    check(page, axe_source, checked)
    page.fill("#codename", "not a real codename at all")
    page.click("button:has-text('Continue')")
    check(page, axe_source, checked)

    reply_to_newest_source(site.settings, "A reply, so that the replies page shows one.")
    page.goto("/login")
    page.fill("#codename", codename)
    page.click("button:has-text('Continue')")
    expect(page.locator(".reply-text")).to_have_count(1)
    check(page, axe_source, checked)
    page.fill("#message", "more information")
    page.click("button:has-text('Send securely')")
    check(page, axe_source, checked)
    page.click("button:has-text('Log out')")  # the closing advice
    check(page, axe_source, checked)

    page.goto("/no-such-page")
    check(page, axe_source, checked)
    assert len(set(checked)) == len(checked) == 11, checked




def triaged_source(page: Page) -> None:
    """On a source's page: a label, an assignment to me and a note."""
    page.fill("#new-label", "axe label")
    page.click(".triage button:has-text('Add')")
    page.click(".triage button:has-text('Assign')")
    page.fill("#note", "A note, so that the page shows one.")
    page.click("button:has-text('Add note')")
    expect(page.locator(".entry.note")).to_have_count(1)


def test_every_reviewer_and_admin_page_has_no_serious_violation(
        chromium: Browser, site: Site, axe_source: str, screenshots: Path) -> None:
    checked: list[str] = []
    source = chromium.new_context(base_url=site.source.url).new_page()
    source.goto("/submit")
    source.fill("#message", "a source for the reviewer pages")
    source.click("button:has-text('Send securely')")
    source.context.close()
    context = chromium.new_context(base_url=site.reviewer.url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto("/login")
    check(page, axe_source, checked)
    enrol(page, "axe", add_admin(site, "axe"), "axe checks every page of the desk")
    page.goto("/?status=new&unread=1&order=newest")
    check(page, axe_source, checked)
    page.click("table.sources a")
    triaged_source(page)
    check(page, axe_source, checked)
    page.locator(".entry.message button:has-text('Delete')").first.click()
    assert heading(page) == "Delete this item for good?"
    check(page, axe_source, checked)
    page.goto("/")
    page.locator("table.sources input[type=checkbox]").first.check()
    page.select_option("#bulk-action", "delete")
    page.click("button:has-text('Apply')")
    assert heading(page) == "Delete these sources for good?"
    check(page, axe_source, checked)
    for path in ("/admin/reviewers", "/admin/retention", "/admin/settings", "/admin/audit",
                 "/admin/keys"):
        page.goto(path)
        check(page, axe_source, checked)
    page.click("button:has-text('Rotate the newsroom key')")
    assert heading(page) == "Rotate the newsroom key?"  # asked only: nothing rotates
    check(page, axe_source, checked)
    shoot(page, screenshots, "admin-keys-confirm-rotation")
    context.close()
    assert len(set(checked)) == len(checked) == 11, checked


PHONE = {"width": 390, "height": 844}
_OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def fits(page: Page, seen: list[str]) -> None:
    """No horizontal scroll at the page's width."""
    assert page.evaluate(_OVERFLOW) <= 0, f"{page.url} scrolls sideways at {PHONE['width']} px"
    seen.append(page.url)


def test_every_source_page_fits_a_phone(chromium: Browser, site: Site, tmp_path: Path) -> None:
    context = chromium.new_context(base_url=site.source.url, viewport=PHONE)
    context.set_default_timeout(30_000)
    page = context.new_page()
    seen: list[str] = []
    try:
        for path in ("/", "/submit", "/login", "/no-such-page"):
            page.goto(path)
            fits(page, seen)
        page.goto("/submit")
        page.click("button:has-text('Send securely')")  # the refusal page
        fits(page, seen)
        long_name = tmp_path / ("a-very-long-file-name-without-any-space-" * 3 + ".pdf")
        long_name.write_bytes(b"%PDF-1.4 phone")
        page.goto("/submit")
        page.fill("#message", "phone width check")
        page.set_input_files("input[type=file]", str(long_name))
        page.click("button:has-text('Send securely')")
        codename = page.locator(".codename strong").inner_text()
        fits(page, seen)  # the receipt, with a long unbroken name
        page.goto("/login")
        page.fill("#codename", codename)
        page.click("button:has-text('Continue')")
        fits(page, seen)
        page.click("button:has-text('Log out')")
        fits(page, seen)  # the closing advice
    finally:
        context.close()
    assert len(seen) == 8, seen
