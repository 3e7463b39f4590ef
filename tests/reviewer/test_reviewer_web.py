"""The reviewer app through the Flask test client: pages, downloads, cookies, sessions."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from flask.testing import FlaskClient
from reviewer_kit import ReviewerSite, csrf, csrf_of, make_settings, submit

from tipbox.reviewer import create_reviewer_app
from tipbox.reviewer.downloads import content_disposition
from tipbox.services.accounts.totp import totp_code
from tipbox.services.instance import init_instance
from tipbox.web import instance as app_instance

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4000


def test_enrolled_admin_sees_the_inbox(site: ReviewerSite, client: FlaskClient) -> None:
    submitted = submit(site.services.instance, files={"leak.pdf": PDF})
    page = client.get("/").get_data(as_text=True)
    assert submitted.designation in page
    assert "Log out admin" in page


def test_source_page_shows_escaped_message_and_file(site: ReviewerSite,
                                                    client: FlaskClient) -> None:
    submitted = submit(site.services.instance, message="<script>alert(1)</script>",
                       files={"leak.pdf": PDF})
    page = client.get(f"/sources/{submitted.source_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "leak.pdf" in page


def test_download_is_an_attachment_and_byte_identical(site: ReviewerSite,
                                                      client: FlaskClient) -> None:
    submitted = submit(site.services.instance, files={'ré"port;<x>.pdf': PDF})
    page = client.get(f"/sources/{submitted.source_id}").get_data(as_text=True)
    link = re.search(r'href="(/sources/\d+/items/\d+/download)"', page)
    assert link is not None
    response = client.get(link.group(1))
    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].endswith("; sandbox")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    # '"' and '<' become '_' at upload, as a browser would save them (file_names)
    assert "filename*=UTF-8''r%C3%A9_port%3B_x_.pdf" in disposition
    assert response.headers["Content-Length"] == str(len(PDF))


def test_content_disposition_handles_hostile_names() -> None:
    for name in ("../../etc/passwd", "a\r\nSet-Cookie: x=1", "\u202egnp.exe", "", ".."):
        value = content_disposition(name)
        assert value.startswith("attachment; ")
        assert "\r" not in value
        assert "\n" not in value
        assert "/" not in value.split("filename*=")[0]
        assert value.isascii()


def test_zip_and_age_export(site: ReviewerSite, client: FlaskClient) -> None:
    submitted = submit(site.services.instance, files={"a.pdf": PDF, "b.pdf": b"second"})
    response = client.get(f"/sources/{submitted.source_id}/zip?unread=1")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert archive.read("a.pdf") == PDF
        assert archive.read("b.pdf") == b"second"
    items = site.services.inbox.conversation(
        submitted.source_id, [], reviewer="test").entries
    response = client.get(f"/sources/{submitted.source_id}/items/{items[1].id}/export")
    assert response.data.startswith(b"age-encryption.org/v1\n")
    response = client.get(f"/sources/{submitted.source_id}/zip?item={items[2].id}")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert archive.namelist() == ["b.pdf"]


def test_star_read_delete_and_reply(site: ReviewerSite, client: FlaskClient) -> None:
    submitted = submit(site.services.instance, files={"a.pdf": PDF})
    path = f"/sources/{submitted.source_id}"
    token = csrf(client, path)
    assert client.post(f"{path}/star", data={"csrf_token": token, "starred": "1"}
                       ).status_code == 303
    assert site.services.inbox.source(submitted.source_id).starred
    assert client.post(f"{path}/seen", data={"csrf_token": token, "seen": "1", "all": "1"}
                       ).status_code == 303
    assert site.services.inbox.source(submitted.source_id).unread == 0
    response = client.post(f"{path}/reply", data={"csrf_token": token, "reply": "thanks"})
    assert response.status_code == 303
    page = client.get(path).get_data(as_text=True)
    assert "Reply by admin" in page  # the author
    assert "Not seen by the source yet" in page
    assert "thanks" in page
    item = site.services.inbox.conversation(submitted.source_id, [], reviewer="t").entries[0]
    assert client.post(f"{path}/items/{item.id}/delete",
                       data={"csrf_token": token, "confirm": "yes"}).status_code == 303
    response = client.post(f"{path}/delete", data={"csrf_token": token, "confirm": "yes"})
    assert response.status_code == 303
    assert client.get(path).status_code == 404
    actions = [e.action for e in site.services.audit.recent()]
    for action in ("delete source", "delete item", "reply", "view", "login"):
        assert action in actions


def test_deleting_an_item_asks_first_and_names_it(site: ReviewerSite,
                                                 client: FlaskClient) -> None:
    submitted = submit(site.services.instance, files={"leak.pdf": PDF})
    path = f"/sources/{submitted.source_id}"
    token = csrf(client, path)
    entries = site.services.inbox.conversation(submitted.source_id, [], reviewer="t").entries
    file_item = next(e for e in entries if e.kind == "file")
    asked = client.post(f"{path}/items/{file_item.id}/delete", data={"csrf_token": token})
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    for shown in ("Delete this item for good?", "leak.pdf", submitted.designation,
                  "This cannot be undone.", 'name="confirm" value="yes"'):
        assert shown in page
    assert site.services.inbox.source(submitted.source_id).items == len(entries)
    assert "delete item" not in [e.action for e in site.services.audit.recent()]
    message = next(e for e in entries if e.kind == "message")
    asked = client.post(f"{path}/items/{message.id}/delete",
                        data={"csrf_token": token, "confirm": "no"})
    assert "Message" in asked.get_data(as_text=True)
    assert site.services.inbox.source(submitted.source_id).items == len(entries)
    done = client.post(f"{path}/items/{file_item.id}/delete",
                       data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 303
    assert site.services.inbox.source(submitted.source_id).items == len(entries) - 1


def test_cookie_flags_and_no_fixation(site: ReviewerSite) -> None:
    client = site.client()
    client.get("/login")
    before = client.get_cookie("reviewer_session")
    site.log_in(client)
    after = client.get_cookie("reviewer_session")
    assert after is not None
    assert before is None or before.value != after.value
    assert after.http_only
    assert after.same_site == "Strict"


def test_cookie_is_secure_outside_dev(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    init_instance(settings)
    app = create_reviewer_app(settings)
    try:
        cookie = app.test_client().get("/login").headers["Set-Cookie"]
    finally:
        with app.app_context():
            app_instance().close()
    assert "; Secure" in cookie
    assert "; HttpOnly" in cookie
    assert "SameSite=Strict" in cookie


def test_session_id_changes_at_login(site: ReviewerSite) -> None:
    """A token planted before login is never the one used after it."""
    client = site.client()
    site.log_in(client)
    with client.session_transaction() as session:
        first = session["token"]
    site.log_in(client)
    with client.session_transaction() as session:
        second = session["token"]
    assert first.split(".")[0] != second.split(".")[0]
    other = site.client()
    with other.session_transaction() as session:
        session["token"] = first
    assert other.get("/").status_code == 200  # the old session still belongs to its owner
    with other.session_transaction() as session:
        session["token"] = "planted.token"
    assert other.get("/").status_code == 303


def test_logout_invalidates_the_session(site: ReviewerSite, client: FlaskClient) -> None:
    with client.session_transaction() as session:
        stolen = session["token"]
    response = client.post("/logout", data={"csrf_token": csrf(client, "/")})
    assert response.status_code == 303
    assert "cookies" in response.headers["Clear-Site-Data"]
    assert client.get("/").status_code == 303
    thief = site.client()
    with thief.session_transaction() as session:
        session["token"] = stolen
    assert thief.get("/").status_code == 303


def test_idle_and_absolute_expiry_over_http(site: ReviewerSite, client: FlaskClient) -> None:
    idle = site.services.sessions.idle_seconds
    site.clock.step(idle - 5)
    assert client.get("/").status_code == 200
    site.clock.step(idle + 1)
    assert client.get("/").status_code == 303
    site.log_in(client)
    start = site.clock.now
    while site.clock.now + idle - 5 < start + site.services.sessions.absolute_seconds:
        site.clock.step(idle - 5)
        assert client.get("/").status_code == 200
    site.clock.step(idle - 5)
    assert client.get("/").status_code == 303


def test_login_failures_same_page_then_lockout(site: ReviewerSite) -> None:
    client = site.client()
    pages = []
    for username in ("admin", "nobody", "admin", "admin", "admin", "admin"):
        response = client.post("/login", data={
            "csrf_token": csrf(client), "username": username,
            "password": "wrong password!!", "code": "123456"})
        assert response.status_code == 403
        page = response.get_data(as_text=True)
        pages.append(page.replace(csrf_of(page), ""))  # the token is signed with the time
    assert "did not work together" in pages[0]
    assert pages[0] == pages[1]  # unknown user: the very same page
    site.clock.step(1)
    code = totp_code(site.admin.totp_secret, site.clock.now + 30)
    response = client.post("/login", data={
        "csrf_token": csrf(client), "username": "admin",
        "password": site.admin.password, "code": code})
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)


def test_totp_replay_refused_over_http(site: ReviewerSite) -> None:
    site.clock.step()
    code = totp_code(site.admin.totp_secret, site.clock.now)
    client = site.client()
    data = {"username": "admin", "password": site.admin.password, "code": code}
    assert client.post("/login", data={**data, "csrf_token": csrf(client)}).status_code == 303
    other = site.client()
    assert other.post("/login", data={**data, "csrf_token": csrf(other)}).status_code == 403


def test_password_change_over_http(site: ReviewerSite, client: FlaskClient) -> None:
    token = csrf(client, "/account/password")
    response = client.post("/account/password", data={
        "csrf_token": token, "old_password": site.admin.password,
        "new_password": "another long passphrase", "confirm_password": "another long passphrase"})
    assert response.status_code == 200
    assert "Your password was changed" in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # this browser got the new session
    site.admin.password = "another long passphrase"
    site.log_in(site.client())


def test_reviewer_without_grant_gets_a_clear_refusal(site: ReviewerSite) -> None:
    submitted = submit(site.services.instance, files={"a.pdf": PDF})
    _, enrolment = site.services.reviewers.create("gina")
    client = site.client()
    from reviewer_kit import web_enrol

    gina = web_enrol(site.clock, client, "gina", enrolment.password, "gina's long password")
    site.log_in(client, gina)
    page = client.get(f"/sources/{submitted.source_id}").get_data(as_text=True)
    assert "You do not hold the key this item was encrypted to" in page  # and what to do
    assert "Ask an admin to log in" in page
    item = site.services.inbox.conversation(submitted.source_id, [], reviewer="t").entries[1]
    response = client.get(f"/sources/{submitted.source_id}/items/{item.id}/download")
    assert response.status_code == 403


def _form_holding_the_error(page: str) -> str:
    """The action of the form whose body holds the page's only error."""
    assert page.count('class="error"') == 1, page
    before = page[: page.index('class="error"')]
    opened = before.rindex("<form ")
    assert "</form>" not in before[opened:]
    return re.search(r'action="([^"]+)"', before[opened:]).group(1)  # type: ignore[union-attr]


def test_a_refused_change_shows_its_error_in_the_form_that_was_sent(
        site: ReviewerSite, client: FlaskClient) -> None:
    submitted = submit(site.services.instance)
    path = f"/sources/{submitted.source_id}"
    token = csrf(client, path)
    for route, data in (("notes", {"note": " "}), ("reply", {"reply": " "}),
                        ("labels", {"label": " "}), ("status", {"status": "nonsense"}),
                        ("assignees", {"reviewer": ""})):
        refused = client.post(f"{path}/{route}", data={"csrf_token": token, **data})
        assert refused.status_code >= 400, route
        assert _form_holding_the_error(refused.get_data(as_text=True)) == f"{path}/{route}"
