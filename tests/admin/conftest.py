"""Fixtures for the admin tests (helpers live in ``admin_kit``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from admin_kit import ADMIN_PASSWORD, Clock, Person, Site, enrol, web_enrol
from flask.testing import FlaskClient

from tests.conftest import make_test_settings
from tipbox.reviewer import create_reviewer_app
from tipbox.reviewer.guard import install_services
from tipbox.services.admin import AdminServices
from tipbox.services.instance import InitResult, Instance, init_instance
from tipbox.services.reviewers import create_first_admin
from tipbox.services.sessions import ReviewerServices
from tipbox.web import instance as app_instance


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
def site(tmp_path: Path) -> Iterator[Site]:
    """A reviewer app over a new instance, with its first admin enrolled through the web."""
    settings = make_test_settings(tmp_path / "site", TIPBOX_DEV="1")
    result = init_instance(settings)
    app = create_reviewer_app(settings)
    clock = Clock()
    with app.app_context():
        site_services = ReviewerServices.open(app_instance(), clock=clock)
    install_services(app, site_services)
    enrolment = create_first_admin(
        site_services.reviewers, site_services.instance.keyring, result.recovery_identity
    )
    first = web_enrol(clock, app.test_client(), "admin", enrolment.password, ADMIN_PASSWORD)
    yield Site(app, clock, site_services, result, first)
    with app.app_context():
        app_instance().close()


@pytest.fixture
def client(site: Site) -> FlaskClient:
    """A client logged in as the first admin."""
    logged_in = site.client()
    site.log_in(logged_in)
    return logged_in
