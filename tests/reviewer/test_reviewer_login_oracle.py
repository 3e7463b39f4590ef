"""No login answer says whether the password was right (issue 11, "TOTP oracle").

Before the fix, ``١٢٣٤٥٦`` as the code ended in a 500 with the right
password and in a 403 with a wrong one. Every failure of the login form
(wrong password, wrong or malformed code, unknown user, disabled account,
locked username) must give the same status and the same page, apart from
the CSRF token, whether the password was right or not. The property test
generates codes (Unicode digits, random text, six ASCII digits) and wrong
passwords and compares the two answers byte for byte.
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reviewer_kit import Person, ReviewerSite, csrf, web_enrol
from werkzeug.test import TestResponse

from tipbox.services.accounts.throttle import MAX_FAILURES
from tipbox.services.accounts.totp import totp_code
from tipbox.services.wiring import AdminServices

FUZZ = settings(derandomize=True, deadline=None, max_examples=60,
                suppress_health_check=list(HealthCheck))

_CSRF_VALUE = re.compile(r'(name="csrf_token" value=")[^"]*(")')
UNICODE_DIGIT = st.characters(categories=["Nd"]).filter(lambda c: c not in "0123456789")

CODES = st.one_of(
    st.text(UNICODE_DIGIT, min_size=6, max_size=6),
    st.lists(st.one_of(UNICODE_DIGIT, st.sampled_from("0123456789")), min_size=1,
             max_size=8).map("".join),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(max_size=40),
    st.sampled_from(["", "١٢٣٤٥٦", "１２３４５６", "123 456", "12345", "1234567", " ", "\x00"]),
)
#: Wrong passwords the form accepts (a blank one is a form error, before any check).
PASSWORDS = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(["correct horse battery stapl", "CORRECT HORSE BATTERY STAPLE", "١٢٣٤٥٦"]),
).filter(str.strip)


def page_of(response: TestResponse) -> tuple[int, str]:
    """Status and body with the CSRF token blanked (the only part that may differ)."""
    return response.status_code, _CSRF_VALUE.sub(r"\1\2", response.get_data(as_text=True))


def attempt(client: FlaskClient, username: str, password: str, code: str) -> tuple[int, str]:
    return page_of(client.post("/login", data={
        "csrf_token": csrf(client), "username": username, "password": password, "code": code}))


def valid_codes(site: ReviewerSite, person: Person) -> set[str]:
    return {totp_code(person.totp_secret, site.clock.now + drift * 30) for drift in (-1, 0, 1)}


@pytest.mark.parametrize("code", ["١٢٣٤٥٦", "１２３４５６", "۱۲۳۴۵۶", "१२३४५६", "12345٦"])
def test_unicode_digits_as_the_code_fail_like_any_wrong_code(site: ReviewerSite,
                                                             code: str) -> None:
    client = site.client()
    right = attempt(client, "admin", site.admin.password, code)
    wrong = attempt(client, "admin", "not the admin password", code)
    assert right[0] == 403  # was a 500: the code reached .encode("ascii")
    assert "did not work together" in right[1]
    assert right == wrong


def test_every_kind_of_failure_is_one_answer(site: ReviewerSite, client: FlaskClient) -> None:
    """Wrong code, malformed code, unknown user, disabled account: one status, one page."""
    _, enrolment = site.services.reviewers.create("olga")
    olga = web_enrol(site.clock, site.client(), "olga", enrolment.password,
                     "olga's long pass phrase")
    AdminServices.open(site.services.instance, site.services.reviewers).accounts.disable(
        site.services.reviewers.by_username("olga").id)
    other = site.client()
    answers = {
        "wrong code": attempt(other, "admin", site.admin.password, "000000"),
        "malformed code": attempt(other, "admin", site.admin.password, "12ab"),
        "unicode code": attempt(other, "admin", site.admin.password, "١٢٣٤٥٦"),
        "wrong password": attempt(other, "admin", "a wrong password", "000000"),
        "unknown user": attempt(other, "nobody", site.admin.password, "000000"),
        "disabled, right password": attempt(other, "olga", olga.password,
                                            totp_code(olga.totp_secret, site.clock.step())),
        "disabled, wrong password": attempt(other, "olga", "a wrong password", "000000"),
    }
    assert answers["wrong code"] in set(answers.values())
    assert len(set(answers.values())) == 1, {k: v[0] for k, v in answers.items()}


def test_a_locked_username_answers_alike_with_the_right_password(site: ReviewerSite) -> None:
    client = site.client()
    for _ in range(MAX_FAILURES):
        attempt(client, "admin", "a wrong password", "000000")
    right = attempt(client, "admin", site.admin.password,
                    totp_code(site.admin.totp_secret, site.clock.step()))
    wrong = attempt(client, "admin", "a wrong password", "000000")
    assert right[0] == 429
    assert right == wrong


@pytest.mark.parametrize("code", ["١٢٣٤٥٦", "１２３４５６"])
def test_unicode_digits_at_enrolment_are_a_400(site: ReviewerSite, code: str) -> None:
    _, enrolment = site.services.reviewers.create("pia")
    client = site.client()
    response = client.post("/login", data={"csrf_token": csrf(client), "username": "pia",
                                           "password": enrolment.password, "code": ""})
    assert response.status_code == 303
    response = client.post("/enrol", data={
        "csrf_token": csrf(client, "/enrol"), "new_password": "pia's long pass phrase",
        "confirm_password": "pia's long pass phrase", "code": code})
    assert response.status_code == 400  # was a 500
    assert "6 digits" in response.get_data(as_text=True)


@FUZZ
@given(code=CODES, wrong_password=PASSWORDS)
def test_login_answers_the_same_whether_the_password_was_right(
    site: ReviewerSite, code: str, wrong_password: str
) -> None:
    admin = site.admin
    assume(wrong_password != admin.password)
    site.clock.step()
    assume(code.replace(" ", "").replace("\t", "") not in valid_codes(site, admin))
    client = site.client()
    right = attempt(client, "admin", admin.password, code)
    wrong = attempt(client, "admin", wrong_password, code)
    site.services.reviewers.forgive("admin")  # two failures per example: never a lockout
    assert right[0] in {400, 403}
    assert right == wrong


@FUZZ
@given(code=CODES)
def test_enrolment_codes_never_cause_a_server_error(site: ReviewerSite, code: str) -> None:
    _, enrolment = site.services.reviewers.create("quinn")
    try:
        client = site.client()
        client.post("/login", data={"csrf_token": csrf(client), "username": "quinn",
                                    "password": enrolment.password, "code": ""})
        response = client.post("/enrol", data={
            "csrf_token": csrf(client, "/enrol"), "new_password": "quinn's long pass phrase",
            "confirm_password": "quinn's long pass phrase", "code": code})
        ascii_six = re.fullmatch(r"[0-9]{6}", code.replace(" ", "").replace("\t", ""), re.ASCII)
        assert response.status_code in ({303, 403} if ascii_six else {400})
    finally:
        accounts = AdminServices.open(site.services.instance, site.services.reviewers).accounts
        accounts.delete(site.services.reviewers.by_username("quinn").id)
        site.services.reviewers.forgive("quinn")
