"""Fixtures for the language tests: catalogs compiled into a temp dir, apps that use them.

The catalogs are compiled here from the committed ``.po`` files (as
``make translations-compile`` does), so these tests need no build step and
never test stale ``.mo`` files. Helpers live in ``i18n_kit``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from i18n_kit import LANGUAGES, compile_catalog, po_path, use_translations

from tests.conftest import make_test_settings
from tipbox.reviewer import create_reviewer_app
from tipbox.services.instance import init_instance
from tipbox.source import create_source_app
from tipbox.web.i18n import GLOSSARY, TRANSLATIONS


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every shipped catalog, compiled into a fresh directory, with its glossary."""
    out = tmp_path_factory.mktemp("translations")
    for language in LANGUAGES:
        compile_catalog(po_path(language), out, language)
        shutil.copy(TRANSLATIONS / language / GLOSSARY, out / language / GLOSSARY)
    return out


@pytest.fixture
def make_app(tmp_path: Path, compiled: Path) -> Iterator[Callable[..., Flask]]:
    """``make_app("source" | "reviewer", *extra_dirs)``: a fresh instance and app."""
    settings = make_test_settings(tmp_path)
    init_instance(settings)
    apps: list[Flask] = []

    def make(kind: str = "source", *extra: Path) -> Flask:
        factory = create_source_app if kind == "source" else create_reviewer_app
        app = use_translations(factory(settings), compiled, *extra)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["tipbox.instance"].close()


@pytest.fixture
def source_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app("source")


@pytest.fixture
def client(source_app: Flask) -> FlaskClient:
    return source_app.test_client()

