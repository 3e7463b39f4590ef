"""Source sessions in the app: logout, deletion and expiry end every copy of the cookie.

A copied cookie is replayed after logout, after the source was deleted (by a
reviewer or by retention) and after the session's lifetime: it opens no
reply, sends nothing, and an upload with it is refused before its body is
read, with a page that says the session ended.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

from tests.web.conftest import SourceSite
from tests.web.test_source_routes import codename_of, submit
from tipbox.config import load_settings
from tipbox.errors import ConfigError
from tipbox.services.audit import Audit
from tipbox.services.inbox.conversations import Inbox
from tipbox.services.ops.retention import DAY_SECONDS, Retention
from tipbox.services.sources import returning as sources_module
from tipbox.services.sources.sessions import SourceSessions, token_key
from tipbox.source.session import install_source_sessions
from tipbox.store.slots import SlotPool

FUZZ = settings(derandomize=True, deadline=None, max_examples=60,
                suppress_health_check=list(HealthCheck))
ENDED = "Your session has ended"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class LoggedIn:
    """A source that sent a first tip, got a reply and logged in with ``client``.

    ``cookie`` is a copy of its cookie taken on the replies page, with a
    form token (``csrf``) from that page: what a seized browser would hold.
    """

    client: FlaskClient
    codename: str
    source_id: int
    cookie: str
    csrf: str


def csrf(client: FlaskClient, path: str = "/submit") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match is not None
    return match.group(1)


def log_in(site: SourceSite, client: FlaskClient, codename: str) -> str:
    response = client.post("/login", data={"csrf_token": csrf(client, "/login"),
                                           "codename": codename})
    assert response.status_code == 303
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


@pytest.fixture
def logged_in(site: SourceSite, client: FlaskClient) -> LoggedIn:
    _, page = submit(client, csrf(client), message="first")
    codename = codename_of(page)
    source_id = site.instance.sources.login(codename).source_id
    site.instance.sources.add_reply(source_id, "the secret reply", author="reviewer")
    log_in(site, client, codename)
    page = client.get("/replies").get_data(as_text=True)
    assert "the secret reply" in page
    cookie = client.get_cookie("session")
    assert cookie is not None
    return LoggedIn(client, codename, source_id, cookie.value, form_token(page))


def form_token(page: str) -> str:
    match = _CSRF.search(page)
    assert match is not None
    return match.group(1)


def forged_cookie(site: SourceSite, login: object) -> tuple[str, str]:
    """A session cookie the app itself could have signed, holding ``login``, and a form token."""
    raw = "f" * 40
    serializer = site.app.session_interface.get_signing_serializer(site.app)  # type: ignore[attr-defined]
    token = URLSafeTimedSerializer(site.app.secret_key, salt="wtf-csrf-token").dumps(raw)
    return serializer.dumps({"login": login, "csrf_token": raw}), token


def replay(site: SourceSite, cookie: str) -> FlaskClient:
    """A second browser holding a copy of the cookie."""
    thief = site.app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def assert_logged_out_everywhere(site: SourceSite, held: LoggedIn) -> None:
    """The copied cookie reads no reply, deletes none, sends nothing (not even as someone new)."""
    stored, replies = site.submission_count(), reply_count(site)
    thief = replay(site, held.cookie)
    for path, data in (("/replies/delete", {"reply_id": "1"}), ("/submit", {"message": "x"}),
                       ("/submit", {"message": "x", "no_codename": "1"})):
        response = thief.post(path, data={"csrf_token": held.csrf, **data},
                              content_type="multipart/form-data")
        assert response.status_code == 403, path
        assert ENDED in response.get_data(as_text=True)
    response = thief.get("/replies")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert ENDED in page
    assert "the secret reply" not in page
    assert (site.submission_count(), reply_count(site)) == (stored, replies)


def reply_count(site: SourceSite) -> int:
    with site.instance.store.db.connection() as conn:
        return int(conn.execute("SELECT count(*) FROM items WHERE kind = 'reply'").fetchone()[0])


def test_a_copied_cookie_opens_nothing_after_logout(site: SourceSite, logged_in: LoggedIn) -> None:
    client = logged_in.client
    response = client.post("/logout", data={"csrf_token": csrf(client, "/replies")})
    assert response.status_code == 303
    assert_logged_out_everywhere(site, logged_in)


def test_logging_out_from_a_copy_ends_the_original_too(
    site: SourceSite, logged_in: LoggedIn
) -> None:
    thief = replay(site, logged_in.cookie)
    thief.post("/logout", data={"csrf_token": csrf(thief, "/replies")})
    assert logged_in.client.get("/replies").status_code == 403


def test_a_page_view_drops_the_ended_token(site: SourceSite, logged_in: LoggedIn) -> None:
    client = logged_in.client
    site.instance.store.db.checkpoint()
    with site.instance.store.db.transaction() as conn:
        conn.execute("DELETE FROM source_sessions")  # e.g. logged out from another copy
    page = client.get("/submit").get_data(as_text=True)
    assert "Log out" not in page  # shown as logged out...
    assert "codename" in page  # ...with the first-time explanation
    assert client.get("/replies").status_code == 303  # the token is gone: plain login page


def test_logging_in_again_ends_the_previous_session(site: SourceSite, logged_in: LoggedIn) -> None:
    log_in(site, logged_in.client, logged_in.codename)
    assert "the secret reply" in logged_in.client.get("/replies").get_data(as_text=True)
    assert replay(site, logged_in.cookie).get("/replies").status_code == 403


def test_a_source_deleted_by_a_reviewer_is_logged_out(
    site: SourceSite, logged_in: LoggedIn
) -> None:
    inbox = Inbox(site.instance.store, site.instance.sources, Audit(site.instance.store.db))
    inbox.delete_source(logged_in.source_id, reviewer="alice")
    assert_logged_out_everywhere(site, logged_in)


def test_a_source_removed_by_retention_is_logged_out(
    site: SourceSite, logged_in: LoggedIn
) -> None:
    retention = Retention(site.instance.store, audit=Audit(site.instance.store.db))
    plan = retention.purge(1, now=10 * DAY_SECONDS + 1e10)
    assert plan.sources
    assert_logged_out_everywhere(site, logged_in)


class CountingBody(io.RawIOBase):
    """A request body of ``size`` bytes that counts what the server reads of it."""

    def __init__(self, head: bytes, size: int) -> None:
        self._head = head
        self.size = size
        self.position = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True  # the test client measures the body by seeking; that reads nothing

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[
            whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = max(0, min(len(buffer), self.size - self.position))
        start = self.position
        chunk = (self._head[start:start + count] + b"x" * count)[:count]
        buffer[:count] = chunk
        self.position += count
        self.read_bytes += count
        return count


def test_an_upload_with_a_deleted_sources_cookie_is_refused_before_its_body_is_read(
    site: SourceSite, logged_in: LoggedIn
) -> None:
    client = logged_in.client
    token = logged_in.csrf
    Inbox(site.instance.store, site.instance.sources, Audit(site.instance.store.db)).delete_source(
        logged_in.source_id, reviewer="alice")
    head = (f'--B\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            '--B\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n\r\n')
    body = CountingBody(head.encode(), 4 * 1024 * 1024)
    response = client.post("/submit", input_stream=body, content_length=body.size,
                           content_type="multipart/form-data; boundary=B")
    assert response.status_code == 403
    assert ENDED in response.get_data(as_text=True)
    assert body.read_bytes == 0
    assert site.submission_count() == 0  # the deleted source's tip went with it
    assert site.blob_files() == []


@pytest.fixture
def clock(site: SourceSite) -> Clock:
    """The site's source sessions on a clock the test moves."""
    clock = Clock(1_900_000_000.0)
    install_source_sessions(site.app, SourceSessions(
        site.instance.store.db,
        key=token_key(site.instance.secrets.flask_secret_key),
        idle_seconds=site.settings.source_session_idle_seconds,
        absolute_seconds=site.settings.source_session_absolute_seconds,
        clock=clock,
    ))
    return clock


