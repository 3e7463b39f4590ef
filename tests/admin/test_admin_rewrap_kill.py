"""kill -9 during a re-wrap never leaves an item undecryptable, and a rerun completes.

The re-wrap runs as ``python -m tipbox keys rewrap`` in a subprocess over a
few hundred items, one item per transaction (the most commits, so the most
places to die), and is killed with SIGKILL at random moments. After each
kill every item must decrypt with the identity of the key its row names
(header and ``key_id`` changed together). When a round finds nothing left
to do, the key is rotated again so the next kill lands in real work.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from admin_kit import (
    cli_env,
    decrypts,
    item_rows,
    let_a_day_pass,
    recovery_identities,
    submit,
    write_identity,
)

from tipbox.config import Settings
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.instance import InitResult
from tipbox.services.wiring import AdminServices, Instance, open_instance
from tipbox.store.desks import DEFAULT_DESK

ITEMS = 300
KILLS = 8
ROOT = Path(__file__).resolve().parents[2]


def _start_rewrap(settings: Settings, identity_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tipbox", "keys", "rewrap",
         "--recovery-identity", str(identity_file), "--batch-size", "1"],
        env={**os.environ, **cli_env(settings)}, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _wait_for_progress(admin: AdminServices, before: int, process: subprocess.Popen[bytes]
                       ) -> None:
    deadline = time.monotonic() + 30
    while admin.rotation.pending() == before and process.poll() is None:
        assert time.monotonic() < deadline, "the re-wrap never started"
        time.sleep(0.005)


def _check_every_item(settings: Settings, init: InitResult) -> tuple[int, int]:
    """Every item opens with exactly its own key's identity; returns (pending, items)."""
    fresh = open_instance(settings)  # a new process's view, after the crash
    try:
        by_key: dict[int, KeyIdentity] = {}
        known = {str(i.recipient()): i for i in recovery_identities(fresh, init)}
        every_key = fresh.keyring.keys()
        for key in every_key:
            by_key[key.id] = known[key.recipient]
        rows = item_rows(fresh)
        for row in rows:
            assert decrypts(fresh, row, [by_key[row["key_id"]]]), row["id"]
        active = fresh.keyring.active_key(DEFAULT_DESK).id
        return sum(row["key_id"] != active for row in rows), len(rows)
    finally:
        fresh.close()


@pytest.mark.slow
def test_sigkill_during_rewrap_never_loses_an_item(
    instance: Instance, admin_services: AdminServices, settings: Settings,
    init_result: InitResult, tmp_path: Path,
) -> None:
    for n in range(ITEMS):
        submit(instance, f"tip number {n}", codename=False)
    identity_file = write_identity(tmp_path / "recovery.txt", init_result.recovery_identity)
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    partial = 0
    for round_ in range(KILLS):
        if admin_services.rotation.pending() == 0:
            admin_services.rotation.rotate()
        before = admin_services.rotation.pending()
        process = _start_rewrap(settings, identity_file)
        if round_ % 2:  # somewhere once the work has begun
            _wait_for_progress(admin_services, before, process)
            time.sleep(rng.uniform(0.0, 0.3))
        else:  # anywhere, start-up included
            time.sleep(rng.uniform(0.05, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        pending, total = _check_every_item(settings, init_result)
        assert total == ITEMS, (seed, round_)
        partial += 0 < pending < before
        print(f"round {round_}: pending {before} -> {pending}")
    assert partial >= 2, f"seed {seed}: too few kills landed mid-way ({partial})"

    done = _start_rewrap(settings, identity_file)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err.decode()
    assert b"0 still on retired keys" in out
    assert _check_every_item(settings, init_result) == (0, ITEMS)
    let_a_day_pass(instance)
    for status in admin_services.rotation.status():
        if status.key.state == "retired":
            admin_services.rotation.destroy(status.key.id)
    active = [i for i in recovery_identities(instance, init_result)]
    assert len(active) == 1
    assert all(decrypts(instance, row, active) for row in item_rows(instance))
