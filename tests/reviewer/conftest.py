"""Fixtures for the reviewer tests (helpers live in ``reviewer_kit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from reviewer_kit import (
    ADMIN_PASSWORD,
    Person,
    ReviewerSite,
    Submitted,
    close_site,
    enrol,
    make_settings,
    open_site,
    submit,
)

from tipbox.services.accounts.reviewers import create_first_admin
from tipbox.services.instance import InitResult
from tipbox.services.wiring import Instance, ReviewerServices


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
    sites: list[ReviewerSite] = []

    def make(**env: str) -> ReviewerSite:
        settings = make_settings(tmp_path / f"site{len(sites)}", **{"TIPBOX_DEV": "1", **env})
        sites.append(open_site(settings, ReviewerSite))
        return sites[-1]

    yield make
    for made in sites:
        close_site(made)


@pytest.fixture
def site(make_site: Callable[..., ReviewerSite]) -> ReviewerSite:
    return make_site()


@pytest.fixture
def client(site: ReviewerSite) -> FlaskClient:
    """A client logged in as the admin."""
    logged_in = site.client()
    site.log_in(logged_in)
    return logged_in
