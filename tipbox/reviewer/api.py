"""The reviewer app's versioned JSON API (``/api/v1``), for scripts and desktop clients.

The same services and rules as the pages (:mod:`tipbox.reviewer.auth`,
:mod:`tipbox.reviewer.views`); only the transport differs. Every route is in
``docs/api.md``. Security contract:

- **Bearer tokens only.** ``POST /api/v1/token`` runs the page's login
  (:meth:`~tipbox.services.accounts.sessions.Logins.login`: the same
  throttles, lockouts, Argon2 slots and audit rows) and returns its session
  token; the session's idle and absolute lifetimes make it short-lived, and
  ``DELETE /api/v1/token`` deletes it. Every other route reads the token from
  ``Authorization: Bearer`` and from nowhere else: the session cookie is
  never consulted, so a browser's cookie session alone is refused (401), and
  CSRF, an attack through cookies, does not apply (the blueprint is exempt
  from flask-wtf). The lookup is the pages' (hash of the id, sealed secrets).
- An account still in enrolment gets no token: its enrolment session is
  closed at once and the answer says to enrol in the browser.
- **Bodies** are JSON objects sent as ``application/json``, capped like forms
  (:func:`tipbox.web.app.form_limit`, before anything reads them). Unknown
  fields and query parameters are refused (400) before anything changes; a
  field of the wrong JSON type counts as missing.
- **Errors** are JSON ``{"error": code, "message": text}`` with the status of
  the code in :data:`tipbox.web.errors.CODES` (every path under ``/api/``,
  unknown routes included: :func:`tipbox.web.errors.render_json_error`).
  Messages never echo what was sent.
- Decryption uses the newsroom identities of the caller's session only; a
  file's bytes are streamed as an attachment with the download headers of
  :mod:`tipbox.reviewer.downloads`. The services write the audit rows.
"""

from __future__ import annotations

import functools
import json
import typing as t
from collections.abc import Callable, Mapping

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.datastructures import MultiDict

from tipbox.errors import AuthenticationFailed, Forbidden, InvalidInput, TooLarge
from tipbox.reviewer import forms
from tipbox.reviewer.downloads import attachment
from tipbox.reviewer.guard import forget_search, refuse_other_desks, services
from tipbox.services.accounts.sessions import NoSession, ReviewerSession
from tipbox.services.inbox.conversations import Entry, SourceSummary
from tipbox.services.inbox.triage import Filters, Triage, check_label, check_status
from tipbox.web.i18n import N_, QUERY_KEY

__all__ = ["bp"]

bp = Blueprint("api", __name__, url_prefix="/api/v1")

View = t.Callable[..., t.Any]
JSON_TYPE = "application/json"


class TokenRefused(AuthenticationFailed):
    """No bearer token, or one that is malformed, unknown, expired or logged out (401)."""

    code = "token_refused"


class EnrolInBrowser(Forbidden):
    """The account has not finished enrolment, which needs the browser (403)."""

    code = "enrol_in_browser"


class NotJson(InvalidInput):
    """The body is not sent as ``application/json`` (415)."""

    code = "json_expected"


class MalformedJson(InvalidInput):
    """The body is not one JSON object (400)."""

    code = "json_malformed"


# --- who is asking ---------------------------------------------------------------------


