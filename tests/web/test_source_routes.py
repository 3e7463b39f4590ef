"""Every source route, the happy paths: pages, codename, login, replies, logout."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

from flask.testing import FlaskClient

from tipbox.crypto import fingerprint

_CODENAME = re.compile(r'<p class="codename" lang="en"><strong>([a-z\- ]+)</strong></p>')


def submit(client: FlaskClient, token: str, **fields: object) -> tuple[int, str]:
    data = {"csrf_token": token, **fields}
    response = client.post("/submit", data=data, content_type="multipart/form-data",
                           follow_redirects=True)
    return response.status_code, response.get_data(as_text=True)


def codename_of(page: str) -> str:
    match = _CODENAME.search(page)
    assert match is not None, page
    return match.group(1)


def test_index_explains_safety_and_shows_fingerprint(client: FlaskClient, site) -> None:
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Tor Browser" in page
    assert "Safest" in page
    assert "work network" in page
    assert fingerprint(site.init.newsroom_recipient) in page
    assert response.headers.get("Set-Cookie") is None


def test_index_shows_the_organisation_and_landing_text_as_plain_text(
    client: FlaskClient, site
) -> None:
    assert "organisation" not in client.get("/").get_data(as_text=True)
    site.instance.instance_settings.update(
        {"organisation": "Minsk Free Press", "landing_text": "Line one\n<b>not bold</b>"}
    )
    page = client.get("/").get_data(as_text=True)
    assert "Minsk Free Press" in page
    assert "Line one\n&lt;b&gt;not bold&lt;/b&gt;" in page
    assert "<b>not bold</b>" not in page


def test_public_key_is_the_recipient_as_text(client: FlaskClient, site) -> None:
    response = client.get("/public-key")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).strip() == site.init.newsroom_recipient


def test_static_css_is_served_same_origin(client: FlaskClient) -> None:
    response = client.get("/static/tipbox.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"


def test_forms_render(client: FlaskClient) -> None:
    for path in ("/submit", "/login"):
        response = client.get(path)
        assert response.status_code == 200
        assert 'name="csrf_token"' in response.get_data(as_text=True)


def test_first_submission_shows_codename_once(client: FlaskClient, token: Callable[..., str],
                                              site) -> None:
    status, page = submit(client, token(), message="the ministry is lying")
    assert status == 200
    codename = codename_of(page)
    assert len(codename.split()) == 7
    assert "only this once" in page
    assert site.submission_count() == 1
    # The codename is not in the session cookie.
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert codename.split()[0] not in cookie.value


def test_submission_with_files_only(client: FlaskClient, token: Callable[..., str], site) -> None:
    files = [(io.BytesIO(b"a" * 1000), "a.pdf"), (io.BytesIO(b"b" * 10), "b.txt")]
    status, page = submit(client, token(), message="", files=files)
    assert status == 200
    assert site.submission_count() == 1


def test_leaving_without_codename(client: FlaskClient, token: Callable[..., str], site) -> None:
    status, page = submit(client, token(), message="no reply needed", no_codename="1")
    assert status == 200
    assert _CODENAME.search(page) is None
    assert "cannot reply" in page
    assert site.submission_count() == 1


def test_login_replies_delete_logout(client: FlaskClient, token: Callable[..., str], site) -> None:
    _, page = submit(client, token(), message="first")
    codename = codename_of(page)
    source_id = site.instance.sources.login(codename).source_id
    site.instance.sources.add_reply(source_id, "thank you, <b>we</b> will check", author="reviewer")

    response = client.post("/login", data={"csrf_token": token("/login"), "codename": codename})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/replies")
    page = client.get("/replies").get_data(as_text=True)
    assert "thank you, &lt;b&gt;we&lt;/b&gt; will check" in page
    assert re.search(r"Written on \d\d \w+ \d{4}, around \d\d:00 UTC", page)
    reply_id = re.search(r'name="reply_id" value="(\d+)"', page)
    assert reply_id is not None

    response = client.post("/replies/delete",
                           data={"csrf_token": token("/replies"), "reply_id": reply_id.group(1)})
    assert response.status_code == 303
    assert "will check" not in client.get("/replies").get_data(as_text=True)

    response = client.post("/logout", data={"csrf_token": token("/replies")})
    assert response.status_code == 303
    assert client.get("/replies").status_code == 303


def test_follow_up_attaches_to_same_source(client: FlaskClient, token: Callable[..., str],
                                           site) -> None:
    _, page = submit(client, token(), message="first")
    codename = codename_of(page)
    client.post("/login", data={"csrf_token": token("/login"), "codename": codename})
    status, page = submit(client, token("/replies"), message="second",
                          files=[(io.BytesIO(b"more"), "more.txt")])
    assert status == 200
    assert _CODENAME.search(page) is None
    assert "added to your earlier submissions" in page
    with site.instance.store.db.connection() as conn:
        rows = conn.execute("SELECT DISTINCT source_id FROM submissions").fetchall()
    assert len(rows) == 1
    assert site.submission_count() == 2


def test_codename_is_case_and_space_tolerant(
    client: FlaskClient, token: Callable[..., str]
) -> None:
    _, page = submit(client, token(), message="first")
    typed = "  " + codename_of(page).upper().replace(" ", "   ") + " "
    response = client.post("/login", data={"csrf_token": token("/login"), "codename": typed})
    assert response.status_code == 303


def test_unknown_and_malformed_codenames_get_the_same_page(
    client: FlaskClient, token: Callable[..., str]
) -> None:
    pages = []
    for codename in ("abacus abdomen abdominal abide abiding ability ablaze", "x", ""):
        response = client.post("/login", data={"csrf_token": token("/login"), "codename": codename})
        assert response.status_code == 403
        # The form again: only its CSRF token may differ (it carries a timestamp).
        page = response.get_data(as_text=True)
        pages.append(re.sub(r'name="csrf_token" value="[^"]+"', "", page))
    assert len(set(pages)) == 1
    assert "did not work" in pages[0]


def test_replies_and_delete_need_login(client: FlaskClient, token: Callable[..., str]) -> None:
    assert client.get("/replies").status_code == 303
    response = client.post("/replies/delete", data={"csrf_token": token(), "reply_id": "1"})
    assert response.status_code == 303


def test_deleting_someone_elses_reply_is_not_found(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    _, page = submit(client, token(), message="first")
    mine = codename_of(page)
    other_client = site.app.test_client()
    other_page = other_client.get("/submit").get_data(as_text=True)
    other_token = re.search(r'name="csrf_token" value="([^"]+)"', other_page)
    assert other_token is not None
    _, page = submit(other_client, other_token.group(1), message="other")
    other = site.instance.sources.login(codename_of(page)).source_id
    reply_id = site.instance.sources.add_reply(other, "private", author="reviewer")

    client.post("/login", data={"csrf_token": token("/login"), "codename": mine})
    for value in (str(reply_id), "abc", "9" * 40, "-1"):
        response = client.post("/replies/delete",
                               data={"csrf_token": token("/replies"), "reply_id": value})
        assert response.status_code == 404
    with site.instance.store.db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM items WHERE id = ?", (reply_id,)).fetchone()[0]


def test_tampered_session_means_logged_out(client: FlaskClient, token: Callable[..., str]) -> None:
    _, page = submit(client, token(), message="first")
    client.post("/login", data={"csrf_token": token("/login"), "codename": codename_of(page)})
    cookie = client.get_cookie("session")
    assert cookie is not None
    client.set_cookie("session", cookie.value[:-3] + "AAA")
    assert client.get("/replies").status_code == 303
