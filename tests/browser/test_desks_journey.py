"""Desks in a real Chromium (issue 15): a source picks the legal desk and answers its
questions; only the legal desk's reviewers see the answers.

The admin enrols and, in the admin pages, creates the desk ``legal`` (a
member of it, so that its session holds the desk's key and can grant it),
puts a required short question and an optional choice on its form, and adds
``lena`` (legal desk only) and ``dan`` (the default desk only). A source,
with JavaScript off, sees both desks' fingerprints on the landing page,
chooses the legal desk on the radio list, is refused (the question named,
nothing kept) for a blank answer to the required question, goes back,
answers, writes, attaches a file and gets a codename. Lena reads the
labelled answers, the message and the file; dan's inbox does not list the
source, and its page and its file answer 404. axe-core checks the desk
choice and the legal desk's form.

This module runs its own instance: a second desk changes the landing page and
the submit flow that the other browser tests expect of the session's site.
The tests run in file order and share :class:`Journey`; each skips if the
step it builds on did not happen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Site
from tests.browser.test_accessibility import violations
from tests.browser.test_journey import (
    OpenContext,
    enrol,
    heading,
    newest_designation,
    open_context,
    shoot,
    totp_secret_on,
)
from tests.servers import AppServer, count_rows, init_with_first_admin, instance_env, process_env
from tipbox.config import load_settings

__all__ = ["open_context"]  # the fixture, reused

pytestmark = pytest.mark.browser

LEGAL = "Legal desk"
LEGAL_DESCRIPTION = "Court cases, lawyers and contracts."
COURT = "Which court is the case in?"
COURT_ANSWER = "The regional administrative court"
ORIGIN = "How did you get the documents?"
ORIGINS = ("At work", "From a colleague", "Other")
MESSAGE = "The ministry's lawyers were told to lose the appeal on purpose."
FILE_NAME = "appeal-memo.txt"
FILE_CONTENT = b"Instruction: do not file the evidence before the deadline.\n"
PASSWORDS = {"admin": "the admin sets up a desk for the lawyers",
             "lena": "lena reads what the legal desk receives",
             "dan": "dan reads only the newsroom desk"}


@dataclass
class Journey:
    """What earlier steps established for later ones."""

    legal_fingerprint: str | None = None
    one_time: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    designation: str | None = None
    source_path: str | None = None
    file_path: str | None = None

    def need(self, *names: str) -> None:
        missing = [name for name in names if not getattr(self, name)]
        if missing:
            pytest.skip(f"an earlier step failed (no {', '.join(missing)})")


@pytest.fixture(scope="module")
def journey() -> Journey:
    return Journey()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """This module's own instance (one desk at first) and its two servers."""
    base = tmp_path_factory.mktemp("desks-site")
    values = instance_env(base)
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


def create_legal_desk(page: Page) -> str:
    """Create the desk ``legal`` with the admin as a member; its key's fingerprint."""
    page.click("nav.admin-nav >> text=Desks")
    assert heading(page) == "Desks"
    page.fill("#slug", "legal")
    page.fill("#desk_name_en", LEGAL)
    page.fill("#desk_description_en", LEGAL_DESCRIPTION)
    page.locator("fieldset", has_text="Members").get_by_label("admin", exact=True).check()
    page.click("button:has-text('Create the desk and its key')")
    expect(page.locator("h1")).to_contain_text(LEGAL)
    shown = re.search(r"Its key's fingerprint is (.+): publish it",
                      page.locator(".message").inner_text())
    assert shown is not None
    return shown.group(1)


def add_question(page: Page, kind: str, label: str, *, required: bool,
                 choices: tuple[str, ...] = ()) -> None:
    page.select_option("#kind", kind)
    page.set_checked("#required", required)
    page.fill("#q_label_en", label)
    page.fill("#q_choices_en", "\n".join(choices))
    page.click("button:has-text('Add the question')")
    expect(page.locator(".message")).to_have_text("The question is on the form.")


def add_reviewer(page: Page, username: str, desk: str) -> tuple[str, bytes]:
    """A reviewer of ``desk`` only; its one-time password and TOTP secret."""
    page.click("nav.admin-nav >> text=Reviewers")
    page.fill("#username", username)
    page.get_by_label(desk, exact=True).check()
    page.get_by_role("button", name="Add", exact=True).click()
    assert heading(page) == f"New account: {username}"
    return page.locator("code.one-time-password").inner_text().strip(), totp_secret_on(page)


def test_admin_creates_the_legal_desk_its_questions_and_reviewers(
    site: Site, journey: Journey, open_context: OpenContext, screenshots: Path
) -> None:
    page = open_context(site.reviewer.url)
    enrol(page, "admin", site.first_admin.password, PASSWORDS["admin"])
    page.click("nav.reviewer-nav >> text=Admin")
    fingerprint = create_legal_desk(page)
    assert fingerprint != site.init.fingerprint
    add_question(page, "short", COURT, required=True)
    add_question(page, "choice", ORIGIN, required=False, choices=ORIGINS)
    questions = page.locator("ol.questions > li")
    expect(questions).to_have_count(2)
    expect(questions.nth(0)).to_contain_text(f"{COURT} · short text · required")
    expect(questions.nth(1)).to_contain_text(" / ".join(ORIGINS))
    shoot(page, screenshots, "admin-desk-legal")

    journey.one_time["lena"] = add_reviewer(page, "lena", LEGAL)
    journey.one_time["dan"] = add_reviewer(page, "dan", "Newsroom")
    journey.legal_fingerprint = fingerprint


