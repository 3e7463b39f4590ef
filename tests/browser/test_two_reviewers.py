"""Two reviewers split the work, in a real Chromium with JavaScript off (issue 13).

A source sends a message and a small file through the source app; a second,
unrelated source sends a message too. The admin ``lead`` adds ``reporter``
in the admin pages and ``reporter`` enrols. ``lead`` labels the first source,
assigns it to ``reporter`` and leaves an internal note; ``reporter`` logs in,
finds the source by full-text search and by "Assigned to: me", reads the
note with its author, replies and closes the source. The audit log records
who did what.

Self-contained on the session's shared site: ``lead`` is a new admin with
every newsroom key (made with the recovery identity, as ``init`` makes the
first one), so the test does not depend on the state the other browser tests
leave the first admin in. Only accessible names (labels, roles, button
texts) select controls.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Site, add_admin
from tests.browser.test_journey import (
    Authenticator,
    OpenContext,
    enrol,
    heading,
    log_in,
    newest_designation,
    open_context,  # noqa: F401 (a fixture)
    query,
    shoot,
    totp_secret_on,
)
from tests.servers import FormClient

pytestmark = pytest.mark.browser

MESSAGE = "The harbour dredging contract went to a company owned by the deputy mayor."
OTHER_MESSAGE = "The school canteen serves food weeks past its date."
SEARCH_WORD = "dredging"
FILE_NAME = "contract.txt"
LABEL = "needs lawyer"
NOTE = "Checked the register: the company was founded a week before the tender."
REPLY = "Thank you. Do you have the tender documents themselves?"
LEAD_PASSWORD = "seven quiet herons cross the estuary at dusk"
REPORTER_PASSWORD = "granite lanterns hum beneath the orchard frost"




def submit_in_browser(page: Page, message: str, file: Path) -> None:
    page.goto("/submit")
    page.get_by_label("Your message").fill(message)
    page.get_by_label("Files (optional)").set_input_files(file)
    page.get_by_role("button", name="Send securely").click()
    expect(page.locator("h1")).to_contain_text("Now memorise your codename")


def add_reviewer(page: Page, username: str) -> tuple[str, bytes]:
    """Add a reviewer in the admin pages: its one-time password and TOTP secret."""
    page.get_by_role("navigation", name="Reviewer").get_by_role("link", name="Admin").click()
    assert heading(page) == "Reviewers"
    page.get_by_label("Username").fill(username)
    page.get_by_role("button", name="Add", exact=True).click()
    assert heading(page) == f"New account: {username}"
    return page.locator("code.one-time-password").inner_text().strip(), totp_secret_on(page)


def open_source(page: Page, designation: str) -> None:
    page.get_by_role("link", name=designation, exact=True).click()
    assert heading(page) == designation


def triage(page: Page) -> Locator:
    return page.get_by_role("region", name="Triage")


def entry(page: Page, meta: str) -> Locator:
    """The conversation entry whose line of metadata says ``meta``."""
    return page.get_by_role("listitem").filter(has_text=meta)


def label_assign_and_note(page: Page, assignee: str) -> None:
    page.get_by_label("Add a label").fill(LABEL)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(triage(page)).to_contain_text(f"Labels: {LABEL}")
    expect(triage(page).get_by_role("button", name=f"Remove label {LABEL}")).to_have_count(1)
    page.get_by_label("Assign to", exact=True).select_option(label=assignee)
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(triage(page)).to_contain_text(f"Assigned to: {assignee}")
    expect(triage(page).get_by_role("button", name=f"Unassign {assignee}")).to_have_count(1)
    page.get_by_label("Your note").fill(NOTE)
    page.get_by_role("button", name="Add note").click()
    expect(entry(page, "Internal note by lead")).to_contain_text(NOTE)


def listed(page: Page) -> Locator:
    """The source rows of the list (the header row excluded)."""
    return page.get_by_role("row").filter(has=page.get_by_role("cell"))


def search_for(page: Page, words: str) -> None:
    page.get_by_label("Search", exact=True).fill(words)
    page.get_by_role("button", name="Filter").click()


def only_mine(page: Page) -> None:
    page.get_by_role("link", name="Clear filters").click()
    page.get_by_label("Assigned to", exact=True).select_option("me")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]assignee=me(&|$)"))


def reply_and_close(page: Page) -> None:
    page.get_by_label("Your reply").fill(REPLY)
    page.get_by_role("button", name="Send reply").click()
    expect(entry(page, "Reply by reporter")).to_contain_text(REPLY)
    page.get_by_label("Status", exact=True).select_option(label="closed")
    page.get_by_role("button", name="Set status").click()
    expect(page.get_by_label("Status", exact=True)).to_have_value("closed")


def audit_of(site: Site, designation: str) -> list[tuple[object, ...]]:
    """Who labelled, assigned, noted, replied and set the status of ``designation``."""
    return query(site, "SELECT reviewer, action, target FROM audit_log WHERE designation = ?"
                       " AND action IN ('label', 'assign', 'note', 'reply', 'set status')"
                       " ORDER BY id", designation)


def two_sources(site: Site, page: Page, folder: Path) -> tuple[str, str]:
    """The designations of the source of :data:`MESSAGE` (in the browser) and of another."""
    (folder / FILE_NAME).write_bytes(b"tender 2025-114\n")
    submit_in_browser(page, MESSAGE, folder / FILE_NAME)
    designation = newest_designation(site)
    status, _ = FormClient(site.source.port).submit(OTHER_MESSAGE, [])
    assert status == 200
    other = newest_designation(site)
    assert other != designation
    return designation, other


def lead_adds_reporter(site: Site, lead: Page, reporter: Page) -> Authenticator:
    """``lead`` enrols and adds ``reporter``, who enrols and logs out again."""
    enrol(lead, "lead", add_admin(site, "lead"), LEAD_PASSWORD)
    one_time, secret = add_reviewer(lead, "reporter")
    authenticator = enrol(reporter, "reporter", one_time, REPORTER_PASSWORD)
    assert authenticator.secret == secret
    reporter.get_by_role("button", name="Log out reporter").click()
    return authenticator


def reporter_finds_only_that_source(page: Page, designation: str, other: str) -> None:
    """By a word of the message, then by "Assigned to: me"; ``other`` shows in neither."""
    search_for(page, SEARCH_WORD)
    expect(listed(page)).to_have_count(1)
    expect(listed(page)).to_contain_text(designation)
    only_mine(page)
    expect(listed(page)).to_have_count(1)
    row = listed(page).filter(has_text=designation)
    expect(row).to_contain_text(LABEL)
    expect(row).to_contain_text("reporter")
    expect(page.get_by_role("link", name=other, exact=True)).to_have_count(0)


def test_two_reviewers_split_the_work(
    site: Site, open_context: OpenContext, screenshots: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    designation, other = two_sources(site, open_context(site.source.url), tmp_path)
    lead = open_context(site.reviewer.url)
    reporter = open_context(site.reviewer.url)
    authenticator = lead_adds_reporter(site, lead, reporter)

    lead.get_by_role("link", name="Inbox").click()
    open_source(lead, designation)
    label_assign_and_note(lead, "reporter")
    shoot(lead, screenshots, "two-reviewers-lead-triage")

    log_in(reporter, "reporter", REPORTER_PASSWORD, authenticator.code())
    reporter_finds_only_that_source(reporter, designation, other)
    shoot(reporter, screenshots, "two-reviewers-mine")
    open_source(reporter, designation)
    expect(entry(reporter, "Internal note by lead")).to_contain_text(NOTE)
    reply_and_close(reporter)
    shoot(reporter, screenshots, "two-reviewers-closed")
    reporter.get_by_role("link", name="Inbox").click()
    only_mine(reporter)
    expect(listed(reporter).filter(has_text=designation)).to_contain_text("closed")

    assert audit_of(site, designation) == [
        ("lead", "label", LABEL), ("lead", "assign", "reporter"), ("lead", "note", None),
        ("reporter", "reply", None), ("reporter", "set status", "closed"),
    ]
    assert query(site, "SELECT reviewer FROM audit_log WHERE action = 'add reviewer'"
                       " AND target = 'reporter'") == [("lead",)]
    assert query(site, "SELECT count(*) FROM audit_log WHERE designation = ?"
                       " AND reviewer = 'reporter'", other) == [(0,)]
