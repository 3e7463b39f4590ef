"""Authorization matrix: every reviewer route refuses anonymous and expired sessions,
every POST refuses a missing CSRF token, admin-only views refuse non-admins."""

from __future__ import annotations

import pytest
from flask import session
from flask.testing import FlaskClient
from reviewer_kit import ReviewerSite, Submitted, csrf, enrol, submit, web_enrol

from tipbox.errors import Forbidden
from tipbox.reviewer.guard import admin_required
from tipbox.services.accounts.sessions import enrolment_secrets

#: Routes anyone may load: the login and enrolment pages (enrolment needs an
#: enrolment session and sends everyone else to the login page), the security-key
#: login pages (issue 17) and static files.
PUBLIC = {"auth.login_form", "auth.login", "auth.enrol_form", "auth.enrol", "auth.logout",
          "auth.security_keys.login_form", "auth.security_keys.login_options",
          "auth.security_keys.login", "static"}


def routes(site: ReviewerSite, submitted: Submitted) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every route of the app, with real ids filled in."""
    item = site.services.inbox.conversation(submitted.source_id, [], reviewer="t").entries[0]
    values = {"source_id": submitted.source_id, "item_id": item.id, "filename": "tipbox.css",
              "reviewer_id": 1, "action": "disable", "key_id": 1,  # admin routes (issue 5)
              "desk_id": 1, "question_id": 1}  # desks (issue 15)
    found = []
    with site.app.test_request_context():
        from flask import url_for

        for rule in site.app.url_map.iter_rules():
            if rule.endpoint.startswith("api."):
                continue  # bearer tokens, no cookies: its own matrix in test_api_errors.py
            url = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((rule.endpoint, method, url))
    return found


@pytest.fixture
def submitted(site: ReviewerSite) -> Submitted:
    return submit(site.services.instance, files={"a.pdf": b"data"})


def test_the_matrix_covers_every_route(site: ReviewerSite, submitted: Submitted) -> None:
    endpoints = {endpoint for endpoint, _, _ in routes(site, submitted)}
    assert {"inbox.index", "inbox.source", "inbox.download", "inbox.zip_download",
            "inbox.reply", "inbox.delete_source", "auth.change_password"} <= endpoints


def test_anonymous_users_are_sent_to_login(site: ReviewerSite, submitted: Submitted) -> None:
    client = site.client()
    for endpoint, method, url in routes(site, submitted):
        if endpoint in PUBLIC:
            continue
        token = csrf(client)  # a valid CSRF token, but no reviewer session
        response = client.open(url, method=method, data={"csrf_token": token})
        assert response.status_code == 303, (endpoint, method, response.status_code)
        assert response.headers["Location"].endswith("/login"), endpoint
    assert site.services.inbox.source(submitted.source_id).items == 2  # nothing was deleted


def test_expired_sessions_are_sent_to_login(site: ReviewerSite, client: FlaskClient,
                                            submitted: Submitted) -> None:
    for endpoint, method, url in routes(site, submitted):
        if endpoint in PUBLIC:
            continue
        site.log_in(client)
        token = csrf(client, "/")
        site.clock.step(site.services.sessions.idle_seconds + 1)
        response = client.open(url, method=method, data={"csrf_token": token})
        assert response.status_code == 303, (endpoint, method)
        assert response.headers["Location"].endswith("/login")
    assert site.services.inbox.source(submitted.source_id).items == 2


def test_every_post_needs_a_csrf_token(site: ReviewerSite, client: FlaskClient,
                                       submitted: Submitted) -> None:
    posts = [(e, u) for e, m, u in routes(site, submitted) if m == "POST"]
    assert len(posts) >= 9
    for endpoint, url in posts:
        for data in ({}, {"csrf_token": "forged"}):
            response = client.post(url, data=data)
            assert response.status_code == 400, endpoint
            assert "This form has expired" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # still logged in: logout needed a token too
    assert site.services.inbox.source(submitted.source_id).items == 2


def test_every_admin_route_refuses_non_admins(site: ReviewerSite, submitted: Submitted) -> None:
    """Routes of the admin area (issue 5) answer 403 to a logged-in non-admin."""
    account, enrolment = site.services.reviewers.create("hank")
    client = site.client()
    hank = web_enrol(site.clock, client, "hank", enrolment.password, "hank's long password")
    site.log_in(client, hank)
    for endpoint, method, url in routes(site, submitted):
        if endpoint.startswith("admin."):
            response = client.open(url, method=method, data={"csrf_token": csrf(client, "/")})
            assert response.status_code == 403, endpoint
    assert client.get("/").status_code == 200


def test_admin_required_refuses_non_admins(site: ReviewerSite) -> None:
    account, enrolment = site.services.reviewers.create("bob")
    enrol(site.services, "bob", enrolment.password, enrolment.totp_secret, "bob's long password")
    token = site.services.sessions.open(account.id, kind="full", secrets_={"newsroom": ""})
    view = admin_required(lambda: "admin page")
    with site.app.test_request_context("/"):
        session["token"] = token
        with pytest.raises(Forbidden):
            view()
    admin_token = site.services.sessions.open(
        site.services.reviewers.by_username("admin").id, kind="full", secrets_={"newsroom": ""})
    with site.app.test_request_context("/"):
        session["token"] = admin_token
        assert view() == "admin page"
    with site.app.test_request_context("/"):
        assert view().status_code == 303  # anonymous


def test_pending_account_cannot_use_the_inbox(site: ReviewerSite) -> None:
    account, enrolment = site.services.reviewers.create("carol")
    unlocked = site.services.reviewers.unlock("carol", enrolment.password)
    token = site.services.sessions.open(
        account.id, kind="enrol",
        secrets_=enrolment_secrets(unlocked.identity, unlocked.totp_secret))
    client = site.client()
    with client.session_transaction() as cookie:
        cookie["token"] = token
    assert client.get("/enrol").status_code == 200
    assert client.get("/").status_code == 303