@pytest.mark.parametrize("idle", [True, False])
def test_sessions_expire_on_the_server(
    make_site: Callable[..., SourceSite], idle: bool
) -> None:
    site = make_site(TIPBOX_SOURCE_SESSION_ABSOLUTE_SECONDS="900",
                     TIPBOX_SOURCE_SESSION_IDLE_SECONDS="600")
    clock = Clock(1_900_000_000.0)
    install_source_sessions(site.app, SourceSessions(
        site.instance.store.db, key=token_key(site.instance.secrets.flask_secret_key),
        idle_seconds=600, absolute_seconds=900, clock=clock))
    client = site.app.test_client()
    _, page = submit(client, csrf(client), message="first")
    log_in(site, client, codename_of(page))
    if idle:
        clock.now += 600
    else:  # in use all along: the idle deadline moves (past 600 s), the absolute one not
        for _ in range(2):
            clock.now += 300
            assert client.get("/replies").status_code == 200
        clock.now += 300
    response = client.get("/replies")
    assert response.status_code == 403
    assert ENDED in response.get_data(as_text=True)


def test_use_renews_the_cookie_at_most_once_a_minute(
    site: SourceSite, clock: Clock, client: FlaskClient
) -> None:
    _, page = submit(client, csrf(client), message="first")
    log_in(site, client, codename_of(page))
    client.get("/replies")  # the form token's secret joins the cookie
    clock.now += 59
    assert "Set-Cookie" not in client.get("/replies").headers
    clock.now += 2
    assert "Set-Cookie" in client.get("/replies").headers


