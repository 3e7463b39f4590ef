"""Retention purge (issue 5, "must show"): exactly the expired items go, nothing else changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_kit import cli_env, source_id, submit
from click.testing import CliRunner

from tipbox.cli import cli
from tipbox.config import Settings
from tipbox.services.audit import Audit
from tipbox.services.instance import InitResult
from tipbox.services.instance_settings import SettingsStore
from tipbox.services.ops.retention import DAY_SECONDS, Retention
from tipbox.services.wiring import Instance, open_instance

NOW = 1_900_000_000.0
TABLES = ("meta", "newsroom_keys", "grants", "sources", "submissions", "items", "reviewers",
          "instance_settings")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def timed(settings: Settings, init_result: InitResult, clock: Clock) -> Iterator[Instance]:
    """An instance whose submissions and replies are stamped by ``clock``."""
    opened = open_instance(settings, now=clock)
    yield opened
    opened.close()


def days_ago(clock: Clock, days: float) -> None:
    clock.now = NOW - days * DAY_SECONDS


def snapshot(instance: Instance) -> dict[str, set[tuple[object, ...]]]:
    with instance.store.db.connection() as conn:
        return {table: {tuple(row) for row in conn.execute(f"SELECT * FROM {table}")}  # noqa: S608
                for table in TABLES}


def blobs(instance: Instance) -> set[str]:
    return set(instance.store.blobs.names())


def test_purge_removes_exactly_the_expired_items(timed: Instance, clock: Clock) -> None:
    days_ago(clock, 40)
    old = submit(timed, "old tip", {"old.pdf": b"%PDF old"})
    gone = submit(timed, "old and silent", codename=False)
    days_ago(clock, 20)
    submit(timed, "old source, new tip")  # a second source...
    timed.sources.add_reply(source_id(timed, old.designation), "a recent reply", author="reviewer")
    days_ago(clock, 35)
    timed.sources.add_reply(source_id(timed, old.designation), "an old reply", author="reviewer")
    days_ago(clock, 1)
    fresh = submit(timed, "fresh tip", {"new.pdf": b"%PDF new"})
    clock.now = NOW

    before, files_before = snapshot(timed), blobs(timed)
    with timed.store.db.connection() as conn:
        expired = conn.execute(
            "SELECT id, blob FROM items WHERE created_hour <= ?", (NOW - 35 * DAY_SECONDS,)
        ).fetchall()
    assert len(expired) == 5  # old: message, file, manifest, reply; gone: message
    retention = Retention(timed.store, audit=Audit(timed.store.db))

    preview = retention.preview(30, now=NOW)
    plan = retention.purge(30, now=NOW)

    assert plan == preview
    assert (plan.items, plan.submissions, plan.replies) == (5, 2, 1)
    assert plan.sources == (gone.designation,)  # the old source keeps its recent reply
    after = snapshot(timed)
    removed_items = {row for row in before["items"] if row[0] in {r["id"] for r in expired}}
    assert after["items"] == before["items"] - removed_items
    assert len(before["submissions"] - after["submissions"]) == 2
    assert after["submissions"] <= before["submissions"]
    assert {row[1] for row in before["sources"] - after["sources"]} == {gone.designation}
    for table in ("meta", "newsroom_keys", "grants", "reviewers", "instance_settings"):
        assert after[table] == before[table], table
    assert blobs(timed) == files_before - {row["blob"] for row in expired}
    assert fresh.designation in {row[1] for row in after["sources"]}
    # The next purge at the same time has nothing to do.
    assert retention.purge(30, now=NOW).empty


def test_retention_off_removes_nothing(timed: Instance, clock: Clock) -> None:
    days_ago(clock, 4000)
    submit(timed)
    before = snapshot(timed)
    plan = Retention(timed.store, audit=Audit(timed.store.db)).purge(0, now=NOW)
    assert plan.cut is None
    assert plan.empty
    assert snapshot(timed) == before


def test_an_item_is_kept_until_it_is_certainly_older_than_the_period(
    timed: Instance, clock: Clock,
) -> None:
    clock.now = NOW - 30 * DAY_SECONDS  # stamped at the hour, up to an hour earlier
    submit(timed)
    retention = Retention(timed.store, audit=Audit(timed.store.db))
    assert retention.preview(30, now=NOW).empty
    assert retention.preview(30, now=NOW + 3600).items == 1


def test_purge_command_uses_the_retention_setting(
    timed: Instance, clock: Clock, settings: Settings,
) -> None:
    import time

    clock.now = time.time() - 10 * DAY_SECONDS
    submit(timed, codename=False)
    runner = CliRunner()
    off = runner.invoke(cli, ["purge"], env=cli_env(settings))
    assert off.exit_code == 0
    assert "Retention is off" in off.output
    store = SettingsStore(timed.store.db, settings, audit=Audit(timed.store.db))
    store.update({"retention_days": "7"})
    dry = runner.invoke(cli, ["purge", "--dry-run"], env=cli_env(settings))
    assert dry.exit_code == 0, dry.output
    assert "Would remove 1 items" in dry.output
    assert len(blobs(timed)) == 1
    done = runner.invoke(cli, ["purge"], env=cli_env(settings))
    assert done.exit_code == 0, done.output
    assert "Removed 1 items" in done.output
    assert blobs(timed) == set()


@pytest.mark.sqlite_only  # PostgreSQL keeps dead rows until vacuumed: docs/architecture.md 7
def test_shredded_headers_are_not_left_in_the_database_file(
    timed: Instance, clock: Clock, settings: Settings,
) -> None:
    days_ago(clock, 40)
    submit(timed, codename=False)
    with timed.store.db.connection() as conn:
        header = bytes(conn.execute("SELECT header FROM items").fetchone()[0])
    Retention(timed.store, audit=Audit(timed.store.db)).purge(1, now=NOW)
    raw = Path(settings.database_path).read_bytes()
    wal = Path(str(settings.database_path) + "-wal")
    assert header[-40:] not in raw
    assert not wal.exists() or header[-40:] not in wal.read_bytes()
    with sqlite3.connect(settings.database_path) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0
