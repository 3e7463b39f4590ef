"""Encrypted backups of a whole instance, and their restore.

A backup is **one age file encrypted to the instance's recovery recipient**
whose plaintext is a tar stream (:data:`FORMAT`, version :data:`VERSION`)::

    data/blobs/<name>     every payload the database snapshot references
    data/tipbox.db        a consistent snapshot (SQLite online backup API)
    data/secrets.json     the Flask secret key and the codename salt
    keys/<file>           the keys directory (public files, wrapped keys)
    MANIFEST.json         format, schema version and counts, last

Security contract:

- The tar never touches the disk in the clear: it is generated straight
  into a :class:`~tipbox.crypto.Encryptor`. The only temporary file is the
  database snapshot, written mode 0600 inside the data directory (it holds
  what the live database holds: ciphertext and minimal metadata) and
  removed afterwards, even on failure.
- Members carry no times, owners or modes worth anything: mtime 0, uid/gid
  0, mode 0600.
- Consistency: the database is copied first, in one read transaction, then
  exactly the blobs it references. A blob deleted in between (a crypto-shred
  racing the backup) is left out *and* its item row is deleted from the
  snapshot, so a restored instance never references a missing payload.
- Restore decrypts with the offline recovery identity and extracts into
  fresh 0700 directories next to the targets. Only once the whole age file
  has authenticated (including its final chunk, so truncation is caught)
  and the archive has been checked (manifest, database integrity, every
  referenced blob present) are they renamed into place. Until then the
  target looks exactly as before; on any failure the staging directories
  are removed.
- The recovery recipient is public, so anyone could make a file that
  decrypts: age proves a backup was not altered, not who made it. Restore
  therefore treats the archive as untrusted input: only regular files with
  the expected names, each created exclusively, nothing else.
- Restore refuses a target that is not empty (any file in the data
  directory; anything but ``README.md`` in the keys directory; with
  ``TIPBOX_DATABASE_URL``, any table in that PostgreSQL database).
- Into PostgreSQL, the staged SQLite database is copied into the database
  of ``TIPBOX_DATABASE_URL`` in one transaction and verified row by row
  (:func:`tipbox.services.ops.migrate.copy_in_one_transaction`); the staged
  file is then removed and the rest published without it, and the
  transaction commits last. If it cannot commit, the published directories
  are moved back: the target stays as it was, database included.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

from tipbox.config import Settings
from tipbox.crypto import Encryptor, Identity, Recipient, decrypt_stream
from tipbox.errors import NotFound, TipboxError
from tipbox.services.custody.keyring import Keyring
from tipbox.services.ops.migrate import (
    MigrationRefused,
    copy_in_one_transaction,
    require_empty_database,
)
from tipbox.store import Store
from tipbox.store import snapshot as snapshots
from tipbox.store.blob_store import BlobStore
from tipbox.store.blobs import is_blob_name
from tipbox.store.db import MIGRATIONS
from tipbox.store.files import fsync_path

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "FORMAT",
    "VERSION",
    "BackupReport",
    "RestoreRefused",
    "restore_backup",
    "write_backup",
]

FORMAT = "tipbox-backup"
VERSION = 1
SNAPSHOT_PREFIX = ".backup-"
MANIFEST = "MANIFEST.json"
KEYS_README = "README.md"
_COPY_SIZE = 1 << 20
_DATA_FILES = ("tipbox.db", "secrets.json")
_KEY_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


class RestoreRefused(TipboxError):
    """The restore target is not empty, or the backup is not a valid tipbox backup."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What a backup or restore handled: counts only, no names or times."""

    items: int
    blobs: int
    key_files: int


# -- backup -------------------------------------------------------------------


