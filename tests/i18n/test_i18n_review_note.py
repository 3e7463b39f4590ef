"""A page in a language no native speaker has checked says so, and invites corrections.

Whether one has is ``[catalog] native_review`` in the language's
``glossary.toml``; the note names no outside site and links nowhere.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from i18n_kit import LANGUAGES, page, use_translations
from test_i18n_pages import translated

from tipbox.web.i18n import GLOSSARY

SOURCE_NOTE = ("No native speaker has checked this translation yet. If something here is"
               " unclear or wrong, you can tell us in a message sent through this site.")
REVIEWER_NOTE = ("No native speaker has checked this translation yet. If something here is"
                 " unclear or wrong, please tell your admin.")
_NOTE = re.compile(r'<p class="translation-note">(.*?)</p>', re.DOTALL)


def note_of(html: str) -> str | None:
    found = _NOTE.search(html)
    return found.group(1) if found else None


def in_language(app: Flask, language: str, path: str = "/") -> str:
    client = app.test_client()
    assert client.get(f"{path}?lang={language}").status_code == 303
    return page(client, path)


@pytest.mark.parametrize("language", LANGUAGES)
def test_unreviewed_languages_invite_corrections(make_app: Callable[..., Flask],
                                                 language: str) -> None:
    note = note_of(in_language(make_app("source"), language))
    assert note == translated(language, SOURCE_NOTE)
    assert "<a" not in note
    assert "http" not in note
    reviewer = note_of(in_language(make_app("reviewer"), language, "/login"))
    assert reviewer == translated(language, REVIEWER_NOTE)


def test_english_has_no_note(make_app: Callable[..., Flask]) -> None:
    assert note_of(page(make_app("source").test_client(), "/")) is None
    assert note_of(page(make_app("reviewer").test_client(), "/login")) is None


def test_a_reviewed_catalog_drops_the_note(make_app: Callable[..., Flask], compiled: Path,
                                           tmp_path: Path) -> None:
    reviewed = tmp_path / "reviewed"
    shutil.copytree(compiled / "ru", reviewed / "ru")
    glossary = reviewed / "ru" / GLOSSARY
    text = glossary.read_text(encoding="utf-8")
    assert "native_review = false" in text
    glossary.write_text(text.replace("native_review = false", "native_review = true"),
                        encoding="utf-8")
    app = use_translations(make_app("source"), reviewed)
    html = in_language(app, "ru")
    assert '<html lang="ru"' in html
    assert note_of(html) is None


def test_a_catalog_without_a_glossary_counts_as_unreviewed(make_app: Callable[..., Flask],
                                                          compiled: Path,
                                                          tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(compiled / "pl", bare / "pl")
    (bare / "pl" / GLOSSARY).unlink()
    app = use_translations(make_app("source"), bare)
    assert note_of(in_language(app, "pl")) is not None
