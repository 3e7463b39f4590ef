"""Source sessions: revocable on the server, deadlines kept sealed, nothing usable stored."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.domain.test_sources import new_source
from tipbox.errors import SessionEnded
from tipbox.services.audit import Audit
from tipbox.services.inbox.conversations import Inbox
from tipbox.services.ops.retention import DAY_SECONDS, Retention
from tipbox.services.sources.returning import SourceLogin
from tipbox.services.sources.sessions import SourceSessions, token_key
from tipbox.services.wiring import Instance

PROPERTY = settings(derandomize=True, deadline=None, max_examples=80,
                    suppress_health_check=list(HealthCheck))
START = 1_800_000_000.0 + 1234.5  # not on an hour
IDLE, ABSOLUTE = 1800, 7200


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(instance: Instance, clock: Clock) -> SourceSessions:
    return SourceSessions(instance.store.db, key=token_key(b"k" * 32), idle_seconds=IDLE,
                          absolute_seconds=ABSOLUTE, clock=clock)


@pytest.fixture
def login(instance: Instance) -> SourceLogin:
    codename, _ = new_source(instance)
    assert codename is not None
    return instance.sources.login(codename)


def rows(instance: Instance) -> list[tuple[bytes, int]]:
    with instance.store.db.connection() as conn:
        found = conn.execute("SELECT * FROM source_sessions").fetchall()
    return [tuple(row) for row in found]  # type: ignore[misc]


def test_a_session_resumes_its_login_until_logout(
    sessions: SourceSessions, login: SourceLogin
) -> None:
    token = sessions.start(login)
    resumed = sessions.resume(token)
    assert (resumed.login.source_id, resumed.login.designation) == (
        login.source_id, login.designation)
    assert str(resumed.login.identity) == str(login.identity)
    sessions.end(token)
    with pytest.raises(SessionEnded):
        sessions.resume(token)
    assert sessions.count() == 0


def test_the_row_holds_a_hash_and_an_hour_only(
    instance: Instance, sessions: SourceSessions, login: SourceLogin
) -> None:
    token = sessions.start(login)
    [(id_hash, expires_hour)] = rows(instance)
    assert len(id_hash) == 32
    assert expires_hour % 3600 == 0
    assert START + ABSOLUTE <= expires_hour < START + ABSOLUTE + 3600
    assert id_hash not in base64.urlsafe_b64decode(token)
    # What the database holds cannot be turned into a cookie.
    for forged in (id_hash.hex(), base64.urlsafe_b64encode(id_hash).decode(), str(expires_hour)):
        with pytest.raises(SessionEnded):
            sessions.resume(forged)


def test_the_absolute_deadline_holds_whatever_the_use(
    instance: Instance, sessions: SourceSessions, login: SourceLogin, clock: Clock
) -> None:
    token = sessions.start(login)
    while clock.now + 600 < START + ABSOLUTE:
        clock.now += 600
        refreshed = sessions.resume(token).token
        token = refreshed or token
    clock.now = START + ABSOLUTE - 1
    sessions.resume(token)
    clock.now = START + ABSOLUTE
    with pytest.raises(SessionEnded):
        sessions.resume(token)
    assert rows(instance) == []  # deleted on the way


def test_the_idle_deadline_ends_an_unused_session(
    sessions: SourceSessions, login: SourceLogin, clock: Clock
) -> None:
    token = sessions.start(login)
    clock.now += IDLE - 1
    refreshed = sessions.resume(token).token
    assert refreshed is not None
    clock.now += IDLE - 1  # the old copy's idle deadline has passed, the new one's not
    with pytest.raises(SessionEnded):
        sessions.resume(token)
    assert sessions.resume(refreshed).login.source_id == login.source_id
    clock.now += IDLE
    with pytest.raises(SessionEnded):
        sessions.resume(refreshed)


def test_the_idle_deadline_is_resealed_at_most_once_a_minute(
    sessions: SourceSessions, login: SourceLogin, clock: Clock
) -> None:
    token = sessions.start(login)
    clock.now += 59
    assert sessions.resume(token).token is None
    clock.now += 2
    assert sessions.resume(token).token is not None


def test_a_source_deleted_by_a_reviewer_is_logged_out(
    instance: Instance, sessions: SourceSessions, login: SourceLogin
) -> None:
    token = sessions.start(login)
    inbox = Inbox(instance.store, instance.sources, Audit(instance.store.db))
    inbox.delete_source(login.source_id, reviewer="alice")
    with pytest.raises(SessionEnded):
        sessions.resume(token)


def test_a_source_removed_by_retention_is_logged_out(
    instance: Instance, sessions: SourceSessions, login: SourceLogin
) -> None:
    token = sessions.start(login)
    retention = Retention(instance.store, audit=Audit(instance.store.db))
    plan = retention.purge(1, now=START + 3 * DAY_SECONDS)
    assert login.designation in plan.sources
    with pytest.raises(SessionEnded):
        sessions.resume(token)


def test_a_new_login_purges_dead_rows(
    instance: Instance, sessions: SourceSessions, login: SourceLogin, clock: Clock
) -> None:
    sessions.start(login)
    sessions.start(login)
    clock.now += ABSOLUTE + 3600
    sessions.start(login)
    assert len(rows(instance)) == 1


def test_another_key_opens_nothing(
    instance: Instance, sessions: SourceSessions, login: SourceLogin, clock: Clock
) -> None:
    token = sessions.start(login)
    other = SourceSessions(instance.store.db, key=token_key(b"x" * 32), idle_seconds=IDLE,
                           absolute_seconds=ABSOLUTE, clock=clock)
    with pytest.raises(SessionEnded):
        other.resume(token)
    other.end(token)  # a no-op: it cannot even find the row
    assert sessions.resume(token).login.source_id == login.source_id


# -- properties ------------------------------------------------------------------------


def mutations(token: str) -> st.SearchStrategy[str]:
    raw = base64.urlsafe_b64decode(token)
    flipped = st.tuples(st.integers(0, len(raw) - 1), st.integers(1, 255)).map(
        lambda at: base64.urlsafe_b64encode(
            raw[: at[0]] + bytes([raw[at[0]] ^ at[1]]) + raw[at[0] + 1:]).decode())
    truncated = st.integers(0, len(token) - 1).map(lambda n: token[:n])
    extended = st.text(min_size=1, max_size=8).map(lambda extra: token + extra)
    return st.one_of(flipped, truncated, extended)


@PROPERTY
@given(data=st.data())
def test_no_forged_random_or_damaged_token_opens(
    sessions: SourceSessions, login: SourceLogin, data: st.DataObject
) -> None:
    token = sessions.start(login)
    candidate: object = data.draw(st.one_of(
        mutations(token),
        st.text(max_size=300),
        st.binary(max_size=300).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
        st.sampled_from(["", "=", "A" * 5000, "\x00", "é"]),
        st.one_of(st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=3)),
    ))
    with pytest.raises(SessionEnded):
        sessions.resume(candidate)
    sessions.end(candidate)  # never raises either
    assert sessions.resume(token).login.source_id == login.source_id


#: Operations on a few browsers (each keeps one cookie) and a few sources.
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("login"), st.integers(0, 2), st.integers(0, 1)),
        st.tuples(st.just("logout"), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("copy"), st.integers(0, 2), st.integers(0, 2)),
        st.tuples(st.just("delete"), st.just(0), st.integers(0, 1)),
        st.tuples(st.just("wait"), st.just(0), st.sampled_from([30, 600, IDLE, ABSOLUTE])),
        st.tuples(st.just("use"), st.integers(0, 2), st.just(0)),
    ),
    max_size=25,
)


@dataclass
class Model:
    """What must hold: which sessions were ended, which sources deleted, when tokens die."""

    now: float = START
    ended: set[bytes] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)
    #: token -> (session, source, absolute deadline, idle deadline)
    tokens: dict[str, tuple[bytes, int, float, float]] = field(default_factory=dict)

    def issue(self, token: str, source: int) -> None:
        session = base64.urlsafe_b64decode(token)[-16:]  # any unique label will do
        self.tokens[token] = (session, source, self.now + ABSOLUTE, self.now + IDLE)

    def refresh(self, old: str, new: str) -> None:
        session, source, absolute, _ = self.tokens[old]
        self.tokens[new] = (session, source, absolute, min(self.now + IDLE, absolute))

    def end(self, token: str) -> None:
        self.ended.add(self.tokens[token][0])

    def live(self, token: str) -> bool:
        session, source, absolute, idle = self.tokens[token]
        return (session not in self.ended and source not in self.deleted
                and self.now < absolute and self.now < idle)


#: Operations on three browsers (each keeps one cookie) and two sources.
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("login"), st.integers(0, 2), st.integers(0, 1)),
        st.tuples(st.just("logout"), st.integers(0, 2), st.just(0)),
        st.tuples(st.just("copy"), st.integers(0, 2), st.integers(0, 2)),
        st.tuples(st.just("delete"), st.just(0), st.integers(0, 1)),
        st.tuples(st.just("wait"), st.just(0),
                  st.sampled_from([30, 61, 600, IDLE - 600, IDLE, ABSOLUTE])),
        st.tuples(st.just("use"), st.integers(0, 2), st.just(0)),
    ),
    max_size=25,
)


@settings(PROPERTY, max_examples=150)
@given(steps=OPERATIONS)
def test_logout_delete_and_expiry_never_leave_a_usable_token(
    instance: Instance, steps: list[tuple[str, int, int]]
) -> None:
    """Browsers log in and out, copy cookies, sources are deleted, time passes: after
    every step, every token ever issued opens exactly when the model says it must."""
    model = Model()
    sessions = SourceSessions(instance.store.db, key=token_key(b"p" * 32), idle_seconds=IDLE,
                              absolute_seconds=ABSOLUTE, clock=lambda: model.now)
    logins = []
    for _ in range(2):
        codename, _ = new_source(instance)
        assert codename is not None
        logins.append(instance.sources.login(codename))
    cookies: list[str | None] = [None, None, None]
    for kind, which, arg in steps:
        cookie = cookies[which]
        if kind == "login" and arg not in model.deleted:
            if cookie is not None:  # what the web layer does: end the old session first
                sessions.end(cookie)
                model.end(cookie)
            cookies[which] = sessions.start(logins[arg])
            model.issue(cookies[which], arg)  # type: ignore[arg-type]
        elif kind == "logout" and cookie is not None:
            sessions.end(cookie)
            model.end(cookie)
            cookies[which] = None
        elif kind == "copy":
            cookies[arg] = cookie
        elif kind == "delete" and arg not in model.deleted:
            Inbox(instance.store, instance.sources, Audit(instance.store.db)).delete_source(
                logins[arg].source_id, reviewer="model")
            model.deleted.add(arg)
        elif kind == "wait":
            model.now += arg
        elif kind == "use" and cookie is not None and model.live(cookie):
            refreshed = sessions.resume(cookie).token
            if refreshed is not None:
                model.refresh(cookie, refreshed)
                cookies[which] = refreshed
        for token in model.tokens:
            if model.live(token):
                assert sessions.resume(token).login.source_id == logins[
                    model.tokens[token][1]].source_id
            else:
                with pytest.raises(SessionEnded):
                    sessions.resume(token)
