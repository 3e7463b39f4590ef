"""Each language renders the source pages, the codename page and the reviewer app."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from i18n_kit import LANGUAGES, csrf_of, page, po_path
from markupsafe import escape

from tipbox.web.headers import SECURITY_HEADERS

_CODENAME = re.compile(r'<p class="codename" lang="en"><strong>([a-z\- ]+)</strong></p>')
_TAG_OR_PLACEHOLDER = re.compile(r"<[^>]+>|%\([a-z_]+\)[sd]")


@cache
def catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


def translated(language: str, msgid: str) -> str:
    """The translation of ``msgid`` as the page shows it (Jinja escapes nothing in it)."""
    message = catalog(language).get(msgid)
    assert message is not None, msgid
    assert isinstance(message.string, str), msgid
    return message.string


@cache
def english_sentences() -> frozenset[str]:
    """Long stretches of English text from every msgid: none may show on a translated page."""
    pieces = set()
    for message in catalog("ru"):
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            pieces.update(p.strip() for p in _TAG_OR_PLACEHOLDER.split(msgid or ""))
    return frozenset(p for p in pieces if len(p) >= 25)


def assert_translated(html: str, language: str, *msgids: str) -> None:
    assert f'<html lang="{language}" dir="ltr">' in html
    for msgid in msgids:
        assert translated(language, msgid) in html, (language, msgid)
    leftovers = [s for s in english_sentences() if s in html]
    assert not leftovers, (language, leftovers)


def pick(client: FlaskClient, language: str, path: str = "/") -> None:
    response = client.get(f"{path}?lang={language}")
    assert response.status_code == 303
    assert response.headers["Location"] == path


def submit(client: FlaskClient, message: str = "the ministry is lying") -> str:
    token = csrf_of(page(client, "/submit"))
    response = client.post("/submit", data={"csrf_token": token, "message": message},
                           content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_landing_submit_and_login_pages(client: FlaskClient, language: str) -> None:
    pick(client, language)
    assert_translated(page(client, "/"), language, "Send us information safely",
                      "Before you start: stay safe", "Secure tip box")
    assert_translated(page(client, "/submit"), language, "Send information", "Send securely",
                      "Files (optional)")
    login = page(client, "/login")
    assert_translated(login, language, "Enter your codename")
    assert translated(language, "The words you were given, separated by spaces. They are "
                      "English words in Latin letters: type them exactly as they were shown, "
                      "even if your keyboard is set to another language.") in login


@pytest.mark.parametrize("language", LANGUAGES)
def test_codename_page_explains_the_english_words(client: FlaskClient, language: str) -> None:
    pick(client, language)
    html = submit(client)
    assert_translated(html, language, "We received your information. Now memorise your codename.",
                      "The words are English on purpose, in Latin letters, so that you can "
                      "type them on any keyboard. You do not need to understand them: learn "
                      "how they are spelt.")
    codename = _CODENAME.search(html)
    assert codename is not None
    assert len(codename.group(1).split()) == 7  # still the English words
    assert 'class="languages"' not in html  # switching language would lose the codename


@pytest.mark.parametrize("language", LANGUAGES)
def test_error_pages(client: FlaskClient, language: str) -> None:
    pick(client, language)
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert_translated(missing.get_data(as_text=True), language, "Page not found")
    expired = client.post("/submit", data={"message": "x"})  # no CSRF token
    assert expired.status_code == 400
    assert_translated(expired.get_data(as_text=True), language, "This form has expired")
    token = csrf_of(page(client, "/login"))
    failed = client.post("/login", data={"csrf_token": token, "codename": "wrong words"})
    assert failed.status_code == 403
    assert_translated(failed.get_data(as_text=True), language, "That codename did not work")


def test_plural_forms_and_numbers_follow_the_language(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    pick(client, "ru")
    html = page(client, "/submit")
    assert re.search(r"Не более \d+ файл(а|ов), всего не более [\d,]+ (ГБ|МБ|КБ)", html), html


def test_english_is_the_default(client: FlaskClient) -> None:
    html = page(client, "/")
    assert '<html lang="en" dir="ltr">' in html
    assert "Send us information safely" in html


@pytest.mark.parametrize(("header", "expected"), [
    ("uk-UA,uk;q=0.9,en-US;q=0.8", "uk"),
    ("be", "be"),
    ("pl-PL", "pl"),
    ("ru-RU,ru;q=0.9", "ru"),
    ("de-DE,de;q=0.9", "en"),
    ("en-US,en;q=0.5", "en"),
])
def test_accept_language_is_the_default(client: FlaskClient, header: str,
                                        expected: str) -> None:
    html = page(client, "/", headers={"Accept-Language": header})
    assert f'<html lang="{expected}" dir="ltr">' in html


def test_the_picked_language_beats_accept_language(client: FlaskClient) -> None:
    pick(client, "be")
    html = page(client, "/", headers={"Accept-Language": "pl"})
    assert '<html lang="be"' in html


def test_the_picker_is_plain_links_on_every_source_page(client: FlaskClient) -> None:
    for path in ("/", "/submit", "/login", "/no-such-page"):
        response = client.get(path)
        html = response.get_data(as_text=True)
        for language in ("be", "ru", "uk", "pl"):
            assert f'href="{path}?lang={language}" hreflang="{language}"' in html, path
        assert "<script" not in html
    assert 'lang="be">Беларуская</a>' in html
    assert 'aria-current="true">English</strong>' in html


def test_the_landing_page_sets_no_cookie_until_a_language_is_picked(
    client: FlaskClient, source_app: Flask
) -> None:
    assert client.get("/").headers.get("Set-Cookie") is None
    response = client.get("/?lang=uk")
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1
    name, _, rest = cookies[0].partition("=")
    assert name == source_app.config["SESSION_COOKIE_NAME"]
    assert "HttpOnly" in rest
    assert "SameSite=Strict" in rest
    assert "Expires" not in rest  # ends with the browser session
    interface = source_app.session_interface
    serializer = interface.get_signing_serializer(source_app)  # type: ignore[attr-defined]
    assert serializer.loads(rest.split(";", 1)[0]) == {"lang": "uk"}


def test_the_choice_keeps_the_other_query_values(client: FlaskClient) -> None:
    response = client.get("/submit?a=1&lang=pl&b=2")
    assert response.status_code == 303
    assert response.headers["Location"] == "/submit?a=1&b=2"


@pytest.mark.parametrize("value", ["xx", "", "../../etc", "EN", "ru\x00"])
def test_an_unknown_language_is_not_stored(client: FlaskClient, value: str) -> None:
    response = client.get("/", query_string={"lang": value})
    assert response.status_code == 303
    assert response.headers.get("Set-Cookie") is None
    assert '<html lang="en"' in page(client, "/")


def test_a_choice_from_another_site_is_not_stored(client: FlaskClient) -> None:
    response = client.get("/?lang=ru", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 303
    assert response.headers.get("Set-Cookie") is None
    ours = client.get("/?lang=ru", headers={"Sec-Fetch-Site": "same-origin"})
    assert ours.headers.get("Set-Cookie") is not None


def test_the_redirect_never_leaves_the_site(client: FlaskClient) -> None:
    response = client.get("//evil.example/path?lang=ru")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/")
    assert not response.headers["Location"].startswith("//")


def test_the_language_survives_login_and_logout(client: FlaskClient) -> None:
    pick(client, "be")
    codename = _CODENAME.search(submit(client))
    assert codename is not None
    token = csrf_of(page(client, "/login"))
    response = client.post("/login", data={"csrf_token": token, "codename": codename.group(1)})
    assert response.status_code == 303
    replies = page(client, "/replies")
    assert_translated(replies, "be", "Replies from our journalists")
    client.post("/logout", data={"csrf_token": csrf_of(replies)})
    assert '<html lang="be"' in page(client, "/")


def test_security_headers_stay_on_translated_pages_and_the_redirect(client: FlaskClient) -> None:
    responses = [client.get("/?lang=ru"), client.get("/"), client.get("/submit"),
                 client.get("/no-such-page")]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (response.request.path, name)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_reviewer_app_speaks_the_language(make_app: Callable[..., Flask],
                                              language: str) -> None:
    client = make_app("reviewer").test_client()
    response = client.get(f"/login?lang={language}")
    assert response.status_code == 303
    login = page(client, "/login")
    assert_translated(login, language, "Reviewer login", "Code from your authenticator app")
    failed = client.post("/login", data={"csrf_token": csrf_of(login), "username": "nobody",
                                         "password": "a long wrong password", "code": "123456"})
    assert failed.status_code == 403
    message = "That username, password and code did not work together."
    assert translated(language, message) in failed.get_data(as_text=True)
    empty = client.post("/login", data={"csrf_token": csrf_of(login), "username": "",
                                        "password": "x", "code": ""})
    label = escape(translated(language, "username"))  # a value, escaped like any other
    assert translated(language, "please enter the %(label)s") % {"label": label} in (
        empty.get_data(as_text=True))
