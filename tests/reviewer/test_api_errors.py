"""The JSON API's refusals, through the Flask test client: always JSON, never HTML, never 500.

Every failure under ``/api/`` is ``{"error": code, "message": text}`` with the
status of its code in :data:`tipbox.web.errors.CODES`: unknown routes, wrong
methods, oversized or malformed bodies, wrong content types, missing, forged
or expired tokens, a cookie session without a token, unknown parameters and
fields. A hypothesis test sends random JSON to every route.
"""

from __future__ import annotations

import json
import secrets
import typing as t

import pytest
from flask import url_for
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reviewer_kit import ReviewerSite, Submitted, csrf, submit
from werkzeug.test import TestResponse

from tests.web.hostile_bodies import BOMB_BYTES, Body
from tipbox.services.accounts.sessions import ReviewerSession
from tipbox.services.accounts.throttle import MAX_FAILURES
from tipbox.services.accounts.totp import totp_code
from tipbox.web.app import form_limit
from tipbox.web.errors import CODES
from tipbox.web.uploads import DEFAULT_READ_SIZE

FUZZ = settings(derandomize=True, deadline=None, max_examples=150,
                suppress_health_check=list(HealthCheck))

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=12,
)


def assert_json_error(response: TestResponse, status: int, code: str) -> None:
    """``response`` is the JSON refusal ``code`` with the table's status, no page."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert set(body) == {"error", "message"}
    assert CODES[code].status == status
    assert "Set-Cookie" not in response.headers


def token_for(site: ReviewerSite, client: FlaskClient) -> str:
    """A bearer token for the admin (a fresh TOTP step each time)."""
    site.clock.step()
    response = client.post("/api/v1/token", json={
        "username": "admin", "password": site.admin.password,
        "code": totp_code(site.admin.totp_secret, site.clock.now)})
    assert response.status_code == 200, response.get_data(as_text=True)
    return t.cast(str, response.get_json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token(site: ReviewerSite) -> str:
    return token_for(site, site.client())


@pytest.fixture
def source(site: ReviewerSite) -> Submitted:
    return submit(site.services.instance, files={"plan.pdf": b"%PDF secret"})


# --- tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize("header", [
    None,
    "Bearer",
    "Bearer ",
    "Basic YWRtaW46cGFzc3dvcmQ=",
    "Bearer not-a-token",
    "Bearer " + "a" * 5000,
    "Bearer ٣٣٣.٣٣٣",
])
def test_a_missing_or_malformed_token_is_a_json_401(site: ReviewerSite, header: str | None
                                                    ) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = site.client().get("/api/v1/sources", headers=headers)
    assert_json_error(response, 401, "token_refused")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_forged_token_of_the_right_shape_is_refused(site: ReviewerSite, token: str) -> None:
    sid, key = token.split(".")
    forged = [f"{secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}",
              f"{sid}.{secrets.token_urlsafe(32)}",  # the right id, another session key
              f"{secrets.token_urlsafe(32)}.{key}"]
    for candidate in forged:
        response = site.client().get("/api/v1/sources", headers=bearer(candidate))
        assert_json_error(response, 401, "token_refused")


def test_a_cookie_session_alone_is_refused(site: ReviewerSite, client: FlaskClient) -> None:
    """``client`` is logged in to the pages; its cookie opens nothing under /api."""
    assert client.get("/").status_code == 200
    assert_json_error(client.get("/api/v1/sources"), 401, "token_refused")
    assert_json_error(client.delete("/api/v1/sources/1"), 401, "token_refused")


def test_an_idle_token_expires_and_a_deleted_one_is_dead(site: ReviewerSite, token: str) -> None:
    client = site.client()
    assert client.get("/api/v1/sources", headers=bearer(token)).status_code == 200
    site.clock.step(site.services.sessions.idle_seconds + 1)
    assert_json_error(client.get("/api/v1/sources", headers=bearer(token)), 401,
                      "token_refused")
    fresh = token_for(site, client)
    assert client.delete("/api/v1/token", headers=bearer(fresh)).status_code == 204
    assert_json_error(client.get("/api/v1/sources", headers=bearer(fresh)), 401,
                      "token_refused")


def test_wrong_credentials_answer_alike_and_a_lockout_says_429(site: ReviewerSite) -> None:
    client = site.client()
    site.clock.step()
    right_code = totp_code(site.admin.totp_secret, site.clock.now)
    answers = set()
    for body in ({"username": "admin", "password": "wrong password!", "code": right_code},
                 {"username": "nobody", "password": site.admin.password, "code": right_code},
                 {"username": "admin", "password": site.admin.password, "code": "000000"}):
        response = client.post("/api/v1/token", json=body)
        assert_json_error(response, 403, "login_failed")
        answers.add(response.get_data())
    assert len(answers) == 1
    for _ in range(MAX_FAILURES):
        client.post("/api/v1/token", json={"username": "admin", "password": "nope nope nope",
                                           "code": "123456"})
    response = client.post("/api/v1/token", json={
        "username": "admin", "password": site.admin.password, "code": right_code})
    assert_json_error(response, 429, "account_locked")


def test_an_account_in_enrolment_gets_no_token(site: ReviewerSite) -> None:
    _, enrolment = site.services.reviewers.create("olga")
    before = site.services.sessions.count()
    response = site.client().post("/api/v1/token", json={
        "username": "olga", "password": enrolment.password, "code": ""})
    assert_json_error(response, 403, "enrol_in_browser")
    assert site.services.sessions.count() == before


def api_routes(site: ReviewerSite, source: Submitted) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) of every API route, with real ids filled in."""
    values = {"source_id": source.source_id, "item_id": 2}
    found = []
    with site.app.test_request_context():
        for rule in site.app.url_map.iter_rules():
            if rule.endpoint.startswith("api."):
                url = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
                found += [(rule.endpoint, method, url)
                          for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]
    return found


