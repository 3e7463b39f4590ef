"""Security keys (issue 17) in a real Chromium with its virtual authenticator.

The reviewer app runs under gunicorn (``tests/servers.py``) on its own
instance and is browsed as ``http://localhost:<port>``: WebAuthn needs a
secure context and a host name for the RP ID, and Chromium counts loopback
``localhost`` as potentially trustworthy. Each reviewer's browser context
gets a virtual authenticator through the DevTools protocol
(``WebAuthn.addVirtualAuthenticator``), with the PRF extension (``hasPrf``)
or without it. Accounts are made and enrolled in-process, as ``init`` and
the admin pages would, so that each spends one TOTP step before its browser
logs in with the next.

Shown here: registration and login with a key; a PRF key opens the
reviewer's identity by itself (the password's seal destroyed, a submission
still decrypts), a key without PRF does not; a cloned credential whose
counter is behind is refused while the original goes on; another origin gets
no answer from the key; an admin requires keys (codes refused, a keyless
account confined to adding one); a reset drops the account's keys. Only the
key pages carry a script; axe finds no serious violation on them.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, CDPSession, Page, expect

from tests.browser.test_accessibility import violations
from tests.browser.test_journey import Authenticator, heading, log_in
from tests.servers import AppServer, init_with_first_admin, instance_env, process_env
from tipbox.config import Settings, load_settings
from tipbox.crypto import parse_identity
from tipbox.services.accounts.reviewers import create_first_admin
from tipbox.services.accounts.totp import Enrolment
from tipbox.services.wiring import ReviewerServices, open_instance
from tipbox.web.headers import CONTENT_SECURITY_POLICY, SCRIPT_PAGE_POLICY

pytestmark = pytest.mark.browser

MESSAGE = "The port authority signed the dredging contract twice."
PEOPLE = {  # username: is an admin
    "ada": True, "pia": False, "nils": False, "kim": False,
}
LOGIN_FAILED = "That username, password and code did not work together."
KEY_LOGIN_FAILED = "That username, password and security key did not work together."


@dataclass
class Reviewer:
    username: str
    password: str
    totp: Authenticator


@dataclass
class KeySite:
    settings: Settings
    server: AppServer
    people: dict[str, Reviewer]

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server.port}"

    def sql(self, statement: str, *args: object) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.settings.database_path)
        try:
            with conn:
                return [tuple(row) for row in conn.execute(statement, args)]
        finally:
            conn.close()

    def keys_of(self, username: str) -> list[tuple[Any, ...]]:
        """(name, sign_count, PRF-sealed) of the account's keys."""
        return self.sql("SELECT c.name, c.sign_count, c.sealed_identity IS NOT NULL"
                        " FROM webauthn_credentials c JOIN reviewers r ON r.id = c.reviewer_id"
                        " WHERE r.username = ? ORDER BY c.id", username)


def _enrol(services: ReviewerServices, enrolment: Enrolment) -> Reviewer:
    """Enrol in-process with the first code; the browser's login takes the next one."""
    totp = Authenticator(enrolment.totp_secret)
    password = f"{enrolment.username} walks the long quiet harbour road"
    token = services.logins.login(enrolment.username, enrolment.password, "").token
    services.logins.complete_enrolment(token, password, totp.code())
    return Reviewer(enrolment.username, password, totp)


@pytest.fixture(scope="module")
def key_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeySite]:
    base = tmp_path_factory.mktemp("security-keys")
    values = instance_env(base)
    settings = load_settings(values)
    init, _ = init_with_first_admin(settings)
    instance = open_instance(settings)
    try:
        services = ReviewerServices.open(instance)
        keys = instance.keyring.open_identities(parse_identity(init.recovery_identity))
        people = {}
        for name, is_admin in PEOPLE.items():
            if is_admin:
                enrolment = create_first_admin(services.reviewers, instance.keyring,
                                               init.recovery_identity, username=name)
            else:
                enrolment = services.admin.accounts.add(name, is_admin=False,
                                                        identities=keys)[1]
            people[name] = _enrol(services, enrolment)
        draft = instance.submissions.start(None)
        draft.add_message(MESSAGE)
        draft.commit()
    finally:
        instance.close()
    server = AppServer("reviewer", process_env(values), base / "reviewer.log")
    server.start()
    try:
        yield KeySite(settings, server, people)
    finally:
        server.stop()


@dataclass
class KeyBrowser:
    """A browser context with JavaScript on and a virtual authenticator."""

    page: Page
    cdp: CDPSession
    authenticator_id: str

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials",
                              {"authenticatorId": self.authenticator_id})
        return list(found["credentials"])


