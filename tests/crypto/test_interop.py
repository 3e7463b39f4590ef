"""Interoperability of tipbox's age with two independent implementations.

* Debian's ``age`` (Go reference, 1.1.x): X25519 and scrypt passphrases.
* npm ``age-encryption`` (typage, pinned in tests/package.json): X25519,
  scrypt and the post-quantum ``mlkem768x25519`` hybrid.

Both directions at the sizes around the 64 KiB chunk boundary, binary and
armored; keys made by each side are used by the other. Passphrase prompts of
``age`` and of ``python -m tipbox age`` are answered through a pseudo-terminal,
because both read passphrases from ``/dev/tty`` only.

A missing tool skips these tests on a developer machine and fails them in CI.
"""

from __future__ import annotations

import fcntl
import io
import os
import random
import shutil
import subprocess
import sys
import termios
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from tipbox.crypto import (
    Encryptor,
    HybridIdentity,
    Identity,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    decrypt_stream,
    encrypt,
    parse_identity,
    parse_identity_file,
    parse_recipient,
)

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPTS = ROOT / "tests" / "interop"
SIZES = [0, 1, 65535, 65536, 65537, 5 * 1024 * 1024]
SIZE_IDS = ["0", "1", "64KiB-1", "64KiB", "64KiB+1", "5MiB"]
PASSPHRASE = "correct horse battery staple"
KEY_KINDS = ["x25519", "pq"]


def _require(found: bool, what: str, install: str) -> None:
    if found:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: .ci/run must install it ({install})")
    pytest.skip(f"{what} is not installed ({install})")


@pytest.fixture(scope="session")
def debian_age() -> str:
    """Path of Debian's ``age`` binary (``age-keygen`` sits beside it)."""
    path = shutil.which("age")
    found = path is not None and Path(f"{path}-keygen").is_file()
    _require(found, "Debian's age", "apt-get install age")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def node() -> str:
    """Path of node, once the pinned age-encryption package is installed."""
    path = shutil.which("node")
    installed = (ROOT / "tests" / "node_modules" / "age-encryption" / "package.json").is_file()
    _require(path is not None and installed, "node with npm age-encryption", "make node")
    assert path is not None
    return path


def plaintext(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def run(argv: Sequence[str], stdin: bytes = b"", env: dict[str, str] | None = None) -> bytes:
    """Run a tool, return its stdout; fail the test with its stderr otherwise."""
    result = subprocess.run(
        list(argv), input=stdin, capture_output=True, env=env, cwd=ROOT, timeout=300, check=False
    )
    assert result.returncode == 0, f"{argv[:3]} failed: {result.stderr.decode(errors='replace')}"
    return result.stdout


def tipbox_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tipbox", "age", *args]


def node_script(node: str, name: str, *args: str) -> list[str]:
    return [node, str(NODE_SCRIPTS / name), *args]


def node_env() -> dict[str, str]:
    return {**os.environ, "AGE_PASSPHRASE": PASSPHRASE}


def tipbox_decrypt(identities: Sequence[Identity], ciphertext: bytes) -> bytes:
    return b"".join(decrypt_stream(identities, io.BytesIO(ciphertext)))


def new_identity(kind: str) -> X25519Identity | HybridIdentity:
    return HybridIdentity.generate() if kind == "pq" else X25519Identity.generate()


# -- Debian age (X25519) ------------------------------------------------------


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armor"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_tipbox_file_decrypts_with_debian_age(
    debian_age: str, tmp_path: Path, size: int, armor: bool
) -> None:
    identity = X25519Identity.generate()
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"{identity}\n")
    ciphertext = encrypt([identity.recipient()], plaintext(size), armor=armor)
    assert run([debian_age, "-d", "-i", str(key_file)], ciphertext) == plaintext(size)


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armor"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_debian_age_file_decrypts_with_tipbox(
    debian_age: str, tmp_path: Path, size: int, armor: bool
) -> None:
    key_file = tmp_path / "key.txt"
    run([f"{debian_age}-keygen", "-o", str(key_file)])
    identities = parse_identity_file(key_file.read_text())
    recipient = str(identities[0].recipient())
    flags = ["-a"] if armor else []
    ciphertext = run([debian_age, "-r", recipient, *flags], plaintext(size))
    assert ciphertext.startswith(b"-----BEGIN AGE" if armor else b"age-encryption.org/v1\n")
    assert tipbox_decrypt(identities, ciphertext) == plaintext(size)


def test_debian_keys_and_tipbox_keys_agree(debian_age: str, tmp_path: Path) -> None:
    """The same identity yields the same recipient string in both tools."""
    theirs = tmp_path / "theirs.txt"
    run([f"{debian_age}-keygen", "-o", str(theirs)])
    their_recipient = run([f"{debian_age}-keygen", "-y", str(theirs)]).decode().strip()
    assert str(parse_identity_file(theirs.read_text())[0].recipient()) == their_recipient

    ours = tmp_path / "ours.txt"
    run(tipbox_cli("keygen", "-o", str(ours)))
    our_recipient = run(tipbox_cli("recipient", "-i", str(ours))).decode().strip()
    assert run([f"{debian_age}-keygen", "-y", str(ours)]).decode().strip() == our_recipient
    assert f"# public key: {our_recipient}" in ours.read_text()


