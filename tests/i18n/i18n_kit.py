"""Helpers of the language tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from tipbox.web.i18n import TRANSLATIONS

#: The languages tipbox ships besides English (issue 8).
LANGUAGES = ("be", "ru", "uk", "pl")

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def po_path(language: str) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"


def compile_catalog(po: Path, out_dir: Path, language: str) -> None:
    """``pybabel compile`` for one catalog, into ``out_dir/<language>/LC_MESSAGES``."""
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    target = out_dir / language / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with (target / "messages.mo").open("wb") as handle:
        write_mo(handle, catalog)


def use_translations(app: Flask, *directories: Path) -> Flask:
    """Point ``app`` (before its first request) at ``directories`` instead of the package's."""
    app.extensions["babel"].translation_directories = [str(d) for d in directories]
    return app


def page(client: FlaskClient, path: str, **kwargs: object) -> str:
    response = client.get(path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None
    return match.group(1)
