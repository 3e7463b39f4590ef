"""What the admin tests share: submissions at chosen times, decryption checks, a CLI env."""

from __future__ import annotations

import html
import io
import os
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import CHEAP_ARGON2, database_env_of
from tests.reviewer.reviewer_kit import (  # noqa: F401 - shared with the admin tests
    ADMIN_PASSWORD,
    STEP,
    T0,
    Clock,
    ReviewerSite,
    close_site,
    csrf,
    csrf_of,
    open_site,
    secret_of,
    web_enrol,
)
from tipbox.config import Settings
from tipbox.crypto import DecryptionError, decrypt_detached, parse_identity
from tipbox.services.accounts.totp import totp_code
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.instance import InitResult
from tipbox.services.submissions.intake import Receipt
from tipbox.services.wiring import Instance, ReviewerServices


@dataclass
class Person:
    """A reviewer the test can log in as, with a clock that only moves forward."""

    username: str
    password: str
    totp_secret: bytes
    clock: float = T0

    def next_code(self) -> tuple[str, float]:
        self.clock += STEP
        return totp_code(self.totp_secret, self.clock), self.clock


def enrol(services: ReviewerServices, username: str, one_time: str, secret: bytes,
          new_password: str, *, start: float = T0) -> Person:
    """Log in with the one-time password and enrol with a code and a new password."""
    result = services.logins.login(username, one_time, "", now=start)
    assert result.kind == "enrol"
    person = Person(username, new_password, secret, clock=start)
    code, now = person.next_code()
    services.logins.complete_enrolment(result.token, new_password, code, now=now)
    return person


def login_identities(services: ReviewerServices, person: Person) -> list[KeyIdentity]:
    """The newsroom identities a full login of ``person`` unlocks."""
    code, now = person.next_code()
    result = services.logins.login(person.username, person.password, code, now=now)
    assert result.kind == "full"
    return services.sessions.load(result.token, now=now).identities()


def submit(instance: Instance, message: str = "the ministry is lying",
           files: dict[str, bytes] | None = None, *, codename: bool = True) -> Receipt:
    """Submit as a new source; returns the receipt (designation, codename)."""
    draft = instance.submissions.start(None)
    draft.add_message(message)
    for name, data in (files or {}).items():
        upload = draft.open_file(name, "application/pdf")
        stream = io.BytesIO(data)
        while chunk := stream.read(65536):
            upload.write(chunk)
        upload.close()
    return draft.commit(want_codename=codename)


def source_id(instance: Instance, designation: str) -> int:
    with instance.store.db.connection() as conn:
        row = conn.execute("SELECT id FROM sources WHERE designation = ?", (designation,))
        return int(row.fetchone()[0])


def item_rows(instance: Instance) -> list[sqlite3.Row]:
    with instance.store.db.connection() as conn:
        return conn.execute("SELECT * FROM items ORDER BY id").fetchall()


def decrypts(instance: Instance, row: sqlite3.Row, identities: Sequence[KeyIdentity]) -> bool:
    """Whether the stored item ``row`` decrypts (header and payload) with ``identities``."""
    try:
        with instance.store.blobs.open_blob(row["blob"]) as payload:
            b"".join(decrypt_detached(list(identities), row["header"], payload))
    except DecryptionError:
        return False
    return True


def recovery_identities(instance: Instance, init: InitResult) -> list[KeyIdentity]:
    """Every newsroom identity the recovery identity opens."""
    return instance.keyring.open_identities(parse_identity(init.recovery_identity))


def write_identity(path: Path, identity: str) -> Path:
    path.write_text(f"# test identity\n{identity}\n", "ascii")
    os.chmod(path, 0o600)
    return path


def cli_env(settings: Settings) -> dict[str, str]:
    """The ``TIPBOX_*`` environment that points a subprocess or CliRunner at ``settings``."""
    return {
        "TIPBOX_DATA_DIR": str(settings.data_dir),
        "TIPBOX_KEYS_DIR": str(settings.keys_dir),
        "TIPBOX_MIN_FREE_BYTES": "0",
        **CHEAP_ARGON2,
        **database_env_of(settings),
    }


# --- web -----------------------------------------------------------------------------

_ONE_TIME = re.compile(r'<code class="one-time-password">([^<]+)</code>')


def one_time_password_of(page: str) -> str:
    match = _ONE_TIME.search(page)
    assert match is not None, page[:3000]
    return html.unescape(match.group(1))


class Site(ReviewerSite):
    """The reviewer test site, plus posting an admin form with a fresh CSRF token."""

    def post(self, client: FlaskClient, path: str, page: str = "/admin/reviewers",
             **data: str) -> TestResponse:
        return client.post(path, data={"csrf_token": csrf(client, page), **data})


def let_a_day_pass(instance: Instance) -> None:
    """Pretend the retired keys were retired two days ago (past the destroy grace)."""
    with instance.store.db.transaction() as conn:
        conn.execute("UPDATE newsroom_keys SET retired_hour = retired_hour - 2 * 86400"
                     " WHERE retired_hour IS NOT NULL")
