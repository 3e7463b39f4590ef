"""Refusals that say what to fix; the login form again; the logout page; the wrong address.

Each refusal of ``POST /submit`` names the limit it hit with the configured
value in human units, and leads back to the text (a plain link to the form
and the advice that the browser's Back button keeps what was typed). A
wrong codename shows the login form again (403) with the error at the field.
Logging out ends on closing advice. With ``TIPBOX_ONION_HOSTS`` set, every
source page reached under another host warns the visitor, and nothing about
that visit is written anywhere.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.web.conftest import SourceSite
from tipbox.config import load_settings
from tipbox.errors import ConfigError

#: Small limits, so that each refusal is cheap to reach and its value easy to find.
LIMITS = {"TIPBOX_MAX_UPLOAD_BYTES": str(3 * 1024 * 1024), "TIPBOX_MAX_FILES": "2",
          "TIPBOX_MAX_MESSAGE_CHARS": "1500"}
MAX_UPLOAD = 3 * 1024 * 1024
BACK_TO_TEXT = re.compile(r'<a href="/submit">Go back to your text</a>')
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')
WARNING = "this is not our onion address"
ONION = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvw.onion"


@pytest.fixture
def small(make_site: Callable[..., SourceSite]) -> SourceSite:
    return make_site(**LIMITS)


def hidden_fields(client: FlaskClient, path: str = "/submit", **get: str) -> dict[str, str]:
    """The hidden inputs of the form at ``path`` (the CSRF token and any other)."""
    return dict(_HIDDEN.findall(client.get(path, **get).get_data(as_text=True)))


def send(site: SourceSite, **fields: object) -> tuple[int, str]:
    client = site.app.test_client()
    response = client.post("/submit", data={**hidden_fields(client), **fields},
                           content_type="multipart/form-data")
    return response.status_code, response.get_data(as_text=True)


def files(*sizes: int) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(b"x" * size), f"f{number}.txt") for number, size in enumerate(sizes)]


def assert_leads_back_to_the_text(page: str) -> None:
    assert BACK_TO_TEXT.search(page), page
    assert "Back button returns to the form with what you typed" in page


@pytest.mark.parametrize(("fields", "named"), [
    # Counted in characters by the draft (within the parser's byte bound).
    ({"message": "x" * 1501}, "a message may have at most 1,500 characters"),
    # Over the parser's byte bound for one field: the same limit, the same words.
    ({"message": "x" * 20_000}, "a message may have at most 1,500 characters"),
    ({"files": files(MAX_UPLOAD // 2 + 1, MAX_UPLOAD // 2 + 1)},
     "all files of one submission together may be at most 3 MB"),
    ({"message": "hello", "files": files(MAX_UPLOAD // 2, MAX_UPLOAD // 2)},
     "a message and files together may be at most 3 MB"),
    ({"message": "hi", "files": files(1, 1, 1)}, "You can attach at most 2 files at a time"),
], ids=["message-chars", "message-bytes", "files", "total", "count"])
def test_each_refusal_names_its_limit_with_the_configured_value(
        small: SourceSite, fields: dict[str, object], named: str) -> None:
    status, page = send(small, **fields)
    assert status == 413
    assert named in page
    assert_leads_back_to_the_text(page)
    small.assert_nothing_stored()


def test_an_empty_submission_says_what_it_needs(small: SourceSite) -> None:
    status, page = send(small, message="  ", files=files(0))
    assert status == 400
    assert "a submission needs a message or at least one file that is not empty" in page
    assert_leads_back_to_the_text(page)


def test_a_body_over_the_cap_names_both_limits(small: SourceSite) -> None:
    client = small.app.test_client()
    response = client.post(
        "/submit", data={**hidden_fields(client), "message": "hi"},
        content_type="multipart/form-data",
        environ_overrides={"CONTENT_LENGTH": str(20 * MAX_UPLOAD)})
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "All files together may be at most 3 MB, and a message at most 1,500" in page
    assert_leads_back_to_the_text(page)


def test_other_error_pages_lead_to_the_start_page(client: FlaskClient) -> None:
    page = client.get("/no-such-page").get_data(as_text=True)
    assert '<a href="/">Go back to the start page</a>' in page
    assert "Go back to your text" not in page


def _new_codename(site: SourceSite) -> str:
    draft = site.instance.submissions.start(None)
    draft.add_message("first")
    codename = draft.commit().codename
    assert codename is not None
    return codename


def test_a_wrong_codename_shows_the_login_form_again_with_the_error_at_the_field(
        client: FlaskClient, site: SourceSite) -> None:
    _new_codename(site)
    response = client.post("/login", data={**hidden_fields(client, "/login"),
                                           "codename": "abacus abdomen abdominal abide"})
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert '<form method="post" action="/login">' in page
    assert 'aria-invalid="true"' in page
    assert 'aria-describedby="codename-error codename-hint"' in page
    error = re.search(r'<span class="error" id="codename-error" role="alert">(.*?)</span>', page,
                      re.S)
    assert error is not None
    assert "That codename did not work." in error.group(1)
    assert page.index('<label for="codename">') < error.start() < page.index('id="codename"')
    assert "abacus" not in page  # the typed codename is not echoed
    assert "Go back to the start page" not in page  # the form, not a separate error page


def test_the_login_form_without_an_error_has_no_error(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "codename-error" not in page
    assert "aria-invalid" not in page


def test_logout_ends_on_closing_advice(client: FlaskClient, site: SourceSite) -> None:
    codename = _new_codename(site)
    response = client.post("/login", data={**hidden_fields(client, "/login"),
                                           "codename": codename})
    assert response.status_code == 303
    response = client.post("/logout", data=hidden_fields(client, "/replies"))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/logged-out")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "You are logged out" in page
    assert "Now close Tor Browser: all its windows, not only this tab." in page
    assert "How to come back" in page
    assert "enter your codename" in page
    assert 'class="onion-address" lang="en" dir="ltr">localhost</code>' in page
    assert client.get("/replies").status_code == 303  # really logged out
    assert "Log out" not in page


def test_the_logout_page_names_the_configured_onion_address(
        make_site: Callable[..., SourceSite]) -> None:
    site = make_site(TIPBOX_ONION_HOSTS=ONION)
    page = site.app.test_client().get("/logged-out", base_url=f"http://{ONION}")
    assert f">{ONION}</code>" in page.get_data(as_text=True)


SOURCE_PAGES = ("/", "/submit", "/login", "/logged-out", "/no-such-page")


@pytest.mark.parametrize("path", SOURCE_PAGES)
def test_a_foreign_host_gets_the_warning_on_every_source_page(
        make_site: Callable[..., SourceSite], path: str) -> None:
    site = make_site(TIPBOX_ONION_HOSTS=f"{ONION}, other.example")
    client = site.app.test_client()
    foreign = client.get(path, base_url="http://tips.example.com").get_data(as_text=True)
    assert WARNING in foreign
    assert f'<code class="onion-address" lang="en" dir="ltr">{ONION}</code>' in foreign
    for host in (ONION, ONION.upper(), f"{ONION}:80", "other.example"):
        page = client.get(path, base_url=f"http://{host}").get_data(as_text=True)
        assert WARNING not in page, host


def test_the_warning_shows_after_a_refusal_and_the_landing_cache_keeps_them_apart(
        make_site: Callable[..., SourceSite]) -> None:
    site = make_site(TIPBOX_ONION_HOSTS=ONION)
    client = site.app.test_client()
    assert WARNING not in client.get("/", base_url=f"http://{ONION}").get_data(as_text=True)
    assert WARNING in client.get("/", base_url="http://localhost").get_data(as_text=True)
    assert WARNING not in client.get("/", base_url=f"http://{ONION}").get_data(as_text=True)
    fields = {**hidden_fields(client), "message": ""}
    response = client.post("/submit", data=fields, content_type="multipart/form-data")
    assert response.status_code == 400
    assert WARNING in response.get_data(as_text=True)


@pytest.mark.parametrize("path", SOURCE_PAGES)
def test_no_warning_when_no_onion_host_is_configured(client: FlaskClient, path: str) -> None:
    page = client.get(path, base_url="http://tips.example.com").get_data(as_text=True)
    assert WARNING not in page
    assert "wrong-address" not in page


def test_nothing_about_a_foreign_host_is_written_anywhere(
        make_site: Callable[..., SourceSite], caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    site = make_site(TIPBOX_ONION_HOSTS=ONION)
    foreign = "foreign-host-marker.example"
    client = site.app.test_client()
    for path in SOURCE_PAGES:
        assert WARNING in client.get(path, base_url=f"http://{foreign}").get_data(as_text=True)
    response = client.post(
        "/submit", base_url=f"http://{foreign}",
        data={**hidden_fields(client, base_url=f"http://{foreign}"), "message": "hello"},
        content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert WARNING in response.get_data(as_text=True)
    assert site.submission_count() == 1
    site.instance.close()  # flush the database to its files
    written = [path for path in Path(site.settings.data_dir).rglob("*") if path.is_file()]
    assert written
    for path in written:
        assert foreign.encode() not in path.read_bytes(), path
    captured = capfd.readouterr()
    assert foreign not in caplog.text + captured.out + captured.err


def test_onion_hosts_setting(tmp_path: Path) -> None:
    def load(value: str) -> tuple[str, ...]:
        return load_settings({"TIPBOX_DATA_DIR": str(tmp_path),
                              "TIPBOX_ONION_HOSTS": value}).onion_hosts

    assert load_settings({"TIPBOX_DATA_DIR": str(tmp_path)}).onion_hosts == ()
    assert load("") == ()
    assert load(f" {ONION.upper()} , www.example.org,") == (ONION, "www.example.org")
    for bad in (f"{ONION}:80", "http://x.onion", "a b.onion", "-x.onion", "x..onion", "ä.onion"):
        with pytest.raises(ConfigError, match="TIPBOX_ONION_HOSTS"):
            load(bad)
