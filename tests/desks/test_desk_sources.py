"""The source's side of desks: choosing one, its questions, closed desks, returning sources."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from desk_kit import Desks, logged_in, send
from flask import Flask
from flask.testing import FlaskClient

from tests.reviewer.reviewer_kit import ReviewerSite, csrf_of
from tipbox.crypto import parse_identity
from tipbox.services.desks.desks import DEFAULT_DESK
from tipbox.services.ops.export import export_submissions, unlock_identities
from tipbox.source import create_source_app
from tipbox.web import instance as app_instance

_FORM = re.compile(r'<form class="submission" method="post" action="([^"]+)"')


@pytest.fixture
def source_app(site: ReviewerSite) -> Iterator[Flask]:
    app = create_source_app(site.services.instance.settings)
    app.config["TESTING"] = True
    yield app
    with app.app_context():
        app_instance().close()


@pytest.fixture
def source(source_app: Flask, desks: Desks) -> FlaskClient:
    del desks  # the desks exist before the source comes
    return source_app.test_client()


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def form_of(html: str) -> tuple[str, dict[str, str]]:
    """The submission form's action and its hidden fields."""
    action = _FORM.search(html)
    assert action is not None
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', html))
    return action.group(1).replace("&amp;", "&"), hidden


def test_a_new_source_chooses_a_desk_with_a_plain_radio_list(source: FlaskClient,
                                                             desks: Desks) -> None:
    choice = page(source, "/submit")
    assert 'type="radio" id="desk-newsroom" name="desk" value="newsroom"' in choice
    assert 'value="legal"' in choice
    assert "<script" not in choice
    assert "Court cases and lawyers" in choice
    legal = page(source, "/submit?desk=legal")
    assert "Legal desk" in legal
    assert "Which ministry?" in legal
    assert 'name="q1" type="text" maxlength="200" required' in legal
    assert "From a colleague" in legal
    assert form_of(legal)[0] == "/submit?desk=legal"
    unknown = page(source, "/submit?desk=nowhere")
    assert "Please choose one of the teams below." in unknown


def post(client: FlaskClient, html: str, **fields: str) -> tuple[int, str]:
    action, hidden = form_of(html)
    response = client.post(action, data={**hidden, **fields},
                           content_type="multipart/form-data", follow_redirects=True)
    return response.status_code, response.get_data(as_text=True)


def test_answers_are_checked_and_a_refusal_keeps_nothing(site: ReviewerSite, source: FlaskClient,
                                                         desks: Desks) -> None:
    legal = page(source, "/submit?desk=legal")
    status, text = post(source, legal, message="the ministry is lying")
    assert status == 400
    assert "Please answer the question \u201cWhich ministry?\u201d." in text
    assert "Nothing you sent was kept." in text
    for field, value, said in (
        ("q2", "Stolen", "Please choose one of the options"),
        ("q1", "x" * 201, "has at most 200 characters"),
        ("q1", "two\nlines", "must fit on one line"),
    ):
        fields = {"q1": "Defence", field: value}
        status, text = post(source, page(source, "/submit?desk=legal"), message="m", **fields)
        assert status == 400, field
        assert said in text, field
    with site.services.instance.store.db.reading() as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0


def test_the_legal_desks_reviewer_reads_the_answers(site: ReviewerSite, source: FlaskClient,
                                                    desks: Desks) -> None:
    legal = page(source, "/submit?desk=legal")
    status, text = post(source, legal, message="the order of the 3rd", q1="Defence",
                        q2="From a colleague", q3="Two officers")
    assert status == 200, text
    lena, alice = logged_in(site, desks.lena), logged_in(site, desks.alice)
    [summary] = site.services.inbox.sources().sources
    conversation = page(lena, f"/sources/{summary.id}")
    for shown in ("Which ministry?", "Defence", "From a colleague", "Two officers",
                  "the order of the 3rd"):
        assert shown in conversation
    assert alice.get(f"/sources/{summary.id}").status_code == 404
    with site.services.instance.store.db.reading() as conn:
        [(desk_id,)] = conn.execute("SELECT desk_id FROM sources").fetchall()
    assert desk_id == desks.legal.id


def test_a_returning_source_keeps_its_desk_even_closed(site: ReviewerSite, source: FlaskClient,
                                                       desks: Desks) -> None:
    codename, source_id = send(site.services.instance, desks.legal.id, "first")
    site.services.instance.desks.set_open(desks.legal.id, is_open=False)
    choice = page(source, "/submit")  # only one desk open: straight to its form
    assert "Which ministry?" not in choice
    assert form_of(choice)[0] == "/submit"
    closed = page(source, "/submit?desk=legal")
    assert "Which ministry?" not in closed
    login = source.post("/login", data={"csrf_token": csrf_of(page(source, "/login")),
                                        "codename": codename})
    assert login.status_code == 303
    replies = page(source, "/replies")
    assert "Which ministry?" in replies  # its own desk's questions, closed or not
    status, _ = post(source, replies, message="second", q1="Justice")
    assert status == 200
    assert site.services.instance.desks.desk_of_source(source_id) == desks.legal.id
    assert site.services.inbox.source(source_id).items == 2


def test_a_closed_desk_refuses_new_sources(site: ReviewerSite, source: FlaskClient,
                                           desks: Desks) -> None:
    form = page(source, "/submit?desk=legal")
    site.services.instance.desks.set_open(desks.legal.id, is_open=False)
    status, text = post(source, form, message="late", q1="Defence")
    assert status == 404
    assert "no longer accepts new sources" in text
    with site.services.instance.store.db.reading() as conn:
        assert conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 0


def test_landing_page_and_public_key_show_each_desks_key(site: ReviewerSite, source: FlaskClient,
                                                         desks: Desks) -> None:
    keys = site.services.instance.keyring.active_keys()
    landing = page(source, "/")
    for desk_id in (DEFAULT_DESK, desks.legal.id):
        assert keys[desk_id].fingerprint in landing
    assert "Legal desk" in landing
    recipients = page(source, "/public-key")
    assert f"# Legal desk (legal): {keys[desks.legal.id].fingerprint}" in recipients
    assert keys[desks.legal.id].recipient in recipients.splitlines()
    assert keys[DEFAULT_DESK].recipient in recipients.splitlines()
    one = page(source, "/public-key/legal")
    assert one == keys[desks.legal.id].recipient + "\n"
    assert source.get("/public-key/nowhere").status_code == 404
    russian = source.get("/?lang=ru", follow_redirects=True).get_data(as_text=True)
    assert "Юридический отдел" in russian


def test_answers_are_searchable_and_exported(site: ReviewerSite, desks: Desks,
                                             tmp_path: Path) -> None:
    instance = site.services.instance
    _, source_id = send(instance, desks.legal.id, "see the answers",
                        answers={1: "Ministry of Defence", 2: "At work"})
    lena = logged_in(site, desks.lena)
    designation = site.services.inbox.source(source_id).designation
    assert designation in page(lena, "/?q=defence")
    recovery = parse_identity(site.init.recovery_identity)
    identities = unlock_identities(instance.keyring, [recovery])
    summary = export_submissions(instance.store, tmp_path / "out", identities=identities)
    assert summary.failed == 0
    folder = tmp_path / "out" / designation
    assert (folder / "answers-1.txt").read_text() == (
        "Which ministry?\nMinistry of Defence\n\nHow did you get the documents?\nAt work\n")
    assert (folder / "message-1.txt").read_text() == "see the answers"
