"""Backup and restore: consistent under load, encrypted, verified before visible."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import BACKENDS, database_env_of, make_test_settings
from tipbox.cli import cli
from tipbox.config import Settings
from tipbox.crypto import (
    DecryptionError,
    Encryptor,
    HybridIdentity,
    Identity,
    decrypt_detached,
    parse_identity,
)
from tipbox.services.instance import InitResult, init_instance
from tipbox.services.ops import backup as backup_module
from tipbox.services.ops.backup import (
    SNAPSHOT_PREFIX,
    BackupReport,
    RestoreRefused,
    restore_backup,
    write_backup,
)
from tipbox.services.ops.export import export_submissions, unlock_identities
from tipbox.services.wiring import Instance, open_instance
from tipbox.store.db import open_database

CANARY = "canary-7f3a-the-minister-took-the-bribe"
WRITERS = 4


def submit(instance: Instance, number: int) -> None:
    """One submission: a message and a file, both carrying the canary."""
    draft = instance.submissions.start(None)
    draft.add_message(f"{CANARY} message {number}")
    upload = draft.open_file(f"{CANARY}-{number}.txt", "text/plain")
    upload.write(f"{CANARY} file {number}\n".encode() * 2000)
    upload.close()
    draft.commit(want_codename=number % 2 == 0)


@pytest.fixture(params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """The backed-up instance (``settings``) is on either back end; a restore makes an
    SQLite instance (``elsewhere``)."""
    return str(request.param)


def count(settings: Settings, table: str) -> int:
    database = open_database(settings)
    try:
        with database.reading() as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
    finally:
        database.close()


def backup_bytes(instance: Instance) -> tuple[bytes, BackupReport]:
    sink = io.BytesIO()
    report = write_backup(instance, sink)
    return sink.getvalue(), report


@pytest.fixture
def elsewhere(tmp_path: Path) -> Settings:
    """Settings of a second, empty instance (nothing initialised)."""
    return make_test_settings(tmp_path / "elsewhere")


@pytest.fixture
def recovery(init_result: InitResult) -> list[Identity]:
    return [parse_identity(init_result.recovery_identity)]


class Writers:
    """Threads that keep submitting until stopped."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self.done = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(WRITERS)]

    def _run(self, offset: int) -> None:
        number = offset
        while not self._stop.is_set():
            try:
                submit(self._instance, number)
            except BaseException as error:  # noqa: BLE001 - reported by the test
                self.errors.append(error)
                return
            with self._lock:
                self.done += 1
            number += WRITERS

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def wait_for(self, total: int) -> None:
        while self.done < total and not self.errors:
            self._stop.wait(0.01)


