"""Right-to-left readiness: a new language needs only its catalog (issue 8).

The test builds a tiny Arabic catalog in a temp directory (nothing fake is
committed) and shows that the page gets ``dir="rtl"``, the picker offers the
language by its own name, and Latin codenames stay left to right.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask
from i18n_kit import page

ARABIC_TITLE = "أرسل لنا المعلومات بأمان"


@pytest.fixture
def arabic(tmp_path: Path) -> Path:
    """A translations directory with an ``ar`` catalog of one message."""
    catalog = Catalog(locale="ar")
    catalog.add("Send us information safely", ARABIC_TITLE)
    target = tmp_path / "rtl" / "ar" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as handle:
        write_mo(handle, catalog)
    return tmp_path / "rtl"


def test_an_rtl_language_gets_dir_rtl(make_app: Callable[..., Flask], arabic: Path) -> None:
    client = make_app("source", arabic).test_client()
    html = page(client, "/", headers={"Accept-Language": "ar"})
    assert '<html lang="ar" dir="rtl">' in html
    assert ARABIC_TITLE in html
    assert "Before you start: stay safe" in html  # untranslated strings fall back to English


def test_the_picker_offers_it_and_the_choice_sticks(make_app: Callable[..., Flask],
                                                    arabic: Path) -> None:
    client = make_app("source", arabic).test_client()
    assert 'hreflang="ar" lang="ar">العربية</a>' in page(client, "/")
    assert client.get("/?lang=ar").status_code == 303
    assert '<html lang="ar" dir="rtl">' in page(client, "/submit")


def test_ltr_languages_stay_ltr_next_to_it(make_app: Callable[..., Flask], arabic: Path) -> None:
    client = make_app("source", arabic).test_client()
    assert '<html lang="ru" dir="ltr">' in page(client, "/", headers={"Accept-Language": "ru"})


def test_codenames_and_fingerprints_stay_left_to_right() -> None:
    css = (Path(__file__).resolve().parents[2] / "tipbox" / "static" / "tipbox.css").read_text()
    assert ".fingerprint code, .codename { direction: ltr;" in css
    assert "border-left" not in css  # logical properties only
    assert "padding-left" not in css