def test_the_api_matrix_covers_every_route(site: ReviewerSite, source: Submitted) -> None:
    endpoints = {endpoint for endpoint, _, _ in api_routes(site, source)}
    assert endpoints == {"api.create_token", "api.delete_token", "api.list_sources",
                         "api.get_source", "api.patch_source", "api.add_reply",
                         "api.delete_source", "api.item_content", "api.add_note"}


def test_every_api_route_refuses_no_token_a_cookie_and_an_expired_token(
        site: ReviewerSite, client: FlaskClient, token: str, source: Submitted) -> None:
    """The authorization matrix of the pages, for bearer tokens: 401 JSON, nothing done.

    ``client`` is logged in to the pages; its cookie and a valid CSRF token open nothing.
    """
    site.clock.step(site.services.sessions.idle_seconds + 1)
    site.log_in(client)
    for endpoint, method, url in api_routes(site, source):
        if endpoint == "api.create_token":
            continue
        for caller, headers in ((site.client(), {}), (client, {}),
                                (client, {"X-CSRFToken": csrf(client, "/")}),
                                (site.client(), bearer(token))):
            response = caller.open(url, method=method, headers=headers, json={"starred": True})
            assert_json_error(response, 401, "token_refused")
    summary = site.services.inbox.source(source.source_id)
    assert (summary.items, summary.starred) == (2, False)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_body_bomb_is_refused_before_a_byte_is_read(
        site: ReviewerSite, token: str, source: Submitted, method: str) -> None:
    client = site.client()
    cap = form_limit(site.services.instance.settings)
    for endpoint, rule_method, url in api_routes(site, source):
        if rule_method != method:
            continue
        for length in (cap + 1, BOMB_BYTES):
            body = Body(b"{", forbid_reading=True)
            response = client.open(url, method=method, input_stream=body,
                                   content_type="application/json", headers=bearer(token),
                                   environ_overrides={"CONTENT_LENGTH": str(length)})
            assert_json_error(response, 413, "too_large")
        body = Body(b"x", prefix=b'{"text": "')  # endless, chunked
        response = client.open(url, method=method, input_stream=body,
                               content_type="application/json",
                               headers={**bearer(token), "Transfer-Encoding": "chunked"},
                               environ_overrides={"wsgi.input_terminated": True})
        assert_json_error(response, 413, "too_large")
        assert body.read_bytes <= cap + DEFAULT_READ_SIZE, endpoint


