"""Recovery from the recovery identity alone (issue 5, "must show"), and its rotation."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from admin_kit import (
    Person,
    cli_env,
    decrypts,
    enrol,
    item_rows,
    login_identities,
    submit,
    write_identity,
)
from click.testing import CliRunner, Result

from tipbox.cli import cli
from tipbox.config import Settings
from tipbox.crypto import HybridIdentity, decrypt, parse_identity
from tipbox.errors import AuthenticationFailed
from tipbox.services.instance import InitResult
from tipbox.services.wiring import Instance, ReviewerServices

NEW_PASSWORD = "a brand new admin password"


def run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=cli_env(settings), catch_exceptions=False)


def enrolment_of(output: str) -> tuple[str, bytes]:
    """The one-time password and TOTP secret printed by ``keys recover``."""
    password = re.search(r"One-time password:\s+(.+)", output)
    secret = re.search(r"TOTP secret:\s+([A-Z2-7 ]+)", output)
    assert password is not None, output
    assert secret is not None, output
    text = secret.group(1).replace(" ", "")
    return password.group(1).strip(), base64.b32decode(text + "=" * (-len(text) % 8))


@pytest.fixture
def recovery_file(tmp_path: Path, init_result: InitResult) -> Path:
    return write_identity(tmp_path / "recovery.key", init_result.recovery_identity)


def test_every_admin_password_lost_recover_from_the_recovery_identity_alone(
    instance: Instance, services: ReviewerServices, admin: Person, settings: Settings,
    recovery_file: Path,
) -> None:
    submit(instance, "before", {"a.pdf": b"%PDF" * 1000})
    run(settings, "keys", "rotate")
    submit(instance, "after the rotation")
    # Nobody knows the admin's password any more.
    with pytest.raises(AuthenticationFailed):
        services.logins.login("admin", "what was it again?", "000000", now=admin.clock + 60)

    result = run(settings, "keys", "recover", "--recovery-identity", str(recovery_file),
                 "--admin", "rescue")

    assert result.exit_code == 0, result.output
    assert "RECOVERED ADMIN ACCOUNT" in result.output
    one_time, secret = enrolment_of(result.output)
    rescue = enrol(services, "rescue", one_time, secret, NEW_PASSWORD)
    identities = login_identities(services, rescue)
    assert len(identities) == 2  # both newsroom keys, the retired one too
    assert services.reviewers.by_username("rescue").is_admin
    rows = item_rows(instance)
    assert len(rows) == 4
    assert all(decrypts(instance, row, identities) for row in rows)


def test_recover_onto_an_existing_account_resets_it(
    instance: Instance, services: ReviewerServices, admin: Person, settings: Settings,
    recovery_file: Path,
) -> None:
    submit(instance)
    result = run(settings, "keys", "recover", "--recovery-identity", str(recovery_file),
                 "--admin", "admin")
    assert result.exit_code == 0, result.output
    with pytest.raises(AuthenticationFailed):
        login_identities(services, admin)  # the old password is gone with the old key
    one_time, secret = enrolment_of(result.output)
    renewed = enrol(services, "admin", one_time, secret, NEW_PASSWORD, start=admin.clock + 600)
    identities = login_identities(services, renewed)
    assert all(decrypts(instance, row, identities) for row in item_rows(instance))


def test_recover_refuses_any_other_identity(settings: Settings, instance: Instance,
                                            tmp_path: Path) -> None:
    stranger = write_identity(tmp_path / "other.key", str(HybridIdentity.generate()))
    result = run(settings, "keys", "recover", "--recovery-identity", str(stranger),
                 "--admin", "rescue")
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_rotate_recovery_replaces_every_recovery_grant(
    instance: Instance, settings: Settings, init_result: InitResult, recovery_file: Path,
) -> None:
    submit(instance)
    run(settings, "keys", "rotate")
    old = parse_identity(init_result.recovery_identity)

    result = run(settings, "keys", "rotate-recovery", "--recovery-identity", str(recovery_file))

    assert result.exit_code == 0, result.output
    match = re.search(r"AGE-SECRET-KEY-PQ-1[0-9A-Z]+", result.output)
    assert match is not None
    new = parse_identity(match.group(0))
    assert instance.keyring.open_identities(old) == []
    opened = instance.keyring.open_identities(new)
    assert len(opened) == 2
    assert all(decrypts(instance, row, opened) for row in item_rows(instance))
    assert str(instance.keyring.recovery_recipient()) == str(new.recipient())
    keys_dir = settings.keys_dir
    assert (keys_dir / "recovery.txt").read_text().strip() == str(new.recipient())
    wrapped = sorted(keys_dir.glob("newsroom-*.age"))
    assert len(wrapped) == 2
    for path in wrapped:
        assert decrypt([new], path.read_bytes()).startswith(b"AGE-SECRET-KEY-PQ-1")
    again = run(settings, "keys", "recover", "--recovery-identity", str(recovery_file),
                "--admin", "rescue")
    assert again.exit_code == 1
    assert "recovery identity" in again.output