def test_source_session_settings() -> None:
    defaults = load_settings({})
    assert defaults.source_session_absolute_seconds == 2 * 3600
    assert defaults.source_session_idle_seconds <= defaults.source_session_absolute_seconds
    custom = load_settings({"TIPBOX_SOURCE_SESSION_ABSOLUTE_SECONDS": "1800",
                            "TIPBOX_SOURCE_SESSION_IDLE_SECONDS": "900"})
    assert (custom.source_session_idle_seconds, custom.source_session_absolute_seconds) == (
        900, 1800)
    for bad in ({"TIPBOX_SOURCE_SESSION_ABSOLUTE_SECONDS": "1200"},  # below the idle default
                {"TIPBOX_SOURCE_SESSION_IDLE_SECONDS": "0"},
                {"TIPBOX_SOURCE_SESSION_ABSOLUTE_SECONDS": "two hours"}):
        with pytest.raises(ConfigError, match="TIPBOX_SOURCE_SESSION"):
            load_settings(bad)


def test_a_login_flood_gets_the_busy_page_and_first_submissions_still_pass(
    make_site: Callable[..., SourceSite], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources_module, "LOGIN_WAIT_SECONDS", 0.2)
    site = make_site()
    client = site.app.test_client()
    logins = SlotPool(site.settings.slots_dir, "codename_login", sources_module.LOGIN_SLOTS)
    holding = [logins.slot(wait_seconds=0) for _ in range(sources_module.LOGIN_SLOTS)]
    for slot in holding:  # every login slot taken, as by other workers
        slot.__enter__()
    try:
        response = client.post("/login", data={"csrf_token": csrf(client, "/login"),
                                               "codename": "any words at all"})
        assert response.status_code == 503
        page = response.get_data(as_text=True)
        assert "The server is busy" in page
        assert "try again in a minute" in page
        status, page = submit(client, csrf(client), message="a first tip")
        assert status == 200
        codename_of(page)
    finally:
        for slot in holding:
            slot.__exit__(None, None, None)


# -- properties ------------------------------------------------------------------------


@FUZZ
@given(value=st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda raw: raw.hex()),
    st.integers(), st.none(), st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
))
def test_any_signed_login_value_opens_nothing_and_never_fails(site: SourceSite,
                                                               value: object) -> None:
    """Even a cookie validly signed by the app (its cookie key leaked) with any ``login``."""
    cookie, token = forged_cookie(site, value)
    stored = site.submission_count()
    response = replay(site, cookie).post("/submit", data={"csrf_token": token, "message": "x"},
                                         content_type="multipart/form-data",
                                         follow_redirects=True)
    if value is None:  # no login at all: a new source with its own codename
        assert response.status_code == 200
        assert site.submission_count() == stored + 1
    else:
        assert response.status_code == 403
        assert ENDED in response.get_data(as_text=True)
        assert site.submission_count() == stored
    assert replay(site, cookie).get("/replies").status_code in (303, 403)
    assert replay(site, cookie).get("/").status_code == 200


@FUZZ
@given(data=st.data())
def test_damaged_or_replayed_cookies_open_nothing(
    site: SourceSite, logged_in: LoggedIn, data: st.DataObject
) -> None:
    """Truncated, extended or bit-flipped copies of a real cookie read no reply, never 500."""
    cookie = logged_in.cookie
    damaged = data.draw(st.one_of(
        st.integers(0, len(cookie) - 1).map(lambda n: cookie[:n]),
        st.text(min_size=1, max_size=5).map(lambda extra: cookie + extra),
        st.tuples(st.integers(0, len(cookie) - 1),
                  st.characters(min_codepoint=33, max_codepoint=126)).map(
            lambda at: cookie[:at[0]] + at[1] + cookie[at[0] + 1:]),
    ))
    response = replay(site, damaged).get("/replies")
    assert response.status_code in (200, 303, 403)
    if "the secret reply" in response.get_data(as_text=True):
        # Only another spelling of the very same signed value (unused base64 bits) opens.
        serializer = site.app.session_interface.get_signing_serializer(site.app)  # type: ignore[attr-defined]
        assert serializer.loads(damaged) == serializer.loads(cookie)
