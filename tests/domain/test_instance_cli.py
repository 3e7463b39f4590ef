"""``python -m tipbox init`` and ``export``: output, one-line errors, exact export."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import CHEAP_ARGON2
from tipbox.cli import cli
from tipbox.config import load_settings
from tipbox.services.wiring import open_instance

IDENTITY = re.compile(r"AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]+")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "TIPBOX_DATA_DIR": str(tmp_path / "data"),
        "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
        "TIPBOX_MIN_FREE_BYTES": "0",
        **CHEAP_ARGON2,
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_init_prints_the_recovery_identity_once(env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = run(env, "init")
    assert (code, err) == (0, "")
    identities = IDENTITY.findall(out)
    assert len(identities) == 1
    assert identities[0].startswith("AGE-SECRET-KEY-PQ-1")
    assert "offline" in out
    assert "paper" in out
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert identities[0].encode() not in path.read_bytes()


def test_init_classic(env: dict[str, str]) -> None:
    code, out, _ = run(env, "init", "--classic")
    assert code == 0
    assert "classic X25519" in out
    assert IDENTITY.findall(out)[0].startswith("AGE-SECRET-KEY-1")


def test_second_init_is_one_line_error(env: dict[str, str]) -> None:
    assert run(env, "init")[0] == 0
    code, out, err = run(env, "init")
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert "refusing to overwrite" in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_bad_setting_is_one_line_error(env: dict[str, str]) -> None:
    code, _, err = run({**env, "TIPBOX_MAX_FILES": "lots"}, "init")
    assert code == 1
    assert err == "error: TIPBOX_MAX_FILES must be a whole number\n"


def test_export_with_the_recovery_identity(env: dict[str, str], tmp_path: Path) -> None:
    _, out, _ = run(env, "init")
    identity_file = tmp_path / "recovery.key"
    identity_file.write_text("# recovery\n" + IDENTITY.findall(out)[0] + "\n")
    instance = open_instance(load_settings(env))
    draft = instance.submissions.start(None)
    draft.add_message("hello")
    upload = draft.open_file("doc.odt", "application/vnd.oasis.opendocument.text")
    upload.write(b"\x00\x01binary\xff")
    upload.close()
    designation = draft.commit().designation
    instance.close()

    code, out, err = run(
        env, "export", "--identity", str(identity_file), "--out", str(tmp_path / "x")
    )
    assert (code, err) == (0, "")
    assert "Exported 2 items from 1 sources" in out
    folder = tmp_path / "x" / designation
    assert (folder / "message-1.txt").read_bytes() == b"hello"
    assert (folder / "doc.odt").read_bytes() == b"\x00\x01binary\xff"

    code, out, err = run(env, "export", "--encrypted", "--out", str(tmp_path / "y"))
    assert code == 0
    assert len(os.listdir(tmp_path / "y" / designation)) == 3


def test_export_errors_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    code, _, err = run(env, "export", "--out", str(tmp_path / "o"))
    assert code == 1
    assert err == "error: --identity is required unless --encrypted is given\n"
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    code, _, err = run(env, "export", "--identity", str(bad), "--out", str(tmp_path / "o"))
    assert code == 1
    assert err.startswith("error: ")
    assert err.count("\n") == 1  # not initialised yet, or a bad key: either way one line


def test_module_entry_point(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tipbox", "init"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert len(IDENTITY.findall(result.stdout)) == 1
