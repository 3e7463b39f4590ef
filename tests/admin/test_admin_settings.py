"""Instance settings: validated, bounded by the environment, stored in the database."""

from __future__ import annotations

import pytest

from tipbox.config import Settings
from tipbox.errors import InvalidInput
from tipbox.services.audit import Audit
from tipbox.services.instance_settings import SettingsStore, defaults
from tipbox.services.wiring import Instance


def test_defaults_come_from_the_environment(instance: Instance, settings: Settings) -> None:
    store = SettingsStore(instance.store.db, settings, audit=Audit(instance.store.db))
    assert store.current() == defaults(settings)
    assert store.effective() == settings


def test_changes_are_validated_and_bounded(instance: Instance, settings: Settings) -> None:
    store = SettingsStore(instance.store.db, settings, audit=Audit(instance.store.db))
    updated = store.update({"organisation": " The Daily ", "max_files": "3",
                            "landing_text": "Hello\r\nsource", "retention_days": "90"})
    assert (updated.organisation, updated.max_files) == ("The Daily", 3)
    assert updated.landing_text == "Hello\nsource"
    assert store.current() == updated
    assert store.effective().max_files == 3
    assert store.effective().retention_days == 90
    for bad in ({"max_files": str(settings.max_files + 1)}, {"max_files": "0"},
                {"max_upload_bytes": "lots"}, {"organisation": ""},
                {"organisation": "x\x00y"}, {"landing_text": "a" * 5001},
                {"session_idle_seconds": str(settings.session_absolute_seconds + 1)},
                {"retention_days": "-1"}, {"colour": "red"}):
        with pytest.raises(InvalidInput):
            store.update(bad)
    assert store.current() == updated  # nothing of a refused change is stored


def test_environment_retention_is_a_ceiling(instance: Instance, settings: Settings) -> None:
    import dataclasses

    policy = dataclasses.replace(settings, retention_days=30)
    store = SettingsStore(instance.store.db, policy, audit=Audit(instance.store.db))
    assert store.current().retention_days == 30
    with pytest.raises(InvalidInput):
        store.update({"retention_days": "0"})
    with pytest.raises(InvalidInput):
        store.update({"retention_days": "31"})
    assert store.update({"retention_days": "7"}).retention_days == 7


def test_idle_timeout_never_exceeds_absolute(instance: Instance, settings: Settings) -> None:
    store = SettingsStore(instance.store.db, settings, audit=Audit(instance.store.db))
    store.update({"session_absolute_seconds": "600", "session_idle_seconds": "300"})
    with pytest.raises(InvalidInput, match="idle"):
        store.update({"session_idle_seconds": "900"})


def test_another_process_sees_an_update_once_its_cache_is_older_than_max_age(
    instance: Instance, settings: Settings
) -> None:
    clock = [100.0]
    audit = Audit(instance.store.db)
    reader = SettingsStore(
        instance.store.db, settings, audit=audit, max_age=2.0, clock=lambda: clock[0]
    )
    assert reader.current().max_files == settings.max_files
    SettingsStore(instance.store.db, settings, audit=audit).update({"max_files": "3"})
    clock[0] += 1.0
    assert reader.current().max_files == settings.max_files  # still cached
    clock[0] += 1.5
    assert reader.current().max_files == 3
