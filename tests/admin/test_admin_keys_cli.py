"""``python -m tipbox keys ...``: list, rotate, rewrap (with its bar), destroy; one-line errors."""

from __future__ import annotations

from pathlib import Path

from admin_kit import cli_env, decrypts, item_rows, let_a_day_pass, submit, write_identity
from click.testing import CliRunner, Result

from tipbox.cli import cli
from tipbox.config import Settings
from tipbox.crypto import parse_identity
from tipbox.services.instance import InitResult
from tipbox.services.wiring import Instance
from tipbox.store.desks import DEFAULT_DESK


def run(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=cli_env(settings))


def test_the_whole_lifecycle_from_the_command_line(
    instance: Instance, settings: Settings, init_result: InitResult, tmp_path: Path,
) -> None:
    submit(instance, "one", {"a.pdf": b"%PDF" * 100})
    old = instance.keyring.active_key(DEFAULT_DESK)
    recovery = write_identity(tmp_path / "recovery.key", init_result.recovery_identity)

    rotated = run(settings, "keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "Granted to: recovery" in rotated.output
    listing = run(settings, "keys", "list")
    assert listing.exit_code == 0
    assert f"{old.id}\tretired\tpq" in listing.output
    assert "items=3" in listing.output
    assert "3 items still wait" in listing.output

    refused = run(settings, "keys", "destroy", str(old.id), "--yes")
    assert refused.exit_code == 1
    assert refused.output == f"error: key {old.fingerprint} still protects 3 stored items:" \
                             " re-wrap first\n"

    rewrapped = run(settings, "keys", "rewrap", "--recovery-identity", str(recovery))
    assert rewrapped.exit_code == 0, rewrapped.output
    assert "Re-wrapping" in rewrapped.output
    assert "Re-wrapped 3 items; 0 still on retired keys." in rewrapped.output

    prefix = old.fingerprint.replace(" ", "")[:12]
    too_soon = run(settings, "keys", "destroy", prefix, "--yes")
    assert too_soon.exit_code == 1
    assert "retired less than 24 hours ago" in too_soon.output
    let_a_day_pass(instance)
    destroyed = run(settings, "keys", "destroy", prefix, "--yes")
    assert destroyed.exit_code == 0, destroyed.output
    listing = run(settings, "keys", "list").output
    assert f"{old.id}\tdestroyed" in listing
    assert "grants=0" in listing
    active = instance.keyring.open_identities(parse_identity(init_result.recovery_identity))
    assert len(active) == 1
    assert all(decrypts(instance, row, active) for row in item_rows(instance))


def test_errors_are_one_line(settings: Settings, instance: Instance, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key\n")
    for args in (["keys", "destroy", "999", "--yes"],
                 ["keys", "rewrap", "--recovery-identity", str(garbage)],
                 ["keys", "rotate-recovery", "--recovery-identity", str(garbage)]):
        result = run(settings, *args)
        assert result.exit_code == 1, args
        assert result.output.startswith("error: "), args
        assert result.output.count("\n") == 1, args


def test_commands_need_an_initialised_instance(tmp_path: Path) -> None:
    env = {"TIPBOX_DATA_DIR": str(tmp_path / "none"), "TIPBOX_KEYS_DIR": str(tmp_path / "k")}
    result = CliRunner().invoke(cli, ["keys", "list"], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
