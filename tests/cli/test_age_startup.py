"""``python -m tipbox age`` starts fast: it loads the age tool and nothing of the server.

Checked on real processes with ``python -X importtime``, which names every
module a run imports. The age tool goes straight to its own parser
(:mod:`tipbox.cli.age_args`), so it must also answer exactly as it does when
reached through the whole command tree (``python -m tipbox --data-dir X age``).
Encrypting and decrypting load neither click nor what only another kind of
key or the type checker needs (:data:`NOT_ON_THE_FAST_PATH`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tipbox.crypto import X25519Identity

ROOT = Path(__file__).resolve().parents[2]
#: Modules the offline tool never needs: the web and service layers and their libraries.
SERVER_MODULES = ("flask", "werkzeug", "jinja2", "flask_wtf", "wtforms", "argon2", "sqlite3",
                  "gunicorn", "tipbox.services", "tipbox.web", "tipbox.source",
                  "tipbox.reviewer", "tipbox.store", "tipbox.config")
#: Not needed either, for encrypting and decrypting: the rest of the command line.
CLI_MODULES = ("tipbox.cli.root", "tipbox.cli.instance_dirs", "tipbox.cli.groups", "pathlib")
#: What encrypting or decrypting with X25519 keys must not load (each costs milliseconds):
#: click and the group it would build, typing and what dataclasses import, the
#: thread pool of concurrent.futures, cryptography's public modules (the core takes
#: its primitives from the bindings), ML-KEM and HPKE, scrypt, ASCII armor's regex.
NOT_ON_THE_FAST_PATH = ("click", "tipbox.cli.age", "tipbox.cli.failures", "tipbox.errors",
                        "typing", "dataclasses", "inspect", "concurrent",
                        "cryptography.hazmat.primitives", "cryptography.hazmat.backends",
                        "cryptography.utils", "tipbox.crypto.hybrid", "tipbox.crypto.scrypt",
                        "tipbox.crypto.interfaces", "re", "base64", "enum")


def imported(*args: str, stdin: bytes = b"") -> set[str]:
    """Every module ``python -m tipbox ARGS`` imports (it must succeed)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "tipbox", *args],
                            input=stdin, capture_output=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$",
                       result.stderr.decode(), flags=re.MULTILINE)
    assert "tipbox.cli.age_tool" in names  # the tool itself ran
    return set(names)


def loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "key.txt"
    path.write_text(f"{X25519Identity.generate()}\n")
    return path


def test_encrypt_and_decrypt_load_nothing_of_the_server(key_file: Path, tmp_path: Path) -> None:
    plain, sealed = tmp_path / "plain", tmp_path / "plain.age"
    data = b"x" * 3_000_000  # several runs of 512 KiB
    plain.write_bytes(data)
    encrypting = imported("age", "encrypt", "-i", str(key_file), "-o", str(sealed), str(plain))
    decrypting = imported("age", "decrypt", "-i", str(key_file), "-o", str(tmp_path / "out"),
                          str(sealed))
    # From a pipe, whose length is unknown, the worker threads start too.
    piped = imported("age", "decrypt", "-i", str(key_file), stdin=sealed.read_bytes())
    assert (tmp_path / "out").read_bytes() == data
    for modules in (encrypting, decrypting, piped):
        assert loaded(modules, SERVER_MODULES) == []
        assert loaded(modules, CLI_MODULES) == []
        assert loaded(modules, NOT_ON_THE_FAST_PATH) == []
    assert "threading" in piped
    # A file below age_tool.THREADS_FROM is worked on one thread: none starts.
    assert "threading" not in encrypting | decrypting


def test_post_quantum_keys_load_ml_kem_but_not_click(tmp_path: Path) -> None:
    key, plain, sealed = tmp_path / "pq.txt", tmp_path / "plain", tmp_path / "plain.age"
    plain.write_bytes(b"tip")
    generating = imported("age", "keygen", "--pq", "-o", str(key))
    recipient = key.read_text().splitlines()[1].removeprefix("# public key: ")
    encrypting = imported("age", "encrypt", "-r", recipient, "-o", str(sealed), str(plain))
    decrypting = imported("age", "decrypt", "-i", str(key), "-o", str(tmp_path / "out"),
                          str(sealed))
    assert (tmp_path / "out").read_bytes() == b"tip"
    for modules in (generating, encrypting, decrypting):
        assert "tipbox.crypto.hybrid" in modules
        assert loaded(modules, ("click", "tipbox.crypto.scrypt", "concurrent")) == []


def test_armor_and_small_files_load_only_what_they_need(key_file: Path) -> None:
    """Armor brings its regex; a payload of one run starts no thread."""
    recipient = X25519Identity(bytes(32)).recipient()  # any key will do for encrypting
    modules = imported("age", "encrypt", "-a", "-r", str(recipient), stdin=b"x" * 1000)
    assert "tipbox.crypto.armor" in modules
    assert loaded(modules, ("click", "threading", "queue", "tipbox.crypto.hybrid")) == []


@pytest.mark.parametrize("args", [["age", "--help"], ["age", "keygen"]])
def test_help_and_keygen_load_nothing_of_the_server(args: list[str]) -> None:
    assert loaded(imported(*args), SERVER_MODULES) == []


def test_help_comes_from_click_and_keygen_does_not() -> None:
    assert "click" in imported("age", "--help")
    assert loaded(imported("age", "keygen"), ("click", "tipbox.crypto.hybrid")) == []


def run_tipbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tipbox", *args], capture_output=True,
                          text=True, cwd=ROOT, check=False)


@pytest.mark.parametrize("args", [
    ["-h"], ["encrypt", "--help"], ["decrypt", "-h"], ["keygn"], ["encrypt", "--bogus"],
    ["decrypt", "-i", "/nonexistent/key.txt", "/nonexistent/file.age"],
    [], ["--help"], ["-x", "keygen"], ["keygen", "--pq=yes"], ["keygen", "extra"],
    ["recipient"], ["recipient", "-i"], ["recipient", "-i", "{key}"], ["recipient", "-i{key}"],
    ["recipient", "--identity={key}", "-h"], ["encrypt", "-pa", "-r", "age1bad"],
    ["encrypt", "-r", "age1bad", "--", "-in"], ["encrypt", "-R", "-", "a", "b"],
    ["encrypt", "-pr"], ["encrypt", "-ph"], ["decrypt"], ["decrypt", "-i", "{key}", "--out"],
    ["decrypt", "-i{key}", "-o/nonexistent/out", "/nonexistent/in"],
])
def test_the_fast_start_answers_as_the_whole_command_tree_does(
    args: list[str], tmp_path: Path, key_file: Path
) -> None:
    args = [arg.format(key=key_file) for arg in args]
    direct = run_tipbox("age", *args)
    through_root = run_tipbox("--data-dir", str(tmp_path), "age", *args)
    assert (direct.returncode, direct.stdout, direct.stderr) == (
        through_root.returncode, through_root.stdout, through_root.stderr)
    assert "Traceback" not in direct.stderr


def test_the_other_commands_still_go_through_the_root_group() -> None:
    result = run_tipbox("--help")
    assert result.returncode == 0
    assert "age" in result.stdout
    assert "reviewers" in result.stdout
