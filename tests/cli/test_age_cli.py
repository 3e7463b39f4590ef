"""``python -m tipbox age``: the offline tool's behaviour, seen from outside.

Most tests drive the command through click's CliRunner; the few that need a
real process (terminal detection, the absence of tracebacks) use
``python -m tipbox``. Passphrase prompts are replaced by a fixed answer.
"""

from __future__ import annotations

import datetime
import importlib
import os
import random
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tipbox.cli import cli
from tipbox.crypto import (
    HybridIdentity,
    X25519Identity,
    decrypt,
    encrypt,
    parse_identity,
    parse_identity_file,
)

# What the commands do (the module the passphrase prompt is replaced in).
age_module = importlib.import_module("tipbox.cli.age_tool")
ROOT = Path(__file__).resolve().parents[2]
CHUNK = 64 * 1024


def plaintext(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def invoke(*args: str, stdin: bytes = b"") -> Result:
    return CliRunner().invoke(cli, ["age", *args], input=stdin, catch_exceptions=False)


def ok(*args: str, stdin: bytes = b"") -> bytes:
    result = invoke(*args, stdin=stdin)
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def write_key(path: Path, identity: X25519Identity | HybridIdentity) -> Path:
    path.write_text(f"# a comment\n\n{identity}\n")
    return path


@pytest.fixture
def x25519(tmp_path: Path) -> tuple[X25519Identity, Path]:
    identity = X25519Identity.generate()
    return identity, write_key(tmp_path / "x25519.txt", identity)


@pytest.fixture
def hybrid(tmp_path: Path) -> tuple[HybridIdentity, Path]:
    identity = HybridIdentity.generate()
    return identity, write_key(tmp_path / "pq.txt", identity)


@pytest.fixture
def fixed_passphrase(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Answer every passphrase prompt with the next queued answer.

    An answer ending in " (confirmed)" is right only where the command asks
    for the passphrase twice (encryption), so the tests also check that.
    """
    answers: list[str] = []

    def answer(prompt: str, *, confirm: bool) -> str:
        assert prompt
        passphrase = answers.pop(0)
        return passphrase if not confirm else passphrase.removesuffix(" (confirmed)")

    monkeypatch.setattr(age_module, "read_passphrase", answer)
    return answers


# -- keygen and recipient --------------------------------------------------------


@pytest.mark.parametrize(("flags", "secret_prefix", "public_prefix"), [
    ([], "AGE-SECRET-KEY-1", "age1"),
    (["--pq"], "AGE-SECRET-KEY-PQ-1", "age1pq1"),
])
def test_keygen_writes_an_age_identity_file(
    flags: list[str], secret_prefix: str, public_prefix: str
) -> None:
    created, public, secret = ok("keygen", *flags).decode().splitlines()
    stamp = datetime.datetime.fromisoformat(created.removeprefix("# created: "))
    assert stamp.tzinfo is not None
    assert abs(datetime.datetime.now(datetime.UTC) - stamp) < datetime.timedelta(minutes=1)
    assert secret.startswith(secret_prefix)
    assert public == f"# public key: {parse_identity(secret).recipient()}"
    assert public.removeprefix("# public key: ").startswith(public_prefix)


def test_keygen_to_file_is_private_and_reports_public_key(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    result = invoke("keygen", "--pq", "-o", str(key_file))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    (identity,) = parse_identity_file(key_file.read_text())
    assert result.stderr == f"Public key: {identity.recipient()}\n"


def test_keygen_never_overwrites_a_key(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text("precious\n")
    assert_one_line_error(invoke("keygen", "-o", str(key_file)), "exists")
    assert key_file.read_text() == "precious\n"


def test_keygen_makes_distinct_keys() -> None:
    assert ok("keygen").splitlines()[2] != ok("keygen").splitlines()[2]


def test_recipient_prints_one_line_per_identity(tmp_path: Path) -> None:
    first, second = X25519Identity.generate(), HybridIdentity.generate()
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# two keys\n{first}\n\n{second}\n")
    expected = f"{first.recipient()}\n{second.recipient()}\n".encode()
    assert ok("recipient", "-i", str(key_file)) == expected
    assert ok("recipient", "-i", "-", stdin=key_file.read_bytes()) == expected


def test_recipient_of_a_keygen_file_matches_its_comment(tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    ok("keygen", "-o", str(key_file))
    comment = key_file.read_text().splitlines()[1].removeprefix("# public key: ")
    assert ok("recipient", "-i", str(key_file)).decode() == f"{comment}\n"


@pytest.mark.parametrize("content", ["", "# only comments\n", "AGE-SECRET-KEY-1NOTAKEY\n"])
def test_recipient_rejects_bad_identity_files(tmp_path: Path, content: str) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(content)
    assert_one_line_error(invoke("recipient", "-i", str(key_file)), str(key_file))
    assert "NOTAKEY" not in invoke("recipient", "-i", str(key_file)).stderr


# -- round trips ------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
@pytest.mark.parametrize("kind", ["x25519", "hybrid"])
def test_round_trip_through_stdin_and_stdout(
    request: pytest.FixtureRequest, kind: str, size: int
) -> None:
    identity, key_file = request.getfixturevalue(kind)
    ciphertext = ok("encrypt", "-r", str(identity.recipient()), stdin=plaintext(size))
    assert ciphertext.startswith(b"age-encryption.org/v1\n")
    assert decrypt([identity], ciphertext) == plaintext(size)
    assert ok("decrypt", "-i", str(key_file), stdin=ciphertext) == plaintext(size)


def test_round_trip_through_files(x25519: tuple[X25519Identity, Path], tmp_path: Path) -> None:
    _, key_file = x25519
    source, sealed, opened = tmp_path / "in.bin", tmp_path / "in.bin.age", tmp_path / "out.bin"
    source.write_bytes(plaintext(300_000))
    assert ok("encrypt", "-i", str(key_file), "-o", str(sealed), str(source)) == b""
    assert ok("decrypt", "-i", str(key_file), "-o", str(opened), str(sealed)) == b""
    assert opened.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(opened.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.bin", "in.bin.age", "out.bin", "x25519.txt"]


def test_armor_round_trip(hybrid: tuple[HybridIdentity, Path]) -> None:
    identity, key_file = hybrid
    armored = ok("encrypt", "-a", "-r", str(identity.recipient()), stdin=b"tip")
    assert armored.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert armored.endswith(b"-----END AGE ENCRYPTED FILE-----\n")
    assert all(len(line) <= 64 for line in armored.splitlines())
    assert ok("decrypt", "-i", str(key_file), stdin=armored) == b"tip"


def test_several_recipients_each_decrypt(tmp_path: Path) -> None:
    keys = [HybridIdentity.generate() for _ in range(4)]
    key_files = [write_key(tmp_path / f"k{n}.txt", key) for n, key in enumerate(keys)]
    recipients_file = tmp_path / "team.txt"
    recipients_file.write_text(f"# the desk\n{keys[2].recipient()}\n\n  {keys[3].recipient()}  \n")
    ciphertext = ok("encrypt", "-r", str(keys[0].recipient()), "-r", str(keys[1].recipient()),
                    "-R", str(recipients_file), stdin=b"for all four")
    for key_file in key_files:
        assert ok("decrypt", "-i", str(key_file), stdin=ciphertext) == b"for all four"


def test_decrypt_tries_every_identity_of_every_file(tmp_path: Path) -> None:
    target = X25519Identity.generate()
    others = tmp_path / "others.txt"
    others.write_text(f"{X25519Identity.generate()}\n{HybridIdentity.generate()}\n")
    mixed = tmp_path / "mixed.txt"
    mixed.write_text(f"{HybridIdentity.generate()}\n{target}\n")
    ciphertext = encrypt([target.recipient()], b"found")
    assert ok("decrypt", "-i", str(others), "-i", str(mixed), stdin=ciphertext) == b"found"


def test_passphrase_round_trip(fixed_passphrase: list[str]) -> None:
    fixed_passphrase.extend(["hunter2 hunter2 (confirmed)", "hunter2 hunter2"])
    ciphertext = ok("encrypt", "-p", stdin=b"by passphrase")
    assert b"\n-> scrypt " in ciphertext
    assert ok("decrypt", stdin=ciphertext) == b"by passphrase"
    assert fixed_passphrase == []


def test_armored_passphrase_file_prompts(fixed_passphrase: list[str]) -> None:
    fixed_passphrase.extend(["pw one (confirmed)", "pw one"])
    armored = ok("encrypt", "-p", "-a", stdin=b"armored secret")
    assert ok("decrypt", stdin=b"\n" + armored) == b"armored secret"


def test_wrong_passphrase_fails(fixed_passphrase: list[str], tmp_path: Path) -> None:
    fixed_passphrase.extend(["right (confirmed)", "wrong"])
    ciphertext = ok("encrypt", "-p", stdin=b"x")
    out = tmp_path / "out"
    assert_one_line_error(invoke("decrypt", "-o", str(out), stdin=ciphertext),
                          "incorrect passphrase")
    assert not out.exists()


# -- failures: one line, exit 1, nothing unverified left behind ---------------------


def test_wrong_key_is_one_line_error(x25519: tuple[X25519Identity, Path]) -> None:
    _, key_file = x25519
    ciphertext = encrypt([X25519Identity.generate().recipient()], b"not yours")
    assert_one_line_error(invoke("decrypt", "-i", str(key_file), stdin=ciphertext), "no identity")


@pytest.mark.parametrize(("where", "expected"), [
    (10, "header"),            # inside the version line / stanza
    (-5, "payload"),           # the last chunk's tag
    (-CHUNK - 20, "payload"),  # a middle chunk
])
def test_corrupt_file_is_one_line_error(
    x25519: tuple[X25519Identity, Path], where: int, expected: str
) -> None:
    identity, key_file = x25519
    corrupt = bytearray(encrypt([identity.recipient()], plaintext(3 * CHUNK)))
    corrupt[where] ^= 0x01
    result = invoke("decrypt", "-i", str(key_file), stdin=bytes(corrupt))
    assert_one_line_error(result, expected)


def test_truncated_file_is_one_line_error(x25519: tuple[X25519Identity, Path]) -> None:
    identity, key_file = x25519
    ciphertext = encrypt([identity.recipient()], plaintext(2 * CHUNK + 1))
    result = invoke("decrypt", "-i", str(key_file), stdin=ciphertext[:-1000])
    assert_one_line_error(result, "payload")


def test_failed_decryption_leaves_no_output_file(
    x25519: tuple[X25519Identity, Path], tmp_path: Path
) -> None:
    identity, key_file = x25519
    corrupt = bytearray(encrypt([identity.recipient()], plaintext(5 * CHUNK)))
    corrupt[-3] ^= 0x80  # only the last chunk is bad: four good chunks come first
    out = tmp_path / "tip.pdf"
    assert_one_line_error(invoke("decrypt", "-i", str(key_file), "-o", str(out),
                                 stdin=bytes(corrupt)))
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x25519.txt"]


def test_failed_decryption_keeps_existing_output(
    x25519: tuple[X25519Identity, Path], tmp_path: Path
) -> None:
    identity, key_file = x25519
    out = tmp_path / "old.txt"
    out.write_bytes(b"previous contents")
    corrupt = encrypt([identity.recipient()], plaintext(2 * CHUNK))[:-1]
    assert_one_line_error(invoke("decrypt", "-i", str(key_file), "-o", str(out), stdin=corrupt))
    assert out.read_bytes() == b"previous contents"


def test_stdout_gets_only_verified_chunks(x25519: tuple[X25519Identity, Path]) -> None:
    identity, key_file = x25519
    data = plaintext(3 * CHUNK)
    corrupt = bytearray(encrypt([identity.recipient()], data))
    corrupt[-CHUNK - 20] ^= 0x01  # in the second chunk
    result = invoke("decrypt", "-i", str(key_file), stdin=bytes(corrupt))
    assert result.exit_code == 1
    assert result.stdout_bytes == data[:CHUNK]


@pytest.mark.parametrize("args", [
    ["encrypt", "-r", "age1notarecipient"],
    ["encrypt", "-r", "AGE-SECRET-KEY-1QQQQ"],
    ["encrypt", "-r", ""],
])
def test_bad_recipient_string(args: list[str]) -> None:
    assert_one_line_error(invoke(*args, stdin=b"x"), "invalid recipient")


def test_bad_line_in_recipients_file(tmp_path: Path) -> None:
    recipients_file = tmp_path / "team.txt"
    good = X25519Identity.generate().recipient()
    recipients_file.write_text(f"# desk\n{good}\nage1typo\n")
    result = invoke("encrypt", "-R", str(recipients_file), stdin=b"x")
    assert_one_line_error(result, f"{recipients_file}:3")
    assert result.stdout_bytes == b""


def test_mixing_post_quantum_and_classic_is_refused(
    x25519: tuple[X25519Identity, Path], hybrid: tuple[HybridIdentity, Path]
) -> None:
    args = ["encrypt", "-r", str(x25519[0].recipient()), "-r", str(hybrid[0].recipient())]
    assert_one_line_error(invoke(*args, stdin=b"x"), "post-quantum")


@pytest.mark.parametrize(("args", "fragment"), [
    (["decrypt", "-i", "/nonexistent/key.txt"], "No such file"),
    (["decrypt", "-i", "{key}", "/nonexistent/in.age"], "No such file"),
    (["encrypt", "-r", "{recipient}", "/nonexistent/plain"], "No such file"),
    (["encrypt", "-R", "/nonexistent/list"], "No such file"),
    (["encrypt", "-r", "{recipient}", "-o", "/nonexistent/dir/out"], "No such file"),
    (["encrypt"], "recipients"),
    (["encrypt", "-p", "-r", "{recipient}"], "not both"),
    (["decrypt"], "-i"),
    (["decrypt", "--bogus"], "--bogus"),
    (["decrypt", "-i"], "-i"),
    (["nosuchcommand"], "nosuchcommand"),
    (["recipient"], "-i"),
    (["encrypt", "-R", "-"], "stdin"),
    (["decrypt", "-i", "-"], "stdin"),
])
def test_usage_and_file_errors(
    x25519: tuple[X25519Identity, Path], args: list[str], fragment: str
) -> None:
    identity, key_file = x25519
    filled = [a.format(key=key_file, recipient=identity.recipient()) for a in args]
    stdin = encrypt([identity.recipient()], b"x")
    assert_one_line_error(invoke(*filled, stdin=stdin), fragment)


def test_garbage_input_is_one_line_error(x25519: tuple[X25519Identity, Path]) -> None:
    _, key_file = x25519
    for garbage in [b"", b"hello", b"-----BEGIN AGE ENCRYPTED FILE-----\n!!!\n"]:
        assert_one_line_error(invoke("decrypt", "-i", str(key_file), stdin=garbage))


# -- a real process: terminals and tracebacks ------------------------------------------


def run_tipbox(args: Sequence[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tipbox", "age", *args], cwd=ROOT, input=stdin,
        capture_output=True, timeout=120, check=False,
    )


def test_process_errors_have_no_traceback(x25519: tuple[X25519Identity, Path]) -> None:
    identity, key_file = x25519
    corrupt = encrypt([identity.recipient()], plaintext(CHUNK + 1))[:-1]
    for args, stdin in [(["decrypt", "-i", str(key_file)], corrupt),
                        (["encrypt", "-r", "age1bad"], b"x"),
                        (["decrypt", "-i", str(key_file), "--nope"], b"")]:
        result = run_tipbox(args, stdin)
        assert result.returncode == 1
        assert result.stderr.startswith(b"error: ")
        assert result.stderr.count(b"\n") == 1
        assert b"Traceback" not in result.stderr


def test_binary_output_to_a_terminal_is_refused(x25519: tuple[X25519Identity, Path]) -> None:
    identity, _ = x25519
    master, terminal = os.openpty()
    try:
        args = ["encrypt", "-r", str(identity.recipient())]
        result = subprocess.run(
            [sys.executable, "-m", "tipbox", "age", *args], cwd=ROOT, input=b"x",
            stdout=terminal, stderr=subprocess.PIPE, timeout=120, check=False,
        )
        armored = subprocess.run(
            [sys.executable, "-m", "tipbox", "age", *args, "-a"], cwd=ROOT, input=b"x",
            stdout=terminal, stderr=subprocess.PIPE, timeout=120, check=False,
        )
    finally:
        os.close(terminal)
        os.close(master)
    assert result.returncode == 1
    assert result.stderr.startswith(b"error: refusing to write binary")
    assert armored.returncode == 0


def test_passphrase_needs_a_terminal() -> None:
    """Without a controlling terminal -p fails cleanly instead of reading stdin."""
    result = subprocess.run(
        [sys.executable, "-m", "tipbox", "age", "encrypt", "-p"], cwd=ROOT, input=b"data",
        capture_output=True, timeout=120, check=False, start_new_session=True,
    )
    assert result.returncode == 1
    assert result.stderr == b"error: a passphrase can only be entered on a terminal\n"
    assert result.stdout == b""


def test_help_guides_an_offline_user() -> None:
    assert ok("-h") == ok("--help")
    help_text = ok("--help").decode()
    for command in ["keygen", "recipient", "encrypt", "decrypt"]:
        assert f"python -m tipbox age {command}" in help_text
    encrypt_help = ok("encrypt", "--help").decode()
    for flag in ["-r,", "-R,", "-p,", "-a,", "-o,"]:
        assert flag in encrypt_help
