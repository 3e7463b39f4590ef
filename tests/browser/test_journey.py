"""The whole story in a real Chromium, JavaScript off, against real gunicorn servers.

A source submits a message and two files and gets a codename; a reviewer
enrols, logs in with a TOTP code, reads, downloads (byte-identical), replies,
stars and deletes; the source comes back with the codename, reads the reply
and deletes it; an admin adds a reviewer, rotates the newsroom key, re-wraps
and destroys the old key, and the new reviewer reads old and new submissions.

The tests run in file order and share :class:`Story`; each skips if the step
it builds on did not happen.
"""

from __future__ import annotations

import base64
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.browser.conftest import Site
from tests.servers import count_rows
from tipbox.services.accounts.totp import TOTP_STEP_SECONDS, totp_code

pytestmark = pytest.mark.browser

MESSAGE = "The ministry's procurement office is paying invoices twice."
SECOND_MESSAGE = "More: the second set of invoices, sent after the key rotation."
REPLY = "Thank you. Can you tell us which year these invoices are from?"
PASSWORD = "a long passphrase for the test admin"
DESK_PASSWORD = "another long passphrase for the desk"
BIG_NAME = "invoices-2025.pdf"
SMALL_NAME = "notes – é.txt"

OpenContext = Callable[[str], Page]


