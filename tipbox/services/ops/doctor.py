"""``doctor``: check an instance as deployed and say how to fix what is wrong.

Each check is a function ``(settings, system) -> list[Problem]``; every
:class:`Problem` names what is wrong and the command or setting that fixes
it. :func:`diagnose` runs them all. The checks:

- **permissions**: data, blob and keys directories are 0700 (no group or
  other bits); secret files (``secrets.json``, the database and its WAL,
  blobs, wrapped keys ``*.age``) are 0600; everything in the data directory
  belongs to the data directory's owner (a file left by ``root`` would lock
  the service out);
- **user**: doctor runs as the user that owns the instance (run as
  ``root``, SQLite would leave ``root``-owned ``-wal``/``-shm`` files that lock
  the service out; the database is then not opened at all);
- **initialised**: ``init`` has completed;
- **keys**: an active newsroom key and a recovery recipient are recorded,
  and ``keys/newsroom.txt`` (what sources are shown) is that active key;
- **plaintext identities**: no ``AGE-SECRET-KEY-`` in the keys or data
  directory (the recovery identity belongs on paper);
- **disk**: free space covers one maximum upload plus the reserve;
- **swap**: no unencrypted swap (plaintext passes through memory while it is
  encrypted; swapped-out pages would land on disk in the clear). zram and
  dm-crypt swap are fine;
- **settings**: nothing that is only safe in local development: ``TIPBOX_DEV``
  (cookies without ``Secure``) or binds on non-loopback addresses (the apps
  must only be reachable through Tor);
- **leftovers**: temporaries of dead blob writers, database snapshots of
  dead backups, staging directories of failed restores;
- **orphans**: committed blobs that no database row references (a crash
  between storing a payload and recording it), how many are past
  ``TIPBOX_ORPHAN_GRACE_SECONDS`` (the next sweep removes those) and how many
  are younger (possibly an upload being recorded right now);
- **blob pool**: the pool of pre-created blob files is empty or below a
  quarter of ``TIPBOX_BLOB_POOL_SIZE`` (uploads then get fresh files whose
  birth time is the upload's time): the sweep is not running or an hour of
  uploads needs a larger pool.

- **onion**: ``/etc/tor/torrc`` declares an onion service forwarding to
  each app's bind (``HiddenServicePort``), the source one with the
  proof-of-work defence on, and ``TIPBOX_ONION_HOSTS`` is set (without it no
  visitor by another address is warned). Tor's own directories
  (``/var/lib/tor``) are readable by Tor's user only, so their ``hostname``
  and ``authorized_clients`` are checked by hand (docs/deploy.md, step 10).

Security contract: read-only. Doctor never modifies the instance (it does
not even open it through :func:`~tipbox.services.instance.open_instance`,
which cleans up), never decrypts anything and prints only paths, modes and
counts, never file contents.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import re
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tipbox.config import Settings
from tipbox.errors import NotInitialised, StorageUnavailable
from tipbox.services.custody.keyring import Keyring
from tipbox.services.instance import is_initialised
from tipbox.services.ops.backup import SNAPSHOT_PREFIX
from tipbox.services.ops.torrc import OnionServiceLines, onion_services
from tipbox.store import find_orphans, open_blob_store
from tipbox.store.blobs import is_locked
from tipbox.store.db import database_exists, open_database
from tipbox.store.desks import DEFAULT_DESK, desk_rows

__all__ = ["CHECKS", "Problem", "System", "diagnose", "foreign_user"]

_SNAPSHOT = re.compile(re.escape(SNAPSHOT_PREFIX) + r"[0-9a-f]{32}\.db")
_SECRET_MARK = b"AGE-SECRET-KEY-"
_SCAN_BYTES = 64 * 1024
_PRIVATE = 0o077


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: which check, what is wrong, and how to fix it."""

    check: str
    message: str
    fix: str


