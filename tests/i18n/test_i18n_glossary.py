"""Each catalog keeps to its glossary: fixed terms, and Tor Browser's labels as sources see them.

``tipbox/translations/<lang>/glossary.toml`` (issue 20) names, per language,
the fixed terms (codename, newsroom, encrypted, submission, file name,
character) and Tor Browser's own labels of its security level settings,
each with the translation file it was taken from.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po
from i18n_kit import LANGUAGES, po_path

from tipbox.web.i18n import GLOSSARY, TRANSLATIONS

#: Where a string shown to sources comes from (the source app and what both apps share).
SOURCE_FACING = ("templates/source/", "templates/errors/", "templates/base.html",
                 "templates/language_picker.html", "tipbox/source/", "tipbox/web/")

#: ``%(submissions)s`` names a value, not the word: the check reads the English without them.
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")

#: The terms every glossary fixes (issue 20).
TERMS = ("codename", "newsroom", "encrypted", "submission", "file_name", "character")


@cache
def glossary(language: str) -> dict[str, Any]:
    with (TRANSLATIONS / language / GLOSSARY).open("rb") as handle:
        return tomllib.load(handle)


@cache
def catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


def texts(message: Message) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ids = message.id if isinstance(message.id, tuple) else (message.id,)
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return tuple(ids), tuple(s or "" for s in strings)


def source_facing(language: str) -> Iterator[tuple[str, str]]:
    """(English, translation) of every form of every source-facing message."""
    for message in catalog(language):
        if message.id and any(path.startswith(SOURCE_FACING) for path, _ in message.locations):
            ids, strings = texts(message)
            for string in strings:
                yield ids[-1], string


#: Quotation marks, which the check ignores: «Высший» (Safest) and "Высший" (“Safest”) are alike.
QUOTES = str.maketrans("", "", "«»“”„\"'")


def label_problems(language: str) -> list[str]:
    """Tor Browser labels named in English without the local one right before them."""
    problems = []
    for key, label in glossary(language)["tor_browser"].items():
        local = label["local"] or label.get("fallback", "")
        if local:
            problems += [f"{key}: {string[:120]!r} (English: {english[:60]!r})"
                         for english, string in source_facing(language)
                         if not names_beside(string, local, label["english"])]
    return problems


def names_beside(string: str, local: str, english: str) -> bool:
    """Every ``english`` in ``string`` is in brackets right after ``local``: "Высший (Safest)"."""
    plain = string.translate(QUOTES)
    found = plain.count(english)
    beside = len(re.findall(rf"{re.escape(local.translate(QUOTES))}\s*\({re.escape(english)}\)",
                            plain))
    return found == beside


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_glossary_names_its_sources_and_terms(language: str) -> None:
    entries = glossary(language)
    assert isinstance(entries["catalog"]["native_review"], bool)
    assert set(entries["tor_browser"]) >= {"safest", "settings", "security_level", "change"}
    for key, label in entries["tor_browser"].items():
        assert label["english"], (language, key)
        assert label["source"], (language, key)
        if label["local"]:
            assert label["source"].startswith("base-browser.ftl: "), (language, key)
    assert entries["tor_browser"]["safest"]["local"] or entries["tor_browser"]["safest"]["fallback"]
    assert set(entries["terms"]) == set(TERMS)
    for key, term in entries["terms"].items():
        assert term["local"], (language, key)
        assert term["stems"], (language, key)


@pytest.mark.parametrize("language", LANGUAGES)
def test_tor_browser_labels_are_local_with_the_english_in_brackets(language: str) -> None:
    """«Высший» (Safest): what a localised Tor Browser shows, then what an English one shows."""
    problems = label_problems(language)
    assert not problems, f"{language}:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_safety_step_names_the_level_in_the_language(language: str) -> None:
    safest = glossary(language)["tor_browser"]["safest"]
    steps = [s for english, s in source_facing(language) if "Save and restart" in english]
    assert len(steps) == 1, language
    assert "Safest" in steps[0]
    assert names_beside(steps[0], safest["local"] or safest["fallback"], "Safest"), steps[0]


def test_the_label_check_catches_a_bare_safest() -> None:
    """The reviewers' finding, as the check sees it: «Safest» alone in a Russian step."""
    assert not names_beside("отметьте самый строгий уровень — «Safest»", "Высший", "Safest")
    assert not names_beside("«Safest» («Высший»)", "Высший", "Safest")
    assert not names_beside("«Высший» (Safest), затем «Safest»", "Высший", "Safest")
    assert names_beside("выберите «Высший» («Safest»)", "Высший", "Safest")
    assert names_beside("выберите «Высший» (Safest) и сохраните", "Высший", "Safest")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("term", TERMS)
def test_fixed_terms_are_used_everywhere(language: str, term: str) -> None:
    """Source and reviewer pages alike: the glossary's word, never one it rules out."""
    entry = glossary(language)["terms"][term]
    english = re.compile(rf"\b{re.escape(entry['english'])}", re.IGNORECASE)
    problems = []
    for message in catalog(language):
        ids, strings = texts(message)
        if not message.id or not any(english.search(PLACEHOLDER.sub("", i)) for i in ids):
            continue
        for string in strings:
            lowered = string.lower()
            if not any(stem.lower() in lowered for stem in entry["stems"]):
                problems.append(f"lacks {entry['local']!r}: {string[:100]!r}")
            problems += [f"uses {word!r}: {string[:100]!r}" for word in entry["avoid"]
                         if word.lower() in lowered]
    assert not problems, f"{language} {term}:\n" + "\n".join(problems)


def test_glossaries_live_beside_the_catalogs() -> None:
    for language in LANGUAGES:
        assert Path(TRANSLATIONS / language / GLOSSARY).is_file()
        assert po_path(language).parent.parent == TRANSLATIONS / language