@dataclass
class Authenticator:
    """A reviewer's authenticator app on the real clock; never repeats a time step."""

    secret: bytes
    last_step: int = 0

    def code(self) -> str:
        """A code for the current step or, if that one was used, the next (within drift)."""
        step = max(int(time.time()) // TOTP_STEP_SECONDS, self.last_step + 1)
        while step > int(time.time()) // TOTP_STEP_SECONDS + 1:
            time.sleep(0.5)
        self.last_step = step
        return totp_code(self.secret, step * TOTP_STEP_SECONDS)


@dataclass
class Story:
    """The files the source sends, and what earlier steps established for later ones."""

    folder: Path
    files: dict[str, bytes]
    codename: str | None = None
    designation: str | None = None
    admin: Authenticator | None = None
    replied: bool = False

    def need(self, *names: str) -> None:
        missing = [name for name in names if not getattr(self, name)]
        if missing:
            pytest.skip(f"an earlier step failed (no {', '.join(missing)})")


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    folder = tmp_path_factory.mktemp("uploads")
    files = {BIG_NAME: os.urandom(6 * 1024 * 1024 + 12345), SMALL_NAME: b"paid twice\n"}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return Story(folder, files)


def new_page(chromium: Browser, base_url: str) -> Page:
    """A page in a fresh browser profile with JavaScript disabled."""
    context = chromium.new_context(
        java_script_enabled=False, base_url=base_url, accept_downloads=True,
        viewport={"width": 1100, "height": 900},
    )
    context.set_default_timeout(30_000)
    return context.new_page()


@pytest.fixture
def open_context(chromium: Browser) -> Iterator[OpenContext]:
    """``open_context(base_url)``: :func:`new_page`, closed after the test."""
    contexts: list[BrowserContext] = []

    def open_(base_url: str) -> Page:
        page = new_page(chromium, base_url)
        contexts.append(page.context)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def admin_page(chromium: Browser, site: Site) -> Iterator[Page]:
    """The admin's browser, kept across tests: a new login would need a new TOTP step."""
    page = new_page(chromium, site.reviewer.url)
    yield page
    page.context.close()


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def heading(page: Page) -> str:
    return page.locator("h1").inner_text().strip()


def query(site: Site, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Rows of ``sql`` through a separate read-only connection."""
    conn = sqlite3.connect(f"file:{site.settings.database_path}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in conn.execute(sql, args)]
    finally:
        conn.close()


def newest_designation(site: Site) -> str:
    return str(query(site, "SELECT designation FROM sources ORDER BY id DESC LIMIT 1")[0][0])


def items_of(site: Site, designation: str) -> int:
    return int(query(site, "SELECT count(*) FROM items JOIN sources ON sources.id = source_id"
                           " WHERE designation = ?", designation)[0][0])


def key_states(site: Site) -> list[str]:
    return [str(row[0]) for row in query(site, "SELECT state FROM newsroom_keys ORDER BY id")]


def totp_secret_on(page: Page) -> bytes:
    text = page.locator("code.totp-secret").inner_text().replace(" ", "")
    return base64.b32decode(text + "=" * (-len(text) % 8))


def log_in(page: Page, username: str, password: str, code: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.fill("#code", code)
    page.click("button:has-text('Log in')")


def enrol(page: Page, username: str, one_time: str, new_password: str,
          screenshot: Path | None = None) -> Authenticator:
    """First login with the one-time password, then the enrolment form; ends in the inbox."""
    log_in(page, username, one_time, "")
    expect(page).to_have_url(re.compile(r"/enrol$"))
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    authenticator = Authenticator(totp_secret_on(page))
    page.fill("#new_password", new_password)
    page.fill("#confirm_password", new_password)
    page.fill("#code", authenticator.code())
    page.click("button:has-text('Activate my account')")
    expect(page.locator("h1")).to_have_text("Sources")
    return authenticator


def destroy_retired_key(page: Page) -> None:
    retired = page.locator("table.keys tr", has_text="retired")
    retired.locator("input[name=confirm]").check()
    retired.locator("button:has-text('Destroy')").click()


def pass_a_day_since_retirement(site: Site) -> None:
    """Move the retirement back 26 hours: a key is destroyable one day after retiring."""
    conn = sqlite3.connect(site.settings.database_path)
    try:
        with conn:
            conn.execute("UPDATE newsroom_keys SET retired_hour = retired_hour - 26 * 3600"
                         " WHERE state = 'retired'")
    finally:
        conn.close()


def entry_for_file(page: Page, name: str) -> Locator:
    return page.locator("li.entry.file").filter(has=page.locator("p.file-name", has_text=name))


def test_source_submits_message_and_files(
    site: Site, story: Story, open_context: OpenContext, screenshots: Path
) -> None:
    submissions = count_rows(site.settings, "submissions")
    page = open_context(site.source.url)
    page.goto("/")
    assert heading(page) == "Send us information safely"
    expect(page.locator(".fingerprint code")).to_have_text(site.init.fingerprint)
    shoot(page, screenshots, "source-landing")

    page.click("text=Send information for the first time")
    assert heading(page) == "Send information"
    shoot(page, screenshots, "source-submit")
    page.fill("#message", MESSAGE)
    page.set_input_files("#files", [str(story.folder / name) for name in story.files])
    page.click("button:has-text('Send securely')")

    expect(page).to_have_url(re.compile(r"/submit/receipt$"))  # post/redirect/get
    expect(page.locator("h1")).to_contain_text("Now memorise your codename")
    codename = page.locator(".codename strong").inner_text().strip()
    assert len(codename.split()) == 7
    shoot(page, screenshots, "source-codename")
    cookies = page.context.cookies()
    assert {cookie["name"] for cookie in cookies} <= {"session"}
    assert all(c["httpOnly"] and c["sameSite"] == "Strict" for c in cookies)
    assert count_rows(site.settings, "submissions") == submissions + 1
    story.designation = newest_designation(site)
    assert items_of(site, story.designation) == 4  # message, two files, manifest

    # The source leaves: nothing on the codename page keeps it logged in.
    page.click("text=I have memorised my codename")
    assert heading(page) == "Send us information safely"
    expect(page.locator("form.logout")).to_have_count(0)
    story.codename = codename


def test_reviewer_enrols_reads_downloads_replies_stars_deletes(
    site: Site, story: Story, admin_page: Page, screenshots: Path
) -> None:
    story.need("designation")
    page = admin_page
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    shoot(page, screenshots, "reviewer-login")
    admin = enrol(page, "admin", site.first_admin.password, PASSWORD,
                  screenshots / "reviewer-enrol.png")
    assert admin.secret == site.first_admin.totp_secret
    story.admin = admin

    # Log out, then a normal login: password and a code computed here.
    page.click("button:has-text('Log out admin')")
    expect(page).to_have_url(re.compile(r"/login$"))
    log_in(page, "admin", PASSWORD, admin.code())
    expect(page.locator("h1")).to_have_text("Sources")
    shoot(page, screenshots, "reviewer-inbox")

    page.click(f"a:has-text('{story.designation}')")
    assert heading(page) == story.designation
    expect(page.locator(".entry.message .message-text")).to_have_text(MESSAGE)
    for name, content in story.files.items():
        with page.expect_download() as info:
            entry_for_file(page, name).locator("a:has-text('Download')").click()
        download = info.value
        assert download.suggested_filename == name
        assert Path(download.path()).read_bytes() == content
    shoot(page, screenshots, "reviewer-source")

    page.fill("#reply", REPLY)
    page.click("button:has-text('Send reply')")
    expect(page.locator(".entry.reply .message-text")).to_have_text(REPLY)
    story.replied = True

    page.click("button:has-text('Star')")
    expect(page.locator("h1 .star")).to_have_count(1)
    page.goto("/")
    expect(page.locator("tr", has_text=story.designation).locator(".star")).to_have_count(1)

    page.click(f"a:has-text('{story.designation}')")
    blobs_before = len(list(site.settings.blobs_dir.iterdir()))
    entry_for_file(page, SMALL_NAME).locator("button:has-text('Delete')").click()
    assert heading(page) == "Delete this item for good?"  # asks first, names the file
    expect(page.locator("main")).to_contain_text(SMALL_NAME)
    assert len(list(site.settings.blobs_dir.iterdir())) == blobs_before
    shoot(page, screenshots, "reviewer-confirm-delete-item")
    page.click("button:has-text('Delete it')")
    expect(entry_for_file(page, SMALL_NAME)).to_have_count(0)
    expect(entry_for_file(page, BIG_NAME)).to_have_count(1)
    assert len(list(site.settings.blobs_dir.iterdir())) == blobs_before - 1


def source_log_in(page: Page, codename: str) -> None:
    page.goto("/")
    page.click("text=I already have a codename")
    assert heading(page) == "Enter your codename"
    page.fill("#codename", codename)
    page.click("button:has-text('Continue')")
    assert heading(page) == "Replies from our journalists"


def test_source_returns_reads_and_deletes_the_reply(
    site: Site, story: Story, open_context: OpenContext, screenshots: Path
) -> None:
    story.need("codename", "replied")
    page = open_context(site.source.url)
    page.goto("/login")
    shoot(page, screenshots, "source-login")
    source_log_in(page, story.codename or "")
    expect(page.locator(".reply-text")).to_have_text(REPLY)
    shoot(page, screenshots, "source-replies")

    page.click("button:has-text('Delete this reply')")
    expect(page.locator(".reply-text")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("There are no replies yet.")
    # The source's copy is gone; the newsroom keeps its own, marked deleted by the source.
    assert items_of(site, story.designation or "") == 4  # message, big file, manifest, reply
    deleted = query(site, "SELECT count(*) FROM items JOIN sources ON sources.id = source_id"
                          " WHERE kind = 'reply' AND source_deleted_hour IS NOT NULL"
                          " AND designation = ?", story.designation)
    assert deleted[0][0] == 1

    page.click("button:has-text('Log out')")
    assert heading(page) == "You are logged out"
    expect(page.locator("main")).to_contain_text("close Tor Browser")
    page.goto("/replies")
    assert heading(page) == "Enter your codename"


def test_admin_rotates_and_a_new_reviewer_reads_old_and_new(
    site: Site, story: Story, admin_page: Page, open_context: OpenContext, screenshots: Path
) -> None:
    story.need("admin", "codename", "designation")
    page = admin_page
    page.goto("/")
    assert heading(page) == "Sources"  # still logged in since the test above
    page.click("nav.reviewer-nav >> text=Admin")
    assert heading(page) == "Reviewers"
    shoot(page, screenshots, "admin-reviewers")

    page.fill("#username", "desk")
    page.click("button:has-text('Add')")
    assert heading(page) == "New account: desk"
    one_time = page.locator("code.one-time-password").inner_text().strip()
    desk_secret = totp_secret_on(page)

    page.click("nav.admin-nav >> text=Keys")
    page.click("button:has-text('Rotate the newsroom key')")
    assert heading(page) == "Rotate the newsroom key?"  # asks first: nothing rotated yet
    assert key_states(site) == ["active"]
    shoot(page, screenshots, "admin-keys-confirm-rotation")
    page.click("button:has-text('Rotate now')")
    expect(page.locator(".notice")).to_contain_text("is active")
    expect(page.locator(".publish")).to_contain_text("Publish the new fingerprint")
    assert key_states(site) == ["retired", "active"]
    shoot(page, screenshots, "admin-keys-rotated")

    # The source app encrypts to the new key at once: a second submission.
    source = open_context(site.source.url)
    source.goto("/")
    expect(source.locator(".fingerprint code")).not_to_have_text(site.init.fingerprint)
    source_log_in(source, story.codename or "")
    source.fill("#message", SECOND_MESSAGE)
    source.click("button:has-text('Send securely')")
    assert heading(source) == "We received your information"
    shoot(source, screenshots, "source-received")

    while page.locator("button:has-text('Re-wrap'), button:has-text('Continue re-wrapping')"
                       ).count():
        page.locator("button:has-text('Re-wrap'), button:has-text('Continue re-wrapping')").click()
    expect(page.locator("main")).to_contain_text("Nothing depends on a retired key any more")
    destroy_retired_key(page)
    expect(page.locator(".error")).to_contain_text("retired less than 24 hours ago")
    pass_a_day_since_retirement(site)
    destroy_retired_key(page)
    expect(page.locator(".notice")).to_contain_text("is destroyed")
    assert key_states(site) == ["destroyed", "active"]

    desk = open_context(site.reviewer.url)
    authenticator = enrol(desk, "desk", one_time, DESK_PASSWORD)
    assert authenticator.secret == desk_secret
    desk.click(f"a:has-text('{story.designation}')")
    texts = desk.locator(".entry.message .message-text").all_inner_texts()
    assert [text.strip() for text in texts] == [MESSAGE, SECOND_MESSAGE]
    with desk.expect_download() as info:
        entry_for_file(desk, BIG_NAME).locator("a:has-text('Download')").click()
    assert Path(info.value.path()).read_bytes() == story.files[BIG_NAME]
