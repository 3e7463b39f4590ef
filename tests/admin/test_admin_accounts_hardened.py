"""Issue 11, "Accounts" and "Numbers are ASCII only", on the admin side.

- A reset (password or 2FA, web or command line) used to re-create the
  account enabled. A disabled account now stays disabled through any reset:
  no grant, no login, no enrolment until an admin enables it. Recovery onto
  a disabled name is refused rather than enabling it behind the admin's back.
- Numeric settings accept ASCII digits only, from the web form, the command
  line and the service alike.

The property tests run random sequences of disable / enable / reset and
random non-ASCII numbers for every numeric setting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from admin_kit import (
    Person,
    Site,
    cli_env,
    csrf,
    enrol,
    login_identities,
    one_time_password_of,
    recovery_identities,
    write_identity,
)
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipbox.cli import cli
from tipbox.config import Settings
from tipbox.digits import NotANumber
from tipbox.errors import AuthenticationFailed
from tipbox.services.instance import InitResult
from tipbox.services.wiring import AdminServices, Instance, ReviewerServices

FUZZ = settings(derandomize=True, deadline=None, max_examples=30,
                suppress_health_check=list(HealthCheck))
PASSWORD = "carol's long enough password"
NUMERIC_SETTINGS = ("max_upload_bytes", "max_files", "max_message_chars",
                    "session_idle_seconds", "session_absolute_seconds", "retention_days")
UNICODE_DIGIT = st.characters(categories=["Nd"]).filter(lambda c: c not in "0123456789")


def run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=cli_env(settings))


def _disabled_carol(services: ReviewerServices, admin_services: AdminServices,
                    identities: list) -> int:  # type: ignore[type-arg]
    _, enrolment = admin_services.accounts.add("carol", is_admin=False, identities=identities)
    enrol(services, "carol", enrolment.password, enrolment.totp_secret, PASSWORD)
    carol_id = services.reviewers.by_username("carol").id
    admin_services.accounts.disable(carol_id)
    return carol_id


# --- a reset keeps a disabled account disabled ----------------------------------------


def test_a_reset_does_not_enable_a_disabled_account(
    instance: Instance, services: ReviewerServices, admin_services: AdminServices,
    admin: Person, init_result: InitResult,
) -> None:
    identities = recovery_identities(instance, init_result)
    carol_id = _disabled_carol(services, admin_services, identities)

    enrolment = admin_services.accounts.reset(carol_id, identities)

    new_id = services.reviewers.by_username("carol").id
    row = admin_services.accounts.get(new_id)
    assert row.disabled
    assert row.grants == 0  # the admin's identities were not granted to it
    with pytest.raises(AuthenticationFailed):  # cannot even start enrolment
        services.logins.login("carol", enrolment.password, "", now=admin.clock + 600)
    login_identities(services, admin)  # an admin login grants nothing to it either
    assert admin_services.accounts.get(new_id).grants == 0

    assert admin_services.accounts.enable(new_id, identities) == 1
    renewed = enrol(services, "carol", enrolment.password, enrolment.totp_secret,
                    "carol's second long password", start=admin.clock + 900)
    assert len(login_identities(services, renewed)) == 1


def test_an_enabled_account_stays_enabled_through_a_reset(
    services: ReviewerServices, admin_services: AdminServices, admin: Person,
) -> None:
    account, _ = admin_services.accounts.add("dan", is_admin=False)
    enrolment = admin_services.accounts.reset(account.id)
    assert not admin_services.accounts.get(services.reviewers.by_username("dan").id).disabled
    assert services.logins.login("dan", enrolment.password, "", now=admin.clock).kind == "enrol"


@pytest.mark.parametrize("action", ["reset", "reset-2fa"])
def test_the_admin_pages_keep_a_disabled_account_disabled(site: Site, client: FlaskClient,
                                                          action: str) -> None:
    account, _ = site.services.reviewers.create("erin")
    assert site.post(client, f"/admin/reviewers/{account.id}/disable").status_code == 200

    response = site.post(client, f"/admin/reviewers/{account.id}/{action}")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "erin stays disabled" in page
    one_time = one_time_password_of(page)
    admin_services = AdminServices.open(site.services.instance, site.services.reviewers)
    assert admin_services.accounts.get(site.services.reviewers.by_username("erin").id).disabled
    other = site.client()
    login = other.post("/login", data={"csrf_token": csrf(other), "username": "erin",
                                       "password": one_time, "code": ""})
    assert login.status_code == 403


def test_the_command_line_keeps_a_disabled_account_disabled(
    settings: Settings, services: ReviewerServices, admin_services: AdminServices,
) -> None:
    services.reviewers.create("root", is_admin=True)
    services.reviewers.create("fay")
    assert run(settings, "reviewers", "disable", "fay").exit_code == 0

    reset = run(settings, "reviewers", "reset", "fay")

    assert reset.exit_code == 0, reset.output
    assert "One-time password" in reset.output
    assert "fay stays disabled" in reset.output
    assert admin_services.accounts.get(services.reviewers.by_username("fay").id).disabled
    assert run(settings, "reviewers", "enable", "fay").exit_code == 0
    assert not admin_services.accounts.get(services.reviewers.by_username("fay").id).disabled


def test_recovery_refuses_a_disabled_name(
    settings: Settings, instance: Instance, services: ReviewerServices,
    admin_services: AdminServices, admin: Person, init_result: InitResult, tmp_path: Path,
) -> None:
    gus, _ = admin_services.accounts.add("gus", is_admin=True)
    admin_services.accounts.disable(gus.id)
    recovery = write_identity(tmp_path / "recovery.key", init_result.recovery_identity)

    result = run(settings, "keys", "recover", "--recovery-identity", str(recovery),
                 "--admin", "gus")

    assert result.exit_code == 1
    assert result.output.startswith("error: gus is disabled: enable it first")
    assert services.reviewers.by_username("gus").recipient == gus.recipient  # not reset


@FUZZ
@given(actions=st.lists(st.sampled_from(["disable", "enable", "reset"]), min_size=1,
                        max_size=6))
def test_only_enable_and_disable_change_the_disabled_flag(
    instance: Instance, services: ReviewerServices, admin_services: AdminServices,
    init_result: InitResult, actions: list[str],
) -> None:
    identities = recovery_identities(instance, init_result)
    accounts = admin_services.accounts
    if "root" not in {row.username for row in accounts.accounts()}:
        accounts.add("root", is_admin=True)
    account, _ = accounts.add("hal", is_admin=False, identities=identities)
    reviewer_id, disabled = account.id, False
    try:
        for action in actions:
            if action == "disable":
                accounts.disable(reviewer_id)
                disabled = True
            elif action == "enable":
                accounts.enable(reviewer_id, identities)
                disabled = False
            else:
                accounts.reset(reviewer_id, identities)
                reviewer_id = services.reviewers.by_username("hal").id
            row = accounts.get(reviewer_id)
            assert row.disabled == disabled, actions
            assert row.grants == (0 if disabled else 1), actions
    finally:
        accounts.delete(reviewer_id)


# --- numeric settings are ASCII digits ---------------------------------------------------


@pytest.mark.parametrize("value", ["٣", "３", "१०", " 3", "3 ", "+3", "1_0", "0x3", "３٠"])
def test_settings_take_ascii_digits_only(instance: Instance, value: str) -> None:
    before = instance.instance_settings.current()
    with pytest.raises(NotANumber, match="max files must be a whole number"):
        instance.instance_settings.update({"max_files": value})
    assert instance.instance_settings.current() == before


def test_settings_refuse_unicode_digits_on_the_web_and_the_command_line(
    site: Site, client: FlaskClient, settings: Settings, instance: Instance,
) -> None:
    refused = site.post(client, "/admin/settings", "/admin/settings", max_files="٣")
    assert refused.status_code == 400
    assert "max files must be a whole number written with the digits 0-9" in (
        refused.get_data(as_text=True))
    cli_refused = run(settings, "settings", "set", "retention_days", "١٤")
    assert cli_refused.exit_code == 1
    assert cli_refused.output.startswith("error: retention days must be a whole number")
    assert instance.instance_settings.current().retention_days == 0


@FUZZ
@given(name=st.sampled_from(NUMERIC_SETTINGS),
       digits=st.lists(st.one_of(UNICODE_DIGIT, st.sampled_from("0123456789")), min_size=1,
                       max_size=6).filter(lambda chars: any(c not in "0123456789"
                                                            for c in chars)))
def test_no_unicode_number_reaches_a_setting(instance: Instance, name: str,
                                             digits: list[str]) -> None:
    before = instance.instance_settings.current()
    with pytest.raises(NotANumber):
        instance.instance_settings.update({name: "".join(digits)})
    assert instance.instance_settings.current() == before
