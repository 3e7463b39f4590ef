"""The security-key pages (issue 17) through the reviewer app and Flask's test client.

The answers come from the software authenticator, for the test client's
origin (``http://localhost``); the browser tests drive Chromium's.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from reviewer_kit import Person, ReviewerSite, csrf, csrf_of, web_enrol
from soft_authenticator import SoftAuthenticator
from werkzeug.test import TestResponse

from tipbox.services.accounts.totp import totp_code
from tipbox.web.headers import CONTENT_SECURITY_POLICY, SCRIPT_PAGE_POLICY

ORIGIN = "http://localhost"
_OPTIONS = re.compile(r"data-options='([^']*)'")


def options_of(page: str) -> dict[str, Any]:
    match = _OPTIONS.search(page)
    assert match is not None, page[:3000]
    return dict(json.loads(html.unescape(match.group(1))))


def add_key(client: FlaskClient, person: Person, authenticator: SoftAuthenticator,
            name: str = "blue key") -> TestResponse:
    page = client.get("/account/security-keys").get_data(as_text=True)
    options = options_of(page)
    response, _ = authenticator.create(options)
    return client.post("/account/security-keys", data={
        "csrf_token": csrf_of(page), "name": name, "password": person.password,
        "credential": response, "follow_up": ""})


def key_login(client: FlaskClient, person: Person, authenticator: SoftAuthenticator,
              **forged: Any) -> TestResponse:
    response = client.post("/login/key", data={"csrf_token": csrf(client, "/login/key"),
                                               "username": person.username})
    page = response.get_data(as_text=True)
    answer = authenticator.get(options_of(page), **forged)
    return client.post("/login/key/finish", data={
        "csrf_token": csrf_of(page), "username": person.username,
        "password": person.password, "assertion": answer})


def code_login(site: ReviewerSite, client: FlaskClient, person: Person) -> TestResponse:
    site.clock.step()
    return client.post("/login", data={
        "csrf_token": csrf(client), "username": person.username, "password": person.password,
        "code": totp_code(person.totp_secret, site.clock.now)})


def new_reviewer(site: ReviewerSite, username: str) -> Person:
    _, enrolment = site.services.admin.accounts.add(username, is_admin=False)
    return web_enrol(site.clock, site.client(), username, enrolment.password,
                     f"{username} has a long passphrase here")


def test_only_the_key_pages_may_run_the_script(client: FlaskClient) -> None:
    page = client.get("/account/security-keys")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == SCRIPT_PAGE_POLICY
    assert "script-src 'self'" in SCRIPT_PAGE_POLICY
    text = page.get_data(as_text=True)
    assert '<script src="/static/security-keys.js" defer></script>' in text
    assert options_of(text)["publicKey"]["rp"]["id"] == "localhost"
    for path in ("/", "/account/password", "/account/notifications", "/admin/settings"):
        other = client.get(path)
        assert other.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, path
        assert "<script" not in other.get_data(as_text=True), path
    script = client.get("/static/security-keys.js")
    assert script.status_code == 200
    assert script.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "javascript" in script.headers["Content-Type"]
    assert "innerHTML" not in script.get_data(as_text=True)
    assert "fetch(" not in script.get_data(as_text=True)


def test_the_login_pages_link_and_script_only_where_the_key_is_asked(
        site: ReviewerSite) -> None:
    client = site.client()
    login = client.get("/login").get_data(as_text=True)
    assert 'href="/login/key"' in login
    first = client.get("/login/key")
    assert first.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "<script" not in first.get_data(as_text=True)
    second = client.post("/login/key", data={"csrf_token": csrf(client, "/login/key"),
                                             "username": "admin"})
    assert second.headers["Content-Security-Policy"] == SCRIPT_PAGE_POLICY
    assert options_of(second.get_data(as_text=True))["publicKey"]["allowCredentials"]


def test_register_then_log_in_with_the_key(site: ReviewerSite, client: FlaskClient) -> None:
    authenticator = SoftAuthenticator(ORIGIN, prf=True)
    added = add_key(client, site.admin, authenticator)
    assert added.status_code == 200
    assert "The security key blue key was added. It can also unlock" in added.get_data(
        as_text=True)
    assert "blue key" in client.get("/account/security-keys").get_data(as_text=True)
    fresh = site.client()
    response = key_login(fresh, site.admin, authenticator)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"].endswith("/")
    assert fresh.get("/").status_code == 200


def test_a_refused_key_login_is_the_login_failure_page(
        site: ReviewerSite, client: FlaskClient) -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    add_key(client, site.admin, authenticator)
    answers = [key_login(site.client(), site.admin, authenticator,
                         origin="http://evil.localhost"),
               key_login(site.client(), site.admin, authenticator, sign_count=0)]
    for answer in answers:
        assert answer.status_code == 403
        assert "That username, password and security key did not work together." in answer.get_data(
            as_text=True)


def test_a_registration_from_another_origin_is_refused(
        site: ReviewerSite, client: FlaskClient) -> None:
    page = client.get("/account/security-keys").get_data(as_text=True)
    response, _ = SoftAuthenticator("http://evil.localhost").create(options_of(page))
    refused = client.post("/account/security-keys", data={
        "csrf_token": csrf_of(page), "name": "k", "password": site.admin.password,
        "credential": response})
    assert refused.status_code == 403
    assert "You have no security key yet." in refused.get_data(as_text=True)


def test_required_keys_confine_a_keyless_account_and_refuse_codes(
        site: ReviewerSite, client: FlaskClient) -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    add_key(client, site.admin, authenticator)
    bob = new_reviewer(site, "bob")
    page = client.get("/account/security-keys").get_data(as_text=True)
    assert "Accounts without a security key: bob" in page
    turned = client.post("/account/security-keys/require",
                         data={"csrf_token": csrf_of(page), "required": "1"})
    assert "Every account now logs in with a security key." in turned.get_data(as_text=True)
    assert client.get("/").status_code == 200  # the acting admin's session stays
    refused = code_login(site, site.client(), site.admin)
    assert refused.status_code == 403
    bobs = site.client()
    assert code_login(site, bobs, bob).status_code == 303
    confined = bobs.get("/")
    assert confined.status_code == 303
    assert confined.headers["Location"].endswith("/account/security-keys")
    assert bobs.get("/account/notifications").status_code == 303
    keys_page = bobs.get("/account/security-keys").get_data(as_text=True)
    assert "Your organisation requires a security key. Add one to continue." in keys_page
    assert add_key(bobs, bob, SoftAuthenticator(ORIGIN)).status_code == 200
    assert bobs.get("/").status_code == 200
    assert key_login(site.client(), site.admin, authenticator).status_code == 303


def test_required_keys_close_the_api_code_login_and_bearer_sessions_without_keys(
        site: ReviewerSite, client: FlaskClient) -> None:
    carol = new_reviewer(site, "carol")
    site.clock.step()
    token = client.post("/api/v1/token", json={
        "username": "carol", "password": carol.password,
        "code": totp_code(carol.totp_secret, site.clock.now)}).get_json()["token"]
    site.services.security_keys.set_required(True, keep=None, by="admin")
    site.clock.step()
    refused = site.client().post("/api/v1/token", json={
        "username": "carol", "password": carol.password,
        "code": totp_code(carol.totp_secret, site.clock.now)})
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "security_keys_required"
    keyless = new_reviewer(site, "dave")
    browser = site.client()
    code_login(site, browser, keyless)
    with browser.session_transaction() as cookie:
        session_token = cookie["token"]
    answer = site.client().get("/api/v1/sources",
                               headers={"Authorization": f"Bearer {session_token}"})
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "security_keys_required"
    assert token  # issued before: ended when the requirement was turned on
    assert site.client().get("/api/v1/sources", headers={
        "Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize("required", ["1", "0"])
def test_only_admins_change_the_requirement(site: ReviewerSite, required: str) -> None:
    erin = new_reviewer(site, "erin")
    browser = site.client()
    code_login(site, browser, erin)
    page = browser.get("/account/security-keys").get_data(as_text=True)
    assert "Require a security key for every account" not in page
    answer = browser.post("/account/security-keys/require",
                          data={"csrf_token": csrf_of(page), "required": required})
    assert answer.status_code == 403
    assert not site.services.security_keys.required()
