"""The catalogs are complete, not fuzzy, well-formed and in step with the sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from i18n_kit import LANGUAGES, po_path

ROOT = Path(__file__).resolve().parents[2]

FIX = "run `make translations-update`, translate, then `make translations-compile`"


def load(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def msgids(catalog: Catalog) -> set[str | tuple[str, ...]]:
    return {message.id for message in catalog if message.id}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What ``make translations-extract`` finds in the sources today."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg",
         "-o", str(pot), "tipbox", "templates"],
        cwd=ROOT, check=True, capture_output=True,
    )
    return load(pot)


def test_extraction_finds_the_interface(extracted: Catalog) -> None:
    found = msgids(extracted)
    assert "Send us information safely" in found  # a source page
    assert "That codename did not work" in found  # an error page
    assert "Reviewer login" in found  # the reviewer app
    assert len(found) > 150


def problems_of(catalog: Catalog) -> list[str]:
    """Every fuzzy or untranslated (empty, or missing a plural form) message of ``catalog``."""
    problems = []
    for message in catalog:
        if not message.id:
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = catalog.num_plurals if message.pluralizable else 1
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif len(forms) != expected or not all(forms):
            problems.append(f"missing: {message.id!r}")
    return problems


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_and_not_fuzzy(language: str) -> None:
    problems = problems_of(load(po_path(language), language))
    assert not problems, f"{language}: {len(problems)} to fix ({FIX}):\n" + "\n".join(problems)


def test_the_check_catches_missing_fuzzy_and_partial_plurals() -> None:
    catalog = Catalog(locale="ru")
    catalog.add("Send", "Отправить")
    catalog.add("Empty", "")
    catalog.add("Guess", "Угадано", flags=["fuzzy"])
    catalog.add(("%(num)d file", "%(num)d files"), ("%(num)d файл", "%(num)d файла", ""))
    assert problems_of(catalog) == ["missing: 'Empty'", "fuzzy: 'Guess'",
                                    "missing: ('%(num)d file', '%(num)d files')"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_and_plural_forms_are_valid(language: str) -> None:
    """Babel's checks: the same ``%(name)s`` placeholders, the language's plural count."""
    catalog = load(po_path(language), language)
    errors = [f"{message.id!r}: {problem}" for message, found in catalog.check()
              for problem in found]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_matches_the_sources(language: str, extracted: Catalog) -> None:
    """A string added, changed or removed in the code or templates fails here until updated."""
    catalog = load(po_path(language), language)
    missing = msgids(extracted) - msgids(catalog)
    stale = msgids(catalog) - msgids(extracted)
    assert not missing, f"{language} lacks {sorted(map(str, missing))} ({FIX})"
    assert not stale, f"{language} has strings no longer used: {sorted(map(str, stale))} ({FIX})"


def test_no_compiled_catalog_is_committed() -> None:
    """``.mo`` files are build output (``make translations-compile``), never in git."""
    listed = subprocess.run(["git", "ls-files", "*.mo"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    assert listed.strip() == ""
