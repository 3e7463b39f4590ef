"""``python -m tipbox reviewers disable|enable|delete|reset|set-admin``, ``settings``, ``audit``."""

from __future__ import annotations

from pathlib import Path

from admin_kit import cli_env, write_identity
from click.testing import CliRunner, Result

from tipbox.cli import cli
from tipbox.config import Settings
from tipbox.services.instance import InitResult
from tipbox.services.wiring import AdminServices, ReviewerServices


def run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=cli_env(settings))


def test_account_commands(
    settings: Settings, services: ReviewerServices, admin_services: AdminServices,
    init_result: InitResult, tmp_path: Path,
) -> None:
    recovery = write_identity(tmp_path / "recovery.key", init_result.recovery_identity)
    services.reviewers.create("root", is_admin=True)
    added = run(settings, "reviewers", "add", "mo", "--recovery-identity", str(recovery))
    assert added.exit_code == 0, added.output
    mo = services.reviewers.by_username("mo")

    disabled = run(settings, "reviewers", "disable", "mo")
    assert disabled.exit_code == 0, disabled.output
    assert "1 grants deleted" in disabled.output
    assert "keys rotate" in disabled.output
    enabled = run(settings, "reviewers", "enable", "mo", "--recovery-identity", str(recovery))
    assert "1 grants written" in enabled.output
    assert run(settings, "reviewers", "set-admin", "mo", "on").exit_code == 0
    assert services.reviewers.get(mo.id).is_admin
    reset = run(settings, "reviewers", "reset", "mo")
    assert reset.exit_code == 0
    assert "RESET ACCOUNT" in reset.output
    assert "One-time password" in reset.output
    assert services.reviewers.by_username("mo").recipient != mo.recipient
    deleted = run(settings, "reviewers", "delete", "mo", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert [row.username for row in admin_services.accounts.accounts()] == ["root"]
    missing = run(settings, "reviewers", "disable", "nobody")
    assert missing.output == "error: no reviewer named 'nobody'\n"
    assert run(settings, "reviewers", "list").exit_code == 0


def test_the_last_admin_is_kept_from_the_command_line(
    settings: Settings, services: ReviewerServices,
) -> None:
    services.reviewers.create("root", is_admin=True)
    result = run(settings, "reviewers", "delete", "root", "--yes")
    assert result.exit_code == 1
    assert result.output.startswith("error: this is the last admin")


def test_settings_and_audit_commands(settings: Settings, services: ReviewerServices) -> None:
    shown = run(settings, "settings")
    assert shown.exit_code == 0
    assert "retention_days\t0" in shown.output
    changed = run(settings, "settings", "set", "retention_days", "14")
    assert changed.output == "retention_days = 14\n"
    refused = run(settings, "settings", "set", "max_files", "100000")
    assert refused.exit_code == 1
    assert refused.output.startswith("error: max files must be between 1 and")
    log = run(settings, "audit", "--action", "change settings")
    assert log.exit_code == 0
    assert "change settings\tretention_days" in log.output
