"""What the reviewer tests share: a forward-only clock, people, logins, submissions.

Time is explicit: every login passes ``now=``, starting from :data:`T0` and
moving forward in whole TOTP steps, so that codes are never replayed by
accident.
"""


from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from flask import Flask
from flask.testing import FlaskClient

from tipbox.config import Settings, load_settings
from tipbox.reviewer import create_reviewer_app
from tipbox.reviewer.guard import install_services
from tipbox.services.accounts.reviewers import create_first_admin
from tipbox.services.accounts.sessions import ReviewerSession
from tipbox.services.accounts.totp import totp_code
from tipbox.services.instance import InitResult, init_instance
from tipbox.services.wiring import Instance, ReviewerServices
from tipbox.web import instance as app_instance

CHEAP_ARGON2 = {
    f"TIPBOX_{which}_ARGON2_{name}": value
    for which in ("CODENAME", "PASSWORD")
    for name, value in (("TIME_COST", "1"), ("MEMORY_KIB", "8"), ("PARALLELISM", "1"))
}

T0 = 1_800_000_000.0
STEP = 30.0
ADMIN_PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    """A reviewer the test can log in as; ``clock`` only ever moves forward."""

    username: str
    password: str
    totp_secret: bytes
    clock: list[float] = field(default_factory=lambda: [T0])

    def next_code(self) -> tuple[str, float]:
        """A fresh code and the time it is valid at (one step after the last)."""
        self.clock[0] += STEP
        return totp_code(self.totp_secret, self.clock[0]), self.clock[0]





def enrol(services: ReviewerServices, username: str, password: str, secret: bytes,
          new_password: str) -> Person:
    """Log in with the one-time password, then enrol with a code and a new password."""
    result = services.logins.login(username, password, "", now=T0)
    assert result.kind == "enrol"
    person = Person(username, new_password, secret)
    code, now = person.next_code()
    services.logins.complete_enrolment(result.token, new_password, code, now=now)
    return person





def login(services: ReviewerServices, person: Person) -> tuple[str, ReviewerSession]:
    """A full session for ``person`` (token and loaded session)."""
    code, now = person.next_code()
    result = services.logins.login(person.username, person.password, code, now=now)
    assert result.kind == "full"
    return result.token, services.sessions.load(result.token, now=now)


@dataclass
class Submitted:
    """A source's first submission: its codename and designation."""

    codename: str
    designation: str
    source_id: int


def submit(instance: Instance, message: str = "the ministry is lying",
           files: dict[str, bytes] | None = None) -> Submitted:
    """Submit as a new source through the submissions service."""
    draft = instance.submissions.start(None)
    draft.add_message(message)
    for name, data in (files or {}).items():
        upload = draft.open_file(name, "application/pdf")
        stream = io.BytesIO(data)
        while chunk := stream.read(65536):
            upload.write(chunk)
        upload.close()
    receipt = draft.commit()
    assert receipt.codename is not None
    with instance.store.db.connection() as conn:
        source_id = conn.execute(
            "SELECT id FROM sources WHERE designation = ?", (receipt.designation,)
        ).fetchone()[0]
    return Submitted(receipt.codename, receipt.designation, int(source_id))




def make_settings(path: Path, **extra: str) -> Settings:
    """Settings under ``path`` with cheap Argon2 and no disk floor."""
    return load_settings({
        "TIPBOX_DATA_DIR": str(path / "data"),
        "TIPBOX_KEYS_DIR": str(path / "keys"),
        "TIPBOX_MIN_FREE_BYTES": "0",
        "TIPBOX_MAX_MESSAGE_CHARS": "5000",
        **CHEAP_ARGON2,
        **extra,
    })


# --- web -----------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET = re.compile(r'<code class="totp-secret">([A-Z2-7 ]+)</code>')


class Clock:
    """A settable clock for the reviewer services of a web app under test."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float = STEP) -> float:
        self.now += seconds
        return self.now


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match is not None, page[:2000]
    return match.group(1)


def csrf(client: FlaskClient, path: str = "/login") -> str:
    """Load a page of the app and return its CSRF token."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return csrf_of(response.get_data(as_text=True))


def secret_of(page: str) -> bytes:
    match = _SECRET.search(page)
    assert match is not None
    text = match.group(1).replace(" ", "")
    return base64.b32decode(text + "=" * (-len(text) % 8))


@dataclass
class ReviewerSite:
    """A reviewer app under test with a controllable clock, and its first admin."""

    app: Flask
    clock: Clock
    services: ReviewerServices
    init: InitResult
    admin: Person

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def log_in(self, client: FlaskClient, person: Person | None = None) -> None:
        """A full web login (fresh TOTP step each time)."""
        person = person or self.admin
        self.clock.step()
        code = totp_code(person.totp_secret, self.clock.now)
        response = client.post("/login", data={
            "csrf_token": csrf(client), "username": person.username,
            "password": person.password, "code": code})
        assert response.status_code == 303, response.get_data(as_text=True)[:3000]
        assert response.headers["Location"].endswith("/")


def web_enrol(site_clock: Clock, client: FlaskClient, username: str, one_time: str,
              new_password: str) -> Person:
    """Enrol through the web pages: one-time password, QR page, code + new password."""
    response = client.post("/login", data={
        "csrf_token": csrf(client), "username": username, "password": one_time, "code": ""})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/enrol")
    page = client.get("/enrol").get_data(as_text=True)
    assert "<svg" in page
    secret = secret_of(page)
    site_clock.step()
    response = client.post("/enrol", data={
        "csrf_token": csrf_of(page), "new_password": new_password,
        "confirm_password": new_password, "code": totp_code(secret, site_clock.now)})
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    return Person(username, new_password, secret)


SiteT = TypeVar("SiteT", bound=ReviewerSite)


def open_site(settings: Settings, site_class: type[SiteT]) -> SiteT:
    """Initialise ``settings``, build the reviewer app with a test clock, enrol its admin."""
    result = init_instance(settings)
    app = create_reviewer_app(settings)
    clock = Clock()
    with app.app_context():
        services = ReviewerServices.open(app_instance(), clock=clock)
    install_services(app, services)
    enrolment = create_first_admin(
        services.reviewers, services.instance.keyring, result.recovery_identity
    )
    admin = web_enrol(clock, app.test_client(), "admin", enrolment.password, ADMIN_PASSWORD)
    return site_class(app, clock, services, result, admin)


def close_site(site: ReviewerSite) -> None:
    """Release the instance the site's app opened."""
    with site.app.app_context():
        app_instance().close()
