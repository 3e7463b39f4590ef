"""Every count is worded with ngettext, and each language picks the right plural form.

Belarusian, Russian and Ukrainian have three forms (1 and 21, 2 to 4 and 22,
the rest), Polish three others (1 alone, 2 to 4 and 22, the rest, 21
included). A count in a string without plural forms forces phrasings such as
«дней: 30»; the extraction check refuses one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import flask_babel
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from flask import Flask
from i18n_kit import LANGUAGES

ROOT = Path(__file__).resolve().parents[2]

#: The counts the issue asks for: one, few and many, and the two-digit ones that fool naive rules.
COUNTS = (1, 2, 5, 21, 22)

#: The expected noun form after each count, per language: (1, 2, 5, 21, 22).
FORMS: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {
    "ru": {
        ("%(num)s source", "%(num)s sources"):
            ("источник", "источника", "источников", "источник", "источника"),
        ("%(num)s item", "%(num)s items"):
            ("материал", "материала", "материалов", "материал", "материала"),
        ("and %(count)s more file", "and %(count)s more files"):
            ("файл", "файла", "файлов", "файл", "файла"),
    },
    "uk": {
        ("%(num)s source", "%(num)s sources"):
            ("джерело", "джерела", "джерел", "джерело", "джерела"),
        ("%(num)s item", "%(num)s items"):
            ("матеріал", "матеріали", "матеріалів", "матеріал", "матеріали"),
        ("and %(count)s more file", "and %(count)s more files"):
            ("файл", "файли", "файлів", "файл", "файли"),
    },
    "be": {
        ("%(num)s source", "%(num)s sources"):
            ("крыніца", "крыніцы", "крыніц", "крыніца", "крыніцы"),
        ("%(num)s item", "%(num)s items"):
            ("матэрыял", "матэрыялы", "матэрыялаў", "матэрыял", "матэрыялы"),
        ("and %(count)s more file", "and %(count)s more files"):
            ("файл", "файлы", "файлаў", "файл", "файлы"),
    },
    "pl": {
        ("%(num)s source", "%(num)s sources"):
            ("źródło", "źródła", "źródeł", "źródeł", "źródła"),
        ("%(num)s item", "%(num)s items"):
            ("materiał", "materiały", "materiałów", "materiałów", "materiały"),
        ("and %(count)s more file", "and %(count)s more files"):
            ("plik", "pliki", "plików", "plików", "pliki"),
    },
}

#: Placeholders that hold a number of things: each wants the plural forms of its noun.
COUNT_NAMES = frozenset({"num", "count", "days", "hours", "items", "sources", "replies",
                         "submissions", "files", "total", "pending", "done", "chars"})

#: Strings that carry a count-named placeholder yet need no plural forms, and why.
NO_NOUN = {
    "At most %(num)s.": "a bare number beside a label that names the unit",
    "%(items)s (%(replies)s) in %(submissions)s": "joins three ngettext phrases",
    "Removed %(items)s and %(sources)s.": "joins two ngettext phrases",
}


def render(app: Flask, language: str, msgid: tuple[str, str], count: int) -> str:
    named = {"count": count} if "%(count)s" in msgid[0] else {}  # %(num)s comes by itself
    with app.test_request_context("/"), flask_babel.force_locale(language):
        return str(flask_babel.ngettext(*msgid, count, **named))


@pytest.mark.parametrize("language", LANGUAGES)
def test_counts_take_the_languages_plural_forms(make_app: Callable[..., Flask],
                                                language: str) -> None:
    app = make_app("reviewer")
    for msgid, forms in FORMS[language].items():
        for count, form in zip(COUNTS, forms, strict=True):
            text = render(app, language, msgid, count)
            assert re.search(rf"(?<!\d){count}\s{form}(?!\w)", text), (language, count, text)


def test_the_expected_forms_cover_every_language() -> None:
    assert set(FORMS) == set(LANGUAGES)


#: A number followed by a unit symbol, which reads the same after any number: "%(num)s KB".
UNIT = re.compile(r"%\(\w+\)[sd] [KMG]B\b")


def count_placeholders(msgid: str) -> set[str]:
    return set(re.findall(r"%\((\w+)\)[sd]", UNIT.sub("", msgid))) & COUNT_NAMES


def test_no_count_is_worded_without_plural_forms() -> None:
    """A new ``_("%(num)s days")`` fails here: use ``ngettext`` (or ``{% pluralize %}``)."""
    with (ROOT / "tipbox" / "translations" / "messages.pot").open("rb") as handle:
        template: Catalog = read_po(handle)
    singular_counts = {
        message.id for message in template
        if isinstance(message.id, str) and count_placeholders(message.id)
        and message.id not in NO_NOUN
    }
    assert not singular_counts, sorted(singular_counts)
    assert set(NO_NOUN) <= {m.id for m in template}, "stale NO_NOUN entries"


def test_the_check_finds_a_count_without_plural_forms() -> None:
    assert count_placeholders("Sources older than %(days)s days are removed.") == {"days"}
    assert count_placeholders("Log out %(name)s") == set()
    assert count_placeholders("at most %(num)d KB") == set()
