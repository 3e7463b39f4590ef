"""Who is asking: the reviewer services accessor, the session cookie and route guards.

Security contract:

- The Flask session (signed cookie) holds one value, ``token``: the session
  id and per-session key of :mod:`tipbox.services.accounts.sessions`. It is replaced
  as a whole at login (:func:`start_session`) and cleared at logout; only
  the language choice (:mod:`tipbox.web.i18n`) is kept.
- :func:`login_required` loads the ``full`` session for every request of a
  view and refuses (redirect to the login page; nothing of the view runs)
  when it is absent, malformed, expired or logged out. :func:`admin_required`
  additionally refuses non-admins with ``Forbidden``.
"""

from __future__ import annotations

import functools
import typing as t

from flask import Flask, current_app, g, redirect, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from tipbox.errors import Forbidden, NotFound
from tipbox.services.accounts.sessions import NoSession, ReviewerSession, split_token
from tipbox.services.wiring import ReviewerServices
from tipbox.web.i18n import clear_session

_KEY = "tipbox.reviewer"
_TOKEN = "token"  # noqa: S105 - the name of a cookie field

View = t.Callable[..., t.Any]


def install_services(app: Flask, services: ReviewerServices) -> None:
    """Keep the reviewer services in ``app.extensions`` for :func:`services`."""
    app.extensions[_KEY] = services


def services() -> ReviewerServices:
    """The reviewer services of the current app."""
    return t.cast(ReviewerServices, current_app.extensions[_KEY])


def token() -> str | None:
    """The session token from the cookie, if any."""
    value = session.get(_TOKEN)
    return value if isinstance(value, str) else None


def start_session(new_token: str) -> None:
    """Replace the whole cookie session (CSRF token included, not the language)."""
    clear_session()
    session[_TOKEN] = new_token


def end_session() -> None:
    """Forget the cookie session entirely (but the language the reviewer picked)."""
    clear_session()


def forget_search(session_token: str | None) -> None:
    """Drop the in-memory search index of the session ``session_token`` (at logout)."""
    try:
        id_hash, _ = split_token(session_token or "")
    except NoSession:
        return
    services().search.forget(id_hash)


def current_session() -> ReviewerSession:
    """The session loaded by :func:`login_required` for this request."""
    return t.cast(ReviewerSession, g.reviewer_session)


def _to_login() -> BaseResponse:
    end_session()
    return redirect(url_for("auth.login_form"), code=303)


def my_desks() -> list[int]:
    """The desks the reviewer of this request is a member of (read per request)."""
    return services().instance.desks.of_reviewer(current_session().reviewer_id)


def refuse_other_desks(reviewer: ReviewerSession, arguments: t.Mapping[str, t.Any]) -> None:
    """404 for a route's ``source_id`` or ``item_id`` outside the reviewer's desks.

    The same answer as for one that does not exist: a reviewer learns nothing
    about other desks' sources, not even that one exists.
    """
    source_id, item_id = arguments.get("source_id"), arguments.get("item_id")
    if source_id is None and item_id is None:
        return
    if not services().instance.desks.reaches(reviewer.reviewer_id, source_id=source_id,
                                             item_id=item_id):
        raise NotFound("no such source")


def refuse_other_desks_among(source_ids: t.Iterable[int]) -> None:
    """404 unless every one of ``source_ids`` (a bulk selection) is in the reviewer's desks."""
    for source_id in source_ids:
        refuse_other_desks(current_session(), {"source_id": source_id})


def login_required(view: View) -> View:
    """Run ``view`` only with a live ``full`` session; otherwise go to the login page.

    A route about one source or item of another desk answers 404 (:func:`refuse_other_desks`).
    """

    @functools.wraps(view)
    def guarded(*args: t.Any, **kwargs: t.Any) -> t.Any:
        try:
            g.reviewer_session = services().sessions.load(token())
        except NoSession:
            return _to_login()
        refuse_other_desks(g.reviewer_session, kwargs)
        return view(*args, **kwargs)

    return guarded


def admin_required(view: View) -> View:
    """Like :func:`login_required`, and the reviewer must be an admin (else 403)."""

    @functools.wraps(view)
    def admin_only(*args: t.Any, **kwargs: t.Any) -> t.Any:
        if not current_session().is_admin:
            raise Forbidden("admins only")
        return view(*args, **kwargs)

    return login_required(admin_only)
