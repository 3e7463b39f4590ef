"""The one draft submission a ``POST /submit`` request streams into.

Contract: the draft is started lazily (when the body is first parsed, or by
the view), kept on :data:`flask.g`, and either committed by the view through
:func:`commit_draft` or aborted by :func:`abort_draft` when the request
ends. So a CSRF failure, a limit, a disconnection or any exception leaves no
stored submission and no temporary blob behind.
"""

from __future__ import annotations

import logging
import typing as t

from flask import g, request

from tipbox.source.session import current_login
from tipbox.web import instance

if t.TYPE_CHECKING:
    from tipbox.services.submissions.intake import Receipt
    from tipbox.services.submissions.intake import SubmissionDraft as Draft

log = logging.getLogger("tipbox.source")

_KEY = "tipbox_draft"


def current_draft() -> Draft:
    """This request's draft, started for the logged-in source (if any), else for the desk
    the form names (see :meth:`~tipbox.services.submissions.intake.Submissions.start`)."""
    draft: Draft | None = g.get(_KEY)
    if draft is None:
        draft = instance().submissions.start(current_login(), _desk_asked())
        setattr(g, _KEY, draft)
    return draft


def _desk_asked() -> int | None:
    """The desk a new source chose (``?desk=<slug>`` on the form's action), if any."""
    slug = request.args.get("desk")
    return None if slug is None else instance().desks.by_slug(slug).id


def commit_draft(*, want_codename: bool) -> Receipt:
    """Commit this request's draft; afterwards it is no longer aborted."""
    receipt = current_draft().commit(want_codename=want_codename)
    g.pop(_KEY, None)
    return receipt


def abort_draft(_error: BaseException | None = None) -> None:
    """``teardown_request`` hook: discard an uncommitted draft, never raise."""
    draft: Draft | None = g.pop(_KEY, None)
    if draft is None:
        return
    try:
        draft.abort()
    except Exception:  # noqa: BLE001 - teardown must not fail; abort is best effort
        log.exception("could not abort a draft submission")
