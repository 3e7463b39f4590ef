"""Issue 11: form bombs, empty file parts and the low-disk notice, through the test client.

Every body that is not an upload (every form POST of both apps, and the text
fields of ``POST /submit``) has a small size cap and a field-count cap,
checked before anything parses it or CSRF validation reads it. File parts
with an empty file name count against the limits. The source learns that
the disk is low from the form page, before typing anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import werkzeug.formparser
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import make_test_settings
from tests.web.hostile_bodies import (
    BOMB_BYTES,
    MULTIPART,
    URLENCODED,
    Body,
    empty_file_part,
    multipart,
    post_rules,
    post_stream,
)
from tipbox.reviewer import create_reviewer_app
from tipbox.reviewer.admin.logo_upload import MAX_LOGO_BODY
from tipbox.services.desks.questions import MAX_QUESTIONS
from tipbox.services.instance import init_instance
from tipbox.web import instance as app_instance
from tipbox.web.app import (
    ANSWERS_BYTES,
    FORM_FIELDS_BYTES,
    MAX_FORM_FIELDS,
    form_limit,
    upload_limits,
)
from tipbox.web.uploads import DEFAULT_READ_SIZE, FORM_READ_SIZE

MAX_FILES = 3  # see conftest
MAX_MESSAGE = 2000
_CODENAME = re.compile(r'<p class="codename" lang="en"><strong>([a-z\- ]+)</strong></p>')


@pytest.fixture
def reviewer_app(tmp_path: Path) -> Iterator[Flask]:
    """The reviewer (and admin) app, nobody logged in: the caps run before any guard."""
    settings = make_test_settings(tmp_path, TIPBOX_MAX_MESSAGE_CHARS=str(MAX_MESSAGE),
                                  TIPBOX_DEV="1")
    init_instance(settings)
    app = create_reviewer_app(settings)
    app.config["TESTING"] = True
    yield app
    with app.app_context():
        app_instance().close()


@pytest.fixture(params=["source", "reviewer"])
def any_app(request: pytest.FixtureRequest, make_site, reviewer_app: Flask) -> Flask:
    """Either app; the source app with the default 2 GiB upload limit, far above a form's."""
    if request.param == "reviewer":
        return reviewer_app
    return make_site(TIPBOX_MAX_UPLOAD_BYTES=str(2 * 1024**3)).app  # type: ignore[no-any-return]


def cap_of(app: Flask) -> int:
    with app.app_context():
        return form_limit(app_instance().instance_settings.effective())


def assert_nothing_stored(app: Flask) -> None:
    with app.app_context(), app_instance().store.db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
        blobs = app_instance().store.blobs
    assert list(blobs.path.iterdir()) == []


def test_every_post_route_of_both_apps_is_covered(site, reviewer_app: Flask) -> None:
    assert {"/submit", "/login", "/logout", "/replies/delete"} <= set(post_rules(site.app))
    routes = post_rules(reviewer_app)
    assert {"/login", "/admin/settings", "/sources/1/reply"} <= set(routes)


@pytest.mark.parametrize("content_type", [URLENCODED, MULTIPART])
def test_form_bomb_gets_413_before_a_byte_is_read(any_app: Flask, content_type: str) -> None:
    # Refused from Content-Length alone: no parse, no CSRF check, no draft.
    client = any_app.test_client()
    for path in post_rules(any_app):
        if path == "/submit" and content_type == MULTIPART:
            continue  # an upload: see the next test
        lengths = (cap_of(any_app) + 1, BOMB_BYTES)
        if path == "/admin/settings/logo" and content_type == MULTIPART:
            lengths = (MAX_LOGO_BODY + 1, BOMB_BYTES)  # the one route that takes a file
        for length in lengths:
            body = Body(b"a=&", forbid_reading=True)
            response = post_stream(client, path, body, content_type, length=length)
            assert response.status_code == 413, (path, length)
            assert "too large" in response.get_data(as_text=True), path
    assert_nothing_stored(any_app)


def test_an_upload_is_capped_at_the_upload_limit_not_a_forms(make_site) -> None:
    site = make_site(TIPBOX_MAX_UPLOAD_BYTES=str(2 * 1024**3))
    client = site.app.test_client()
    with site.app.app_context():
        limits = upload_limits(app_instance().instance_settings.effective())
    assert limits.max_upload_body is not None
    body = Body(b"a=&", forbid_reading=True)
    response = post_stream(client, "/submit", body, MULTIPART,
                           length=limits.max_upload_body + 1)
    assert response.status_code == 413
    # Over a form's cap but within an upload's: read (and refused for its content).
    body = Body(b"x", size=BOMB_BYTES)
    response = post_stream(client, "/submit", body, MULTIPART, length=BOMB_BYTES)
    assert response.status_code == 400
    assert body.read_bytes > cap_of(site.app)
    site.assert_nothing_stored()