def test_tipbox_keygen_file_works_in_debian_age(debian_age: str, tmp_path: Path) -> None:
    """A CLI-made identity file is used by age as -i, its public key as -R."""
    key_file, recipients_file = tmp_path / "key.txt", tmp_path / "recipients.txt"
    run(tipbox_cli("keygen", "-o", str(key_file)))
    recipients_file.write_bytes(run(tipbox_cli("recipient", "-i", str(key_file))))
    data = plaintext(70_000)
    ciphertext = run([debian_age, "-R", str(recipients_file)], data)
    assert run([debian_age, "-d", "-i", str(key_file)], ciphertext) == data
    assert run(tipbox_cli("decrypt", "-i", str(key_file)), ciphertext) == data


@pytest.mark.parametrize("size", [200_000, 5 * 1024 * 1024 + 1], ids=["200KB", "5MiB+1"])
def test_tipbox_cli_file_decrypts_with_debian_age(
    debian_age: str, tmp_path: Path, size: int
) -> None:
    """The CLI seals and opens on several threads (where there are CPUs) past 1 MiB."""
    key_file = tmp_path / "key.txt"
    run([f"{debian_age}-keygen", "-o", str(key_file)])
    recipient = run([f"{debian_age}-keygen", "-y", str(key_file)]).decode().strip()
    data = plaintext(size)
    for flags in ([], ["-a"]):
        ciphertext = run(tipbox_cli("encrypt", "-r", recipient, *flags), data)
        assert run([debian_age, "-d", "-i", str(key_file)], ciphertext) == data
        assert run(tipbox_cli("decrypt", "-i", str(key_file)), ciphertext) == data


@pytest.mark.parametrize("threads", [2, 4])
@pytest.mark.parametrize("size", [17 * 65536 + 1, 5 * 1024 * 1024 + 3],
                         ids=["17chunks+1", "5MiB+3"])
def test_parallel_streams_interoperate_with_debian_age(
    debian_age: str, tmp_path: Path, size: int, threads: int
) -> None:
    identity = X25519Identity.generate()
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"{identity}\n")
    data = plaintext(size)
    out = io.BytesIO()
    with Encryptor([identity.recipient()], out, threads=threads) as encryptor:
        encryptor.write(data)
    assert run([debian_age, "-d", "-i", str(key_file)], out.getvalue()) == data
    ciphertext = run([debian_age, "-r", str(identity.recipient())], data)
    assert b"".join(decrypt_stream([identity], io.BytesIO(ciphertext), threads=threads)) == data


# -- passphrases (scrypt), through a pseudo-terminal ------------------------------


def _answer_prompts(master: int, passphrase: str) -> None:
    """Type PASSPHRASE after every prompt (text ending in ':') on the terminal."""
    seen = b""
    while True:
        try:
            data = os.read(master, 1024)
        except OSError:
            return
        if not data:
            return
        seen += data
        if seen.rstrip().endswith(b":"):
            os.write(master, passphrase.encode() + b"\n")
            seen = b""


def run_on_terminal(
    argv: Sequence[str], passphrase: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """Run ARGV with a pseudo-terminal as its controlling terminal (/dev/tty).

    stdin/stdout stay pipes, as in ``age -p < in > out``; prompts on the
    terminal are answered with PASSPHRASE.
    """
    master, slave = os.openpty()

    def attach_terminal() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        cwd=ROOT, preexec_fn=attach_terminal, pass_fds=(slave,),
    )
    os.close(slave)
    typist = threading.Thread(target=_answer_prompts, args=(master, passphrase), daemon=True)
    typist.start()
    try:
        out, err = process.communicate(stdin, timeout=300)
    finally:
        os.close(master)
    return subprocess.CompletedProcess(list(argv), process.returncode, out, err)


def run_ok_on_terminal(argv: Sequence[str], passphrase: str, stdin: bytes = b"") -> bytes:
    result = run_on_terminal(argv, passphrase, stdin)
    assert result.returncode == 0, f"{argv[:4]} failed: {result.stderr.decode(errors='replace')}"
    return result.stdout


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armor"])
def test_tipbox_passphrase_file_decrypts_with_debian_age(debian_age: str, armor: bool) -> None:
    data = plaintext(65537)
    flags = ["-a"] if armor else []
    ciphertext = run_ok_on_terminal(tipbox_cli("encrypt", "-p", *flags), PASSPHRASE, data)
    assert b"scrypt" in ciphertext or armor
    assert run_ok_on_terminal([debian_age, "-d"], PASSPHRASE, ciphertext) == data


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armor"])
def test_debian_age_passphrase_file_decrypts_with_tipbox(debian_age: str, armor: bool) -> None:
    data = plaintext(65537)
    flags = ["-a"] if armor else []
    ciphertext = run_ok_on_terminal([debian_age, "-p", *flags], PASSPHRASE, data)
    assert run_ok_on_terminal(tipbox_cli("decrypt"), PASSPHRASE, ciphertext) == data
    assert tipbox_decrypt([ScryptIdentity(PASSPHRASE)], ciphertext) == data


