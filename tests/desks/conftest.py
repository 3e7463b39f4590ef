"""Fixtures of the desk tests (issue 15): a reviewer site whose instance has two desks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from desk_kit import Desks, make_desks

from tests.conftest import BACKENDS
from tests.reviewer.reviewer_kit import ReviewerSite, close_site, make_settings, open_site


@pytest.fixture
def site(
    tmp_path: Path, make_database_env: Callable[[], dict[str, str]]
) -> Iterator[ReviewerSite]:
    env = make_database_env()
    made = open_site(make_settings(tmp_path / "site", TIPBOX_DEV="1", **env), ReviewerSite)
    yield made
    close_site(made)


@pytest.fixture
def desks(site: ReviewerSite) -> Desks:
    return make_desks(site)


@pytest.fixture(params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """These tests run on both back ends (see tests/conftest.py)."""
    return str(request.param)