class Instance(Protocol):
    """What a backup reads of an open instance (:class:`tipbox.services.wiring.Instance`)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store: ...
    @property
    def keyring(self) -> Keyring: ...




def write_backup(instance: Instance, sink: BinaryIO) -> BackupReport:
    """Write an encrypted backup of ``instance`` to ``sink`` (not closed).

    Safe to run while both apps serve requests. Raises
    :class:`~tipbox.errors.NotInitialised` if no recovery recipient is
    recorded; ``OSError`` on I/O failure (the caller discards ``sink``).
    """
    recipient = instance.keyring.recovery_recipient()
    with _database_snapshot(instance.settings) as snapshot:
        return _write_archive(instance, snapshot, recipient, sink)


def _write_archive(
    instance: Instance, snapshot: Path, recipient: Recipient, sink: BinaryIO
) -> BackupReport:
    encryptor = Encryptor([recipient], sink)
    with tarfile.open(
        fileobj=cast(BinaryIO, encryptor), mode="w|", format=tarfile.PAX_FORMAT
    ) as tar:
        blobs = _add_blobs(tar, instance.store.blobs, snapshot)
        items = snapshots.count_items(snapshot)
        _add_file(tar, "data/tipbox.db", snapshot)
        _add_file(tar, "data/secrets.json", instance.settings.secrets_path)
        key_files = _add_keys(tar, instance.settings.keys_dir)
        report = BackupReport(items=items, blobs=blobs, key_files=key_files)
        _add_bytes(tar, MANIFEST, _manifest(snapshot, report))
    encryptor.close()
    return report


@contextlib.contextmanager
def _database_snapshot(settings: Settings) -> Iterator[Path]:
    """A private, locked copy of the live database in the data directory."""
    path = settings.data_dir / f"{SNAPSHOT_PREFIX}{secrets.token_hex(16)}.db"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # tells `doctor` this one is not a leftover
        snapshots.copy_database(settings.database_path, path, url=settings.database_url)
        yield path
    finally:
        for leftover in (path, path.with_name(path.name + "-journal")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        os.close(fd)


def _add_blobs(tar: tarfile.TarFile, blobs: BlobStore, snapshot: Path) -> int:
    """Add every blob the snapshot references; forget rows whose blob vanished."""
    missing: list[str] = []
    added = 0
    for name in snapshots.referenced_blobs(snapshot):
        try:
            with blobs.open_blob(name) as source:
                _add_open_file(tar, f"data/blobs/{name}", source)
            added += 1
        except NotFound:
            missing.append(name)  # deleted since the snapshot: a shred won the race
    if missing:
        snapshots.forget_items(snapshot, missing)
    return added


def _add_keys(tar: tarfile.TarFile, keys_dir: Path) -> int:
    """Add the regular files of the keys directory (temporaries excluded)."""
    added = 0
    for entry in sorted(os.scandir(keys_dir), key=lambda entry: entry.name):
        if _KEY_FILE.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            _add_file(tar, f"keys/{entry.name}", Path(entry.path))
            added += 1
    return added


def _manifest(snapshot: Path, report: BackupReport) -> bytes:
    conn = sqlite3.connect(snapshot)
    try:
        schema = snapshots.schema_version(conn)
    finally:
        conn.close()
    document = {
        "format": FORMAT,
        "version": VERSION,
        "schema_version": schema,
        "items": report.items,
        "blobs": report.blobs,
        "key_files": report.key_files,
    }
    return json.dumps(document, indent=2).encode("ascii") + b"\n"


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = 0
    return info


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    with open(path, "rb") as source:
        _add_open_file(tar, name, source)


def _add_open_file(tar: tarfile.TarFile, name: str, source: BinaryIO) -> None:
    tar.addfile(_member(name, os.fstat(source.fileno()).st_size), source)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_member(name, len(data)), io.BytesIO(data))


# -- restore ------------------------------------------------------------------


def restore_backup(
    settings: Settings, source: BinaryIO, identities: Sequence[Identity]
) -> BackupReport:
    """Restore the backup read from ``source`` into the empty instance of ``settings``.

    ``identities`` must include the recovery identity. The database goes
    where the settings say: the data directory's SQLite file, or the
    PostgreSQL database of ``TIPBOX_DATABASE_URL``. Raises
    :class:`RestoreRefused` for a non-empty target or an invalid archive,
    :class:`~tipbox.crypto.DecryptionError` for a wrong identity or a
    damaged file, :class:`~tipbox.services.ops.migrate.MigrationFailed` if
    PostgreSQL refuses the copy; in every failure case the target is left
    untouched.
    """
    _require_empty(settings)
    with _Staging(settings) as staging:
        reader = _ChunkReader(decrypt_stream(identities, source))
        manifest = _extract(reader, staging)
        reader.drain()  # authenticates the last chunk: catches truncation
        report = _verify(staging, manifest)
        if settings.database_url is None:
            staging.publish()
        else:
            _publish_into_postgresql(staging, settings.database_url)
    return report


def _publish_into_postgresql(staging: _Staging, url: str) -> None:
    """The staged database copied into ``url`` (one verified transaction), the rest
    published without it; the copy commits last, or what was published goes back."""
    database = staging.data / "tipbox.db"
    try:
        with copy_in_one_transaction(database, url):
            database.unlink()
            staging.publish()
    except BaseException:
        staging.unpublish()
        raise


def _require_empty(settings: Settings) -> None:
    if settings.keys_dir.is_relative_to(settings.data_dir):
        raise RestoreRefused("restore needs the keys directory outside the data directory")
    if _entries(settings.data_dir):
        raise RestoreRefused(
            f"{settings.data_dir} is not empty: restore only into a new, empty instance"
        )
    if set(_entries(settings.keys_dir)) - {KEYS_README}:
        raise RestoreRefused(
            f"{settings.keys_dir} is not empty: restore only into a new, empty instance"
        )
    if settings.shared_blobs_dir is not None and _entries(settings.shared_blobs_dir):
        raise RestoreRefused(
            f"{settings.shared_blobs_dir} (TIPBOX_BLOBS_DIR) is not empty: restore only into"
            " a new, empty instance"
        )
    if settings.database_url is not None:
        try:
            require_empty_database(settings.database_url)
        except MigrationRefused:
            raise RestoreRefused(
                "the PostgreSQL database of TIPBOX_DATABASE_URL is not empty: restore only"
                " into a new, empty database"
            ) from None


def _entries(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []


class _Staging:
    """Private directories next to the targets, renamed into place by :meth:`publish`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._roots: list[Path] = []
        self._moved: list[tuple[Path, Path]] = []
        self._emptied: list[Path] = []  # empty targets replaced: recreated by unpublish
        self.data = self.keys = self.blobs = Path()

    def __enter__(self) -> _Staging:
        try:
            self.data = self._root_for(self._settings.data_dir) / "data"
            self.keys = self._root_for(self._settings.keys_dir) / "keys"
            shared = self._settings.shared_blobs_dir
            self.blobs = self.data / "blobs" if shared is None else self._root_for(shared) / "blobs"
            for directory in (self.data, self.blobs, self.keys):
                directory.mkdir(mode=0o700)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _root_for(self, target: Path) -> Path:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=".tipbox-restore-", dir=target.parent))
        self._roots.append(root)
        return root

    def __exit__(self, *_: object) -> None:
        for root in self._roots:
            shutil.rmtree(root, ignore_errors=True)

    def publish(self) -> None:
        """Move the keys, the blobs kept apart (``TIPBOX_BLOBS_DIR``), then the data
        (whose secrets file means "initialised").

        If the data cannot be moved, what was moved goes back.
        """
        shared = self._settings.shared_blobs_dir
        for directory in (self.keys, self.data, *([self.blobs] if shared else [])):
            _sync_tree(directory)
        self._moved = _move_keys(self.keys, self._settings.keys_dir)
        try:
            if shared is not None:
                self._replace(self.blobs, shared)
            self._replace(self.data, self._settings.data_dir)
        except BaseException:
            self.unpublish()
            raise

    def unpublish(self) -> None:
        """Move back what :meth:`publish` moved: the targets are as they were before."""
        for staged, target in reversed(self._moved):
            with contextlib.suppress(OSError):
                os.rename(target, staged)
        self._moved = []
        for directory in self._emptied:  # empty before: _replace_empty_dir removed it
            directory.mkdir(mode=0o700, exist_ok=True)
        self._emptied = []

    def _replace(self, staged: Path, target: Path) -> None:
        existed = target.exists()
        _replace_empty_dir(staged, target)
        self._moved.append((staged, target))
        if existed:
            self._emptied.append(target)


