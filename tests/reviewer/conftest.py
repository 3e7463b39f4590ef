"""Fixtures for the reviewer tests (helpers live in ``reviewer_kit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from reviewer_kit import (
    ADMIN_PASSWORD,
    Clock,
    Person,
    ReviewerSite,
    Submitted,
    enrol,
    make_settings,
    submit,
    web_enrol,
)

from tipbox.reviewer import create_reviewer_app
from tipbox.reviewer.guard import install_services
from tipbox.services.instance import InitResult, Instance, init_instance
from tipbox.services.reviewers import create_first_admin
from tipbox.services.sessions import ReviewerServices
from tipbox.web import instance as app_instance


@pytest.fixture
def services(instance: Instance) -> ReviewerServices:
    return ReviewerServices.open(instance)


@pytest.fixture
def admin(services: ReviewerServices, instance: Instance, init_result: InitResult) -> Person:
    """The first admin, created as ``init`` does, and enrolled."""
    enrolment = create_first_admin(
        services.reviewers, instance.keyring, init_result.recovery_identity
    )
    return enrol(services, "admin", enrolment.password, enrolment.totp_secret, ADMIN_PASSWORD)


@pytest.fixture
def submitted(instance: Instance) -> Submitted:
    return submit(instance, files={"report.pdf": b"%PDF-1.4 secret" * 1000})


@pytest.fixture
def make_site(tmp_path: Path) -> Iterator[Callable[..., ReviewerSite]]:
    """``make_site(**env)``: a new instance, reviewer app and web-enrolled admin."""
    apps: list[Flask] = []

    def make(**env: str) -> ReviewerSite:
        settings = make_settings(tmp_path / f"site{len(apps)}", **{"TIPBOX_DEV": "1", **env})
        result = init_instance(settings)
        app = create_reviewer_app(settings)
        apps.append(app)
        clock = Clock()
        with app.app_context():
            site_services = ReviewerServices.open(app_instance(), clock=clock)
        install_services(app, site_services)
        enrolment = create_first_admin(
            site_services.reviewers, site_services.instance.keyring, result.recovery_identity
        )
        admin = web_enrol(clock, app.test_client(), "admin", enrolment.password, ADMIN_PASSWORD)
        return ReviewerSite(app, clock, site_services, result, admin)

    yield make
    for app in apps:
        with app.app_context():
            app_instance().close()


@pytest.fixture
def site(make_site: Callable[..., ReviewerSite]) -> ReviewerSite:
    return make_site()


@pytest.fixture
def client(site: ReviewerSite) -> FlaskClient:
    """A client logged in as the admin."""
    logged_in = site.client()
    site.log_in(logged_in)
    return logged_in
