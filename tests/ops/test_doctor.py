"""``doctor``: every planted problem is found (one test per check); a sound instance passes."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import BACKENDS, database_env_of, make_test_settings
from tipbox.cli import cli
from tipbox.config import Settings
from tipbox.crypto import HybridIdentity
from tipbox.services.instance import InitResult
from tipbox.services.ops import doctor as doctor_module
from tipbox.services.ops.doctor import Problem, System, diagnose
from tipbox.services.wiring import Instance
from tipbox.store import BlobDir
from tipbox.store.db import open_database

NO_SWAP = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
PLENTY = 1 << 50
SHIPPED_TORRC = Path(__file__).resolve().parents[2] / "deploy" / "torrc"
ONION = "a" * 56 + ".onion"


def doctor_settings(tmp_path: Path, **extra: str) -> Settings:
    """Test settings as deployed: ``TIPBOX_ONION_HOSTS`` set (binds as in deploy/torrc)."""
    return make_test_settings(tmp_path, **{"TIPBOX_ONION_HOSTS": ONION, **extra})


@pytest.fixture(params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """Doctor looks at an instance on either back end."""
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, database_env: dict[str, str]) -> Settings:
    return doctor_settings(tmp_path, **database_env)


@pytest.fixture
def system(tmp_path: Path) -> System:
    """A machine without swap, with plenty of disk and the shipped torrc installed."""
    swaps = tmp_path / "proc-swaps"
    swaps.write_text(NO_SWAP)
    torrc = tmp_path / "torrc"
    torrc.write_text(SHIPPED_TORRC.read_text())
    return System(proc_swaps=swaps, sys_block=tmp_path / "sys-block",
                  free_bytes=lambda _: PLENTY, torrc=torrc)


@pytest.fixture
def sound(instance: Instance, settings: Settings) -> Settings:
    """An initialised instance as deployed: keys directory private too."""
    os.chmod(settings.keys_dir, 0o700)  # init leaves it to the umask
    return settings


def found(settings: Settings, system: System, check: str) -> list[Problem]:
    return [problem for problem in diagnose(settings, system) if problem.check == check]


def test_a_sound_instance_passes(sound: Settings, system: System) -> None:
    assert diagnose(sound, system) == []


# -- permissions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "mode"),
    [
        (lambda s: s.data_dir, 0o755),
        (lambda s: s.blobs_dir, 0o750),
        (lambda s: s.keys_dir, 0o755),
        (lambda s: s.secrets_path, 0o644),
        pytest.param(lambda s: s.database_path, 0o640, marks=pytest.mark.sqlite_only),
        (lambda s: next(s.keys_dir.glob("newsroom-*.age")), 0o604),
    ],
    ids=["data dir", "blobs dir", "keys dir", "secrets", "database", "wrapped key"],
)
def test_permissions_finds_open_modes(
    sound: Settings, system: System, where: object, mode: int
) -> None:
    path = where(sound)  # type: ignore[operator]
    os.chmod(path, mode)
    problems = found(sound, system, "permissions")
    assert len(problems) == 1
    assert str(path) in problems[0].message
    assert problems[0].fix.startswith("chmod ")


def test_permissions_finds_an_open_blob(
    sound: Settings, system: System, instance: Instance
) -> None:
    draft = instance.submissions.start(None)
    draft.add_message("hello")
    draft.commit(want_codename=False)
    blob = next(sound.blobs_dir.iterdir())  # the pool is next to the blobs, not among them
    os.chmod(blob, 0o644)
    assert [p.fix for p in found(sound, system, "permissions")] == [f"chmod 600 {blob}"]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_permissions_finds_a_file_of_another_owner(sound: Settings, system: System) -> None:
    os.chown(sound.secrets_path, 4242, 4242)
    problems = found(sound, system, "permissions")
    assert len(problems) == 1
    assert "belong to another user" in problems[0].message
    assert problems[0].fix.startswith("chown -R")


# -- instance state ---------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="an instance of another user needs root")
def test_user_finds_doctor_running_as_another_user(sound: Settings, system: System) -> None:
    os.chown(sound.data_dir, 4242, 4242)
    for leftover in sound.data_dir.glob("tipbox.db-*"):
        leftover.unlink()
    problems = diagnose(sound, system)
    assert [p.check for p in problems] == ["user", "permissions"]  # + the foreign files
    assert "uid 0" in problems[0].message
    assert not list(sound.data_dir.glob("tipbox.db-*"))  # the database was left alone


@pytest.mark.skipif(os.geteuid() != 0, reason="an instance of another user needs root")
def test_cli_commands_refuse_an_instance_of_another_user(sound: Settings, tmp_path: Path) -> None:
    os.chown(sound.data_dir, 4242, 4242)
    for args in (["backup", str(tmp_path / "b.age")], ["notify"]):
        result = CliRunner().invoke(cli, args, env=env_of(sound))
        assert result.exit_code == 1
        assert "belongs to user 4242" in result.output
    assert not (tmp_path / "b.age").exists()


def test_initialised_finds_a_missing_instance(tmp_path: Path, system: System) -> None:
    settings = doctor_settings(tmp_path / "nothing-here")
    problems = diagnose(settings, system)
    assert [p.check for p in problems] == ["initialised"]
    assert "python -m tipbox init" in problems[0].fix


def change_database(settings: Settings, statement: str) -> None:
    database = open_database(settings)
    try:
        with database.transaction() as conn:
            conn.execute(statement)
    finally:
        database.close()


def test_keys_finds_no_active_key(sound: Settings, system: System) -> None:
    change_database(sound, "UPDATE newsroom_keys SET state = 'retired'")
    problems = found(sound, system, "keys")
    assert [p.message for p in problems] == ["the desk newsroom has no active newsroom key"]


def test_keys_finds_a_stale_newsroom_file(sound: Settings, system: System) -> None:
    (sound.keys_dir / "newsroom.txt").write_text(f"{HybridIdentity.generate().recipient()}\n")
    problems = found(sound, system, "keys")
    assert len(problems) == 1
    assert "newsroom.txt" in problems[0].message


def test_keys_finds_a_missing_recovery_recipient(sound: Settings, system: System) -> None:
    change_database(sound, "DELETE FROM meta WHERE key = 'recovery_recipient'")
    assert [p.message for p in found(sound, system, "keys")] == [
        "no recovery recipient is recorded"
    ]


def test_plaintext_identities_finds_a_saved_recovery_key(
    sound: Settings, system: System, init_result: InitResult
) -> None:
    saved = sound.keys_dir / "recovery.key"
    saved.write_text(f"# recovery\n{init_result.recovery_identity}\n")
    os.chmod(saved, 0o600)
    problems = found(sound, system, "plaintext identities")
    assert len(problems) == 1
    assert str(saved) in problems[0].message
    assert init_result.recovery_identity not in problems[0].message + problems[0].fix


# -- the machine ------------------------------------------------------------------


def test_disk_finds_too_little_space(sound: Settings, tmp_path: Path) -> None:
    swaps = tmp_path / "swaps"
    swaps.write_text(NO_SWAP)
    tight = System(proc_swaps=swaps, free_bytes=lambda _: sound.max_upload_bytes - 1)
    problems = found(sound, tight, "disk")
    assert len(problems) == 1
    assert "TIPBOX_MAX_UPLOAD_BYTES" in problems[0].fix


def swap_system(tmp_path: Path, device: str, dm_uuid: str | None = None) -> System:
    swaps = tmp_path / "swaps"
    swaps.write_text(NO_SWAP + f"{device}\tpartition\t1048572\t0\t-2\n")
    block = tmp_path / "block"
    if dm_uuid is not None:
        (block / "dm-7" / "dm").mkdir(parents=True)
        (block / "dm-7" / "dm" / "uuid").write_text(dm_uuid + "\n")
    return System(proc_swaps=swaps, sys_block=block, free_bytes=lambda _: PLENTY)


def test_swap_finds_a_plain_swap_partition(sound: Settings, tmp_path: Path) -> None:
    problems = found(sound, swap_system(tmp_path, "/dev/sda2"), "swap")
    assert len(problems) == 1
    assert "/dev/sda2" in problems[0].message
    assert "swapoff" in problems[0].fix


def test_swap_finds_a_swap_file(sound: Settings, tmp_path: Path) -> None:
    assert found(sound, swap_system(tmp_path, "/swapfile"), "swap")


def test_swap_finds_unencrypted_device_mapper_swap(sound: Settings, tmp_path: Path) -> None:
    system = swap_system(tmp_path, "/dev/dm-7", dm_uuid="LVM-abcdef")
    assert found(sound, system, "swap")


@pytest.mark.parametrize(
    ("device", "uuid"), [("/dev/dm-7", "CRYPT-PLAIN-swap"), ("/dev/zram0", None)]
)
def test_swap_accepts_encrypted_or_compressed_ram_swap(
    sound: Settings, tmp_path: Path, device: str, uuid: str | None
) -> None:
    assert found(sound, swap_system(tmp_path, device, dm_uuid=uuid), "swap") == []


def test_swap_accepts_lvm_inside_luks(sound: Settings, tmp_path: Path) -> None:
    system = swap_system(tmp_path, "/dev/dm-7", dm_uuid="LVM-swap")
    assert system.sys_block is not None
    (system.sys_block / "dm-7" / "slaves" / "dm-0").mkdir(parents=True)
    (system.sys_block / "dm-0" / "dm").mkdir(parents=True)
    (system.sys_block / "dm-0" / "dm" / "uuid").write_text("CRYPT-LUKS2-0123-sda3_crypt\n")
    assert found(sound, system, "swap") == []
    (system.sys_block / "dm-0" / "dm" / "uuid").write_text("LVM-pv\n")
    assert found(sound, system, "swap")


def test_settings_finds_dev_mode(tmp_path: Path, system: System) -> None:
    settings = doctor_settings(tmp_path, TIPBOX_DEV="1")
    problems = found(settings, system, "settings")
    assert len(problems) == 1
    assert "Secure" in problems[0].message


@pytest.mark.parametrize(
    "bind", ["0.0.0.0:8080", "[::]:8080", "192.0.2.10:8080", "tipbox.example:8080"]
)
def test_settings_finds_a_public_bind(tmp_path: Path, system: System, bind: str) -> None:
    settings = doctor_settings(tmp_path, TIPBOX_SOURCE_BIND=bind)
    problems = found(settings, system, "settings")
    assert len(problems) == 1
    assert "TIPBOX_SOURCE_BIND" in problems[0].message
    assert problems[0].fix.endswith("127.0.0.1:8080")


@pytest.mark.parametrize(
    "bind", ["127.0.0.1:9000", "127.1.2.3:9000", "[::1]:9000", "localhost:9000"]
)
def test_settings_accepts_loopback_binds(tmp_path: Path, system: System, bind: str) -> None:
    settings = doctor_settings(tmp_path, TIPBOX_REVIEWER_BIND=bind)
    assert found(settings, system, "settings") == []


# -- leftovers --------------------------------------------------------------------


def test_leftovers_finds_dead_temporaries(sound: Settings, system: System) -> None:
    planted = [
        sound.blobs_dir / f".tmp-{secrets.token_hex(16)}",
        sound.data_dir / f".backup-{secrets.token_hex(16)}.db",
        sound.data_dir.parent / ".tipbox-restore-abc123",
    ]
    for path in planted[:2]:
        path.write_bytes(b"ciphertext")
        os.chmod(path, 0o600)
    planted[2].mkdir(mode=0o700)
    problems = found(sound, system, "leftovers")
    assert sorted(str(path) for path in planted) == sorted(
        p.message.split(" was left")[0] for p in problems
    )


def test_leftovers_ignores_an_upload_in_progress(
    sound: Settings, system: System, instance: Instance
) -> None:
    writer = instance.store.blobs.writer()
    try:
        writer.write(b"ciphertext")
        assert found(sound, system, "leftovers") == []
    finally:
        writer.abort()


# -- orphans and the blob pool -------------------------------------------------------


def crash_orphan(instance: Instance) -> Path:
    """A blob stored by a worker killed before it recorded the row (SIGKILL between the two)."""
    writer = instance.store.blobs.writer()
    writer.write(b"ciphertext without a header row")
    return instance.store.blobs.path / writer.commit()


def at(system: System, now: float) -> System:
    return System(
        proc_swaps=system.proc_swaps, sys_block=system.sys_block,
        free_bytes=system.free_bytes, now=lambda: now, torrc=system.torrc,
    )


def test_orphans_are_reported_with_their_grace_period(
    sound: Settings, system: System, instance: Instance
) -> None:
    recorded = instance.submissions.start(None)
    recorded.add_message("a recorded tip is no orphan")
    recorded.commit(want_codename=False)
    blob = crash_orphan(instance)
    changed = blob.stat().st_ctime
    [young] = found(sound, at(system, changed + 10), "orphans")
    assert young.message.startswith(f"1 blobs in {sound.blobs_dir} have no database row")
    assert "0 past the grace period (TIPBOX_ORPHAN_GRACE_SECONDS=3600)" in young.message
    assert "1 younger ones may be uploads being recorded" in young.message
    assert "tipbox sweep" in young.fix
    [old] = found(sound, at(system, changed + 3601), "orphans")
    assert "1 past the grace period (TIPBOX_ORPHAN_GRACE_SECONDS=3600) will be removed" in (
        old.message
    )
    assert blob.exists()  # doctor only looks


def test_orphans_follow_the_configured_grace_period(
    sound: Settings, system: System, instance: Instance, tmp_path: Path
) -> None:
    blob = crash_orphan(instance)
    short = doctor_settings(tmp_path, TIPBOX_ORPHAN_GRACE_SECONDS="120", **database_env_of(sound))
    assert short.data_dir == sound.data_dir
    [problem] = found(short, at(system, blob.stat().st_ctime + 121), "orphans")
    assert "1 past the grace period (TIPBOX_ORPHAN_GRACE_SECONDS=120)" in problem.message


def test_orphans_are_gone_after_the_sweep(
    sound: Settings, system: System, instance: Instance
) -> None:
    blob = crash_orphan(instance)
    later = blob.stat().st_ctime + 3601
    assert instance.store.sweep(now=later).orphans_removed == 1
    assert found(sound, at(system, later), "orphans") == []


def empty_pool(settings: Settings, leave: int = 0) -> BlobDir:
    pool = BlobDir(settings.blobs_dir, min_free_bytes=0)
    for name in pool.pool_names()[leave:]:
        os.unlink(pool.pool / name)
    return pool


def test_blob_pool_finds_an_empty_pool(sound: Settings, system: System) -> None:
    pool = empty_pool(sound)
    [problem] = found(sound, system, "blob pool")
    assert problem.message.startswith(f"the blob pool {pool.pool} is empty")
    assert "birth time is the upload's time" in problem.message
    assert "tipbox-sweep.timer" in problem.fix


def test_blob_pool_finds_a_low_pool(sound: Settings, system: System) -> None:
    empty_pool(sound, leave=63)
    [problem] = found(sound, system, "blob pool")
    assert "is low (63 of TIPBOX_BLOB_POOL_SIZE=256 left)" in problem.message
    assert "raise TIPBOX_BLOB_POOL_SIZE" in problem.fix
    empty_pool(sound, leave=64)  # a quarter left is fine
    BlobDir(sound.blobs_dir, min_free_bytes=0).fill_pool(64, stamp=0)
    assert found(sound, system, "blob pool") == []


def test_an_upload_with_an_empty_pool_still_works_and_doctor_says_so(
    sound: Settings, system: System, instance: Instance
) -> None:
    empty_pool(sound)
    writer = instance.store.blobs.writer()
    assert not writer.pooled
    writer.write(b"x")
    writer.abort()
    assert [p.check for p in diagnose(sound, system)] == ["blob pool"]


def test_permissions_cover_the_blob_pool(sound: Settings, system: System) -> None:
    pool = BlobDir(sound.blobs_dir, min_free_bytes=0)
    pooled = pool.pool / pool.pool_names()[0]
    os.chmod(pooled, 0o644)
    os.chmod(pool.pool, 0o750)  # noqa: S103 - the planted problem
    fixes = sorted(p.fix for p in found(sound, system, "permissions"))
    assert fixes == [f"chmod 600 {pooled}", f"chmod 700 {pool.pool}"]


# -- onion services --------------------------------------------------------------


def torrc_without(system: System, *dropped: str) -> System:
    """``system`` whose torrc lacks the shipped lines starting with ``dropped``."""
    lines = SHIPPED_TORRC.read_text().splitlines()
    system.torrc.write_text("\n".join(
        line for line in lines if not line.startswith(dropped)) + "\n")
    return system


def test_onion_accepts_the_shipped_torrc(sound: Settings, system: System) -> None:
    assert found(sound, system, "onion") == []


def test_onion_finds_a_missing_torrc(sound: Settings, system: System) -> None:
    system.torrc.unlink()
    problems = found(sound, system, "onion")
    assert len(problems) == 1
    assert str(system.torrc) in problems[0].message
    assert "deploy/torrc" in problems[0].fix


def test_onion_finds_an_app_no_service_forwards_to(tmp_path: Path, system: System) -> None:
    settings = doctor_settings(tmp_path, TIPBOX_REVIEWER_BIND="127.0.0.1:9081")
    problems = found(settings, system, "onion")
    assert [p.message for p in problems] == [
        f"no onion service in {system.torrc} forwards to TIPBOX_REVIEWER_BIND=127.0.0.1:9081"]
    assert "HiddenServicePort 80 127.0.0.1:9081" in problems[0].fix


def test_onion_reads_targets_as_tor_does(sound: Settings, system: System) -> None:
    text = SHIPPED_TORRC.read_text().replace("HiddenServicePort 80 127.0.0.1:8080",
                                             "hiddenserviceport 80 8080  # a bare port")
    system.torrc.write_text(text)
    assert found(sound, system, "onion") == []


def test_onion_finds_the_source_without_proof_of_work(sound: Settings, system: System) -> None:
    problems = found(sound, torrc_without(system, "HiddenServicePoWDefensesEnabled"), "onion")
    assert len(problems) == 1
    assert "proof-of-work" in problems[0].message
    assert "/var/lib/tor/tipbox-source/" in problems[0].message
    assert "HiddenServicePoWDefensesEnabled 1" in problems[0].fix


def test_onion_finds_no_onion_hosts(tmp_path: Path, system: System) -> None:
    settings = make_test_settings(tmp_path)
    problems = found(settings, system, "onion")
    assert len(problems) == 1
    assert "TIPBOX_ONION_HOSTS" in problems[0].message
    assert "/var/lib/tor/tipbox-source/hostname" in problems[0].fix


# -- command line -----------------------------------------------------------------


def env_of(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        "TIPBOX_DATA_DIR": str(settings.data_dir),
        "TIPBOX_KEYS_DIR": str(settings.keys_dir),
        "TIPBOX_ONION_HOSTS": ONION,
        **database_env_of(settings),
        **extra,
    }


def test_cli_prints_each_problem_with_its_fix(
    sound: Settings, system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor_module, "System", lambda: system)
    os.chmod(sound.secrets_path, 0o644)
    result = CliRunner().invoke(cli, ["doctor"], env=env_of(sound, TIPBOX_DEV="1"))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("problem (permissions): secret file")
    assert lines[1] == f"    fix: chmod 600 {sound.secrets_path}"
    assert lines[2].startswith("problem (settings): TIPBOX_DEV is on")
    assert len(lines) == 4


def test_cli_reports_crash_orphans(
    sound: Settings, system: System, instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = crash_orphan(instance)
    monkeypatch.setattr(doctor_module, "System", lambda: at(system, blob.stat().st_ctime + 7200))
    result = CliRunner().invoke(cli, ["doctor"], env=env_of(sound, TIPBOX_MIN_FREE_BYTES="0"))
    assert result.exit_code == 1
    assert result.output.startswith("problem (orphans): 1 blobs in ")
    assert "1 past the grace period" in result.output


def test_cli_passes_a_sound_instance(
    sound: Settings, system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor_module, "System", lambda: system)
    result = CliRunner().invoke(cli, ["doctor"], env=env_of(sound, TIPBOX_MIN_FREE_BYTES="0"))
    assert result.exit_code == 0, result.output
    assert result.output == "doctor: no problems found\n"


def test_an_unreachable_postgresql_is_one_problem(
    tmp_path: Path, system: System, init_result: InitResult
) -> None:
    """The instance's PostgreSQL server is down: doctor says so, and checks the rest."""
    gone = doctor_settings(tmp_path, TIPBOX_DATABASE_URL=f"postgresql:///x?host={tmp_path}")
    problems = diagnose(gone, system)
    [problem] = [p for p in problems if p.check == "initialised"]
    assert problem.message.startswith("cannot open the database: ")
    assert "\n" not in problem.message
    assert "TIPBOX_DATABASE_URL" in problem.fix