def slow_blob_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen the race window: each blob copy waits, so writers commit meanwhile."""
    original = backup_module._add_file

    def slow(tar: tarfile.TarFile, name: str, path: Path) -> None:
        time.sleep(0.005)
        original(tar, name, path)

    monkeypatch.setattr(backup_module, "_add_file", slow)


def test_backup_during_submissions_restores_elsewhere(
    instance: Instance,
    settings: Settings,
    elsewhere: Settings,
    recovery: list[Identity],
    init_result: InitResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow_blob_copies(monkeypatch)
    with Writers(instance) as writers:
        writers.wait_for(8)
        before = count(settings, "submissions")
        data, report = backup_bytes(instance)
        after = count(settings, "submissions")
        writers.wait_for(writers.done + 4)
    assert not writers.errors
    assert after > before  # submissions were committed while the backup ran

    restored = restore_backup(elsewhere, io.BytesIO(data), recovery)

    assert restored == report
    submissions = count(elsewhere, "submissions")
    assert before <= submissions <= after
    assert count(elsewhere, "items") == report.items == 3 * submissions  # message, file, manifest
    assert len(os.listdir(elsewhere.blobs_dir)) == report.blobs == report.items
    assert_every_item_decrypts(elsewhere, init_result)


def assert_every_item_decrypts(settings: Settings, init_result: InitResult) -> None:
    opened = open_instance(settings)
    try:
        identities = unlock_identities(
            opened.keyring, [parse_identity(init_result.recovery_identity)]
        )
        with opened.store.db.connection() as conn:
            rows = conn.execute("SELECT header, blob FROM items").fetchall()
        for row in rows:
            with opened.store.blobs.open_blob(row["blob"]) as payload:
                assert b"".join(decrypt_detached(identities, row["header"], payload))
        summary = export_submissions(
            opened.store, settings.data_dir.parent / "export", identities=identities
        )
    finally:
        opened.close()
    assert summary.failed == 0
    assert summary.files == 2 * count(settings, "submissions")  # message + file each


def test_backup_holds_no_plaintext(instance: Instance, settings: Settings) -> None:
    for number in range(3):
        submit(instance, number)
    data, _ = backup_bytes(instance)
    for needle in canary_encodings(CANARY):
        assert needle not in data
    assert data.startswith(b"age-encryption.org/v1\n")
    assert not [name for name in os.listdir(settings.data_dir) if name.startswith(SNAPSHOT_PREFIX)]


def canary_encodings(text: str) -> Iterator[bytes]:
    raw = text.encode()
    yield raw
    yield text.encode("utf-16-le")
    yield text.encode("utf-16-be")
    for shift in range(3):  # base64 of the canary at each alignment
        encoded = base64.b64encode(b"\0" * shift + raw)
        yield encoded[4 : len(encoded) - 4]


def test_backup_archive_layout(instance: Instance, init_result: InitResult) -> None:
    submit(instance, 1)
    data, report = backup_bytes(instance)
    plaintext = b"".join(
        decrypt_detached([parse_identity(init_result.recovery_identity)], *split_age(data))
    )
    with tarfile.open(fileobj=io.BytesIO(plaintext)) as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names[-1] == "MANIFEST.json"
    assert {"data/tipbox.db", "data/secrets.json", "keys/recovery.txt"} <= set(names)
    assert sum(name.startswith("data/blobs/") for name in names) == report.blobs == 3
    assert {member.mtime for member in members} == {0}
    assert {member.mode for member in members} == {0o600}


def split_age(data: bytes) -> tuple[bytes, io.BytesIO]:
    end = data.index(b"\n---") + 1
    end = data.index(b"\n", end) + 1
    return data[:end], io.BytesIO(data[end:])


def test_backup_drops_rows_whose_blob_was_shredded_meanwhile(
    instance: Instance, settings: Settings, elsewhere: Settings, recovery: list[Identity]
) -> None:
    submit(instance, 1)
    submit(instance, 2)
    victim = next(iter(instance.store.blobs.names()))
    os.unlink(settings.blobs_dir / victim)  # as if a deletion raced the backup

    data, report = backup_bytes(instance)
    restore_backup(elsewhere, io.BytesIO(data), recovery)

    assert report.items == report.blobs == 5
    assert count(elsewhere, "items") == 5


def test_restore_refuses_a_non_empty_instance(
    instance: Instance, settings: Settings, elsewhere: Settings, recovery: list[Identity]
) -> None:
    data, _ = backup_bytes(instance)
    with pytest.raises(RestoreRefused, match="not empty"):
        restore_backup(settings, io.BytesIO(data), recovery)
    elsewhere.keys_dir.mkdir(parents=True)
    (elsewhere.keys_dir / "newsroom.txt").write_text("age1pq1...\n")
    with pytest.raises(RestoreRefused, match="not empty"):
        restore_backup(elsewhere, io.BytesIO(data), recovery)


def test_restore_into_keys_dir_with_only_readme(
    instance: Instance, elsewhere: Settings, recovery: list[Identity]
) -> None:
    data, report = backup_bytes(instance)
    elsewhere.keys_dir.mkdir(parents=True)
    (elsewhere.keys_dir / "README.md").write_text("# keys/\n")
    assert restore_backup(elsewhere, io.BytesIO(data), recovery) == report
    assert (elsewhere.keys_dir / "recovery.txt").exists()
    assert (elsewhere.keys_dir / "README.md").read_text() == "# keys/\n"


def damaged(data: bytes) -> Iterator[tuple[str, bytes]]:
    yield "truncated", data[: len(data) - 100]
    middle = len(data) // 2
    yield "flipped", data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


@pytest.mark.parametrize("kind", ["truncated", "flipped"])
def test_restore_of_a_damaged_backup_leaves_nothing(
    instance: Instance, elsewhere: Settings, recovery: list[Identity], kind: str
) -> None:
    for number in range(3):
        submit(instance, number)
    data, _ = backup_bytes(instance)
    broken = dict(damaged(data))[kind]
    with pytest.raises(DecryptionError):
        restore_backup(elsewhere, io.BytesIO(broken), recovery)
    assert_untouched(elsewhere)


def assert_untouched(settings: Settings) -> None:
    assert not settings.data_dir.exists()
    assert not settings.keys_dir.exists()
    assert not [p for p in settings.data_dir.parent.iterdir() if p.name.startswith(".tipbox")]


def test_restore_with_the_wrong_identity_leaves_nothing(
    instance: Instance, elsewhere: Settings, init_result: InitResult
) -> None:
    data, _ = backup_bytes(instance)
    with pytest.raises(DecryptionError):
        restore_backup(elsewhere, io.BytesIO(data), [HybridIdentity.generate()])
    assert_untouched(elsewhere)


def forged_backup(instance: Instance, members: dict[str, bytes], symlink: bool = False) -> bytes:
    """A well-encrypted archive to the (public) recovery recipient with chosen members."""
    sink = io.BytesIO()
    encryptor = Encryptor([instance.keyring.recovery_recipient()], sink)
    with tarfile.open(fileobj=encryptor, mode="w|") as tar:  # type: ignore[call-overload]
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        if symlink:
            link = tarfile.TarInfo("keys/link")
            link.type = tarfile.SYMTYPE
            link.linkname = "/etc/passwd"
            tar.addfile(link)
    encryptor.close()
    return sink.getvalue()


@pytest.mark.parametrize(
    ("members", "symlink"),
    [
        ({"../escape": b"x"}, False),
        ({"data/blobs/../../escape": b"x"}, False),
        ({"data/other.db": b"x"}, False),
        ({"keys/a": b"x", "keys//a": b"y"}, False),
        ({"keys/a": b"x"}, True),
        ({"keys/a": b"x"}, False),  # no manifest
    ],
)
def test_restore_refuses_a_forged_archive(
    instance: Instance,
    elsewhere: Settings,
    recovery: list[Identity],
    members: dict[str, bytes],
    symlink: bool,
) -> None:
    data = forged_backup(instance, members, symlink)
    with pytest.raises(RestoreRefused):
        restore_backup(elsewhere, io.BytesIO(data), recovery)
    assert_untouched(elsewhere)
    assert not (elsewhere.data_dir.parent.parent / "escape").exists()


def test_restore_refuses_a_manifest_that_does_not_match(
    instance: Instance, elsewhere: Settings, init_result: InitResult, recovery: list[Identity]
) -> None:
    submit(instance, 1)
    data, _ = backup_bytes(instance)
    identity = parse_identity(init_result.recovery_identity)
    with tarfile.open(
        fileobj=io.BytesIO(b"".join(decrypt_detached([identity], *split_age(data))))
    ) as tar:
        members = {
            member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
            for member in tar.getmembers()
        }
    blob = next(name for name in members if name.startswith("data/blobs/"))
    del members[blob]
    with pytest.raises(RestoreRefused, match="do not match"):
        restore_backup(elsewhere, io.BytesIO(forged_backup(instance, members)), recovery)
    assert_untouched(elsewhere)


# -- command line ---------------------------------------------------------------


def env_of(settings: Settings) -> dict[str, str]:
    return {"TIPBOX_DATA_DIR": str(settings.data_dir), "TIPBOX_KEYS_DIR": str(settings.keys_dir),
            **database_env_of(settings)}


def test_cli_backup_and_restore(
    instance: Instance,
    settings: Settings,
    elsewhere: Settings,
    init_result: InitResult,
    tmp_path: Path,
) -> None:
    submit(instance, 1)
    out = tmp_path / "tipbox.backup.age"
    identity_file = tmp_path / "recovery.key"
    identity_file.write_text(init_result.recovery_identity + "\n")
    runner = CliRunner()

    made = runner.invoke(cli, ["backup", str(out)], env=env_of(settings))
    assert made.exit_code == 0, made.output
    assert out.stat().st_mode & 0o777 == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    args = ["restore", str(out), "--recovery-identity", str(identity_file)]
    restored = runner.invoke(cli, args, env=env_of(elsewhere))
    assert restored.exit_code == 0, restored.output
    assert "Restored 3 items" in restored.output

    again = runner.invoke(cli, args, env=env_of(elsewhere))
    assert again.exit_code == 1
    assert again.output.startswith("error: ")
    assert again.output.count("\n") == 1
    assert "Traceback" not in again.output


def test_cli_backup_of_an_uninitialised_instance_fails_cleanly(
    elsewhere: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "b.age"
    result = CliRunner().invoke(cli, ["backup", str(out)], env=env_of(elsewhere))
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert result.output.count("\n") == 1
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_cli_restore_with_the_wrong_identity(
    instance: Instance, elsewhere: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "b.age"
    out.write_bytes(backup_bytes(instance)[0])
    wrong = tmp_path / "wrong.key"
    wrong.write_text(f"{HybridIdentity.generate()}\n")
    args = ["restore", str(out), "--recovery-identity", str(wrong)]
    result = CliRunner().invoke(cli, args, env=env_of(elsewhere))
    assert result.exit_code == 1
    assert result.output.startswith("error: the backup does not decrypt")


def test_a_backup_is_a_standard_age_file(tmp_path: Path) -> None:
    """With a classic (X25519) recovery key, the reference ``age`` tool opens a backup."""
    binary = shutil.which("age")
    if binary is None:
        pytest.skip("the reference age tool is not installed")
    settings = make_test_settings(tmp_path / "classic")
    result = init_instance(settings, classic=True)
    opened = open_instance(settings)
    try:
        submit(opened, 1)
        data, report = backup_bytes(opened)
    finally:
        opened.close()
    (tmp_path / "backup.age").write_bytes(data)
    (tmp_path / "recovery.key").write_text(result.recovery_identity + "\n")
    decrypted = subprocess.run(
        [binary, "-d", "-i", str(tmp_path / "recovery.key"), str(tmp_path / "backup.age")],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(decrypted)) as tar:
        names = tar.getnames()
    assert names[-1] == "MANIFEST.json"
    assert sum(name.startswith("data/blobs/") for name in names) == report.blobs


def test_a_failed_publish_puts_the_keys_back(
    instance: Instance,
    elsewhere: Settings,
    recovery: list[Identity],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, _ = backup_bytes(instance)
    elsewhere.keys_dir.mkdir(parents=True)
    (elsewhere.keys_dir / "README.md").write_text("# keys/\n")

    def refuse(staged: Path, target: Path) -> None:
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(backup_module, "_replace_empty_dir", refuse)
    with pytest.raises(PermissionError):
        restore_backup(elsewhere, io.BytesIO(data), recovery)
    assert os.listdir(elsewhere.keys_dir) == ["README.md"]
    assert not elsewhere.data_dir.exists()
    assert not [p for p in elsewhere.data_dir.parent.iterdir() if p.name.startswith(".tipbox")]


def test_cli_backup_to_stdout_and_restore_from_stdin(
    instance: Instance,
    settings: Settings,
    elsewhere: Settings,
    init_result: InitResult,
    tmp_path: Path,
) -> None:
    submit(instance, 1)
    made = CliRunner().invoke(cli, ["backup", "-"], env=env_of(settings))
    assert made.exit_code == 0
    assert made.stdout_bytes.startswith(b"age-encryption.org/v1\n")
    identity_file = tmp_path / "recovery.key"
    identity_file.write_text(init_result.recovery_identity + "\n")
    args = ["restore", "-", "--recovery-identity", str(identity_file)]
    restored = CliRunner().invoke(cli, args, input=made.stdout_bytes, env=env_of(elsewhere))
    assert restored.exit_code == 0, restored.output
    assert count(elsewhere, "items") == 3


def test_restore_puts_the_blobs_into_a_shared_blob_directory(
    instance: Instance, tmp_path: Path, recovery: list[Identity], init_result: InitResult,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``TIPBOX_BLOBS_DIR`` (one directory for several hosts) the blobs go there, all or
    nothing, and a blob directory that is not empty is refused."""
    submit(instance, 1)
    data, report = backup_bytes(instance)
    shared = tmp_path / "shared" / "blobs"
    target = dataclasses.replace(make_test_settings(tmp_path / "host"), shared_blobs_dir=shared)
    shared.mkdir(parents=True)

    def refuse_the_data(staged: Path, destination: Path) -> None:
        if destination == target.data_dir:
            raise PermissionError(13, "Permission denied", str(destination))
        real_replace(staged, destination)

    real_replace = backup_module._replace_empty_dir
    monkeypatch.setattr(backup_module, "_replace_empty_dir", refuse_the_data)
    with pytest.raises(PermissionError):
        restore_backup(target, io.BytesIO(data), recovery)
    assert shared.is_dir()
    assert os.listdir(shared) == []  # the blobs went back with the rest
    monkeypatch.undo()

    assert restore_backup(target, io.BytesIO(data), recovery) == report
    assert len(os.listdir(shared)) == report.blobs
    assert not (target.data_dir / "blobs").exists()
    assert_every_item_decrypts(target, init_result)

    again = dataclasses.replace(make_test_settings(tmp_path / "third"), shared_blobs_dir=shared)
    with pytest.raises(RestoreRefused, match="TIPBOX_BLOBS_DIR"):
        restore_backup(again, io.BytesIO(data), recovery)
