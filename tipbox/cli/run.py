"""``python -m tipbox run`` (``make run``): initialise on first start, then serve.

Starts one gunicorn process per app (today: the source app on
``settings.source_bind``; the reviewer app is one more entry in
:data:`SERVERS`). Each runs in its own session so that Ctrl-C reaches only
this command, which then stops every server gracefully (SIGTERM, then
SIGKILL after a grace period) and exits. If one server dies, the others are
stopped too.

It also runs the hourly sweep (:mod:`tipbox.cli.sweep`): once before the
servers start, then a few seconds after every hour while they run, so that a
local instance keeps no exact file times either.

The recovery identity printed by the first-start ``init`` is shown once, on
this terminal only; nothing here writes it anywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from tipbox.cli.instance import init
from tipbox.cli.instance_dirs import child_environment, load_cli_settings
from tipbox.cli.sweep import HourlySweep
from tipbox.services.instance import is_initialised

ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 40.0
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Server:
    """One gunicorn process: a name for messages and its config file."""

    name: str
    config: Path

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "--config", str(self.config)]


SERVERS: tuple[Server, ...] = (
    Server("source", ROOT / "deploy" / "gunicorn_source.py"),
    Server("reviewer", ROOT / "deploy" / "gunicorn_reviewer.py"),
)


@click.command()
def run() -> None:
    """Serve tipbox (initialising the instance on first start); Ctrl-C stops it."""
    settings = load_cli_settings()
    if not is_initialised(settings):
        click.echo("First start: initialising this instance.\n")
        click.get_current_context().invoke(init)
    sweeper = HourlySweep(settings)
    sweeper.start()
    click.echo(f"Source app on http://{settings.source_bind}/ (Ctrl-C to stop).")
    click.echo(f"Reviewer app on http://{settings.reviewer_bind}/")
    processes = [_start(server) for server in SERVERS]
    code = 0
    try:
        code = _wait_for_first_exit(processes)
    except KeyboardInterrupt:
        click.echo("\nStopping...")
    finally:
        _stop_all(processes)
        sweeper.stop()
    if code:
        raise click.exceptions.Exit(code)


def _start(server: Server) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        server.command(), cwd=ROOT, env=child_environment(), start_new_session=True
    )


def _wait_for_first_exit(processes: list[subprocess.Popen[bytes]]) -> int:
    """Block until a server exits (or SIGTERM arrives); return its exit status."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    while True:
        for process in processes:
            code = process.poll()
            if code is not None:
                click.echo(f"A server stopped with status {code}; stopping the others.", err=True)
                return code or 1
        time.sleep(POLL_SECONDS)


def _raise_keyboard_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every running server (gunicorn's graceful stop), SIGKILL stragglers."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
