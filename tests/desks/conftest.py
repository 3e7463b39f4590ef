"""Fixtures of the desk tests (issue 15): a reviewer site whose instance has two desks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from desk_kit import Desks, make_desks

from tests.reviewer.reviewer_kit import ReviewerSite, close_site, make_settings, open_site


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ReviewerSite]:
    made = open_site(make_settings(tmp_path / "site", TIPBOX_DEV="1"), ReviewerSite)
    yield made
    close_site(made)


@pytest.fixture
def desks(site: ReviewerSite) -> Desks:
    return make_desks(site)
