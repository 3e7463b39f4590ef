"""init and open: files, modes, keys granted only to recovery, no overwrite."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tipbox.config import Settings
from tipbox.crypto import (
    HybridIdentity,
    X25519Identity,
    decrypt,
    fingerprint,
    parse_identity,
    parse_recipient,
)
from tipbox.errors import AlreadyInitialised, NotInitialised, TooLarge
from tipbox.services.audit import Audit
from tipbox.services.custody.keyring import RECOVERY
from tipbox.services.instance import InitResult, init_instance, is_initialised
from tipbox.services.instance_settings import SettingsStore
from tipbox.services.wiring import Instance, open_instance
from tipbox.store.desks import DEFAULT_DESK


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def every_file(*roots: Path) -> list[Path]:
    return [path for root in roots for path in root.rglob("*") if path.is_file()]


def test_init_creates_private_data_dir_and_secrets(settings: Settings) -> None:
    assert not is_initialised(settings)
    init_instance(settings)
    assert is_initialised(settings)
    assert mode(settings.data_dir) == 0o700
    assert mode(settings.secrets_path) == 0o600
    if settings.database_url is None:
        assert mode(settings.database_path) == 0o600
    else:
        assert not settings.database_path.exists()  # the database is PostgreSQL's
    assert mode(settings.blobs_dir) == 0o700
    document = json.loads(settings.secrets_path.read_text())
    assert len(bytes.fromhex(document["flask_secret_key"])) == 32
    assert len(bytes.fromhex(document["instance_salt"])) == 16


def test_init_writes_the_public_key_files(settings: Settings, init_result: InitResult) -> None:
    keys = settings.keys_dir
    compact = init_result.fingerprint.replace(" ", "")
    assert sorted(p.name for p in keys.iterdir()) == [
        f"newsroom-{compact}.age",
        "newsroom.txt",
        "recovery.txt",
    ]
    assert (keys / "newsroom.txt").read_text() == init_result.newsroom_recipient + "\n"
    assert (keys / "recovery.txt").read_text() == init_result.recovery_recipient + "\n"
    assert init_result.newsroom_recipient.startswith("age1pq1")
    assert init_result.fingerprint == fingerprint(init_result.newsroom_recipient)
    # The wrapped newsroom identity opens with the recovery identity only.
    recovery = parse_identity(init_result.recovery_identity)
    wrapped = (keys / f"newsroom-{compact}.age").read_bytes()
    newsroom = parse_identity(decrypt([recovery], wrapped).decode())
    assert isinstance(newsroom, HybridIdentity)
    assert str(newsroom.recipient()) == init_result.newsroom_recipient
    assert mode(keys / f"newsroom-{compact}.age") == 0o600


def test_no_private_key_is_stored_in_clear(settings: Settings, init_result: InitResult) -> None:
    instance = open_instance(settings)
    recovery = parse_identity(init_result.recovery_identity)
    [newsroom] = instance.keyring.open_identities(recovery)
    instance.close()
    secrets_found = {init_result.recovery_identity, str(newsroom)}
    for path in every_file(settings.data_dir, settings.keys_dir):
        data = path.read_bytes()
        for secret in secrets_found:
            assert secret.encode() not in data, path
            assert secret.lower().encode() not in data, path


def test_first_key_is_active_and_granted_only_to_recovery(instance: Instance) -> None:
    [key] = instance.keyring.keys()
    assert (key.state, key.kind) == ("active", "pq")
    assert instance.keyring.active_key(DEFAULT_DESK) == key
    assert instance.keyring.active_keys() == {DEFAULT_DESK: key}
    assert key.desk_id == DEFAULT_DESK
    with instance.store.db.connection() as conn:
        holders = [row[0] for row in conn.execute("SELECT holder FROM grants")]
    assert holders == [RECOVERY]
    assert key.created_hour % 3600 == 0


def test_open_identities_needs_the_right_identity(
    instance: Instance, init_result: InitResult
) -> None:
    assert instance.keyring.open_identities(HybridIdentity.generate()) == []
    recovery = parse_identity(init_result.recovery_identity)
    [newsroom] = instance.keyring.open_identities(recovery)
    assert str(newsroom.recipient()) == instance.keyring.active_key(DEFAULT_DESK).recipient
    assert str(instance.keyring.recovery_recipient()) == init_result.recovery_recipient


def test_init_refuses_to_overwrite(settings: Settings, init_result: InitResult) -> None:
    before = {p: p.read_bytes() for p in every_file(settings.data_dir, settings.keys_dir)}
    with pytest.raises(AlreadyInitialised, match="refusing to overwrite"):
        init_instance(settings)
    with pytest.raises(AlreadyInitialised):
        init_instance(settings, classic=True)
    after = {p: p.read_bytes() for p in every_file(settings.data_dir, settings.keys_dir)}
    assert after == before


def test_init_refuses_a_half_initialised_instance(settings: Settings, tmp_path: Path) -> None:
    init_instance(settings)
    settings.secrets_path.unlink()  # e.g. init interrupted before its last step
    with pytest.raises(AlreadyInitialised):
        init_instance(settings)
    with pytest.raises(NotInitialised):
        open_instance(settings)


def test_init_refuses_existing_key_files(settings: Settings) -> None:
    settings.keys_dir.mkdir(parents=True)
    (settings.keys_dir / "newsroom.txt").write_text("age1someone-elses-key\n")
    with pytest.raises(AlreadyInitialised):
        init_instance(settings)
    assert not settings.data_dir.exists()


def test_classic_init_uses_x25519(settings: Settings) -> None:
    result = init_instance(settings, classic=True)
    assert result.kind == "classic"
    assert parse_recipient(result.newsroom_recipient).kind == "classic"
    assert isinstance(parse_identity(result.recovery_identity), X25519Identity)
    assert not result.recovery_identity.startswith("AGE-SECRET-KEY-PQ")


def test_open_before_init_says_so(settings: Settings) -> None:
    with pytest.raises(NotInitialised, match="tipbox init"):
        open_instance(settings)


def test_damaged_secrets_file(settings: Settings) -> None:
    init_instance(settings)
    settings.secrets_path.write_text("{not json")
    with pytest.raises(NotInitialised, match="damaged"):
        open_instance(settings)


def test_secrets_and_results_never_show_in_repr(
    instance: Instance, init_result: InitResult
) -> None:
    assert init_result.recovery_identity not in repr(init_result)
    assert instance.secrets.instance_salt.hex() not in repr(instance.secrets)
    assert instance.secrets.instance_salt.hex() not in repr(instance)


def test_limits_set_by_admins_apply_when_the_instance_opens(
    settings: Settings, instance: Instance
) -> None:
    store = SettingsStore(instance.store.db, settings, audit=Audit(instance.store.db))
    store.update({"max_files": "3", "max_message_chars": "50"})
    reopened = open_instance(settings)
    try:
        assert (reopened.settings.max_files, reopened.settings.max_message_chars) == (3, 50)
        draft = reopened.submissions.start(None)
        with pytest.raises(TooLarge):
            draft.add_message("x" * 51)
    finally:
        reopened.close()


def test_a_lowered_limit_can_be_raised_again_after_a_restart(
    settings: Settings, instance: Instance
) -> None:
    instance.instance_settings.update({"max_files": "2"})
    reopened = open_instance(settings)
    try:
        reopened.instance_settings.update({"max_files": str(settings.max_files)})
        assert reopened.instance_settings.effective().max_files == settings.max_files
    finally:
        reopened.close()
