"""Regression tests for the findings of a security review (one test per finding)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from itsdangerous import BadSignature

from tests.conftest import make_test_settings
from tipbox.errors import InvalidInput
from tipbox.reviewer import create_reviewer_app
from tipbox.services.accounts.reviewers import create_first_admin
from tipbox.services.accounts.sessions import NoSession
from tipbox.services.accounts.totp import totp_code
from tipbox.services.instance import InitResult, init_instance
from tipbox.services.wiring import Instance, ReviewerServices
from tipbox.source import create_source_app

T0 = 1_800_000_000.0
STEP = 30.0


# -- the language picker's redirect stays on this site ---------------------------------


@pytest.mark.parametrize("path", ["/%09/evil.example", "/%0a/evil.example", "/%0d%0a/evil.example",
                                  "/%5C/evil.example", "/%09%09/evil.example/x"])
def test_language_choice_never_redirects_to_another_site(tmp_path: Path, path: str) -> None:
    """A decoded tab or newline in the path must not turn the redirect into ``//host``."""
    settings = make_test_settings(tmp_path)
    init_instance(settings)
    app = create_source_app(settings)
    response = app.test_client().get(f"{path}?lang=en")
    assert response.status_code == 303
    location = response.headers["Location"]
    # Browsers drop tabs and newlines from URLs and read a backslash as a slash.
    seen_by_browser = location.replace("\t", "").replace("\r", "").replace("\n", "")
    assert seen_by_browser.replace("\\", "/").startswith("/")
    assert not seen_by_browser.replace("\\", "/").startswith("//")
    assert "evil.example" in location  # still the same (unknown) local path, encoded
    app.extensions["tipbox.instance"].close()


# -- a leftover enrolment session cannot enrol an enrolled account again ----------------


def test_leftover_enrol_session_cannot_take_over_an_enrolled_account(
    instance: Instance, init_result: InitResult
) -> None:
    """Whoever else used the one-time password must lose the account once it is enrolled."""
    services = ReviewerServices.open(instance)
    enrolment = create_first_admin(
        services.reviewers, instance.keyring, init_result.recovery_identity
    )
    other = services.logins.login("admin", enrolment.password, "", now=T0)
    owner = services.logins.login("admin", enrolment.password, "", now=T0 + 1)
    assert other.kind == owner.kind == "enrol"
    now = T0 + STEP
    services.logins.complete_enrolment(
        owner.token, "the owner's own password", totp_code(enrolment.totp_secret, now), now=now
    )
    now += STEP
    with pytest.raises(NoSession):
        services.logins.complete_enrolment(
            other.token, "someone else's password", totp_code(enrolment.totp_secret, now),
            now=now,
        )
    now += STEP
    result = services.logins.login(
        "admin", "the owner's own password", totp_code(enrolment.totp_secret, now), now=now
    )
    assert result.kind == "full"


# -- a page cursor out of SQLite's integer range is bad input, not a 500 -----------------


@pytest.mark.parametrize(("order", "values"), [
    ("starred", "1" * 30 + ".1.1"),
    ("starred", "0.1.-" + "9" * 25),
    ("newest", "9" * 20 + ".1"),
])
def test_page_cursor_out_of_range_is_invalid_input(
    instance: Instance, order: str, values: str
) -> None:
    services = ReviewerServices.open(instance)
    cursor = base64.urlsafe_b64encode(values.encode()).decode().rstrip("=")
    assert len(cursor) <= 80
    with pytest.raises(InvalidInput):
        services.inbox.sources(order=order, cursor=cursor)


def test_the_two_apps_neither_share_nor_accept_each_others_session_cookie(
    tmp_path: Path,
) -> None:
    settings = make_test_settings(tmp_path, TIPBOX_DEV="1")
    init_instance(settings)
    source = create_source_app(settings)
    reviewer = create_reviewer_app(settings)
    assert source.config["SESSION_COOKIE_NAME"] != reviewer.config["SESSION_COOKIE_NAME"]
    assert source.secret_key != reviewer.secret_key
    with source.test_request_context():
        forged = source.session_interface.get_signing_serializer(source)
        assert forged is not None
        cookie = forged.dumps({"lang": "be"})
    with reviewer.test_request_context():
        serializer = reviewer.session_interface.get_signing_serializer(reviewer)
        assert serializer is not None
        with pytest.raises(BadSignature):
            serializer.loads(cookie)
