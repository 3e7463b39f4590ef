"""DESIGN 8: security headers on every response (errors included); one strict cookie."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tipbox.web.headers import SECURITY_HEADERS

EXPECTED_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def assert_secure(response: TestResponse) -> None:
    headers = response.headers
    assert headers["Content-Security-Policy"] == EXPECTED_CSP
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert "camera=()" in headers["Permissions-Policy"]
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value


def requests(token: Callable[..., str]) -> list[tuple[str, str, dict[str, object]]]:
    return [
        ("GET", "/", {}),
        ("GET", "/submit", {}),
        ("GET", "/login", {}),
        ("GET", "/replies", {}),
        ("GET", "/public-key", {}),
        ("GET", "/static/tipbox.css", {}),
        ("GET", "/no-such-page", {}),
        ("PUT", "/submit", {}),
        ("POST", "/submit", {"data": {"message": "no token"}}),
        ("POST", "/submit", {"data": {"csrf_token": token(), "message": ""}}),
        ("POST", "/submit", {"data": {"csrf_token": token(), "message": "hi"}}),
        ("POST", "/login", {"data": {"csrf_token": token("/login"), "codename": "x"}}),
        ("POST", "/logout", {"data": {"csrf_token": token()}}),
        ("POST", "/replies/delete", {"data": {"csrf_token": token()}}),
        ("POST", "/submit", {"data": b"x", "environ_overrides": {"CONTENT_LENGTH": "9" * 12}}),
    ]


def test_every_route_and_error_page_has_security_headers(
    client: FlaskClient, token: Callable[..., str]
) -> None:
    statuses = set()
    for method, path, kwargs in requests(token):
        response = client.open(path, method=method, **kwargs)  # type: ignore[arg-type]
        statuses.add(response.status_code)
        assert_secure(response)
    assert {200, 303, 400, 403, 404, 405, 413} <= statuses


def test_500_page_has_headers_and_no_details(
    client: FlaskClient, site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode() -> None:
        raise RuntimeError("secret detail /etc/passwd")

    monkeypatch.setattr(site.instance.keyring, "active_keys", explode)
    response = client.get("/")
    assert response.status_code == 500
    assert_secure(response)
    page = response.get_data(as_text=True)
    assert "secret detail" not in page
    assert "Traceback" not in page
    assert "went wrong on our side" in page


def test_session_cookie_flags(client: FlaskClient) -> None:
    response = client.get("/submit")
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 1
    cookie = cookies[0]
    assert cookie.startswith("session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite"} <= attributes
    assert "SameSite=Strict" in cookie
    assert "expires" not in attributes
    assert "max-age" not in attributes
    assert "domain" not in attributes


def test_dev_mode_drops_only_secure(make_site: Callable[..., object]) -> None:
    site = make_site(TIPBOX_DEV="1")
    client = site.app.test_client()  # type: ignore[attr-defined]
    cookie = client.get("/submit").headers["Set-Cookie"]
    assert "Secure" not in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie


def test_no_cookie_without_a_form(client: FlaskClient) -> None:
    for path in ("/", "/public-key", "/static/tipbox.css", "/nowhere"):
        assert client.get(path).headers.get("Set-Cookie") is None


def test_405_keeps_allow_header(client: FlaskClient) -> None:
    response = client.delete("/submit")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "cannot be used that way" in response.get_data(as_text=True)


def test_upload_responses_have_headers(client: FlaskClient, token: Callable[..., str]) -> None:
    data = {"csrf_token": token(), "files": [(io.BytesIO(b"x"), "../x")]}
    response = client.post("/submit", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert_secure(response)
