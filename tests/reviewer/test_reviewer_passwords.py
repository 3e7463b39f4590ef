"""New passwords are estimated by zxcvbn and never the admin-known one (issue 11, "Accounts").

Enrolment used to accept the one-time password an admin handed over, or
``aaaaaaaaaaaaaa``, as the reviewer's own password. Now enrolment and
password change refuse a password zxcvbn scores below 3 (knowing the
username and the organisation name), enrolment refuses the one-time
password, and a change refuses the current password. Each refusal says
what to do instead.
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reviewer_kit import ReviewerSite, csrf, secret_of

from tipbox.errors import AuthenticationFailed
from tipbox.services.accounts.rules import (
    MIN_PASSWORD_CHARS,
    ONE_TIME_REUSED,
    SAME_AS_CURRENT,
    SCORED_PASSWORD_CHARS,
    TOO_GUESSABLE,
    WeakPassword,
    check_new_password,
    password_score,
    suggest_password,
)
from tipbox.services.accounts.totp import totp_code
from tipbox.services.wiring import ReviewerServices

FUZZ = settings(derandomize=True, deadline=None, max_examples=80,
                suppress_health_check=list(HealthCheck))
WEB_FUZZ = settings(derandomize=True, deadline=None, max_examples=25,
                    suppress_health_check=list(HealthCheck))
GOOD = "grey heron sleeps under the frozen viaduct"


# --- the estimator ----------------------------------------------------------------------


@pytest.mark.parametrize(("password", "known"), [
    ("aaaaaaaaaaaaaa", ()),
    ("password123456", ()),
    ("qwertyuiopasdf", ()),
    ("12345678901234", ()),
    ("dora.dora.dora.dora", ("dora",)),
    ("thedailyplanet2024", ("The Daily Planet",)),
    ("tipboxtipboxtipbox", ()),
])
def test_guessable_passwords_are_refused(password: str, known: tuple[str, ...]) -> None:
    assert len(password) >= MIN_PASSWORD_CHARS
    with pytest.raises(WeakPassword) as refused:
        check_new_password(password, user_inputs=(*known, "tipbox"))
    assert str(refused.value) == TOO_GUESSABLE
    assert "longer passphrase" in TOO_GUESSABLE  # says what to do


def test_passphrases_pass() -> None:
    for _ in range(20):
        suggestion = suggest_password()
        assert check_new_password(suggestion, user_inputs=("dora", "tipbox")) == suggestion
    assert check_new_password(GOOD) == GOOD


def test_long_passwords_are_scored_by_their_prefix() -> None:
    assert password_score("a" * 1000) == 0
    assert password_score(GOOD + "a" * 900) >= 3
    assert password_score("a" * SCORED_PASSWORD_CHARS + GOOD) == 0  # a lower bound


@FUZZ
@given(password=st.text(max_size=300), known=st.lists(st.text(max_size=30), max_size=3))
def test_the_estimator_takes_any_text(password: str, known: list[str]) -> None:
    """Any characters, any length (zxcvbn itself refuses over 72): a score, never an error."""
    assert 0 <= password_score(password, known) <= 4


@FUZZ
@given(unit=st.text(min_size=1, max_size=3), extra=st.integers(min_value=0, max_value=40))
def test_a_repeated_short_unit_never_passes(unit: str, extra: int) -> None:
    """Whatever the characters, a password that is one short unit repeated is refused."""
    password = unit * ((MIN_PASSWORD_CHARS + extra) // len(unit) + 1)
    with pytest.raises(WeakPassword):
        check_new_password(password)


KNOWN = ("dora", "The Daily Planet", "tipbox")


@FUZZ
@given(word=st.sampled_from(["dora", "the daily planet", "thedailyplanet", "daily", "planet",
                             "tipbox", "The-Daily-Planet"]),
       case=st.sampled_from([str.lower, str.upper, str.title]),
       separator=st.sampled_from(["", " ", "-", ".", "_"]),
       tail=st.sampled_from(["", "1", "2024", "!", "123", "1!", "01.02.2024"]))
def test_what_an_attacker_knows_never_makes_a_password(word: str, case: object, separator: str,
                                                        tail: str) -> None:
    """The username or the organisation name, repeated, re-cased, padded, is refused."""
    assert callable(case)
    password = separator.join([case(word)] * (MIN_PASSWORD_CHARS // len(word) + 1)) + tail
    with pytest.raises(WeakPassword):
        check_new_password(password, user_inputs=KNOWN)


# --- enrolment -----------------------------------------------------------------------------


def _pending(services: ReviewerServices, name: str) -> tuple[str, str, bytes]:
    """An enrol session token, the one-time password and the TOTP secret of a new account."""
    _, enrolment = services.reviewers.create(name)
    result = services.logins.login(name, enrolment.password, "", now=1_800_000_000)
    return result.token, enrolment.password, enrolment.totp_secret


def test_enrolment_refuses_the_one_time_password_before_using_the_code(
    services: ReviewerServices,
) -> None:
    token, one_time, secret = _pending(services, "rosa")
    now = 1_800_000_030
    code = totp_code(secret, now)
    with pytest.raises(WeakPassword) as refused:
        services.logins.complete_enrolment(token, one_time, code, now=now)
    assert str(refused.value) == ONE_TIME_REUSED
    with pytest.raises(WeakPassword, match="too easy to guess"):
        services.logins.complete_enrolment(token, "aaaaaaaaaaaaaa", code, now=now)
    assert not services.reviewers.by_username("rosa").active
    # The same code still works: a refused password did not use it up.
    services.logins.complete_enrolment(token, GOOD, code, now=now)
    assert services.reviewers.by_username("rosa").active
    with pytest.raises(AuthenticationFailed):
        services.logins.login("rosa", one_time, totp_code(secret, now + 30), now=now + 30)


def test_enrolment_knows_the_organisation_name(services: ReviewerServices) -> None:
    services.instance.instance_settings.update({"organisation": "Gazeta Wyborcza"})
    token, _, secret = _pending(services, "sara")
    now = 1_800_000_030
    with pytest.raises(WeakPassword, match="too easy to guess"):
        services.logins.complete_enrolment(token, "gazetawyborcza2024", totp_code(secret, now),
                                           now=now)


@WEB_FUZZ
@given(weak=st.one_of(
    st.text(min_size=1, max_size=2).filter(str.strip).map(lambda unit: unit * 16),
    st.sampled_from(["aaaaaaaaaaaaaa", "password1234567", "tina.tina.tina.tina"]),
))
def test_the_enrol_page_refuses_weak_passwords_with_advice(site: ReviewerSite,
                                                           weak: str) -> None:
    client = site.client()
    name = f"t{site.clock.step():.0f}"[-8:]
    _, enrolment = site.services.reviewers.create("tina" + name)
    client.post("/login", data={"csrf_token": csrf(client), "username": "tina" + name,
                                "password": enrolment.password, "code": ""})
    page = client.get("/enrol").get_data(as_text=True)
    response = client.post("/enrol", data={
        "csrf_token": csrf(client, "/enrol"), "new_password": weak, "confirm_password": weak,
        "code": totp_code(secret_of(page), site.clock.now)})
    assert response.status_code == 400
    assert "too easy to guess: use a longer passphrase" in response.get_data(as_text=True)


def test_the_enrol_page_refuses_the_one_time_password(site: ReviewerSite) -> None:
    _, enrolment = site.services.reviewers.create("uma")
    client = site.client()
    client.post("/login", data={"csrf_token": csrf(client), "username": "uma",
                                "password": enrolment.password, "code": ""})
    page = client.get("/enrol").get_data(as_text=True)
    site.clock.step()
    response = client.post("/enrol", data={
        "csrf_token": csrf(client, "/enrol"), "new_password": enrolment.password,
        "confirm_password": enrolment.password,
        "code": totp_code(secret_of(page), site.clock.now)})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "cannot be the one-time password you were given" in text
    assert enrolment.password not in re.sub(r'<code class="suggestion">[^<]*</code>', "", text)
    assert not site.services.reviewers.by_username("uma").active


# --- password change -------------------------------------------------------------------------


def _change(client: FlaskClient, old: str, new: str) -> tuple[int, str]:
    response = client.post("/account/password", data={
        "csrf_token": csrf(client, "/account/password"), "old_password": old,
        "new_password": new, "confirm_password": new})
    return response.status_code, response.get_data(as_text=True)


def test_password_change_refuses_the_current_and_weak_passwords(
    site: ReviewerSite, client: FlaskClient,
) -> None:
    current = site.admin.password
    status, page = _change(client, current, current)
    assert status == 400
    assert SAME_AS_CURRENT in page
    status, page = _change(client, current, "aaaaaaaaaaaaaa")
    assert status == 400
    assert "too easy to guess" in page
    status, _ = _change(client, current, GOOD)
    assert status == 200


@pytest.mark.parametrize(
    "new", ["aaaaaaaaaaaaaa", "admin admin admin admin", "Tipbox.Tipbox.Tipbox"])
def test_a_refused_new_password_says_nothing_about_the_old_one(
    site: ReviewerSite, client: FlaskClient, new: str,
) -> None:
    right = _change(client, site.admin.password, new)
    wrong = _change(client, "not the current password", new)
    strip = re.compile(r'value="[^"]*"|<code class="suggestion">[^<]*</code>')
    assert right[0] == wrong[0] == 400
    assert strip.sub("", right[1]) == strip.sub("", wrong[1])
