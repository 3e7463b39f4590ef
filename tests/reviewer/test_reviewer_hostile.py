"""Hostile input on every reviewer form gets a specific error, never a 500."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from reviewer_kit import ReviewerSite, csrf, submit


def post(client: FlaskClient, url: str, page: str, **data: object):  # noqa: ANN201
    return client.post(url, data={"csrf_token": csrf(client, page), **data})


@pytest.mark.parametrize(("data", "status", "message"), [
    ({}, 400, "the form has no"),
    ({"username": "", "password": "x", "code": ""}, 400, "please enter the username"),
    ({"username": "admin", "password": "", "code": ""}, 400, "please enter the password"),
    ({"username": "a" * 100, "password": "x", "code": ""}, 400, "longer than 64"),
    ({"username": "admin", "password": "x" * 2000, "code": ""}, 400, "longer than 1024"),
    ({"username": "admin", "password": "long enough pass", "code": "x" * 40}, 400,
     "longer than 32"),
    ({"username": "admin", "password": "long enough pass", "code": "12345a"}, 403,
     "did not work together"),
    ({"username": "ad\x00min", "password": "pw\u202e\ufeff", "code": "1"}, 403,
     "did not work together"),
])
def test_login_form(site: ReviewerSite, data: dict[str, str], status: int,
                    message: str) -> None:
    client = site.client()
    response = post(client, "/login", "/login", **data)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_login_with_undecodable_body(site: ReviewerSite) -> None:
    client = site.client()
    token = csrf(client)
    response = client.post("/login", data=f"csrf_token={token}&username=%ff%fe&password=x",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code in {400, 403}


def test_login_with_a_file_part_is_refused(site: ReviewerSite) -> None:
    import io

    client = site.client()
    response = client.post("/login", content_type="multipart/form-data", data={
        "csrf_token": csrf(client), "username": "admin", "password": "x",
        "f": (io.BytesIO(b"x"), "x.txt")})
    assert response.status_code == 400


def test_oversized_body_is_413(site: ReviewerSite) -> None:
    client = site.client()
    response = client.post("/login", data={"csrf_token": csrf(client), "password": "x" * 10**6})
    assert response.status_code == 413


@pytest.mark.parametrize(("data", "message"), [
    ({}, "the form has no new password"),
    ({"new_password": "short", "confirm_password": "short", "code": "123456"},
     "at least 14 characters"),
    ({"new_password": "long enough password", "confirm_password": "different password!",
      "code": "123456"}, "not the same"),
    ({"new_password": "long enough password", "confirm_password": "long enough password",
      "code": ""}, "please enter the code"),
    ({"new_password": "long enough password", "confirm_password": "long enough password",
      "code": "12 34"}, "6 digits"),
])
def test_enrol_form(site: ReviewerSite, data: dict[str, str], message: str) -> None:
    _, enrolment = site.services.reviewers.create("dora")
    client = site.client()
    response = post(client, "/login", "/login", username="dora", password=enrolment.password,
                    code="")
    assert response.status_code == 303
    response = post(client, "/enrol", "/enrol", **data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_enrol_wrong_code(site: ReviewerSite) -> None:
    _, enrolment = site.services.reviewers.create("erin")
    client = site.client()
    post(client, "/login", "/login", username="erin", password=enrolment.password, code="")
    response = post(client, "/enrol", "/enrol", new_password="long enough password",
                    confirm_password="long enough password", code="000000")
    assert response.status_code in {403}
    assert "That code did not work" in response.get_data(as_text=True)


@pytest.mark.parametrize(("data", "status", "message"), [
    ({}, 400, "the form has no current password"),
    ({"old_password": "wrong password!!", "new_password": "long enough password",
      "confirm_password": "long enough password"}, 403, "current password is not right"),
    ({"old_password": "x", "new_password": "short", "confirm_password": "short"}, 400,
     "at least 14"),
])
def test_password_form(site: ReviewerSite, client: FlaskClient, data: dict[str, str],
                       status: int, message: str) -> None:
    response = post(client, "/account/password", "/account/password", **data)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_source_forms(site: ReviewerSite, client: FlaskClient) -> None:
    submitted = submit(site.services.instance)
    path = f"/sources/{submitted.source_id}"
    cases = [
        ("reply", {}, 400, "the form has no reply"),
        ("reply", {"reply": "   "}, 400, "a reply cannot be empty"),
        ("reply", {"reply": "x" * 6000}, 400, "at most 5000 characters"),
        ("star", {}, 400, "the star choice is missing or not understood"),
        ("star", {"starred": "maybe"}, 400, "the star choice is missing or not understood"),
        ("seen", {"seen": "1"}, 400, "select at least one item"),
        ("seen", {"seen": "1", "item": "-1"}, 400, "an item number is not valid"),
        ("seen", {"seen": "1", "item": "9" * 30}, 400, "an item number is not valid"),
        ("seen", {"seen": "2", "item": "1"}, 400, "read or unread choice"),
        ("delete", {}, 400, "Tick the box"),
        ("delete", {"confirm": "no"}, 400, "Tick the box"),
    ]
    for action, data, status, message in cases:
        response = post(client, f"{path}/{action}", path, **data)
        assert response.status_code == status, (action, data)
        assert message in response.get_data(as_text=True), (action, data)
    assert site.services.inbox.source(submitted.source_id).items == 1


@pytest.mark.parametrize(("url", "status"), [
    ("/?order=sideways", 400),
    ("/?after=!!!", 400),
    ("/?after=" + "A" * 500, 400),
    ("/sources/0", 404),
    ("/sources/-1", 404),
    ("/sources/99999999999999999999999", 404),
    ("/sources/9223372036854775807", 404),
    ("/sources/abc", 404),
    ("/sources/1/items/9223372036854775807/download", 404),
    ("/sources/1/items/1/download/x", 404),
    ("/sources/1/zip", 400),
    ("/sources/1/zip?item=abc", 400),
    ("/sources/1/zip?item=424242", 404),
])
def test_hostile_urls(site: ReviewerSite, client: FlaskClient, url: str, status: int) -> None:
    submit(site.services.instance)
    response = client.get(url)
    assert response.status_code == status


def test_other_sources_items_are_not_reachable(site: ReviewerSite, client: FlaskClient) -> None:
    first = submit(site.services.instance, files={"a.pdf": b"a"})
    second = submit(site.services.instance)
    item = site.services.inbox.conversation(first.source_id, [], reviewer="t").entries[1]
    for url in (f"/sources/{second.source_id}/items/{item.id}/download",
                f"/sources/{second.source_id}/items/{item.id}/export",
                f"/sources/{second.source_id}/zip?item={item.id}"):
        assert client.get(url).status_code == 404
    response = post(client, f"/sources/{second.source_id}/items/{item.id}/delete", "/")
    assert response.status_code == 404
    assert site.services.inbox.source(first.source_id).items == 2