def bearer_token() -> str | None:
    """The token of ``Authorization: Bearer <token>``; never the cookie."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def token_required(view: View) -> View:
    """Run ``view`` only with the live ``full`` session of the bearer token (else 401)."""

    @functools.wraps(view)
    def guarded(*args: t.Any, **kwargs: t.Any) -> t.Any:
        try:
            g.api_session = services().sessions.load(bearer_token())
        except NoSession:
            raise TokenRefused("no valid bearer token") from None
        refuse_other_desks(g.api_session, kwargs)
        return view(*args, **kwargs)

    return guarded


def caller() -> ReviewerSession:
    """The session loaded by :func:`token_required` for this request."""
    return t.cast(ReviewerSession, g.api_session)


# --- reading requests --------------------------------------------------------------------


@bp.url_value_preprocessor
def refuse_language_choice(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
    """Refuse ``?lang=`` (400) before the pages' language picker would store it in a cookie
    and redirect: the API sets no cookie; its messages follow ``Accept-Language``.

    URL value preprocessors run before every ``before_request`` hook.
    """
    if QUERY_KEY in request.args:
        raise InvalidInput("unknown query parameter", code="unknown_parameter")


def json_body(allowed: frozenset[str]) -> dict[str, object]:
    """The request's JSON object; refuses another type, bad JSON and fields not ``allowed``."""
    if request.mimetype != JSON_TYPE:
        raise NotJson("the body must be application/json")
    try:
        body = json.loads(_whole_body(), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise MalformedJson("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedJson("the body is not a JSON object")
    if not body.keys() <= allowed:
        raise InvalidInput("unknown field", code="unknown_field")
    return body


def _whole_body() -> bytes:
    """The body; one without a length that reaches the cap is refused (413), not cut short.

    Werkzeug stops reading a chunked body at the cap without saying so.
    """
    data = request.get_data(cache=False)
    cap = request.max_content_length
    if request.content_length is None and cap is not None and len(data) >= cap:
        raise TooLarge("the body is larger than the cap")
    return data


def _refuse_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not JSON")


def text_fields(body: Mapping[str, object]) -> MultiDict[str, str]:
    """The string fields of ``body``, for the form readers of :mod:`tipbox.reviewer.forms`."""
    return MultiDict({name: value for name, value in body.items() if isinstance(value, str)})


def boolean(body: Mapping[str, object], name: str, *, label: str) -> bool:
    """The JSON ``true``/``false`` field ``name``."""
    value = body.get(name)
    if not isinstance(value, bool):
        raise InvalidInput(f"the {label} choice is missing or not understood",
                           code="choice_invalid", params={"label": label})
    return value


def query(allowed: Mapping[str, object]) -> dict[str, str]:
    """The query string as single values; refuses a name not in ``allowed`` or repeated."""
    if not request.args.keys() <= allowed.keys():
        raise InvalidInput("unknown query parameter", code="unknown_parameter")
    if any(len(values) > 1 for values in request.args.listvalues()):
        raise InvalidInput("a query parameter is repeated")
    return request.args.to_dict()


def query_flag(value: str, *, label: str) -> bool:
    """``true``/``1`` or ``false``/``0``."""
    if value not in {"true", "1", "false", "0"}:
        raise InvalidInput(f"the {label} choice is missing or not understood",
                           code="choice_invalid", params={"label": label})
    return value in {"true", "1"}


# --- what a response says --------------------------------------------------------------------


def summary_json(summary: SourceSummary) -> dict[str, object]:
    """One source as the sources list and ``GET /sources/<id>`` show it (nothing secret)."""
    return {
        "id": summary.id,
        "designation": summary.designation,
        "items": summary.items,
        "unread": summary.unread,
        "starred": summary.starred,
        "last_activity_hour": summary.last_activity_hour,
        "can_reply": summary.can_reply,
        "status": summary.status,
        "labels": list(summary.labels),
        "assignees": list(summary.assignees),
    }


#: What each kind of conversation entry shows, and under which key of the answer.
ENTRY_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "message": ("items", ("id", "kind", "submission_id", "hour", "seen", "text")),
    "file": ("items", ("id", "kind", "submission_id", "hour", "seen", "name", "size",
                       "content_type")),
    "reply": ("replies", ("id", "kind", "hour", "text", "author", "source_seen_hour",
                          "source_deleted_hour")),
    "note": ("notes", ("id", "kind", "hour", "text", "author")),
}


def conversation_json(summary: SourceSummary, entries: list[Entry]) -> dict[str, object]:
    """The source, its items (messages and files), the replies, the notes and the answers
    to the desk's questions, in order."""
    answer: dict[str, t.Any] = {
        "source": summary_json(summary), "items": [], "replies": [], "notes": [], "answers": []}
    for entry in entries:
        if entry.kind == "manifest":
            answer["answers"] += [{"submission_id": entry.submission_id, "label": a.label,
                                   "kind": a.kind, "answer": a.text} for a in entry.answers]
            continue
        shown = ENTRY_FIELDS.get(str(entry.kind))
        if shown is not None:
            key, names = shown
            answer[key].append({name: getattr(entry, name) for name in names})
    return answer


def no_content() -> Response:
    return Response(status=204)


# --- routes -------------------------------------------------------------------------------------

TOKEN_FIELDS = frozenset({"username", "password", "code"})


@bp.post("/token")
def create_token() -> Response:
    """Password and TOTP code -> a bearer token (the page login's session token)."""
    fields = text_fields(json_body(TOKEN_FIELDS))
    username = forms.username(fields)
    password = forms.password(fields)
    code = forms.text(fields, "code", label=N_("code"), max_chars=32)
    result = services().logins.login(username, password, code)
    if result.kind != "full":
        services().logins.logout(result.token)
        raise EnrolInBrowser("enrol in the browser first")
    limits = services().instance.instance_settings.effective()
    return jsonify(token=result.token, expires_in=limits.session_absolute_seconds,
                   idle_timeout=limits.session_idle_seconds)


@bp.delete("/token")
@token_required
def delete_token() -> Response:
    """Log out: the session of the token is deleted (audited)."""
    forget_search(bearer_token())
    services().logins.logout(bearer_token())
    return no_content()


ListParameter = Callable[[str, dict[str, t.Any]], None]


def _cursor(value: str, asked: dict[str, t.Any]) -> None:
    asked["cursor"] = value or None


def _order(value: str, asked: dict[str, t.Any]) -> None:
    asked["order"] = forms.order(value)


def _starred(value: str, asked: dict[str, t.Any]) -> None:
    asked["filters"]["starred"] = query_flag(value, label=N_("star"))


def _unread(value: str, asked: dict[str, t.Any]) -> None:
    asked["filters"]["unread"] = query_flag(value, label=N_("unread"))


def _files(value: str, asked: dict[str, t.Any]) -> None:
    asked["filters"]["has_files"] = query_flag(value, label=N_("files"))


def _named(field: str) -> ListParameter:
    def read(value: str, asked: dict[str, t.Any]) -> None:
        asked["filters"][field] = value or None
    return read


def _assignee(value: str, asked: dict[str, t.Any]) -> None:
    asked["filters"]["assignee"] = caller().username if value == "me" else (value or None)


def _search(value: str, asked: dict[str, t.Any]) -> None:
    session = caller()
    asked["ids"] = services().search.sources(session.id_hash, session.identities(), value)


#: Each query parameter of ``GET /sources``: how it is read into the page's arguments
#: (``cursor``, ``order``) or into the :class:`Filters` (``filters``). Nothing else is taken.
LIST_PARAMETERS: dict[str, ListParameter] = {
    "cursor": _cursor,
    "order": _order,
    "starred": _starred,
    "unread": _unread,
    "files": _files,
    "status": _named("status"),
    "label": _named("label"),
    "assignee": _assignee,
    "q": _search,
}


@bp.get("/sources")
@token_required
def list_sources() -> Response:
    """One page of the sources that match the filters; ``next_cursor`` asks for the next."""
    asked: dict[str, t.Any] = {"cursor": None, "order": "starred", "filters": {}, "ids": None}
    for name, value in query(LIST_PARAMETERS).items():
        LIST_PARAMETERS[name](value, asked)
    desks = services().instance.desks.of_reviewer(caller().reviewer_id)
    chosen = services().triage.resolve(Filters(**asked["filters"]), ids=asked["ids"], desks=desks)
    page = services().inbox.sources(order=asked["order"], cursor=asked["cursor"], chosen=chosen)
    return jsonify(sources=[summary_json(summary) for summary in page.sources],
                   next_cursor=page.next_cursor)


@bp.get("/sources/<id:source_id>")
@token_required
def get_source(source_id: int) -> Response:
    """The source, its decrypted messages, its files' names and sizes, and the replies."""
    conversation = services().inbox.conversation(
        source_id, caller().identities(), reviewer=caller().username
    )
    return jsonify(conversation_json(conversation.source, conversation.entries))


Change = Callable[[int], None]


def _set_starred(body: Mapping[str, object]) -> Change:
    starred = boolean(body, "starred", label=N_("star"))
    return lambda source_id: services().inbox.set_starred(source_id, starred=starred)


def _set_status(body: Mapping[str, object]) -> Change:
    status = check_status(_string(body, "status", label=N_("status")))
    return lambda source_id: services().triage.set_status(
        [source_id], status, by=caller().username)


def _set_labels(body: Mapping[str, object]) -> Change:
    wanted = {check_label(name) for name in _strings(body, "labels", label=N_("label"))}
    return _set_exactly(wanted, lambda summary: summary.labels,
                        Triage.add_label, Triage.remove_label)


def _set_assignees(body: Mapping[str, object]) -> Change:
    wanted = set(_strings(body, "assignees", label=N_("reviewer")))
    return _set_exactly(wanted, lambda summary: summary.assignees,
                        Triage.assign, Triage.unassign)


TriageChange = Callable[..., None]


def _set_exactly(
    wanted: set[str],
    held: Callable[[SourceSummary], tuple[str, ...]],
    add: TriageChange,
    remove: TriageChange,
) -> Change:
    """A change that makes a source's names (labels, assignees) exactly ``wanted``."""

    def change(source_id: int) -> None:
        triage, have = services().triage, set(held(services().inbox.source(source_id)))
        for name in sorted(wanted - have):
            add(triage, [source_id], name, by=caller().username)
        for name in sorted(have - wanted):
            remove(triage, [source_id], name, by=caller().username)
    return change


def _string(body: Mapping[str, object], name: str, *, label: str) -> str:
    """The JSON string field ``name``."""
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidInput(f"the {label} choice is missing or not understood",
                           code="choice_invalid", params={"label": label})
    return value


def _strings(body: Mapping[str, object], name: str, *, label: str) -> list[str]:
    """The JSON field ``name``: a list of at most :data:`MAX_NAMES` strings."""
    value = body.get(name)
    if not isinstance(value, list) or len(value) > MAX_NAMES \
            or not all(isinstance(item, str) for item in value):
        raise InvalidInput(f"the {label} choice is missing or not understood",
                           code="choice_invalid", params={"label": label})
    return value


MAX_NAMES = 50

#: Each field ``PATCH /sources/<id>`` takes: read first (all of them, so a bad
#: one changes nothing), then applied in this order. ``labels`` and
#: ``assignees`` are the whole new lists.
SOURCE_CHANGES: dict[str, Callable[[Mapping[str, object]], Change]] = {
    "starred": _set_starred,
    "status": _set_status,
    "labels": _set_labels,
    "assignees": _set_assignees,
}


@bp.patch("/sources/<id:source_id>")
@token_required
def patch_source(source_id: int) -> Response:
    """Change the given fields of a source; answers with the source as it now is."""
    body = json_body(frozenset(SOURCE_CHANGES))
    changes = [read(body) for name, read in SOURCE_CHANGES.items() if name in body]
    services().inbox.source(source_id)
    for change in changes:
        change(source_id)
    return jsonify(source=summary_json(services().inbox.source(source_id)))


@bp.post("/sources/<id:source_id>/replies")
@token_required
def add_reply(source_id: int) -> tuple[Response, int]:
    """Encrypt a reply to the source and the newsroom key; answers with its id (201)."""
    fields = text_fields(json_body(frozenset({"text"})))
    text = forms.text(fields, "text", label=N_("reply"), max_chars=10**7)
    reply_id = services().inbox.reply(source_id, text, reviewer=caller().username)
    return jsonify(id=reply_id), 201


@bp.post("/sources/<id:source_id>/notes")
@token_required
def add_note(source_id: int) -> tuple[Response, int]:
    """Encrypt an internal note to the newsroom key; answers with its id (201)."""
    fields = text_fields(json_body(frozenset({"text"})))
    text = forms.text(fields, "text", label=N_("note"), max_chars=10**7)
    return jsonify(id=services().notes.add(source_id, text, author=caller().username)), 201


@bp.delete("/sources/<id:source_id>")
@token_required
def delete_source(source_id: int) -> Response:
    """Crypto-shred the source and everything of it (audited)."""
    services().inbox.delete_source(source_id, reviewer=caller().username)
    return no_content()


@bp.get("/items/<id:item_id>/content")
@token_required
def item_content(item_id: int) -> Response:
    """The decrypted bytes of a file or message, streamed as an attachment (marks it read)."""
    source_id = services().inbox.source_of_item(item_id)
    item = services().inbox.open_file(
        source_id, item_id, caller().identities(), reviewer=caller().username
    )
    return attachment(item.chunks, item.name, item.size)
