"""The reviewer app's body cap fits the longest reply, and a busy login shows the busy page."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reviewer_kit import ReviewerSite, csrf, submit

from tipbox import errors
from tipbox.services.accounts.reviewers import Busy
from tipbox.web.app import form_limit

FUZZ = settings(max_examples=40, derandomize=True, deadline=None,
                suppress_health_check=list(HealthCheck))

#: The default ``max_message_chars``.
DEFAULT_MAX_CHARS = 100_000


def _reply(client: FlaskClient, source_id: int, text: str) -> tuple[int, str]:
    path = f"/sources/{source_id}"
    response = client.post(f"{path}/reply", data={"csrf_token": csrf(client, path),
                                                   "reply": text})
    return response.status_code, response.get_data(as_text=True)


def _logged_in(make_site: Callable[..., ReviewerSite]) -> tuple[ReviewerSite, FlaskClient]:
    site = make_site(TIPBOX_MAX_MESSAGE_CHARS=str(DEFAULT_MAX_CHARS))
    client = site.client()
    site.log_in(client)
    return site, client


def test_a_maximal_cyrillic_reply_is_accepted_one_more_character_is_refused(
    make_site: Callable[..., ReviewerSite],
) -> None:
    site, client = _logged_in(make_site)
    source = submit(site.services.instance)
    status, _ = _reply(client, source.source_id, "ж" * DEFAULT_MAX_CHARS)
    assert status == 303
    status, page = _reply(client, source.source_id, "ж" * (DEFAULT_MAX_CHARS + 1))
    assert status == 400  # the reply form's own refusal, not a 413 page
    assert "a reply has at most" in page
    assert 'name="reply"' in page
    conversation = site.services.inbox.conversation(source.source_id, [], reviewer="t")
    assert sum(entry.kind == "reply" for entry in conversation.entries) == 1


def test_the_reviewer_app_caps_bodies_like_every_form(
    make_site: Callable[..., ReviewerSite],
) -> None:
    site, client = _logged_in(make_site)
    cap = form_limit(site.services.instance.settings)
    response = client.post("/logout", data={"csrf_token": csrf(client), "x": "a" * cap})
    assert response.status_code == 413


# Characters of 1 to 4 UTF-8 bytes (a percent-encoded form needs up to 12 bytes each).
WIDE = st.one_of(
    st.sampled_from(["a", "é", "ж", "ह", "€", "😀", "𝄞", " ", "&", "+", "%", "=", ";"]),
    st.characters(exclude_categories=("Cs", "Cc")),
)


def test_any_script_fits_the_cap_at_the_limit(make_site: Callable[..., ReviewerSite]) -> None:
    """A reply of exactly the limit in any script posts; one more is the form's refusal."""
    limit = 2000
    site = make_site(TIPBOX_MAX_MESSAGE_CHARS=str(limit))
    client = site.client()
    site.log_in(client)
    source = submit(site.services.instance)

    @FUZZ
    @given(char=WIDE)
    def check(char: str) -> None:
        text = ("x" + char * limit)[:limit]
        assert _reply(client, source.source_id, text)[0] == 303
        status, page = _reply(client, source.source_id, text + char)
        assert status == 400
        assert "a reply has at most" in page

    check()


def test_reviewer_busy_is_the_shared_busy_error() -> None:
    assert issubclass(Busy, errors.Busy)
    assert Busy("x").code == "busy"


def test_a_login_with_no_argon2_slot_gets_the_busy_page(site: ReviewerSite,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    reviewers = site.services.reviewers
    monkeypatch.setattr(reviewers, "_slot_timeout", 0.05)
    held = threading.Event()
    release = threading.Event()

    def hold_every_slot() -> None:
        with reviewers._argon2_slot(), reviewers._argon2_slot():  # noqa: SLF001 - the cap
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_every_slot)
    holder.start()
    try:
        assert held.wait(10)
        client = site.client()
        response = client.post("/login", data={
            "csrf_token": csrf(client), "username": "admin",
            "password": site.admin.password, "code": "123456"})
    finally:
        release.set()
        holder.join()
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "The server is busy" in page
    assert "briefly unavailable" not in page