def _statvfs_free(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


@dataclass(frozen=True)
class System:
    """What doctor reads outside the instance; tests point these at fakes."""

    proc_swaps: Path = Path("/proc/swaps")
    sys_block: Path = Path("/sys/block")
    free_bytes: Callable[[Path], int] = field(default=_statvfs_free)
    now: Callable[[], float] = field(default=time.time)
    torrc: Path = Path("/etc/tor/torrc")


Check = Callable[[Settings, System], list[Problem]]


def diagnose(settings: Settings, system: System | None = None) -> list[Problem]:
    """Run every check in :data:`CHECKS`; an empty list means all is well."""
    system = system or System()
    return [problem for check in CHECKS for problem in check(settings, system)]


# -- permissions ----------------------------------------------------------------


def check_permissions(settings: Settings, _system: System) -> list[Problem]:
    """Directories 0700, secret files 0600, one owner throughout the data directory."""
    problems: list[Problem] = []
    blobs = open_blob_store(settings).local_directories()
    directories = (settings.data_dir, *blobs, settings.keys_dir)
    for directory in directories:
        problems += _mode_problems(directory, "directory", 0o700)
    for path in _secret_files(settings):
        problems += _mode_problems(path, "secret file", 0o600)
    problems += _owner_problems(settings.data_dir)
    return problems


def _mode_problems(path: Path, what: str, wanted: int) -> list[Problem]:
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        return []
    if mode & _PRIVATE == 0:
        return []
    return [
        Problem(
            "permissions",
            f"{what} {path} is accessible to other users (mode {mode:04o})",
            f"chmod {wanted:o} {path}",
        )
    ]


def _secret_files(settings: Settings) -> Iterator[Path]:
    yield settings.secrets_path
    database = settings.database_path
    yield from (database, database.with_name(database.name + "-wal"))
    yield database.with_name(database.name + "-shm")
    yield from open_blob_store(settings).local_files()
    yield from (path for path in _files_in(settings.keys_dir) if path.suffix == ".age")


def _files_in(directory: Path) -> Iterator[Path]:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(directory) as it:
        for entry in it:
            if entry.is_file(follow_symlinks=False):
                yield Path(entry.path)


def _owner_problems(data_dir: Path) -> list[Problem]:
    try:
        owner = os.lstat(data_dir).st_uid
    except FileNotFoundError:
        return []
    strangers = [path for path in _walk(data_dir) if os.lstat(path).st_uid != owner]
    if not strangers:
        return []
    return [
        Problem(
            "permissions",
            f"{len(strangers)} files in {data_dir} belong to another user than the "
            f"directory (first: {strangers[0]})",
            f"chown -R --reference={data_dir} {data_dir}",
        )
    ]


def _walk(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        for name in (*dirs, *files):
            yield Path(root) / name


# -- instance state -------------------------------------------------------------


def foreign_user(settings: Settings) -> str | None:
    """Why this process must not touch the instance (another user owns it), or None.

    Compares the effective uid with the owner of the data directory (or of
    its nearest existing parent, before ``init`` or ``restore``).
    """
    where = _existing_ancestor(settings.data_dir)
    owner = os.stat(where).st_uid
    if owner == os.geteuid():
        return None
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = str(owner)
    return (
        f"{where} belongs to user {name}, but this runs as uid {os.geteuid()}: run it as "
        f"{name} (the `tipbox` wrapper of docs/deploy.md does)"
    )


def check_user(settings: Settings, _system: System) -> list[Problem]:
    """Doctor itself runs as the instance's owner (else the database stays unopened)."""
    reason = foreign_user(settings)
    if reason is None:
        return []
    return [Problem("user", f"{reason}; the database was not checked", _AS_OWNER)]


_AS_OWNER = "run `tipbox doctor` (deploy/tipbox-admin.sh), or `runuser -u tipbox -- ...`"


def check_initialised(settings: Settings, _system: System) -> list[Problem]:
    """``init`` has completed: secrets file and database exist (PostgreSQL: it answers)."""
    try:
        if is_initialised(settings) and database_exists(settings):
            return []
    except StorageUnavailable as error:
        return [Problem("initialised", str(error),
                        "check TIPBOX_DATABASE_URL, and that the PostgreSQL server runs")]
    return [
        Problem(
            "initialised",
            f"no initialised instance in {settings.data_dir}",
            "run `python -m tipbox init` (as the service user), or restore a backup "
            "with `python -m tipbox restore`",
        )
    ]


def check_keys(settings: Settings, _system: System) -> list[Problem]:
    """A recovery recipient, and for every desk an active key that its file shows
    (``newsroom.txt`` for the first desk, ``newsroom-<slug>.txt`` for others)."""
    if not _store_readable(settings):
        return []  # reported by check_initialised or check_user
    database = open_database(settings)
    try:
        with database.reading() as conn:
            desks = [(int(row["id"]), str(row["slug"])) for row in desk_rows(conn)]
        return _key_problems(Keyring(database), settings.keys_dir, desks)
    except StorageUnavailable as error:
        return [Problem("keys", f"the database cannot be read: {error}", "check its owner")]
    finally:
        database.close()


def _key_problems(keyring: Keyring, keys_dir: Path, desks: list[tuple[int, str]]) -> list[Problem]:
    problems: list[Problem] = []
    try:
        keyring.recovery_recipient()
    except NotInitialised:
        problems.append(Problem("keys", "no recovery recipient is recorded", _REINIT))
    for desk_id, slug in desks:
        name = "newsroom.txt" if desk_id == DEFAULT_DESK else f"newsroom-{slug}.txt"
        problems += _desk_key_problems(keyring, desk_id, slug, keys_dir / name)
    return problems


def _desk_key_problems(keyring: Keyring, desk_id: int, slug: str, shown_in: Path) -> list[Problem]:
    try:
        active = keyring.active_key(desk_id)
    except NotInitialised:
        return [Problem("keys", f"the desk {slug} has no active newsroom key", _ROTATE)]
    try:
        shown = shown_in.read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        shown = None
    if shown == active.recipient:
        return []
    return [Problem("keys", f"{shown_in} is missing or is not the active key of the desk {slug}",
                    f"write the active recipient ({active.fingerprint}) into {shown_in}")]


_REINIT = "the instance is damaged: restore the latest backup into a new instance"
_ROTATE = "create and activate a newsroom key (key rotation), or restore the latest backup"


def check_plaintext_identities(settings: Settings, _system: System) -> list[Problem]:
    """No file in the keys or data directory holds an age identity in the clear."""
    problems: list[Problem] = []
    for directory in (settings.keys_dir, settings.data_dir):
        for path in _files_in(directory):
            if _holds_identity(path):
                problems.append(
                    Problem(
                        "plaintext identities",
                        f"{path} contains a private age identity in the clear",
                        f"keep it offline (paper), then delete it: shred -u {path}",
                    )
                )
    return problems


def _holds_identity(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            return _SECRET_MARK in file.read(_SCAN_BYTES).upper()
    except OSError:
        return False


# -- the machine ----------------------------------------------------------------


def check_disk_space(settings: Settings, system: System) -> list[Problem]:
    """Free disk covers the largest accepted upload plus the configured reserve."""
    where = _existing_ancestor(settings.data_dir)
    free = system.free_bytes(where)
    needed = settings.max_upload_bytes + settings.min_free_bytes
    if free >= needed:
        return []
    return [
        Problem(
            "disk",
            f"only {_mib(free)} free on the file system of {where}; one maximum upload "
            f"plus the reserve needs {_mib(needed)}",
            "free or add disk space, or lower TIPBOX_MAX_UPLOAD_BYTES / TIPBOX_MIN_FREE_BYTES",
        )
    ]


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _mib(size: int) -> str:
    return f"{size / 1024**2:,.0f} MiB"


def check_swap(settings: Settings, system: System) -> list[Problem]:
    """Active swap must be RAM-backed (zram) or encrypted (dm-crypt)."""
    problems: list[Problem] = []
    for device in _active_swaps(system.proc_swaps):
        if not _swap_is_safe(device, system.sys_block):
            problems.append(
                Problem(
                    "swap",
                    f"swap on {device} is not encrypted: plaintext in memory could be "
                    "written to disk",
                    "turn swap off (`swapoff -a` and remove it from /etc/fstab) or use "
                    "encrypted swap (a `swap` line in /etc/crypttab)",
                )
            )
    return problems


def _active_swaps(proc_swaps: Path) -> list[str]:
    try:
        lines = proc_swaps.read_text().splitlines()[1:]
    except OSError:
        return []
    return [line.split()[0].replace("\\040", " ") for line in lines if line.strip()]


def _swap_is_safe(device: str, sys_block: Path) -> bool:
    name = os.path.basename(os.path.realpath(device))
    return name.startswith("zram") or _is_encrypted(name, sys_block, depth=0)


def _is_encrypted(name: str, sys_block: Path, *, depth: int) -> bool:
    """Whether block device ``name`` is dm-crypt, or stacked only on dm-crypt.

    LVM inside LUKS (Debian's "encrypted LVM" install) is a ``dm`` device
    whose slaves are the encrypted one.
    """
    if not name.startswith("dm-") or depth > 8:
        return False
    try:
        uuid = (sys_block / name / "dm" / "uuid").read_text()
    except OSError:
        return False
    if uuid.startswith("CRYPT-"):
        return True
    try:
        slaves = os.listdir(sys_block / name / "slaves")
    except OSError:
        return False
    return bool(slaves) and all(
        _is_encrypted(slave, sys_block, depth=depth + 1) for slave in slaves
    )


def check_settings(settings: Settings, _system: System) -> list[Problem]:
    """Nothing that is only safe for a local development run."""
    problems: list[Problem] = []
    if settings.dev:
        problems.append(
            Problem(
                "settings",
                "TIPBOX_DEV is on: session cookies are sent without the Secure flag",
                "remove TIPBOX_DEV from the environment (/etc/tipbox/tipbox.env)",
            )
        )
    for name, bind in (("SOURCE", settings.source_bind), ("REVIEWER", settings.reviewer_bind)):
        if not _is_loopback(bind):
            problems.append(
                Problem(
                    "settings",
                    f"TIPBOX_{name}_BIND={bind} listens beyond this machine; the apps must "
                    "only be reachable through Tor",
                    f"set TIPBOX_{name}_BIND to a loopback address, e.g. 127.0.0.1:"
                    f"{bind.rpartition(':')[2]}",
                )
            )
    return problems


def _is_loopback(bind: str) -> bool:
    host = bind.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: may resolve to anything


# -- leftovers ------------------------------------------------------------------


def check_leftovers(settings: Settings, _system: System) -> list[Problem]:
    """Temporaries of dead blob writers, backups and restores."""
    found = [
        *open_blob_store(settings).dead_temporaries(),
        *_dead_temporaries(settings.data_dir, _SNAPSHOT),
    ]
    for parent in sorted({settings.data_dir.parent, settings.keys_dir.parent}):
        found += sorted(parent.glob(".tipbox-restore-*"))
    return [
        Problem(
            "leftovers",
            f"{path} was left by an interrupted upload, backup or restore",
            f"restart the apps (they remove upload leftovers at start) or delete it: rm -r {path}",
        )
        for path in found
    ]


def _dead_temporaries(directory: Path, pattern: re.Pattern[str]) -> Iterator[Path]:
    """Temporaries whose writer died: nobody holds their ``flock`` any more."""
    for path in _files_in(directory):
        if pattern.fullmatch(path.name) and not is_locked(path):
            yield path


# -- orphans and the blob pool -------------------------------------------------


def _store_readable(settings: Settings) -> bool:
    """Whether the database may be opened (else check_initialised or check_user report)."""
    if foreign_user(settings) is not None:
        return False
    try:
        return database_exists(settings)
    except StorageUnavailable:
        return False  # reported by check_initialised


def check_orphans(settings: Settings, system: System) -> list[Problem]:
    """Blobs without a database row; those past the grace period go at the next sweep."""
    if not _store_readable(settings):
        return []
    blobs = open_blob_store(settings)
    database = open_database(settings)
    try:
        grace = settings.orphan_grace_seconds
        orphans = find_orphans(database, blobs, now=system.now(), grace_seconds=grace)
    except StorageUnavailable as error:
        return [Problem("orphans", f"the database cannot be read: {error}", "check its owner")]
    finally:
        database.close()
    if not orphans:
        return []
    old = sum(orphan.past_grace for orphan in orphans)
    return [
        Problem(
            "orphans",
            f"{len(orphans)} blobs in {blobs.location} have no database row (left by a "
            f"crash between storing a payload and recording it): {old} past the grace period "
            f"(TIPBOX_ORPHAN_GRACE_SECONDS={grace}) will be removed by the next sweep, "
            f"{len(orphans) - old} younger ones may be uploads being recorded right now",
            "run `tipbox sweep` (deploy/tipbox-sweep.timer runs it every hour; the apps also "
            "remove old orphans when they start)",
        )
    ]


def check_blob_pool(settings: Settings, _system: System) -> list[Problem]:
    """The pool of pre-created blob files is not empty or low (see :mod:`tipbox.store.blobs`)."""
    if not _store_readable(settings):
        return []
    pool = open_blob_store(settings)
    left = len(pool.pool_names())
    wanted = settings.blob_pool_size
    if left >= max(1, wanted // 4):
        return []
    state = "empty" if left == 0 else f"low ({left} of TIPBOX_BLOB_POOL_SIZE={wanted} left)"
    return [
        Problem(
            "blob pool",
            f"the blob pool {pool.pool_location} is {state}: new uploads get freshly created "
            "files, whose birth time is the upload's time",
            "run `tipbox sweep` and enable deploy/tipbox-sweep.timer (it refills the pool "
            "every hour); if an hour of uploads empties it, raise TIPBOX_BLOB_POOL_SIZE",
        )
    ]


# -- onion services -------------------------------------------------------------


def check_onion_services(settings: Settings, system: System) -> list[Problem]:
    """Tor publishes both apps, the source with proof of work; TIPBOX_ONION_HOSTS is set."""
    try:
        services = onion_services(system.torrc.read_text("utf-8", "replace"))
    except OSError as error:
        return [Problem("onion", f"{system.torrc} cannot be read ({error.strerror})",
                        "install deploy/torrc as /etc/tor/torrc (docs/deploy.md, step 10)")]
    problems: list[Problem] = []
    for name, bind in (("SOURCE", settings.source_bind), ("REVIEWER", settings.reviewer_bind)):
        if not any(service.forwards_to(bind) for service in services):
            problems.append(Problem(
                "onion",
                f"no onion service in {system.torrc} forwards to TIPBOX_{name}_BIND={bind}",
                f"under its HiddenServiceDir: HiddenServicePort 80 {bind} (as in deploy/torrc), "
                "then `systemctl reload tor`"))
    source = next((s for s in services if s.forwards_to(settings.source_bind)), None)
    if source is not None:
        problems += _source_service_problems(settings, source)
    return problems


def _source_service_problems(settings: Settings, source: OnionServiceLines) -> list[Problem]:
    problems: list[Problem] = []
    if source.options.get("hiddenservicepowdefensesenabled") != "1":
        problems.append(Problem(
            "onion", f"the source onion service ({source.directory}) has no proof-of-work defence",
            "under its HiddenServiceDir: HiddenServicePoWDefensesEnabled 1 (as in deploy/torrc), "
            "then `systemctl reload tor`"))
    if not settings.onion_hosts:
        hostname = f"{source.directory.rstrip('/')}/hostname"
        problems.append(Problem(
            "onion", "TIPBOX_ONION_HOSTS is empty: a visitor by another address is not warned",
            f"set TIPBOX_ONION_HOSTS to the address in {hostname} (readable by root) in "
            "/etc/tipbox/tipbox.env, then `systemctl restart tipbox-source`"))
    return problems


#: Every check, in the order their problems are printed.
CHECKS: tuple[Check, ...] = (
    check_user,
    check_initialised,
    check_permissions,
    check_keys,
    check_plaintext_identities,
    check_disk_space,
    check_swap,
    check_settings,
    check_leftovers,
    check_orphans,
    check_blob_pool,
    check_onion_services,
)