class Browsers:
    """One :class:`KeyBrowser` per name, kept for the module (its authenticator holds
    the keys registered in earlier tests, its cookie the session)."""

    def __init__(self, chromium: Browser, url: str) -> None:
        self._chromium = chromium
        self._url = url
        self._open: dict[str, KeyBrowser] = {}

    def __call__(self, name: str, *, prf: bool = False) -> KeyBrowser:
        if name not in self._open:
            self._open[name] = self._new(prf)
        return self._open[name]

    def _new(self, prf: bool) -> KeyBrowser:
        context = self._chromium.new_context(base_url=self._url,
                                             viewport={"width": 1100, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto("/login")
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        options = {"protocol": "ctap2", "transport": "usb", "hasResidentKey": True,
                   "hasUserVerification": True, "isUserVerified": True,
                   "automaticPresenceSimulation": True, "hasPrf": prf}
        added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
        return KeyBrowser(page, cdp, added["authenticatorId"])

    def close(self) -> None:
        for browser in self._open.values():
            browser.page.context.close()


@pytest.fixture(scope="module")
def browsers(chromium: Browser, key_site: KeySite) -> Iterator[Browsers]:
    opened = Browsers(chromium, key_site.url)
    yield opened
    opened.close()


def code_login(page: Page, person: Reviewer) -> None:
    log_in(page, person.username, person.password, person.totp.code())


def add_key(page: Page, person: Reviewer, name: str) -> str:
    """Add a key on the account page (through the navigation); returns the notice."""
    page.get_by_role("navigation", name="Reviewer").get_by_role(
        "link", name="Security keys").click()
    assert heading(page) == "Security keys"
    page.get_by_label("Name of the key").fill(name)
    page.fill("#key-password", person.password)
    page.get_by_role("button", name="Add a security key").click()
    notice = page.locator("p.notice")
    expect(notice).to_contain_text(f"The security key {name} was added.")
    return notice.inner_text()


def key_login(page: Page, person: Reviewer) -> None:
    page.goto("/login/key")
    page.get_by_label("Username").fill(person.username)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Log in with my security key").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name=re.compile("^Log out")).click()
    expect(page).to_have_url(re.compile(r"/login$"))


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Reviewer").get_by_role("link", name=name).click()


def break_password_seal(key_site: KeySite, username: str) -> bytes:
    """Destroy what the password's KEK opens; returns what was there."""
    old = key_site.sql("SELECT sealed_identity FROM reviewers WHERE username = ?", username)
    key_site.sql("UPDATE reviewers SET sealed_identity = randomblob(200) WHERE username = ?",
                 username)
    return bytes(old[0][0])


def read_the_source(page: Page) -> None:
    page.locator("main td a[href^='/sources/']").first.click()
    expect(page.locator("main")).to_contain_text(MESSAGE)


def test_a_prf_key_logs_in_and_opens_the_identity_by_itself(
        key_site: KeySite, browsers: Browsers, axe_source: str) -> None:
    pia = key_site.people["pia"]
    page = browsers("pia", prf=True).page
    code_login(page, pia)
    expect(page.locator("h1")).to_have_text("Sources")
    notice = add_key(page, pia, "blue key")
    assert "It can also unlock your reviewer key." in notice
    assert key_site.keys_of("pia") == [("blue key", 1, 1)]
    assert violations(page, axe_source) == []
    log_out(page)

    key_login(page, pia)
    expect(page.locator("h1")).to_have_text("Sources")
    log_out(page)

    break_password_seal(key_site, "pia")
    log_in(page, "pia", pia.password, "000000")  # the password's KEK opens nothing now
    expect(page.locator("p.error")).to_have_text(LOGIN_FAILED)
    key_login(page, pia)
    expect(page.locator("h1")).to_have_text("Sources")
    read_the_source(page)  # grants opened with the identity the PRF output unsealed


def test_a_key_without_prf_is_only_a_second_factor(
        key_site: KeySite, browsers: Browsers) -> None:
    nils = key_site.people["nils"]
    page = browsers("nils", prf=False).page
    code_login(page, nils)
    notice = add_key(page, nils, "grey key")
    assert "unlock" not in notice
    assert key_site.keys_of("nils") == [("grey key", 1, 0)]
    log_out(page)
    key_login(page, nils)
    expect(page.locator("h1")).to_have_text("Sources")
    read_the_source(page)
    log_out(page)
    sealed = break_password_seal(key_site, "nils")
    key_login(page, nils)  # the password still yields the KEK, and it opens nothing now
    expect(page.locator("p.error")).to_have_text(KEY_LOGIN_FAILED)
    key_site.sql("UPDATE reviewers SET sealed_identity = ? WHERE username = 'nils'", sealed)
    key_login(page, nils)
    expect(page.locator("h1")).to_have_text("Sources")
    log_out(page)


def test_a_cloned_credential_whose_counter_is_behind_is_refused(
        key_site: KeySite, browsers: Browsers) -> None:
    pia = key_site.people["pia"]
    original = browsers("pia", prf=True)
    credential = original.credentials()[0]
    counter = key_site.keys_of("pia")[0][1]
    assert counter == credential["signCount"] == 3  # made, then two logins

    clone = browsers("pia's clone", prf=False)
    clone.cdp.send("WebAuthn.addCredential", {
        "authenticatorId": clone.authenticator_id,
        "credential": {**credential, "signCount": counter - 2}})
    key_login(clone.page, pia)
    expect(clone.page.locator("p.error")).to_have_text(KEY_LOGIN_FAILED)
    assert key_site.keys_of("pia")[0][1] == counter  # the stored counter did not move

    log_out(original.page)
    key_login(original.page, pia)
    expect(original.page.locator("h1")).to_have_text("Sources")
    assert key_site.keys_of("pia")[0][1] == counter + 1


def test_another_origin_gets_no_answer_from_the_key(
        key_site: KeySite, browsers: Browsers) -> None:
    """The same server under another name: the page asks for that name's RP ID, and the
    key, registered for ``localhost``, gives nothing (the server-side refusal of an
    answer signed for another origin is in tests/reviewer/test_security_key_service.py)."""
    nils = key_site.people["nils"]
    page = browsers("nils").page
    page.goto(f"http://evil.localhost:{key_site.server.port}/login/key")
    page.get_by_label("Username").fill("nils")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(nils.password)
    page.get_by_role("button", name="Log in with my security key").click()
    expect(page.get_by_role("status")).to_contain_text("The browser got no answer")
    assert page.url.endswith("/login/key")
    assert key_site.keys_of("nils")[0][1] == 4  # made, then three assertions: none here
    page.goto(key_site.url + "/login")


def test_only_the_key_pages_carry_a_script(key_site: KeySite, browsers: Browsers) -> None:
    ada = key_site.people["ada"]
    page = browsers("ada", prf=True).page
    code_login(page, ada)
    for path in ("/", "/account/password", "/account/notifications", "/admin/settings",
                 "/login/key"):
        response = page.goto(path)
        assert response is not None
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert page.locator("script").count() == 0, path
    response = page.goto("/account/security-keys")
    assert response is not None
    assert response.headers["content-security-policy"] == SCRIPT_PAGE_POLICY
    assert page.locator("script").count() == 1
    assert page.locator("script").get_attribute("src") == "/static/security-keys.js"
    page.goto("/")


def test_an_admin_requires_security_keys(key_site: KeySite, browsers: Browsers) -> None:
    ada, nils, kim = (key_site.people[name] for name in ("ada", "nils", "kim"))
    admin = browsers("ada").page  # logged in by the previous test
    add_key(admin, ada, "ada's key")
    admin.get_by_role("button", name="Require a security key for every account").click()
    expect(admin.locator("p.notice")).to_contain_text("Every account now logs in with a")
    nav(admin, "Inbox")
    expect(admin.locator("h1")).to_have_text("Sources")  # the acting admin's session stays

    pia_page = browsers("pia").page  # logged in by the clone test: that session ended
    pia_page.reload()
    expect(pia_page).to_have_url(re.compile(r"/login$"))

    nils_page = browsers("nils").page
    log_in(nils_page, "nils", nils.password, nils.totp.code())  # a key, so no code
    expect(nils_page.locator("p.error")).to_have_text(LOGIN_FAILED)
    key_login(nils_page, nils)
    expect(nils_page.locator("h1")).to_have_text("Sources")

    kim_page = browsers("kim", prf=False).page
    code_login(kim_page, kim)  # no key yet: the code still logs in, to one page only
    assert heading(kim_page) == "Security keys"
    expect(kim_page.locator("p.error")).to_contain_text("Your organisation requires a"
                                                        " security key.")
    for name in ("Inbox", "Notifications"):
        nav(kim_page, name)
        expect(kim_page.locator("h1")).to_have_text("Security keys")
    add_key(kim_page, kim, "kim's key")
    nav(kim_page, "Inbox")
    expect(kim_page.locator("h1")).to_have_text("Sources")

    nav(admin, "Security keys")
    admin.get_by_role("button", name="Stop requiring security keys").click()
    expect(admin.locator("p.notice")).to_have_text("Security keys are no longer required.")


def test_a_reset_drops_the_accounts_keys(key_site: KeySite, browsers: Browsers) -> None:
    nils = key_site.people["nils"]
    admin = browsers("ada").page
    nav(admin, "Admin")
    admin.locator("tr", has_text="nils").get_by_role("button", name="Reset 2FA").click()
    assert heading(admin) == "Account reset: nils"
    assert key_site.keys_of("nils") == []
    page = browsers("nils").page
    log_out(page)
    key_login(page, nils)  # the key is no longer the account's: nothing answers
    expect(page.get_by_role("status")).to_contain_text("The browser got no answer")
    assert page.url.endswith("/login/key")
