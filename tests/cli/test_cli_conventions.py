"""The command line's conventions: ``-h`` everywhere, suggestions, where the instance is.

Most tests drive ``cli`` through click's CliRunner; the last ones run
``python -m tipbox`` for real (help, a typo, ``--data-dir``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from tests.conftest import CHEAP_ARGON2
from tipbox.cli import cli
from tipbox.cli.instance_dirs import child_environment

ROOT = Path(__file__).resolve().parents[2]
HINT = "(set TIPBOX_DATA_DIR or pass --data-dir)"


def command_paths(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group below ``group``, as the words that name it."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*path, name))


ALL_PATHS = [(), *command_paths(cli)]


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), prog_name="tipbox")


def assert_one_line(result: Result, exit_code: int, *fragments: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment naming an empty data directory (and cheap Argon2 for ``init``)."""
    (tmp_path / "empty").mkdir()
    return {
        "TIPBOX_DATA_DIR": str(tmp_path / "empty"),
        "TIPBOX_KEYS_DIR": str(tmp_path / "empty-keys"),
        "TIPBOX_MIN_FREE_BYTES": "0",
        **CHEAP_ARGON2,
    }


# -- help ------------------------------------------------------------------------------


def test_the_tree_has_the_nested_groups() -> None:
    assert {("reviewers", "add"), ("keys", "rotate"), ("settings", "set"), ("age", "keygen")} \
        <= set(ALL_PATHS)


@pytest.mark.parametrize("path", ALL_PATHS, ids=lambda path: " ".join(path) or "tipbox")
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_works_on_every_command_and_group(path: tuple[str, ...], flag: str) -> None:
    result = invoke(*path, flag)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")
    assert "-h, --help" in result.stdout


# -- mistyped commands -----------------------------------------------------------------


@pytest.mark.parametrize(("args", "typo", "meant", "group"), [
    (["reviwers"], "reviwers", "reviewers", "tipbox"),
    (["reviewers", "lst"], "lst", "list", "tipbox reviewers"),
    (["keys", "rotat"], "rotat", "rotate", "tipbox keys"),
    (["settings", "sett"], "sett", "set", "tipbox settings"),
])
def test_a_mistyped_command_gets_a_suggestion(
    args: list[str], typo: str, meant: str, group: str
) -> None:
    result = invoke(*args)
    assert_one_line(result, 2, f"No such command '{typo}'. Did you mean '{meant}'?",
                    f"'{group} --help'")


def test_a_command_unlike_any_gets_no_suggestion() -> None:
    result = invoke("zzzzzz")
    assert_one_line(result, 2, "No such command 'zzzzzz'.")
    assert "Did you mean" not in result.stderr


def test_age_keeps_its_exit_status_but_suggests_too() -> None:
    """The offline tool fails with status 1 on every error, like age."""
    assert_one_line(invoke("age", "keygn"), 1, "Did you mean 'keygen'?")


# -- where the instance is --------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["reviewers", "list"],
    ["reviewers", "add", "alice"],
    ["keys", "list"],
    ["settings"],
    ["audit"],
    ["export", "--encrypted", "--out", "exported"],
    ["backup", "-"],
    ["sweep"],
])
def test_a_missing_instance_names_the_variable_and_the_flag(
    args: list[str], env: dict[str, str]
) -> None:
    empty = env["TIPBOX_DATA_DIR"]
    assert_one_line(invoke(*args, env=env), 1, f"no initialised instance in {empty}", HINT)


def test_doctor_names_the_variable_and_the_flag(env: dict[str, str]) -> None:
    result = invoke("doctor", env=env)
    assert result.exit_code == 1
    line = f"problem (initialised): no initialised instance in {env['TIPBOX_DATA_DIR']} {HINT}"
    assert line in result.stdout.splitlines()


def test_doctor_gives_the_hint_only_for_a_missing_instance(env: dict[str, str]) -> None:
    assert invoke("init", env=env).exit_code == 0
    assert "TIPBOX_DATA_DIR" not in invoke("doctor", env=env).stdout


def test_the_options_override_the_environment(env: dict[str, str], tmp_path: Path) -> None:
    data, keys = tmp_path / "other-data", tmp_path / "other-keys"
    result = invoke("--data-dir", str(data), "--keys-dir", str(keys), "init", env=env)
    assert result.exit_code == 0, result.output
    assert f"tipbox initialised in {data} (public keys in {keys})" in result.stdout
    assert (data / "secrets.json").is_file()
    assert (keys / "newsroom.txt").is_file()
    assert list(Path(env["TIPBOX_DATA_DIR"]).iterdir()) == []
    listed = invoke("--data-dir", str(data), "reviewers", "list", env=env)
    assert listed.exit_code == 0, listed.output
    assert "admin" in listed.stdout
    assert invoke("reviewers", "list", env=env).exit_code == 1  # the environment's: empty


def test_a_relative_data_dir_is_made_absolute(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("--data-dir", "here", "keys", "list", env=env)
    assert f"no initialised instance in {tmp_path / 'here'} " in result.stderr


def test_the_servers_of_run_get_the_options_directories(tmp_path: Path) -> None:
    with cli.make_context("tipbox", ["run"]):
        assert child_environment() is None  # unchanged: the servers inherit it
    with cli.make_context("tipbox", ["--keys-dir", str(tmp_path), "run"]):
        environment = child_environment()
    assert environment is not None
    assert environment["TIPBOX_KEYS_DIR"] == str(tmp_path)


# -- a real process ---------------------------------------------------------------------


def run_tipbox(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tipbox", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_process_help() -> None:
    result = run_tipbox("-h")
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: python -m tipbox [OPTIONS] COMMAND")
    for option in ("--data-dir", "--keys-dir", "-h, --help"):
        assert option in result.stdout


def test_process_typo() -> None:
    result = run_tipbox("reviwers")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == ("error: No such command 'reviwers'. Did you mean 'reviewers'?"
                             " (see 'python -m tipbox --help')\n")


def test_process_data_dir(tmp_path: Path) -> None:
    result = run_tipbox("--data-dir", str(tmp_path), "reviewers", "list")
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: no initialised instance in {tmp_path} ")
    assert result.stderr.endswith(f"{HINT}\n")
    assert result.stderr.count("\n") == 1