# --- bodies --------------------------------------------------------------------------------


def test_bodies_must_be_json_objects_of_known_fields(site: ReviewerSite) -> None:
    client = site.client()
    post = client.post
    assert_json_error(post("/api/v1/token", data="username=admin"), 415, "json_expected")
    assert_json_error(post("/api/v1/token", data="{}", content_type="text/plain"), 415,
                      "json_expected")
    for raw in ("", "{", "[1, 2]", '"text"', "NaN", "{\"a\": Infinity}", "[" * 100_000,
                "\xff\xfe", "1" * 5000):
        response = post("/api/v1/token", data=raw.encode("utf-8", "surrogateescape"),
                        content_type="application/json")
        assert_json_error(response, 400, "json_malformed")
    response = post("/api/v1/token", json={"username": "admin", "password": "x", "code": "1",
                                           "admin": True})
    assert_json_error(response, 400, "unknown_field")
    assert_json_error(post("/api/v1/token", json={"username": "admin", "code": "1"}), 400,
                      "field_missing")
    assert_json_error(post("/api/v1/token", json={"username": ["admin"], "password": "x",
                                                  "code": "1"}), 400, "field_missing")


def test_a_body_over_the_form_cap_is_a_json_413(site: ReviewerSite, token: str) -> None:
    cap = form_limit(site.services.instance.settings)
    body = b'{"text": "' + b"x" * cap + b'"}'
    response = site.client().post("/api/v1/sources/1/replies", data=body,
                                  content_type="application/json", headers=bearer(token))
    assert_json_error(response, 413, "too_large")


# --- routes, parameters and fields --------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/api/v1/nope", 404, "not_found"),
    ("POST", "/api/v1/nope", 404, "not_found"),
    ("GET", "/api/v2/sources", 404, "not_found"),
    ("GET", "/api/", 404, "not_found"),
    ("PUT", "/api/v1/token", 405, "method_not_allowed"),
    ("GET", "/api/v1/token", 405, "method_not_allowed"),
    ("POST", "/api/v1/sources", 405, "method_not_allowed"),
    ("GET", "/api/v1/sources/٣", 404, "not_found"),
    ("GET", "/api/v1/sources/99999999999999999999999", 404, "not_found"),
    ("GET", "/api/v1/sources/99", 404, "not_found"),
    ("PATCH", "/api/v1/sources/99", 404, "not_found"),
    ("DELETE", "/api/v1/sources/99", 404, "not_found"),
    ("GET", "/api/v1/items/99/content", 404, "not_found"),
])
def test_unknown_routes_methods_and_ids_are_json(site: ReviewerSite, token: str,
                                                 source: Submitted, method: str, path: str,
                                                 status: int, code: str) -> None:
    body = {"starred": True} if method == "PATCH" else None
    response = site.client().open(path, method=method, headers=bearer(token), json=body)
    assert_json_error(response, status, code)
    if status == 405:
        assert "Allow" in response.headers


@pytest.mark.parametrize(("query", "code"), [
    ("?bogus=1", "unknown_parameter"),
    ("?lang=ru", "unknown_parameter"),
    ("?status=new&bogus=2", "unknown_parameter"),
    ("?starred=1&starred=0", "invalid_input"),
    ("?starred=yes", "choice_invalid"),
    ("?unread=2", "choice_invalid"),
    ("?order=oldest", "order_unknown"),
    ("?cursor=%%%", "invalid_input"),
    ("?cursor=" + "A" * 100, "invalid_input"),
])
def test_list_parameters_are_checked(site: ReviewerSite, token: str, query: str, code: str
                                     ) -> None:
    response = site.client().get("/api/v1/sources" + query, headers=bearer(token))
    assert_json_error(response, 400, code)