def test_wrong_passphrase_is_rejected_by_both(debian_age: str) -> None:
    ciphertext = encrypt([ScryptRecipient(PASSPHRASE, work_factor=12)], b"secret")
    assert run_ok_on_terminal([debian_age, "-d"], PASSPHRASE, ciphertext) == b"secret"
    theirs = run_on_terminal([debian_age, "-d"], "wrong", ciphertext)
    ours = run_on_terminal(tipbox_cli("decrypt"), "wrong", ciphertext)
    assert (theirs.returncode, ours.returncode) == (1, 1)
    assert ours.stdout == b""
    assert ours.stderr == b"error: incorrect passphrase\n"


# -- npm age-encryption (X25519 and post-quantum) ----------------------------------


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armor"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("kind", KEY_KINDS)
def test_tipbox_file_decrypts_with_typage(node: str, kind: str, size: int, armor: bool) -> None:
    """tipbox encrypts to a typage-made key; typage decrypts."""
    their_identity, their_recipient = run(node_script(node, "keygen.mjs", f"--{kind}")).split()
    ciphertext = encrypt([parse_recipient(their_recipient.decode())], plaintext(size), armor=armor)
    decrypted = run(node_script(node, "decrypt.mjs", "-i", their_identity.decode()), ciphertext)
    assert decrypted == plaintext(size)


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armor"])
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("kind", KEY_KINDS)
def test_typage_file_decrypts_with_tipbox(node: str, kind: str, size: int, armor: bool) -> None:
    """typage encrypts to a tipbox-made key; tipbox decrypts."""
    identity = new_identity(kind)
    flags = ["--armor"] if armor else []
    argv = node_script(node, "encrypt.mjs", "-r", str(identity.recipient()), *flags)
    ciphertext = run(argv, plaintext(size))
    assert tipbox_decrypt([identity], ciphertext) == plaintext(size)


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_typage_keys_and_tipbox_keys_agree(node: str, kind: str) -> None:
    their_identity, their_recipient = run(node_script(node, "keygen.mjs", f"--{kind}")).split()
    assert str(parse_identity(their_identity.decode()).recipient()) == their_recipient.decode()
    ours = new_identity(kind)
    derived = run(node_script(node, "recipient.mjs", str(ours))).decode().strip()
    assert derived == str(ours.recipient())


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_tipbox_keygen_file_works_in_typage(node: str, tmp_path: Path, kind: str) -> None:
    """``keygen [--pq] -o``: typage uses the secret line and the public key comment."""
    key_file = tmp_path / "key.txt"
    run(tipbox_cli("keygen", *(["--pq"] if kind == "pq" else []), "-o", str(key_file)))
    lines = key_file.read_text().splitlines()
    public = lines[1].removeprefix("# public key: ")
    secret = lines[2]
    assert public.startswith("age1pq1" if kind == "pq" else "age1")
    data = plaintext(65537)
    ciphertext = run(node_script(node, "encrypt.mjs", "-r", public), data)
    assert run(tipbox_cli("decrypt", "-i", str(key_file)), ciphertext) == data
    ours = run(tipbox_cli("encrypt", "-i", str(key_file)), data)
    assert run(node_script(node, "decrypt.mjs", "-i", secret), ours) == data


def test_typage_several_recipients_any_one_decrypts(node: str) -> None:
    """A typage file for two PQ recipients opens with either tipbox identity."""
    first, second = HybridIdentity.generate(), HybridIdentity.generate()
    argv = node_script(node, "encrypt.mjs", "-r", str(first.recipient()),
                       "-r", str(second.recipient()))
    ciphertext = run(argv, b"two readers")
    assert tipbox_decrypt([second], ciphertext) == b"two readers"
    assert tipbox_decrypt([first], ciphertext) == b"two readers"


def test_typage_mixed_pq_and_classic_file_decrypts_with_tipbox(node: str) -> None:
    """tipbox refuses to write such files but must read them (issue 2)."""
    pq, classic = HybridIdentity.generate(), X25519Identity.generate()
    argv = node_script(node, "encrypt.mjs", "-r", str(pq.recipient()),
                       "-r", str(classic.recipient()))
    ciphertext = run(argv, b"mixed")
    assert tipbox_decrypt([classic], ciphertext) == b"mixed"
    assert tipbox_decrypt([pq], ciphertext) == b"mixed"


@pytest.mark.parametrize("armor", [False, True], ids=["binary", "armor"])
def test_passphrase_files_with_typage(node: str, armor: bool) -> None:
    data = plaintext(65536)
    ours = encrypt([ScryptRecipient(PASSPHRASE, work_factor=12)], data, armor=armor)
    assert run(node_script(node, "decrypt.mjs", "--passphrase"), ours, env=node_env()) == data
    flags = ["--armor"] if armor else []
    argv = node_script(node, "encrypt.mjs", "--passphrase", "--work-factor", "12", *flags)
    theirs = run(argv, data, env=node_env())
    assert tipbox_decrypt([ScryptIdentity(PASSPHRASE)], theirs) == data
