"""A returning source's login across requests: a sealed token, revocable on the server.

Security contract:

- The codename is never kept: after :meth:`Sources.login` has derived the
  source's identity, the session holds one value, ``login``: a token made by
  :class:`~tipbox.services.sources.sessions.SourceSessions` (sealed under a
  server key, live only while its server-side row lives; see that module
  for what is stored and what expires when).
- Logging in ends the session the cookie held (if any), then clears the whole
  session (no fixation) but the visitor's language. Logging out deletes the
  server-side row: a copy of the cookie opens nothing afterwards.
- A request is anonymous (no token), logged in (a live token) or **ended**:
  it carries a token that is no longer live (logged out from another copy,
  expired, source deleted, or a token that does not open at all). An ended
  token never acts as the source, and never as a new source either: the
  routes that would act call :func:`refuse_ended_session`, which raises
  :class:`~tipbox.errors.SessionEnded` (a page asking to log in again). For
  ``POST /submit`` that happens when the upload sink is asked for, before
  any byte of the body is read.
- A page view (GET) drops an ended token, so the visitor then sees the pages
  of someone logged out; a refused POST keeps it, so sending the same form
  again is refused again rather than sent as a new source.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from flask import Flask, current_app, g, request, session

from tipbox.errors import SessionEnded
from tipbox.services.sources.returning import SourceLogin
from tipbox.services.sources.sessions import SourceSessions
from tipbox.web.i18n import clear_session

_SESSION_KEY = "login"
_STATE_KEY = "tipbox_login_state"
_EXTENSION = "tipbox.source_sessions"
_PAGE_VIEWS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class _State:
    """This request's login: the live one, or none; ``ended`` if a dead token came in."""

    login: SourceLogin | None
    ended: bool = False


def install_source_sessions(app: Flask, sessions: SourceSessions) -> None:
    """Keep the app's :class:`SourceSessions` (built once by the factory)."""
    app.extensions[_EXTENSION] = sessions


def source_sessions() -> SourceSessions:
    """The current app's :class:`SourceSessions`."""
    return t.cast(SourceSessions, current_app.extensions[_EXTENSION])


def remember_login(login: SourceLogin) -> None:
    """End the cookie's old session, then start a fresh one for ``login`` (language kept)."""
    source_sessions().end(session.get(_SESSION_KEY))
    clear_session()
    session[_SESSION_KEY] = source_sessions().start(login)
    setattr(g, _STATE_KEY, _State(login))


def forget_login() -> None:
    """Log out: delete the server-side session, clear the cookie but the language."""
    source_sessions().end(session.get(_SESSION_KEY))
    clear_session()
    setattr(g, _STATE_KEY, _State(None))


def current_login() -> SourceLogin | None:
    """The logged-in source of this request, or ``None`` (anonymous or ended)."""
    return _state().login


def refuse_ended_session() -> None:
    """Raise :class:`SessionEnded` if this request carries a token that is no longer live."""
    if _state().ended:
        raise SessionEnded("this login has ended; log in again")


def _state() -> _State:
    state = t.cast(_State | None, g.get(_STATE_KEY))
    if state is None:
        state = _resolve(session.get(_SESSION_KEY))
        setattr(g, _STATE_KEY, state)
    return state


def _resolve(token: object) -> _State:
    if token is None:
        return _State(None)
    try:
        resumed = source_sessions().resume(token)
    except SessionEnded:
        if request.method in _PAGE_VIEWS:
            session.pop(_SESSION_KEY, None)
        return _State(None, ended=True)
    if resumed.token is not None:
        session[_SESSION_KEY] = resumed.token
    return _State(resumed.login)