def choose_legal_desk(page: Page, site: Site, journey: Journey, screenshots: Path) -> None:
    """From the landing page (both desks' fingerprints) to the legal desk's form."""
    page.goto("/")
    keys = page.locator("ul.desk-keys > li")
    expect(keys).to_have_count(2)
    expect(keys.nth(0)).to_contain_text(f"Newsroom: {site.init.fingerprint}")
    expect(keys.nth(1)).to_contain_text(f"{LEGAL}: {journey.legal_fingerprint}")
    page.click("text=Send information for the first time")
    assert heading(page) == "Who should receive your information?"
    shoot(page, screenshots, "source-choose-desk")
    expect(page.locator("input[name=desk]")).to_have_count(2)
    expect(page.get_by_label(LEGAL)).to_be_visible()  # the label holds the description too
    expect(page.locator("main")).to_contain_text(LEGAL_DESCRIPTION)
    page.get_by_label(LEGAL).check()
    page.click("button:has-text('Continue')")
    expect(page).to_have_url(re.compile(r"/submit\?desk=legal$"))
    assert heading(page) == "Send information"
    expect(page.locator(".desk-chosen")).to_contain_text(f"To: {LEGAL}.")


def test_source_picks_the_legal_desk_and_answers_its_questions(
    site: Site, journey: Journey, open_context: OpenContext, screenshots: Path, tmp_path: Path
) -> None:
    journey.need("legal_fingerprint")
    page = open_context(site.source.url)
    choose_legal_desk(page, site, journey, screenshots)
    court = page.get_by_label(COURT)
    expect(court).to_have_attribute("required", "")
    expect(page.locator("fieldset.question legend")).to_have_text(ORIGIN)
    shoot(page, screenshots, "source-submit-legal")

    # Spaces get past the browser's own check of a required field, not past ours.
    submissions = count_rows(site.settings, "submissions")
    court.fill("   ")
    page.get_by_label("Your message").fill(MESSAGE)
    page.click("button:has-text('Send securely')")
    assert heading(page) == "Please check the form"
    expect(page.locator("main")).to_contain_text(f"Please answer the question “{COURT}”.")
    expect(page.locator("main")).to_contain_text("Nothing you sent was kept.")
    assert count_rows(site.settings, "submissions") == submissions

    page.go_back()
    expect(page.get_by_label("Your message")).to_have_value(MESSAGE)
    page.get_by_label(COURT).fill(COURT_ANSWER)
    page.get_by_label(ORIGINS[1]).check()
    document = tmp_path / FILE_NAME
    document.write_bytes(FILE_CONTENT)
    page.get_by_label("Files (optional)").set_input_files(document)
    page.click("button:has-text('Send securely')")
    expect(page).to_have_url(re.compile(r"/submit/receipt$"))
    expect(page.locator("h1")).to_contain_text("Now memorise your codename")
    assert len(page.locator(".codename strong").inner_text().split()) == 7
    assert count_rows(site.settings, "submissions") == submissions + 1
    journey.designation = newest_designation(site)


def test_only_the_legal_desks_reviewer_sees_the_answers(
    site: Site, journey: Journey, open_context: OpenContext, screenshots: Path
) -> None:
    journey.need("designation", "one_time")
    designation = journey.designation or ""
    lena = open_context(site.reviewer.url)
    enrol(lena, "lena", journey.one_time["lena"][0], PASSWORDS["lena"])
    lena.click(f"a:has-text('{designation}')")
    assert heading(lena) == designation
    expect(lena.locator("p.desk")).to_have_text(f"Desk: {LEGAL}")
    answers = lena.locator("dl.answers")
    expect(answers.locator("dt")).to_have_text([COURT, ORIGIN])
    expect(answers.locator("dd")).to_have_text([COURT_ANSWER, ORIGINS[1]])
    expect(lena.locator(".entry.message .message-text")).to_have_text(MESSAGE)
    download = lena.locator("li.entry.file", has_text=FILE_NAME).get_by_role("link",
                                                                             name="Download")
    with lena.expect_download() as info:
        download.click()
    assert Path(info.value.path()).read_bytes() == FILE_CONTENT
    shoot(lena, screenshots, "reviewer-legal-answers")
    journey.source_path = lena.url.removeprefix(site.reviewer.url)
    journey.file_path = download.get_attribute("href")

    dan = open_context(site.reviewer.url)
    enrol(dan, "dan", journey.one_time["dan"][0], PASSWORDS["dan"])
    expect(dan.locator("main")).not_to_contain_text(designation)
    for path in (journey.source_path, journey.file_path):
        response = dan.goto(path or "")
        assert response is not None
        assert response.status == 404, path


@pytest.fixture
def axe_page(chromium: Browser, site: Site) -> Iterator[Page]:
    """A source page with JavaScript on, for axe alone (the pages forbid their own scripts)."""
    context = chromium.new_context(base_url=site.source.url)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def test_desk_choice_and_legal_form_have_no_serious_violation(
    journey: Journey, axe_page: Page, axe_source: str
) -> None:
    journey.need("legal_fingerprint")
    for path in ("/submit", "/submit?desk=legal"):
        axe_page.goto(path)
        assert violations(axe_page, axe_source) == [], path
