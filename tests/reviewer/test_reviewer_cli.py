"""``init`` prints the first admin once; ``reviewers add|list``; grants at admin login."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from reviewer_kit import CHEAP_ARGON2, enrol

from tipbox.cli import cli
from tipbox.config import load_settings
from tipbox.services.wiring import ReviewerServices, open_instance

_PASSWORD = re.compile(r"One-time password:\s+(.+)")
_SECRET = re.compile(r"TOTP secret:\s+([A-Z2-7 ]+)")


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"TIPBOX_DATA_DIR": str(tmp_path / "data"), "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
            "TIPBOX_MIN_FREE_BYTES": "0", **CHEAP_ARGON2}


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def secret_bytes(text: str) -> bytes:
    import base64

    compact = text.replace(" ", "").strip()
    return base64.b32decode(compact + "=" * (-len(compact) % 8))


def test_init_prints_first_admin_and_reviewers_add_gets_grants_at_admin_login(
    tmp_path: Path,
) -> None:
    env = env_for(tmp_path)
    code, out, err = run(env, "init")
    assert (code, err) == (0, "")
    assert "Username:           admin" in out
    admin_password = _PASSWORD.search(out).group(1).strip()  # type: ignore[union-attr]
    admin_secret = secret_bytes(_SECRET.search(out).group(1))  # type: ignore[union-attr]
    assert "otpauth://totp/tipbox:admin?" in out
    for path in tmp_path.rglob("*"):  # the one-time password is stored nowhere
        if path.is_file():
            assert admin_password.encode() not in path.read_bytes()

    code, out, err = run(env, "reviewers", "add", "bob")
    assert code == 0
    assert "next login of an admin" in out
    bob_password = _PASSWORD.search(out).group(1).strip()  # type: ignore[union-attr]
    bob_secret = secret_bytes(_SECRET.search(out).group(1))  # type: ignore[union-attr]
    code, out, err = run(env, "reviewers", "add", "bob")
    assert code == 1
    assert err.strip() == "error: that username is taken"
    code, out, _ = run(env, "reviewers", "list")
    assert out.splitlines() == ["admin\tadmin\tpending enrolment",
                                "bob\treviewer\tpending enrolment"]

    instance = open_instance(load_settings(env))
    try:
        services = ReviewerServices.open(instance)
        bob = enrol(services, "bob", bob_password, bob_secret, "bob's own long password")
        code_, now = bob.next_code()
        token = services.logins.login("bob", bob.password, code_, now=now).token
        assert services.sessions.load(token, now=now).identities() == []  # no grant yet
        enrol(services, "admin", admin_password, admin_secret, "the admin's long password")
        code_, now = bob.next_code()
        token = services.logins.login("bob", bob.password, code_, now=now).token
        assert len(services.sessions.load(token, now=now).identities()) == 1
    finally:
        instance.close()


def test_reviewers_add_with_recovery_identity_grants_at_once(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    _, out, _ = run(env, "init")
    identity = re.search(r"AGE-SECRET-KEY-PQ-1[0-9A-Z]+", out).group(0)  # type: ignore[union-attr]
    identity_file = tmp_path / "recovery.txt"
    identity_file.write_text(identity + "\n")
    code, out, err = run(env, "reviewers", "add", "carol", "--admin",
                         "--recovery-identity", str(identity_file))
    assert (code, err) == (0, "")
    assert "NEW ADMIN ACCOUNT" in out
    assert "next login of an admin" not in out
