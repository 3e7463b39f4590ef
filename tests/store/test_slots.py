"""Slots shared across processes and threads (real child processes hold them); low-priority work."""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipbox.errors import Busy, StorageUnavailable
from tipbox.passwords import Argon2Params
from tipbox.services.sources.low_priority import LOWEST, LowPriorityThreads
from tipbox.services.sources.returning import CodenameKdf
from tipbox.store.db import Database
from tipbox.store.slots import SlotPool

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(derandomize=True, deadline=None, max_examples=60,
                    suppress_health_check=list(HealthCheck))
CODENAME = "one two three four five six seven"

#: A child process that takes one slot of a pool, says so, and holds it until killed.
_HOLDER = """
import sys, time
from pathlib import Path
from tipbox.store.slots import SlotPool
pool = SlotPool(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
with pool.slot(wait_seconds=10):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
        child.wait()


def hold_in_child(
    started: list[subprocess.Popen[str]], directory: Path, name: str, size: int
) -> subprocess.Popen[str]:
    """Start a process that holds one slot of the pool; return once it holds it."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(directory), name, str(size)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    started.append(child)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_slot_held_by_another_process_is_not_free_here(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    pool = SlotPool(tmp_path, "logins", 1)
    hold_in_child(holders, tmp_path, "logins", 1)
    assert pool.held() == 1
    started = time.monotonic()
    with pytest.raises(Busy), pool.slot(wait_seconds=0.2):
        pass
    assert time.monotonic() - started >= 0.2


def test_slots_are_counted_across_processes(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    pool = SlotPool(tmp_path, "work", 3)
    hold_in_child(holders, tmp_path, "work", 3)
    hold_in_child(holders, tmp_path, "work", 3)
    assert pool.held() == 2
    with pool.slot(wait_seconds=0):  # the third and last slot
        assert pool.held() == 3
        with pytest.raises(Busy), pool.slot(wait_seconds=0):
            pass
    assert pool.held() == 2


def test_a_killed_holder_frees_its_slot(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    pool = SlotPool(tmp_path, "logins", 1)
    child = hold_in_child(holders, tmp_path, "logins", 1)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with pool.slot(wait_seconds=5):
        assert pool.held() == 1
    assert pool.held() == 0


def test_a_waiter_gets_the_slot_as_soon_as_it_is_freed(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    pool = SlotPool(tmp_path, "logins", 1)
    child = hold_in_child(holders, tmp_path, "logins", 1)
    threading.Timer(0.3, child.kill).start()
    started = time.monotonic()
    with pool.slot(wait_seconds=10):
        waited = time.monotonic() - started
    assert 0.25 <= waited < 3


def test_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    pool = SlotPool(tmp_path, "work", 2)
    inside = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        with pool.slot(wait_seconds=30):
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 2
    assert pool.held() == 0


def test_login_flood_in_other_processes_leaves_first_submissions_their_slots(
    tmp_path: Path, holders: list[subprocess.Popen[str]]
) -> None:
    """The login pool is saturated by another worker: a new codename still derives at once."""
    kdf = dataclasses.replace(
        CodenameKdf.with_slots_in(
            tmp_path, Database(tmp_path / "tipbox.db"), salt=b"s" * 16,
            params=Argon2Params(1, 8, 1),
        ),
        login_wait_seconds=0.1,
    )
    for _ in range(kdf.login_slots.size):
        hold_in_child(holders, tmp_path, "codename_login", kdf.login_slots.size)
    with pytest.raises(Busy):
        kdf.keys(CODENAME, purpose="login")
    started = time.monotonic()
    assert kdf.keys(CODENAME, purpose="submission").lookup_id
    assert time.monotonic() - started < 0.5  # no wait: cheap Argon2 takes milliseconds


def test_lock_files_are_private_empty_and_carry_no_request_time(tmp_path: Path) -> None:
    pool = SlotPool(tmp_path / "slots", "logins", 2)
    with pool.slot(wait_seconds=0):
        pass
    files = sorted((tmp_path / "slots").iterdir())
    assert [path.name for path in files] == ["logins.0.lock", "logins.1.lock"]
    assert stat.S_IMODE((tmp_path / "slots").stat().st_mode) == 0o700
    for path in files:
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_size == 0
        assert info.st_mtime % 3600 == 0
        assert info.st_atime % 3600 == 0


def test_an_unwritable_directory_is_tolerated_until_a_slot_is_needed(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    pool = SlotPool(blocker / "slots", "logins", 1)  # building never fails
    with pytest.raises(StorageUnavailable), pool.slot(wait_seconds=0):
        pass


def test_a_pool_needs_a_plain_name_and_a_slot(tmp_path: Path) -> None:
    for name, size in (("../up", 1), ("ok", 0), ("", 1)):
        with pytest.raises(ValueError, match="slot pool"):
            SlotPool(tmp_path, name, size)


@PROPERTY
@given(size=st.integers(1, 4),
       steps=st.lists(st.tuples(st.booleans(), st.integers(0, 7)), max_size=40))
def test_never_more_holders_than_slots(tmp_path_factory: pytest.TempPathFactory, size: int,
                                       steps: list[tuple[bool, int]]) -> None:
    """Any interleaving of takes and releases: a take succeeds iff a slot is free."""
    pool = SlotPool(tmp_path_factory.mktemp("slots"), "pool", size)
    with ExitStack() as stack:
        held: dict[int, ExitStack] = {}
        for take, holder in steps:
            if take and holder not in held:
                slot = ExitStack()
                stack.callback(slot.close)
                try:
                    slot.enter_context(pool.slot(wait_seconds=0))
                except Busy:
                    assert len(held) == size
                    continue
                assert len(held) < size
                held[holder] = slot
            elif not take and holder in held:
                held.pop(holder).close()
            assert pool.held() == len(held)


def test_low_priority_threads_run_work_at_the_lowest_priority() -> None:
    threads = LowPriorityThreads(1, name="test-low")

    def nice_here() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert threads.run(nice_here) == LOWEST
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < LOWEST  # caller untouched

    def fails() -> None:
        raise Busy("raised in the low-priority thread")

    with pytest.raises(Busy, match="low-priority"):
        threads.run(fails)
