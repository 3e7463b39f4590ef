"""Landing texts per language and the logo as instance settings (service level)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tipbox.config import Settings
from tipbox.errors import InvalidInput
from tipbox.services.audit import Audit
from tipbox.services.instance_settings import LANDING_LANGUAGES, SettingsStore
from tipbox.services.wiring import Instance


def _store(instance: Instance, settings: Settings) -> SettingsStore:
    return SettingsStore(instance.store.db, settings, audit=Audit(instance.store.db))


def test_each_language_has_its_own_validated_text(instance: Instance, settings: Settings) -> None:
    store = _store(instance, settings)
    updated = store.update({"landing_text": "Hello", "landing_text_be": " Вітаем\r\n "})
    assert updated.landing_for("be") == "Вітаем"
    assert updated.landing_for("uk") == "Hello"
    assert updated.landing_for("en") == "Hello"
    for code in LANDING_LANGUAGES:
        for bad in ("a" * 5001, "x\x00y"):
            with pytest.raises(InvalidInput):
                store.update({f"landing_text_{code}": bad})
    assert store.current() == updated


def test_the_logo_is_not_a_form_field(instance: Instance, settings: Settings) -> None:
    with pytest.raises(InvalidInput):
        _store(instance, settings).update({"logo": "0123456789abcdef"})


def test_the_logo_version_follows_each_change(instance: Instance, settings: Settings) -> None:
    store = _store(instance, settings)
    assert store.current().logo == ""
    out = io.BytesIO()
    Image.new("RGBA", (20, 20), (1, 2, 3, 100)).save(out, format="PNG")
    store.set_logo(out.getvalue(), by="admin")
    version = store.current().logo
    assert len(version) == 16
    png = store.logo_png()
    assert png is not None
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "RGBA"  # transparency kept
    store.remove_logo(by="admin")
    assert store.current().logo == ""
    assert store.logo_png() is None
    rows = Audit(instance.store.db).recent()
    targets = [row.target for row in rows if row.action == "change settings"]
    assert targets == ["logo", "logo"]