def test_lang_sets_no_cookie_and_redirects_nowhere(site: ReviewerSite, token: str) -> None:
    client = site.client()
    client.get("/api/v1/sources?lang=ru", headers=bearer(token))
    response = client.get("/api/v1/nope", headers=bearer(token))
    assert response.get_json()["message"] == "Page not found"  # no language was stored


def test_patch_and_reply_refuse_bad_fields_before_changing_anything(
        site: ReviewerSite, token: str, source: Submitted) -> None:
    client = site.client()
    path = f"/api/v1/sources/{source.source_id}"
    for body, code in (({"starred": "yes"}, "choice_invalid"),
                       ({"starred": 1}, "choice_invalid"),
                       ({"starred": True, "status": "archived"}, "unknown_status"),
                       ({"starred": True, "colour": "red"}, "unknown_field")):
        assert_json_error(client.patch(path, json=body, headers=bearer(token)), 400, code)
    assert not site.services.inbox.source(source.source_id).starred
    assert_json_error(client.post(f"{path}/replies", json={"text": ""},
                                  headers=bearer(token)), 400, "reply_empty")
    assert_json_error(client.post(f"{path}/replies", json={"reply": "hi"},
                                  headers=bearer(token)), 400, "unknown_field")
    assert_json_error(client.post(f"{path}/replies", json={"text": 7},
                                  headers=bearer(token)), 400, "field_missing")


def test_a_csrf_token_is_not_needed_but_the_pages_still_need_one(
        site: ReviewerSite, client: FlaskClient, token: str, source: Submitted) -> None:
    path = f"/api/v1/sources/{source.source_id}"
    response = site.client().patch(path, json={"starred": True}, headers=bearer(token))
    assert response.status_code == 200
    page = client.post(f"/sources/{source.source_id}/star", data={"starred": "1"})
    assert page.status_code == 400
    assert page.mimetype == "text/html"


def test_an_unexpected_failure_is_a_json_500_without_details(
        site: ReviewerSite, token: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    detail = "secret detail from a source"

    def explode(*args: object, **kwargs: object) -> t.NoReturn:
        raise RuntimeError(detail)  # the log shows this line, never the message

    monkeypatch.setattr(site.services.inbox, "sources", explode)
    response = site.client().get("/api/v1/sources", headers=bearer(token))
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "internal"
    assert "secret detail" not in response.get_data(as_text=True)
    assert "secret detail" not in caplog.text


def test_the_pages_still_answer_with_pages(site: ReviewerSite) -> None:
    response = site.client().get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


# --- random bodies -----------------------------------------------------------------------

ROUTES = (
    ("POST", "/api/v1/token"),
    ("PATCH", "/api/v1/sources/{id}"),
    ("POST", "/api/v1/sources/{id}/replies"),
    ("GET", "/api/v1/sources"),
)


@pytest.fixture
def fuzz_site(site: ReviewerSite, source: Submitted) -> tuple[ReviewerSite, str, Submitted]:
    return site, token_for(site, site.client()), source


@given(body=JSON_VALUES, route=st.sampled_from(ROUTES), raw=st.booleans(),
       garbage=st.binary(max_size=64))
@FUZZ
def test_random_json_bodies_never_give_a_500_or_html(
        fuzz_site: tuple[ReviewerSite, str, Submitted], body: object,
        route: tuple[str, str], raw: bool, garbage: bytes) -> None:
    site, token, source = fuzz_site
    method, path = route
    data = garbage if raw else json.dumps(body).encode()
    response = site.client().open(path.format(id=source.source_id), method=method, data=data,
                                  content_type="application/json", headers=bearer(token))
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    if response.status_code >= 400:
        assert response.get_json()["error"] in CODES


def test_the_token_is_a_full_session_of_the_pages(site: ReviewerSite, token: str) -> None:
    """The same lifetimes and the same lookup as a cookie's session."""
    session = site.services.sessions.load(token)
    assert isinstance(session, ReviewerSession)
    assert (session.username, session.kind) == ("admin", "full")