def test_a_body_on_a_page_view_is_capped_too(any_app: Flask) -> None:
    response = any_app.test_client().get(
        "/login", input_stream=Body(b"a=&", forbid_reading=True), content_type=URLENCODED,
        environ_overrides={"CONTENT_LENGTH": str(BOMB_BYTES)})
    assert response.status_code == 413


def test_chunked_field_bomb_is_refused_after_one_read(any_app: Flask) -> None:
    client = any_app.test_client()
    for path in post_rules(any_app):
        body = Body(b"a=&")  # endless, no Content-Length
        response = post_stream(client, path, body, URLENCODED, length=None)
        assert response.status_code == 400, path
        assert "could not be read" in response.get_data(as_text=True)
        assert body.read_bytes <= FORM_READ_SIZE, path
    assert_nothing_stored(any_app)


def test_chunked_endless_field_is_cut_at_the_form_cap(any_app: Flask) -> None:
    client = any_app.test_client()
    cap = cap_of(any_app)
    for path in post_rules(any_app):
        for content_type, prefix in ((URLENCODED, b"codename="),
                                     (MULTIPART, multipart([("codename", b"", None)],
                                                           close=False)[:-2])):
            body = Body(b"a", prefix=prefix)
            response = post_stream(client, path, body, content_type, length=None)
            assert response.status_code == 413, (path, content_type)
            assert body.read_bytes <= cap + DEFAULT_READ_SIZE, (path, content_type)
    assert_nothing_stored(any_app)


def test_the_form_cap_is_exact(client: FlaskClient, token: Callable[..., str], site) -> None:
    head = f"csrf_token={token()}&pad=".encode()
    cap = cap_of(site.app)
    for size, status in ((cap, 303), (cap + 1, 413)):
        body = head + b"x" * (size - len(head))
        response = client.post("/logout", data=body, content_type=URLENCODED)
        assert response.status_code == status, size


@pytest.mark.parametrize("char", ["a", "ж", "\U0001f600"], ids=["ascii", "cyrillic", "emoji"])
def test_the_longest_message_fits_url_encoded_in_any_script(
    client: FlaskClient, token: Callable[..., str], site, char: str
) -> None:
    response = client.post("/submit", data={"csrf_token": token(), "message": char * MAX_MESSAGE},
                           content_type=URLENCODED, follow_redirects=True)
    assert response.status_code == 200
    assert site.submission_count() == 1


