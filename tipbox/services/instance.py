"""Creating and opening a tipbox instance.

:func:`init_instance` sets up a new instance once:

- the data directory (mode 0700) with the database and blob directory;
- ``secrets.json`` (mode 0600): the Flask secret key and the instance salt
  of codename derivation. Written last: its presence means "initialised";
- the first newsroom key (post-quantum by default, X25519 with
  ``classic=True``), granted **only** to a freshly generated recovery
  identity, whose string is returned once in :class:`InitResult` and never
  stored anywhere;
- in the keys directory the public files of ``keys/README.md``:
  ``newsroom.txt``, ``recovery.txt`` and ``newsroom-<fingerprint>.age`` (the
  newsroom identity encrypted to the recovery recipient).

It never overwrites anything: an existing secrets file, database or key file
raises :class:`~tipbox.errors.AlreadyInitialised`.

:func:`tipbox.services.wiring.open_instance` opens an initialised instance
and builds its services.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tipbox.config import Settings
from tipbox.crypto import HybridIdentity, X25519Identity, encrypt, fingerprint
from tipbox.errors import AlreadyInitialised, ConfigError, NotInitialised
from tipbox.passwords import new_salt
from tipbox.services.custody.keyring import (
    RECOVERY,
    RECOVERY_RECIPIENT,
    KeyIdentity,
    NewsroomKey,
    insert_key,
)
from tipbox.store import Store, hour
from tipbox.store.db import Database, database_exists, read_meta, write_meta
from tipbox.store.desks import DEFAULT_DESK
from tipbox.store.files import write_atomically

__all__ = [
    "InitResult",
    "InstanceSecrets",
    "init_instance",
    "is_initialised",
    "read_secrets",
    "verify_secrets",
]

SECRETS_VERSION = 1
CODENAME_KDF = "codename_kdf"
CREATED_HOUR = "created_hour"
SECRETS_CHECK = "secrets_check"
_SECRETS_CHECK_CONTEXT = b"tipbox secrets check v1"


@dataclass(frozen=True, slots=True, repr=False)
class InstanceSecrets:
    """The secrets ``init`` generates into ``secrets.json`` (never logged)."""

    flask_secret_key: bytes
    instance_salt: bytes

    def __repr__(self) -> str:
        return "InstanceSecrets(<secret>)"


@dataclass(frozen=True, slots=True, repr=False)
class InitResult:
    """What ``init`` reports. ``recovery_identity`` is shown once, then forgotten."""

    recovery_identity: str
    recovery_recipient: str
    newsroom_recipient: str
    fingerprint: str
    kind: str

    def __repr__(self) -> str:
        return f"InitResult(newsroom_recipient={self.newsroom_recipient!r}, ...)"


def is_initialised(settings: Settings) -> bool:
    """Whether ``init`` has completed for this data directory."""
    return settings.secrets_path.exists()


def init_instance(
    settings: Settings, *, classic: bool = False, now: Callable[[], float] = time.time
) -> InitResult:
    """Create a new instance (see the module docstring); refuses to overwrite one."""
    _refuse_existing(settings)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    recovery = _generate(classic)
    newsroom = _generate(classic)
    instance_secrets = _new_secrets()
    store = Store.open(
        settings.database_path,
        settings.blobs_dir,
        min_free_bytes=0,
        now=now,
        pool_size=settings.blob_pool_size,
        orphan_grace_seconds=settings.orphan_grace_seconds,
        database_url=settings.database_url,
    )
    try:
        key = _record_first_key(store, settings, newsroom, recovery, hour(now()))
        verify_secrets(store.db, instance_secrets)  # records the check
    finally:
        store.close()
    _write_key_files(settings.keys_dir, key, newsroom, recovery)
    _write_secrets(settings.secrets_path, instance_secrets)
    return InitResult(
        recovery_identity=str(recovery),
        recovery_recipient=str(recovery.recipient()),
        newsroom_recipient=key.recipient,
        fingerprint=key.fingerprint,
        kind=key.kind,
    )


def _refuse_existing(settings: Settings) -> None:
    existing = [
        path
        for path in (
            settings.secrets_path,
            settings.database_path,
            settings.keys_dir / "newsroom.txt",
            settings.keys_dir / "recovery.txt",
        )
        if path.exists()
    ]
    if existing:
        raise AlreadyInitialised(
            f"{existing[0]} already exists: this instance is initialised (or a previous "
            "init was interrupted); refusing to overwrite anything"
        )
    if settings.database_url is not None and database_exists(settings):
        raise AlreadyInitialised(
            "the database of TIPBOX_DATABASE_URL already holds a tipbox schema: this instance"
            " is initialised (or a previous init was interrupted); refusing to overwrite anything"
        )


def _generate(classic: bool) -> KeyIdentity:
    return X25519Identity.generate() if classic else HybridIdentity.generate()


def _record_first_key(
    store: Store,
    settings: Settings,
    newsroom: KeyIdentity,
    recovery: KeyIdentity,
    created_hour: int,
) -> NewsroomKey:
    with store.db.transaction() as conn:
        write_meta(conn, CODENAME_KDF, settings.codename_argon2.encode())
        write_meta(conn, RECOVERY_RECIPIENT, str(recovery.recipient()))
        write_meta(conn, CREATED_HOUR, str(created_hour))
        return insert_key(
            conn,
            newsroom,
            holders=[(RECOVERY, recovery.recipient())],
            state="active",
            created_hour=created_hour,
            desk_id=DEFAULT_DESK,
        )


def _write_key_files(
    keys_dir: Path, key: NewsroomKey, newsroom: KeyIdentity, recovery: KeyIdentity
) -> None:
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    wrapped = encrypt([recovery.recipient()], (str(newsroom) + "\n").encode("ascii"))
    compact = fingerprint(key.recipient).replace(" ", "")
    _write_new_file(keys_dir / f"newsroom-{compact}.age", wrapped, 0o600)
    _write_new_file(keys_dir / "recovery.txt", f"{recovery.recipient()}\n".encode(), 0o644)
    _write_new_file(keys_dir / "newsroom.txt", f"{key.recipient}\n".encode(), 0o644)


def _new_secrets() -> InstanceSecrets:
    return InstanceSecrets(flask_secret_key=secrets.token_bytes(32), instance_salt=new_salt())


def _write_secrets(path: Path, instance_secrets: InstanceSecrets) -> None:
    document = {
        "version": SECRETS_VERSION,
        "flask_secret_key": instance_secrets.flask_secret_key.hex(),
        "instance_salt": instance_secrets.instance_salt.hex(),
    }
    _write_new_file(path, json.dumps(document, indent=2).encode("ascii") + b"\n", 0o600)


def verify_secrets(db: Database, instance_secrets: InstanceSecrets) -> None:
    """Refuse a secrets file that is not the one of the database's instance.

    Every host of an instance needs the same ``secrets.json``: with another
    one, sessions made on one host are unknown on the others and codenames
    derive to other lookup ids, so sources could not log in. The database
    keeps a keyed digest of the secrets (which reveals nothing of them),
    recorded by ``init`` or, for an older instance, by the first opening.
    Raises :class:`~tipbox.errors.ConfigError` on a mismatch.
    """
    expected = _secrets_check(instance_secrets)
    with db.transaction() as conn:
        recorded = read_meta(conn, SECRETS_CHECK)
        if recorded is None:
            write_meta(conn, SECRETS_CHECK, expected)
    if recorded is not None and not hmac.compare_digest(recorded, expected):
        raise ConfigError(
            "this host's secrets.json belongs to another instance than its database: every"
            " host of one instance needs the same secrets.json (docs/deploy.md, \"Several hosts\")"
        )


def _secrets_check(instance_secrets: InstanceSecrets) -> str:
    message = _SECRETS_CHECK_CONTEXT + instance_secrets.instance_salt
    return hmac.new(instance_secrets.flask_secret_key, message, hashlib.sha256).hexdigest()


def _write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` atomically; never replaces a file."""
    write_atomically(path, data, mode, replace=False)


def read_secrets(path: Path) -> InstanceSecrets:
    try:
        document = json.loads(path.read_text("ascii"))
    except FileNotFoundError:
        raise NotInitialised(
            f"no initialised instance in {path.parent} ({path.name} not found);"
            " run `python -m tipbox init` first"
        ) from None
    except (OSError, ValueError):
        raise NotInitialised(f"{path} is unreadable or damaged") from None
    try:
        if document["version"] != SECRETS_VERSION:
            raise ValueError("unknown version")
        return InstanceSecrets(
            flask_secret_key=bytes.fromhex(document["flask_secret_key"]),
            instance_salt=bytes.fromhex(document["instance_salt"]),
        )
    except (KeyError, TypeError, ValueError):
        raise NotInitialised(f"{path} is damaged") from None
