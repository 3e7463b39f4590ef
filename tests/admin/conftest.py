"""Fixtures for the admin tests (helpers live in ``admin_kit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from admin_kit import ADMIN_PASSWORD, Person, Site, close_site, enrol, open_site
from flask.testing import FlaskClient

from tests.conftest import BACKENDS, make_test_settings
from tipbox.services.accounts.reviewers import create_first_admin
from tipbox.services.instance import InitResult
from tipbox.services.wiring import AdminServices, Instance, ReviewerServices


@pytest.fixture
def services(instance: Instance) -> ReviewerServices:
    return ReviewerServices.open(instance)


@pytest.fixture
def admin_services(instance: Instance, services: ReviewerServices) -> AdminServices:
    return AdminServices.open(instance, services.reviewers)


@pytest.fixture
def admin(services: ReviewerServices, instance: Instance, init_result: InitResult) -> Person:
    """The first admin, created as ``init`` does, and enrolled."""
    enrolment = create_first_admin(
        services.reviewers, instance.keyring, init_result.recovery_identity
    )
    return enrol(services, "admin", enrolment.password, enrolment.totp_secret, ADMIN_PASSWORD)


@pytest.fixture
def site(tmp_path: Path, make_database_env: Callable[[], dict[str, str]]) -> Iterator[Site]:
    """A reviewer app over a new instance, with its first admin enrolled through the web."""
    env = make_database_env()
    opened = open_site(make_test_settings(tmp_path / "site", TIPBOX_DEV="1", **env), Site)
    yield opened
    close_site(opened)


@pytest.fixture
def client(site: Site) -> FlaskClient:
    """A client logged in as the first admin."""
    logged_in = site.client()
    site.log_in(logged_in)
    return logged_in


@pytest.fixture(params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """These tests run on both back ends (see tests/conftest.py)."""
    return str(request.param)