def test_field_count_is_checked_before_werkzeug_parses(
    client: FlaskClient, token: Callable[..., str], site, monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = token()
    parse_qsl = werkzeug.formparser.parse_qsl  # type: ignore[attr-defined]
    calls: list[int] = []

    def counting(text: str, **options: object) -> list[tuple[str, str]]:
        calls.append(text.count("&") + 1)
        return parse_qsl(text, **options)  # type: ignore[no-any-return]

    monkeypatch.setattr(werkzeug.formparser, "parse_qsl", counting)
    limit = MAX_FORM_FIELDS + MAX_QUESTIONS  # the submit form's fields and a desk's questions
    others = "&".join(f"f{i}=v" for i in range(limit - 1))
    response = client.post("/logout", data=f"csrf_token={csrf}&{others}",
                           content_type=URLENCODED)
    assert response.status_code == 303
    assert calls == [limit]
    response = client.post("/logout", data=f"csrf_token={csrf}&{others}&one=more",
                           content_type=URLENCODED)
    assert response.status_code == 400
    assert calls == [limit]
    site.assert_nothing_stored()


def test_text_fields_of_an_upload_have_a_total_cap(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    field = b"x" * (MAX_MESSAGE * 4)  # each within the one-field limit
    cap = MAX_MESSAGE * 4 + 1024 + FORM_FIELDS_BYTES + ANSWERS_BYTES
    count = cap // len(field) + 1
    assert count + 2 <= MAX_FORM_FIELDS + MAX_QUESTIONS  # refused for its bytes, not its fields
    parts = [("csrf_token", token().encode(), None), ("message", b"hi", None)]
    parts += [(f"note{i}", field, None) for i in range(count)]
    response = client.post("/submit", data=multipart(parts), content_type=MULTIPART)
    assert response.status_code == 413
    site.assert_nothing_stored()


# --- empty file parts -------------------------------------------------------------------


def test_100000_empty_file_parts_are_refused_early(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    head = multipart([("csrf_token", token().encode(), None), ("message", b"hi", None)],
                     close=False)
    part = empty_file_part()
    body = Body(part, size=len(head) + 100_000 * len(part), prefix=head)
    response = post_stream(client, "/submit", body, MULTIPART, length=None)
    assert response.status_code == 413
    assert "Too many files" in response.get_data(as_text=True)
    assert body.read_bytes <= DEFAULT_READ_SIZE
    site.assert_nothing_stored()


@pytest.mark.parametrize(("real", "empty", "status"), [
    (0, 1, 200), (0, MAX_FILES, 200), (0, MAX_FILES + 1, 413), (MAX_FILES - 1, 1, 200),
    (MAX_FILES - 1, 2, 413), (MAX_FILES, 1, 413),
])
def test_empty_file_parts_count_against_the_file_limit(
    client: FlaskClient, token: Callable[..., str], site, real: int, empty: int, status: int
) -> None:
    parts = [("csrf_token", token().encode(), None), ("message", b"hi", None)]
    parts += [("files", b"content", f"f{i}.txt") for i in range(real)]
    parts += [("files", b"", "")] * empty
    response = client.post("/submit", data=multipart(parts), content_type=MULTIPART,
                           follow_redirects=True)
    assert response.status_code == status
    if status == 200:
        kinds = [kind for _, kind, _ in site.decrypt_items()]
        assert kinds.count("file") == real  # the empty parts stored nothing
    else:
        assert "Too many files" in response.get_data(as_text=True)
        site.assert_nothing_stored()


def test_an_empty_file_name_with_data_is_malformed(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    body = multipart([("csrf_token", token().encode(), None), ("files", b"smuggled", "")])
    response = client.post("/submit", follow_redirects=True, data=body, content_type=MULTIPART)
    assert response.status_code == 400
    assert "could not be read" in response.get_data(as_text=True)
    site.assert_nothing_stored()


def test_empty_file_parts_where_no_files_are_taken(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    body = multipart([("csrf_token", token("/login").encode(), None),
                      ("codename", b"a b c", None), ("files", b"", "")])
    response = client.post("/login", data=body, content_type=MULTIPART)
    assert response.status_code == 400
    site.assert_nothing_stored()


# --- lying lengths ----------------------------------------------------------------------


@pytest.mark.parametrize("lie", [-100, +100, -20])
def test_a_lying_content_length_stores_nothing(
    client: FlaskClient, token: Callable[..., str], site, lie: int
) -> None:
    # Without wsgi.input_terminated Werkzeug reads exactly Content-Length bytes.
    body = multipart([("csrf_token", token().encode(), None), ("message", b"hi", None),
                      ("files", b"x" * 5000, "a.bin")])
    response = client.post("/submit", follow_redirects=True, data=body, content_type=MULTIPART,
                           environ_overrides={"CONTENT_LENGTH": str(len(body) + lie)})
    assert response.status_code == 400
    site.assert_nothing_stored()


# --- low disk: shown before the source types --------------------------------------------


def test_low_disk_is_shown_on_the_form_page_before_typing(make_site) -> None:
    site = make_site(TIPBOX_MIN_FREE_BYTES=str(2**62))
    client = site.app.test_client()
    response = client.get("/submit")
    page = response.get_data(as_text=True)
    assert response.status_code == 200  # the page is what was asked for; a POST gets 507
    assert "Sending is not possible right now" in page
    assert "short of space" in page
    assert 'class="submission"' not in page
    assert "<textarea" not in page


def test_low_disk_notice_on_the_replies_page_and_back_when_space_returns(
    client: FlaskClient, token: Callable[..., str], site
) -> None:
    page = client.post("/submit", data={"csrf_token": token(), "message": "first"},
                       content_type=MULTIPART, follow_redirects=True).get_data(as_text=True)
    codename = _CODENAME.search(page)
    assert codename is not None
    client.post("/login", data={"csrf_token": token("/login"), "codename": codename.group(1)})
    blobs = site.instance.store.blobs
    blobs.min_free_bytes = 1 << 62
    for path in ("/replies", "/submit"):
        page = client.get(path).get_data(as_text=True)
        assert "Sending is not possible right now" in page, path
        assert "<textarea" not in page, path
    blobs.min_free_bytes = 0
    assert "<textarea" in client.get("/replies").get_data(as_text=True)
