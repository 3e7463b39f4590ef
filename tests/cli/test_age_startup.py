"""``python -m tipbox age`` starts fast: it loads the age tool and nothing of the server.

Checked on real processes with ``python -X importtime``, which names every
module a run imports. The age tool goes straight to its own group
(:func:`tipbox.cli.main`), so it must also answer exactly as it does when
reached through the whole command tree (``python -m tipbox --data-dir X age``).
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


def imported(*args: str, stdin: bytes = b"") -> set[str]:
    """Every module ``python -m tipbox ARGS`` imports (it must succeed)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "tipbox", *args],
                            input=stdin, capture_output=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$",
                       result.stderr.decode(), flags=re.MULTILINE)
    assert "tipbox.cli.age" in names
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
    plain.write_bytes(b"x" * 3_000_000)  # past one 1 MiB run: the worker threads start too
    encrypting = imported("age", "encrypt", "-i", str(key_file), "-o", str(sealed), str(plain))
    decrypting = imported("age", "decrypt", "-i", str(key_file), "-o", str(tmp_path / "out"),
                          str(sealed))
    assert (tmp_path / "out").read_bytes() == plain.read_bytes()
    for modules in (encrypting, decrypting):
        assert loaded(modules, SERVER_MODULES) == []
        assert loaded(modules, CLI_MODULES) == []


@pytest.mark.parametrize("args", [["age", "--help"], ["age", "keygen"]])
def test_help_and_keygen_load_nothing_of_the_server(args: list[str]) -> None:
    assert loaded(imported(*args), SERVER_MODULES) == []


def run_tipbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tipbox", *args], capture_output=True,
                          text=True, cwd=ROOT, check=False)


@pytest.mark.parametrize("args", [
    ["-h"], ["encrypt", "--help"], ["decrypt", "-h"], ["keygn"], ["encrypt", "--bogus"],
    ["decrypt", "-i", "/nonexistent/key.txt", "/nonexistent/file.age"],
])
def test_the_fast_start_answers_as_the_whole_command_tree_does(
    args: list[str], tmp_path: Path
) -> None:
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
