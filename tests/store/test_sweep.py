"""The hourly sweep: no file keeps a submission's time; leftovers and crash orphans go.

The main test submits at a known minute with real file writes, sweeps, and
looks at every file and directory under the data directory.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import make_test_settings
from tests.store.inode_times import HOUR, birth_time, every_path, on_the_hour
from tipbox.cli import cli
from tipbox.cli.sweep import HourlySweep, describe
from tipbox.config import Settings
from tipbox.errors import ConfigError
from tipbox.services.instance import init_instance
from tipbox.services.wiring import Instance, open_instance
from tipbox.store import Store, hour
from tipbox.store.blobs import BlobDir, list_directory
from tipbox.store.db import open_database


def submit(instance: Instance) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("the tip")
    upload = draft.open_file("scan.pdf", "application/pdf")
    upload.write(b"%PDF-" + b"x" * 200_000)
    upload.close()
    draft.commit(want_codename=True)


def item_blobs(settings: Settings) -> list[Path]:
    database = open_database(settings)
    try:
        with database.reading() as conn:
            rows = conn.execute("SELECT blob FROM items").fetchall()
    finally:
        database.close()
    return [settings.blobs_dir / row[0] for row in rows]


@pytest.mark.parametrize("blobs_elsewhere", [False, True], ids=["blobs-in-data", "blobs-dir"])
def test_no_file_keeps_the_minute_of_a_submission(
    settings: Settings, blobs_elsewhere: bool, tmp_path: Path
) -> None:
    """Also with ``TIPBOX_BLOBS_DIR`` outside the data directory (one shared by hosts)."""
    if blobs_elsewhere:
        settings = dataclasses.replace(settings, shared_blobs_dir=tmp_path / "shared" / "blobs")
    init_instance(settings)
    submitted_at = hour(time.time()) + 23 * 60 + 17  # the known minute: :23 of this hour
    minute = range(submitted_at - 17, submitted_at + 43)
    instance = open_instance(settings, now=lambda: submitted_at)  # fills the blob pool
    pool = instance.store.blobs
    pool_births = {birth_time(pool.pool / name) for name in pool.pool_names()}
    time.sleep(0.1)
    submit_started = time.time()
    submit(instance)
    submit_done = time.time()
    time.sleep(0.1)
    sweep_started = time.time()
    report = instance.store.sweep(now=submitted_at + HOUR)
    try:
        assert report.stamp == hour(submitted_at) + HOUR
        assert report.unstamped == 0
        paths = every_path(settings.data_dir)
        if blobs_elsewhere:
            paths += every_path(tmp_path / "shared")[1:]  # not the mount point itself
        assert report.stamped == len(paths)
        for path in paths:
            info = os.lstat(path)
            for name, value in (("mtime", info.st_mtime_ns), ("atime", info.st_atime_ns)):
                assert on_the_hour(value), f"{path}: {name}"
                assert value // 10**9 not in minute, f"{path}: {name}"
            # The change time is the sweep's, after the submission had finished.
            assert info.st_ctime > submit_done, path
            assert info.st_ctime >= sweep_started - 0.05, path
        blobs = item_blobs(settings)
        assert len(blobs) == 3  # message, file, manifest
        for blob in blobs:
            born = birth_time(blob)
            if born is None:
                continue  # this file system keeps no birth time
            assert born in pool_births, blob  # made with the pool, before the upload
            assert born < submit_started - 0.05, blob
    finally:
        instance.close()


def test_the_sweep_refills_the_pool_and_removes_dead_temporaries(settings: Settings) -> None:
    init_instance(settings)
    instance = open_instance(settings)
    try:
        store = instance.store
        assert len(store.blobs.pool_names()) == settings.blob_pool_size
        submit(instance)
        writer = store.blobs.writer()
        writer.write(b"half an upload")
        writer.flush()
        os.close(writer._fd)  # its worker was killed
        report = store.sweep(now=time.time())
        assert report.temporaries_removed == 1
        assert report.pool_added == 4  # three items and the dead upload
        assert report.pool_size == settings.blob_pool_size
        assert [name for name in list_directory(store.blobs.path) if name.startswith(".")] == []
    finally:
        instance.close()


def test_the_pool_size_is_a_setting(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path, TIPBOX_BLOB_POOL_SIZE="7")
    assert settings.blob_pool_size == 7
    init_instance(settings)
    instance = open_instance(settings)
    instance.close()
    assert len(BlobDir(settings.blobs_dir, min_free_bytes=0).pool_names()) == 7
    with pytest.raises(ConfigError, match="TIPBOX_BLOB_POOL_SIZE"):
        make_test_settings(tmp_path, TIPBOX_BLOB_POOL_SIZE="0")


# -- crash orphans --------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(
        tmp_path / "data" / "tipbox.db", tmp_path / "data" / "blobs", min_free_bytes=0,
        pool_size=4, orphan_grace_seconds=600,
    )
    yield opened
    opened.close()


def orphan(store: Store) -> Path:
    """A blob committed by a worker that died before recording it."""
    writer = store.blobs.writer()
    writer.write(b"ciphertext nobody can ever read")
    return store.blobs.path / writer.commit()


def test_an_orphan_within_the_grace_period_is_kept_and_untouched(store: Store) -> None:
    blob = orphan(store)
    before = os.stat(blob)
    report = store.sweep(now=before.st_ctime + 599)
    assert (report.orphans_removed, report.orphans_kept) == (0, 1)
    after = os.stat(blob)
    # Not stamped: its change time still measures its age (and its other
    # times are the hour of its commit already).
    assert after.st_ctime_ns == before.st_ctime_ns
    assert on_the_hour(after.st_mtime_ns)
    assert on_the_hour(after.st_atime_ns)


def test_an_orphan_past_the_grace_period_is_removed(store: Store) -> None:
    blob = orphan(store)
    report = store.sweep(now=os.stat(blob).st_ctime + 601)
    assert (report.orphans_removed, report.orphans_kept) == (1, 0)
    assert not blob.exists()


def test_a_recorded_blob_is_never_an_orphan(settings: Settings) -> None:
    init_instance(settings)
    instance = open_instance(settings)
    try:
        submit(instance)
        report = instance.store.sweep(now=time.time() + 30 * 24 * HOUR)
        assert (report.orphans_removed, report.orphans_kept) == (0, 0)
        assert all(blob.exists() for blob in item_blobs(settings))
    finally:
        instance.close()


def test_a_stamped_orphan_is_removed_one_grace_period_after_the_stamp(store: Store) -> None:
    """A blob the sweep stamped (it had a row then) and whose row went since."""
    blob = orphan(store)
    os.utime(blob, (0, 0))  # as a sweep would: the change time is now the stamp's
    stamped = os.stat(blob).st_ctime
    assert store.remove_orphans(now=stamped + 599) == 0
    assert store.remove_orphans(now=stamped + 601) == 1


def test_the_grace_period_is_a_setting(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path, TIPBOX_ORPHAN_GRACE_SECONDS="120")
    assert settings.orphan_grace_seconds == 120
    init_instance(settings)
    instance = open_instance(settings)
    try:
        assert instance.store.orphan_grace_seconds == 120
        blob = orphan(instance.store)
        changed = os.stat(blob).st_ctime
        assert instance.store.sweep(now=changed + 100).orphans_removed == 0
        assert instance.store.sweep(now=changed + 121).orphans_removed == 1
    finally:
        instance.close()
    assert make_test_settings(tmp_path).orphan_grace_seconds == 3600
    with pytest.raises(ConfigError, match="TIPBOX_ORPHAN_GRACE_SECONDS"):
        make_test_settings(tmp_path, TIPBOX_ORPHAN_GRACE_SECONDS="59")


# -- what the sweep touches -------------------------------------------------------


def test_links_are_stamped_themselves_never_their_targets(store: Store, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    os.utime(outside, (1234, 1234))
    link = store.data_dir / "link"
    link.symlink_to(outside)
    (store.data_dir / "dirlink").symlink_to(tmp_path)
    report = store.sweep(now=time.time())
    assert os.stat(outside).st_mtime == 1234
    assert on_the_hour(os.lstat(link).st_mtime_ns)
    assert on_the_hour(os.lstat(store.data_dir / "dirlink").st_mtime_ns)
    assert report.unstamped == 0


def test_files_of_another_owner_are_counted_not_fatal(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = store.data_dir / "left-by-root"
    foreign.write_bytes(b"")
    real_utime = os.utime

    def refuse(path: object, *args: object, **kwargs: object) -> None:
        if str(path) == str(foreign):
            raise PermissionError(1, "Operation not permitted")
        real_utime(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "utime", refuse)
    report = store.sweep(now=time.time())
    assert report.unstamped == 1
    assert report.stamped > 0
    assert "1 belong to another user" in describe(report)


# -- command line and `run` --------------------------------------------------------


def env_of(settings: Settings) -> dict[str, str]:
    return {
        "TIPBOX_DATA_DIR": str(settings.data_dir),
        "TIPBOX_KEYS_DIR": str(settings.keys_dir),
        "TIPBOX_MIN_FREE_BYTES": "0",
        "TIPBOX_BLOB_POOL_SIZE": "300",
        **({"TIPBOX_DATABASE_URL": settings.database_url} if settings.database_url else {}),
    }


def test_cli_sweep(settings: Settings) -> None:
    init_instance(settings)
    (settings.data_dir / "notify.json").write_text("{}")
    result = CliRunner().invoke(cli, ["sweep"], env=env_of(settings))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sweep: times of ")
    assert "blob pool 300 files" in result.output  # init made 256
    for path in every_path(settings.data_dir):  # even after its connection closed
        info = os.lstat(path)
        assert on_the_hour(info.st_mtime_ns), path
        assert on_the_hour(info.st_atime_ns), path


def test_cli_sweep_needs_an_instance(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path)
    result = CliRunner().invoke(cli, ["sweep"], env=env_of(settings))
    assert result.exit_code == 1
    assert result.output.startswith("error: ")


@pytest.mark.skipif(os.geteuid() != 0, reason="an instance of another user needs root")
def test_cli_sweep_refuses_an_instance_of_another_user(settings: Settings) -> None:
    init_instance(settings)
    os.chown(settings.data_dir, 4242, 4242)
    pool = BlobDir(settings.blobs_dir, min_free_bytes=0)
    for name in pool.pool_names():
        os.unlink(pool.pool / name)
    result = CliRunner().invoke(cli, ["sweep"], env=env_of(settings))
    assert result.exit_code == 1
    assert "belongs to user 4242" in result.output
    assert pool.pool_names() == []  # it created nothing a root-owned file could lock out


def test_run_sweeps_at_start_then_just_after_every_hour(settings: Settings) -> None:
    init_instance(settings)
    clock = [hour(time.time()) + 25 * 60.0]
    lines: list[str] = []
    sweeper = HourlySweep(settings, clock=lambda: clock[0], report=lines.append)
    assert sweeper.seconds_to_next() == 35 * 60 + 5
    clock[0] += 35 * 60 + 5
    assert sweeper.seconds_to_next() == HOUR
    report = sweeper.sweep_once()
    assert report is not None
    assert report.stamp == hour(clock[0])
    assert lines == []  # quiet when all is well


def test_run_keeps_going_when_a_sweep_fails(tmp_path: Path) -> None:
    lines: list[str] = []
    sweeper = HourlySweep(make_test_settings(tmp_path), report=lines.append)
    sweeper.start()  # no instance here: the first sweep fails
    sweeper.stop()
    assert sweeper.sweep_once() is None
    assert len(lines) == 2
    assert lines[0].startswith("sweep failed: NotInitialised")
