"""Shared recovery on the command line (issue 17): ``recovery split``, then shares in
place of the recovery identity for ``keys recover``, ``keys rewrap``,
``keys rotate-recovery``, ``recovery verify`` and ``restore`` of a backup.

Every refusal is one ``error: ...`` line with exit status 1.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from tests.admin.admin_kit import cli_env, decrypts, enrol, item_rows, login_identities, submit
from tests.conftest import make_test_settings
from tipbox.cli import cli
from tipbox.cli.recovery import RecoveryInput, recovery_options
from tipbox.config import Settings
from tipbox.crypto import HybridIdentity, fingerprint, parse_identity
from tipbox.services.accounts.totp import qr_terminal
from tipbox.services.instance import InitResult, init_instance
from tipbox.services.wiring import Instance, ReviewerServices, open_instance

NEW_PASSWORD = "a brand new admin password"
PROMPT = "Passphrase of the recovery shares: "
SHARE = re.compile(r"^Share (\d+) of (\d+) \(any (\d+) open the recovery identity\):\n"
                   r" {4}([a-z]+(?: [a-z]+){34})\n", re.MULTILINE)


def run(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=cli_env(settings), input=stdin)


def assert_refused(result: Result, *fragments: str) -> None:
    """Exit status 1 and one ``error: ...`` line (after the passphrase prompt, if asked)."""
    assert result.exit_code == 1, result.output
    stderr = result.stderr.removeprefix(f"{PROMPT}\n")
    assert stderr.startswith("error: "), result.output
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in stderr, stderr


def identity_file(path: Path, identity: str) -> Path:
    path.write_text(f"# recovery\n{identity}\n", "ascii")
    return path


def split(settings: Settings, identity: Path, threshold: int, count: int,
          *extra: str, stdin: str | None = None) -> list[str]:
    """The shares ``recovery split`` prints, in order."""
    result = run(settings, "recovery", "split", "--threshold", str(threshold),
                 "--shares", str(count), "--recovery-identity", str(identity), *extra,
                 stdin=stdin)
    assert result.exit_code == 0, result.output
    found = SHARE.findall(result.stdout)
    assert [(int(n), int(c), int(m)) for n, c, m, _ in found] == [
        (n, count, threshold) for n in range(1, count + 1)]
    return [words for *_, words in found]


def share_files(tmp_path: Path, shares: list[str], name: str = "holder") -> list[str]:
    """One file per share (with a comment and a blank line), as options."""
    options = []
    for number, words in enumerate(shares, start=1):
        path = tmp_path / f"{name}-{number}.txt"
        path.write_text(f"# share held by {name} {number}\n\n{words}\n", "utf-8")
        options += ["--recovery-shares", str(path)]
    return options


def enrolment_of(output: str) -> tuple[str, bytes]:
    """The one-time password and TOTP secret ``keys recover`` printed."""
    password = re.search(r"One-time password:\s+(.+)", output)
    secret = re.search(r"TOTP secret:\s+([A-Z2-7 ]+)", output)
    assert password is not None, output
    assert secret is not None, output
    text = secret.group(1).replace(" ", "")
    return password.group(1).strip(), base64.b32decode(text + "=" * (-len(text) % 8))


@pytest.fixture
def recovery_file(tmp_path: Path, init_result: InitResult) -> Path:
    return identity_file(tmp_path / "recovery.key", init_result.recovery_identity)


# -- split ----------------------------------------------------------------------------


def test_split_prints_each_share_as_words_and_as_a_qr_code(
    settings: Settings, instance: Instance, recovery_file: Path
) -> None:
    result = run(settings, "recovery", "split", "--threshold", "3", "--shares", "5",
                 "--recovery-identity", str(recovery_file))
    assert result.exit_code == 0, result.output
    shares = [words for *_, words in SHARE.findall(result.stdout)]
    assert len(shares) == len(set(shares)) == 5
    for words in shares:
        assert qr_terminal(words.upper()) in result.stdout
    print_ = fingerprint(instance.keyring.recovery_recipient())
    assert f"Any 3 of these 5 shares open the recovery identity\n(fingerprint {print_})" \
        in result.stdout
    assert "AGE-SECRET-KEY" not in result.output
    words_only = run(settings, "recovery", "split", "--threshold", "2", "--shares", "2",
                     "--recovery-identity", str(recovery_file), "--no-qr")
    assert "█" not in words_only.stdout
    assert len(SHARE.findall(words_only.stdout)) == 2


def test_split_refuses_an_identity_that_is_not_the_instances(
    settings: Settings, instance: Instance, tmp_path: Path
) -> None:
    stranger = identity_file(tmp_path / "other.key", str(HybridIdentity.generate()))
    result = run(settings, "recovery", "split", "--threshold", "2", "--shares", "3",
                 "--recovery-identity", str(stranger))
    assert_refused(result, "does not hold this instance's recovery identity")
    assert result.stdout == ""


@pytest.mark.parametrize(("threshold", "count"), [("1", "3"), ("4", "3"), ("2", "17")])
def test_split_refuses_what_slip39_cannot_make(
    settings: Settings, instance: Instance, recovery_file: Path, threshold: str, count: str
) -> None:
    result = run(settings, "recovery", "split", "--threshold", threshold, "--shares", count,
                 "--recovery-identity", str(recovery_file))
    assert_refused(result, "a split needs 2 <= threshold <= shares <= 16")


# -- keys recover from shares, end to end ----------------------------------------------


def test_keys_recover_from_two_of_three_shares_end_to_end(
    settings: Settings, instance: Instance, recovery_file: Path, tmp_path: Path
) -> None:
    submit(instance, "before the rotation", {"a.pdf": b"%PDF" * 1000})
    assert run(settings, "keys", "rotate").exit_code == 0
    submit(instance, "after the rotation")
    shares = split(settings, recovery_file, 2, 3)
    recovery_file.unlink()  # from now on, nobody holds the identity itself

    given = share_files(tmp_path, [shares[2], shares[0]])
    result = run(settings, "keys", "recover", *given, "--admin", "rescue")

    assert result.exit_code == 0, result.output
    assert "RECOVERED ADMIN ACCOUNT" in result.output
    services = ReviewerServices.open(instance)
    rescue = enrol(services, "rescue", *enrolment_of(result.output), NEW_PASSWORD)
    identities = login_identities(services, rescue)
    assert len(identities) == 2  # both newsroom keys, the retired one too
    assert services.reviewers.by_username("rescue").is_admin
    rows = item_rows(instance)
    assert len(rows) == 4
    assert all(decrypts(instance, row, identities) for row in rows)


@pytest.fixture
def three_of_five(settings: Settings, recovery_file: Path, instance: Instance) -> list[str]:
    return split(settings, recovery_file, 3, 5)


def one_file(tmp_path: Path, shares: list[str]) -> list[str]:
    path = tmp_path / "shares.txt"
    path.write_text("\n".join(shares) + "\n", "utf-8")
    return ["--recovery-shares", str(path)]


def recover(settings: Settings, options: list[str]) -> Result:
    return run(settings, "keys", "recover", *options, "--admin", "rescue")


def test_any_three_of_five_in_one_file_in_any_order(
    settings: Settings, three_of_five: list[str], tmp_path: Path
) -> None:
    for picked in ([4, 1, 3], [2, 0, 4], [0, 1, 2, 3, 4]):
        chosen = [three_of_five[i] for i in picked]
        result = run(settings, "recovery", "verify", *one_file(tmp_path, chosen))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("OK: the shares of ")


def test_fewer_than_the_threshold_is_one_line(
    settings: Settings, three_of_five: list[str], tmp_path: Path
) -> None:
    result = recover(settings, share_files(tmp_path, three_of_five[3:]))
    assert_refused(result, "too few shares: 2 given", "this split needs 3")
    again = recover(settings, share_files(tmp_path, [three_of_five[1]] * 3, "same"))
    assert_refused(again, "too few shares: 1 given (each counted once)")


def test_a_corrupted_word_is_one_line_naming_the_file_and_line(
    settings: Settings, three_of_five: list[str], tmp_path: Path
) -> None:
    words = three_of_five[1].split()
    words[7] = "academic" if words[7] != "academic" else "acid"
    given = [three_of_five[0], " ".join(words), three_of_five[2]]
    result = recover(settings, one_file(tmp_path, given))
    assert_refused(result, f"{tmp_path / 'shares.txt'} line 2: its checksum fails")
    words[7] = "bogusword"
    typo = recover(settings, one_file(tmp_path, [three_of_five[0], " ".join(words)]))
    assert_refused(typo, "line 2: word 8 is not a SLIP-39 word")
    assert "bogusword" not in typo.output


def test_shares_of_two_splits_are_one_line(
    settings: Settings, three_of_five: list[str], recovery_file: Path, tmp_path: Path
) -> None:
    other = split(settings, recovery_file, 3, 5)
    result = recover(settings, one_file(tmp_path, [*three_of_five[:2], other[2]]))
    assert_refused(result, "line 1 and", "line 3 come from different splits")


def test_shares_of_another_instance_are_refused(
    settings: Settings, instance: Instance, tmp_path: Path
) -> None:
    elsewhere = make_test_settings(tmp_path / "elsewhere")
    theirs = identity_file(tmp_path / "theirs.key", init_instance(elsewhere).recovery_identity)
    shares = split(elsewhere, theirs, 2, 2)
    result = recover(settings, share_files(tmp_path, shares))
    assert_refused(result, "the shares do not give this instance's recovery identity")


def test_the_options_are_one_or_the_other(
    settings: Settings, three_of_five: list[str], recovery_file: Path, tmp_path: Path
) -> None:
    both = recover(settings, ["--recovery-identity", str(recovery_file),
                              *one_file(tmp_path, three_of_five[:3])])
    assert_refused(both, "give --recovery-identity or --recovery-shares, not both")
    assert_refused(recover(settings, []), "--recovery-identity FILE or --recovery-shares FILE")
    lone = recover(settings, ["--recovery-identity", str(recovery_file), "--recovery-passphrase"])
    assert_refused(lone, "--recovery-passphrase goes with --recovery-shares")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    assert_refused(recover(settings, ["--recovery-shares", str(empty)]), "hold no share")


def test_an_optional_recovery_option_gives_none_or_the_input(
    three_of_five: list[str], recovery_file: Path, tmp_path: Path
) -> None:
    """What `reviewers add`, `enable`, `reset` get once they use recovery_options too."""

    @click.command()
    @recovery_options(required=False, identity_help="To grant the keys at once.")
    def grant(recovery: RecoveryInput | None) -> None:
        click.echo("none" if recovery is None else f"{len(recovery.identities())} identity")

    runner = CliRunner()
    assert runner.invoke(grant, []).stdout == "none\n"
    by_file = runner.invoke(grant, ["--recovery-identity", str(recovery_file)])
    assert by_file.stdout == "1 identity\n"
    by_shares = runner.invoke(grant, one_file(tmp_path, three_of_five[:3]))
    assert by_shares.stdout == "1 identity\n"
    assert "To grant the keys at once." in runner.invoke(grant, ["--help"]).stdout


# -- the other commands that take the recovery identity --------------------------------


def test_rewrap_and_rotate_recovery_take_shares(
    settings: Settings, instance: Instance, three_of_five: list[str], tmp_path: Path
) -> None:
    submit(instance, "on the first key")
    assert run(settings, "keys", "rotate").exit_code == 0
    given = one_file(tmp_path, three_of_five[2:])

    rewrapped = run(settings, "keys", "rewrap", *given)
    assert rewrapped.exit_code == 0, rewrapped.output
    assert "Re-wrapped 1 items; 0 still on retired keys." in rewrapped.stdout
    assert "wait for a re-wrap" not in run(settings, "keys", "list").stdout

    rotated = run(settings, "keys", "rotate-recovery", *given)
    assert rotated.exit_code == 0, rotated.output
    assert "recovery split" in rotated.stdout
    match = re.search(r"AGE-SECRET-KEY-PQ-1[0-9A-Z]+", rotated.stdout)
    assert match is not None
    new = parse_identity(match.group(0))
    assert str(instance.keyring.recovery_recipient()) == str(new.recipient())
    stale = recover(settings, given)
    assert_refused(stale, "do not give this instance's recovery identity",
                   "shares of an older one")


def test_a_passphrase_split_needs_the_passphrase(
    settings: Settings, instance: Instance, recovery_file: Path, tmp_path: Path
) -> None:
    shares = split(settings, recovery_file, 2, 3, "--passphrase",
                   stdin="the newsroom's own words\nthe newsroom's own words\n")
    given = share_files(tmp_path, shares[1:])
    ok = run(settings, "recovery", "verify", *given, "--recovery-passphrase",
             stdin="the newsroom's own words\n")
    assert ok.exit_code == 0, ok.output
    print_ = fingerprint(instance.keyring.recovery_recipient())
    assert f"opened this instance's recovery identity (fingerprint {print_})" in ok.stdout
    wrong = run(settings, "recovery", "verify", *given, "--recovery-passphrase",
                stdin="the newsroom's own word\n")
    assert_refused(wrong)
    missing = run(settings, "recovery", "verify", *given)
    assert_refused(missing)
    assert "the newsroom" not in wrong.output + missing.output


def test_split_again_from_shares(
    settings: Settings, instance: Instance, three_of_five: list[str], tmp_path: Path
) -> None:
    """A new M of N from the old shares, without the identity file ever coming back."""
    given = one_file(tmp_path, three_of_five[:3])
    result = run(settings, "recovery", "split", "--threshold", "2", "--shares", "2", *given)
    assert result.exit_code == 0, result.output
    fresh = [words for *_, words in SHARE.findall(result.stdout)]
    verified = run(settings, "recovery", "verify", *share_files(tmp_path, fresh, "new"))
    assert verified.exit_code == 0, verified.output


# -- a backup restored with shares ----------------------------------------------------


@pytest.mark.parametrize("classic", [False, True], ids=["pq", "x25519"])
def test_a_backup_restores_with_shares_instead_of_the_identity(
    tmp_path: Path, classic: bool
) -> None:
    settings = make_test_settings(tmp_path / "newsroom")
    identity = init_instance(settings, classic=classic).recovery_identity
    assert identity.startswith("AGE-SECRET-KEY-1" if classic else "AGE-SECRET-KEY-PQ-1")
    opened = open_instance(settings)
    try:
        submit(opened, "the minister took it", {"ledger.pdf": b"%PDF" * 5000})
        submit(opened, "a second source")
    finally:
        opened.close()
    backup = tmp_path / "newsroom.backup.age"
    assert run(settings, "backup", str(backup)).exit_code == 0
    shares = split(settings, identity_file(tmp_path / "recovery.key", identity), 3, 5)
    elsewhere = make_test_settings(tmp_path / "elsewhere")

    too_few = run(elsewhere, "restore", str(backup), *share_files(tmp_path, shares[:2], "a"))
    assert_refused(too_few, "too few shares: 2 given")
    assert not elsewhere.data_dir.exists()

    given = share_files(tmp_path, [shares[4], shares[1], shares[3]], "b")
    restored = run(elsewhere, "restore", str(backup), *given)
    assert restored.exit_code == 0, restored.output
    assert "Restored 4 items" in restored.stdout

    verified = run(elsewhere, "recovery", "verify", *given)
    assert verified.exit_code == 0, verified.output
    back = open_instance(elsewhere)
    try:
        newsroom = back.keyring.open_identities(parse_identity(identity))
        rows = item_rows(back)
        assert len(rows) == 4
        assert all(decrypts(back, row, newsroom) for row in rows)
    finally:
        back.close()


def test_restore_with_shares_of_another_identity_is_one_line(
    settings: Settings, instance: Instance, tmp_path: Path
) -> None:
    submit(instance)
    backup = tmp_path / "b.age"
    assert run(settings, "backup", str(backup)).exit_code == 0
    stranger = tmp_path / "other"
    other = identity_file(tmp_path / "other.key", init_instance(
        make_test_settings(stranger)).recovery_identity)
    shares = split(make_test_settings(stranger), other, 2, 2)
    elsewhere = make_test_settings(tmp_path / "elsewhere")
    result = run(elsewhere, "restore", str(backup), *share_files(tmp_path, shares))
    assert_refused(result, "the backup does not decrypt with that identity")