def _sync_tree(directory: Path) -> None:
    """fsync every file and directory below ``directory`` (deepest first)."""
    for root, _dirs, files in os.walk(directory, topdown=False):
        for name in files:
            fsync_path(Path(root) / name)
        fsync_path(Path(root))




def _move_keys(staged: Path, target: Path) -> list[tuple[Path, Path]]:
    """Move the staged key files into ``target``; return (staged, target) pairs moved."""
    if not target.exists():
        os.rename(staged, target)
        return [(staged, target)]
    moved = []
    for path in staged.iterdir():
        if not (target / path.name).exists():  # only README.md can be there
            os.rename(path, target / path.name)
            moved.append((path, target / path.name))
    return moved


def _replace_empty_dir(staged: Path, target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(target)  # empty (checked); fails loudly if something appeared
    os.rename(staged, target)
    fsync_path(target.parent)


def _extract(reader: _ChunkReader, staging: _Staging) -> dict[str, object]:
    """Write each member to its staged path; return the parsed manifest."""
    manifest: dict[str, object] | None = None
    try:
        with tarfile.open(fileobj=cast(BinaryIO, reader), mode="r|") as tar:
            for member in tar:
                source = _member_stream(tar, member)
                if member.name == MANIFEST:
                    manifest = _parse_manifest(source.read(64 * 1024))
                else:
                    _write_new(_staged_path(staging, member.name), source, member.name)
    except tarfile.TarError:
        raise RestoreRefused("the backup is not a valid tipbox archive") from None
    if manifest is None:
        raise RestoreRefused("the backup has no manifest (incomplete archive)")
    return manifest


def _member_stream(tar: tarfile.TarFile, member: tarfile.TarInfo) -> BinaryIO:
    source = tar.extractfile(member) if member.isreg() else None
    if source is None:
        raise RestoreRefused("the backup contains something other than regular files")
    return cast(BinaryIO, source)


def _staged_path(staging: _Staging, name: str) -> Path:
    """Map an archive name to its staged path; anything unexpected is refused."""
    parts = name.split("/")
    if len(parts) == 2 and parts[0] == "data" and parts[1] in _DATA_FILES:
        return staging.data / parts[1]
    if len(parts) == 3 and parts[:2] == ["data", "blobs"] and is_blob_name(parts[2]):
        return staging.blobs / parts[2]
    if len(parts) == 2 and parts[0] == "keys" and _KEY_FILE.fullmatch(parts[1]):
        return staging.keys / parts[1]
    raise RestoreRefused("the backup contains an unexpected file name")


def _write_new(path: Path, source: BinaryIO, name: str) -> None:
    mode = 0o644 if name in ("keys/newsroom.txt", "keys/recovery.txt", "keys/README.md") else 0o600
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise RestoreRefused("the backup contains a file twice") from None
    with os.fdopen(fd, "wb") as target:
        shutil.copyfileobj(source, target, _COPY_SIZE)


def _parse_manifest(data: bytes) -> dict[str, object]:
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise RestoreRefused("the backup's manifest is not a tipbox manifest")
    if document.get("version") != VERSION:
        raise RestoreRefused(f"unsupported backup version {document.get('version')!r}")
    return document


def _verify(staging: _Staging, manifest: dict[str, object]) -> BackupReport:
    """Check the staged instance against the manifest before anything is published."""
    for name in _DATA_FILES:
        if not (staging.data / name).is_file():
            raise RestoreRefused(f"the backup lacks data/{name}")
    schema, blobs = _inspect_database(staging.data / "tipbox.db")
    if schema > len(MIGRATIONS):
        raise RestoreRefused("the backup comes from a newer tipbox: upgrade tipbox first")
    staged_blobs = {path.name for path in staging.blobs.iterdir()}
    if set(blobs) != staged_blobs or len(blobs) != len(staged_blobs):
        raise RestoreRefused("the backup's blobs do not match its database")
    key_files = sum(1 for _ in staging.keys.iterdir())
    report = BackupReport(items=len(blobs), blobs=len(staged_blobs), key_files=key_files)
    expected = (manifest.get("items"), manifest.get("blobs"), manifest.get("key_files"))
    if expected != (report.items, report.blobs, report.key_files):
        raise RestoreRefused("the backup's contents do not match its manifest")
    return report


def _inspect_database(path: Path) -> tuple[int, list[str]]:
    """Schema version and referenced blobs of a staged database (read-only)."""
    try:
        conn = snapshots.open_read_only(path)
    except sqlite3.Error:
        raise RestoreRefused("the backup's database cannot be opened") from None
    try:
        if not snapshots.integrity_ok(conn):
            raise RestoreRefused("the backup's database is damaged")
        schema = snapshots.schema_version(conn)
        blobs = snapshots.all_blobs(conn)
    except sqlite3.Error:
        raise RestoreRefused("the backup's database is not a tipbox database") from None
    finally:
        conn.close()
    return schema, blobs


class _ChunkReader(io.RawIOBase):
    """A readable file over verified plaintext chunks (for ``tarfile``)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        target = memoryview(buffer).cast("B")
        size = min(len(target), len(self._pending))
        target[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def drain(self) -> None:
        """Read to the end of the age file, which authenticates its last chunk.

        After the archive only tar padding (zero bytes) may follow.
        """
        trailing = bool(bytes(self._pending).strip(b"\0"))
        self._pending = memoryview(b"")
        for chunk in self._chunks:
            trailing = trailing or bool(chunk.strip(b"\0"))
        if trailing:
            raise RestoreRefused("the backup has data after the end of its archive")
