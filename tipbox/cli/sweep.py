"""``python -m tipbox sweep``: the hourly sweep of file times, the blob pool and leftovers.

Run every hour by ``deploy/tipbox-sweep.timer`` and by ``python -m tipbox
run`` (at start, then hourly in the background). What it does is
:meth:`tipbox.store.Store.sweep`: remove temporaries of dead writers and
crash orphans past ``TIPBOX_ORPHAN_GRACE_SECONDS``, refill the blob pool to
``TIPBOX_BLOB_POOL_SIZE``, and set the access and modification times of
every file and directory under the data directory to the current hour.

It prints one line of counts (never a name or a content). Exit status 1 if
a file could not be stamped (another owner: ``doctor`` says which).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import click

from tipbox.cli.failures import fail, one_line_errors
from tipbox.cli.instance_dirs import load_cli_settings
from tipbox.config import Settings
from tipbox.services.ops.doctor import foreign_user
from tipbox.services.wiring import open_instance, reviewers_of
from tipbox.store import SweepReport, hour

__all__ = ["HourlySweep", "describe", "sweep", "sweep_instance"]

HOUR = 3600
#: How long after the hour the background sweep runs (the hour has surely turned).
AFTER_THE_HOUR_SECONDS = 5.0


def sweep_instance(settings: Settings, *, now: float) -> SweepReport:
    """Open the instance, sweep it at ``now`` (see :meth:`~tipbox.store.Store.sweep`), close it.

    Login-throttle rows that no longer count go first, so that a reviewer
    app nobody logs in to keeps no record of the last attempts either.
    """
    instance = open_instance(settings)
    try:
        reviewers_of(instance).forget_expired_attempts(now=now)
        instance.sent_forms.forget_expired(now=now)
        report = instance.store.sweep(now=now)
    except BaseException:
        instance.close()
        raise
    instance.store.close(stamp=report.stamp)
    return report


def describe(report: SweepReport) -> str:
    """One line of counts for a terminal or the journal."""
    when = time.strftime("%Y-%m-%d %H:00 UTC", time.gmtime(report.stamp))
    line = (
        f"sweep: times of {report.stamped} files and directories set to {when}; "
        f"blob pool {report.pool_size} files ({report.pool_added} new); removed "
        f"{report.temporaries_removed} leftovers and {report.orphans_removed} orphans "
        f"({report.orphans_kept} within the grace period kept)"
    )
    if report.unstamped:
        line += f"; {report.unstamped} belong to another user (see `tipbox doctor`)"
    return line


@click.command()
@one_line_errors("unexpected decryption failure")
def sweep() -> None:
    """Set every file time in the data directory to the hour; refill the blob pool.

    Also removes leftovers of dead uploads and crash orphans past
    TIPBOX_ORPHAN_GRACE_SECONDS. Safe while the apps run; run it hourly
    (deploy/tipbox-sweep.timer).
    """
    settings = load_cli_settings()
    reason = foreign_user(settings)
    if reason is not None:
        fail(reason)  # files it created would lock the service out
    report = sweep_instance(settings, now=time.time())
    click.echo(describe(report))
    if report.unstamped:
        raise click.exceptions.Exit(1)


class HourlySweep:
    """The sweep of ``python -m tipbox run``: once at start, then after every hour.

    :meth:`start` sweeps in the calling thread (so the pool is full before
    the servers start), then keeps sweeping a few seconds after each hour
    on a daemon thread until :meth:`stop`. A failed sweep is reported on
    stderr in one line and retried the next hour; it never stops the
    servers.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        report: Callable[[str], None] = lambda line: click.echo(line, err=True),
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._report = report
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tipbox-sweep", daemon=True)

    def start(self) -> None:
        self.sweep_once()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def sweep_once(self) -> SweepReport | None:
        """One sweep now; None (and one line on stderr) if it failed."""
        try:
            report = sweep_instance(self._settings, now=self._clock())
        except Exception as error:  # noqa: BLE001 - a background task must keep going
            self._report(f"sweep failed: {type(error).__name__}: {error}")
            return None
        if report.unstamped:
            self._report(describe(report))
        return report

    def seconds_to_next(self) -> float:
        """Seconds until just after the next hour."""
        now = self._clock()
        return max(0.0, hour(now) + HOUR + AFTER_THE_HOUR_SECONDS - now)

    def _loop(self) -> None:
        while not self._stopping.wait(self.seconds_to_next()):
            self.sweep_once()
