"""Notices to reviewers that new submissions wait, batched so that they say nothing.

Call :func:`notify_if_due` every few minutes (``python -m tipbox notify``
from ``tipbox-notify.timer``, on any number of hosts). Time is
cut into periods of ``TIPBOX_NOTIFY_PERIOD_SECONDS`` aligned on the Unix
epoch (hourly periods start on the hour). Only the **first call in each
period** may send. So a notice leaves shortly after a period boundary
whatever the moment the submissions arrived: its timing says "at least one
submission during the last period(s)", nothing finer.

Who is told what:

- The desk (``TIPBOX_NOTIFY_TO``, which also switches notices on) gets one
  mail if a submission was committed since its last one, as before.
- Each reviewer with a preference and an address of their own
  (:mod:`tipbox.services.accounts.notifications`) gets one notice if
  :func:`is_due`: a new source arrived (``new_sources``), or a source
  assigned to them got a new submission (``assigned``) since the position
  kept for them in the database. That position then moves to "now", so
  nothing is told twice.

Notices go through a :class:`Channel` (e-mail today: :class:`EmailChannel`);
another channel plugs in beside it without touching the decision.

Security contract:

- The notice is always the same text, whoever gets it and why: no
  content, no designation, no count, no time, no preference. Its ``Date``
  header is the start of the period, its ``Message-ID`` random, the EHLO
  name ``localhost`` (the server's host name is not sent). Each reviewer's
  notice goes to their address alone.
- For the desk, only the highest submission id already announced and the
  last period checked are stored, in the database's ``meta`` table (the
  ``notify.json`` file of earlier versions is adopted and removed); for a
  reviewer, the highest source and submission ids considered, in their
  ``reviewers`` row. One call at a time in the whole instance holds the
  ``notify`` slot (:func:`~tipbox.store.shared_slots.instance_slots`), so
  timers on several hosts never send a period's notice twice.
- The relay is reached with STARTTLS or implicit TLS, certificate and host
  name verified (``TIPBOX_SMTP_CA_FILE`` adds a CA); plain SMTP only to a
  loopback relay (enforced by the settings). The password is read from a
  file at send time and never logged.
- A failed send raises :class:`NotifyFailed` once every recipient was
  tried, and the period is not recorded, so the next call retries; those
  already told (the desk, a reviewer) are recorded and not told again.
"""

from __future__ import annotations

import enum
import json
import secrets
import smtplib
import sqlite3
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from functools import partial
from pathlib import Path
from typing import Protocol

from tipbox.config import NotifySettings, Settings
from tipbox.errors import NotInitialised, TipboxError
from tipbox.services.accounts.notifications import Preference
from tipbox.store import Database
from tipbox.store.db import database_exists, open_database, read_meta, write_meta
from tipbox.store.files import fsync_path
from tipbox.store.reviewers import notice_marks, notify_watchers, set_notified
from tipbox.store.shared_slots import instance_slots

__all__ = [
    "LEGACY_STATE_FILE",
    "Channel",
    "EmailChannel",
    "NotifyFailed",
    "Outcome",
    "Watcher",
    "build_message",
    "is_due",
    "notify_if_due",
    "send_mail",
]

#: Where versions before the database kept the desk's state, in the data directory.
LEGACY_STATE_FILE = "notify.json"
_ANNOUNCED = "notify_announced"
_CHECKED_PERIOD = "notify_checked_period"
#: How long a call waits for another host's (or process's) call to finish.
LOCK_WAIT_SECONDS = 300.0
SMTP_TIMEOUT_SECONDS = 30
_EHLO = "localhost"
SUBJECT = "tipbox: new submissions are waiting"
BODY = """\
New submissions are waiting in the tipbox reviewer inbox.

This notice is sent at most once per period and never says how many
submissions there are or when they arrived. Open the inbox through its
onion service to read them.
"""


class NotifyFailed(TipboxError):
    """The mail relay could not be reached or refused the notice."""

    code = "notify_failed"


class Outcome(enum.Enum):
    """What one call of :func:`notify_if_due` did."""

    DISABLED = "notifications are not configured"
    NOT_DUE = "already checked in this period"
    NOTHING_NEW = "no new submissions"
    SENT = "notice sent"


@dataclass(frozen=True, slots=True)
class _State:
    announced: int = 0  # highest submission id a desk mail has covered
    checked_period: int = -1


Sender = Callable[[NotifySettings, EmailMessage], None]


class Channel(Protocol):
    """A way to deliver the one fixed notice (e-mail today)."""

    def deliver(self, to: Sequence[str], period_start: int) -> None:
        """Tell ``to`` (addresses of this channel) that submissions wait.

        ``period_start`` is the only time the notice may carry. Raises
        :class:`NotifyFailed` if the notice could not be handed over.
        """


@dataclass(frozen=True, slots=True)
class Watcher:
    """A reviewer who wants notices: their choice, their address and what is new."""

    reviewer_id: int
    preference: Preference
    address: str
    new_source: bool
    assigned_activity: bool


def is_due(watcher: Watcher) -> bool:
    """Whether ``watcher`` is to be told now, by their preference."""
    if watcher.preference is Preference.NEW_SOURCES:
        return watcher.new_source
    if watcher.preference is Preference.ASSIGNED:
        return watcher.assigned_activity
    return False


def notify_if_due(
    settings: Settings,
    *,
    now: Callable[[], float] = time.time,
    channel: Channel | None = None,
) -> Outcome:
    """Send the notices if this is the period's first call and something is new.

    ``channel`` defaults to e-mail through the configured relay. Raises
    :class:`NotifyFailed` if a delivery fails (the period is not recorded then).
    """
    notify = settings.notify
    if not notify.enabled:
        return Outcome.DISABLED
    if not database_exists(settings):
        raise NotInitialised("no instance here; run `python -m tipbox init` first")
    database = open_database(settings)
    try:
        lock = instance_slots(database, settings.slots_dir, "notify", 1)
        with lock.slot(wait_seconds=LOCK_WAIT_SECONDS):  # one at a time: never two notices
            period = int(now()) // notify.period_seconds
            return _notify_locked(settings, database, channel or EmailChannel(notify), period)
    finally:
        database.close()


def _notify_locked(
    settings: Settings, database: Database, channel: Channel, period: int
) -> Outcome:
    state = _read_state(database, settings.data_dir)
    if period <= state.checked_period:
        return Outcome.NOT_DUE
    start = period * settings.notify.period_seconds
    failures: list[NotifyFailed] = []
    with database.reading() as conn:
        marks = notice_marks(conn)
        watchers = [_watcher(row) for row in notify_watchers(conn)]
    desk_due = marks[1] > state.announced
    desk = _attempt(failures, lambda: _tell(channel, settings.notify.to, start, desk_due))
    told = [_attempt(failures, partial(_tell_reviewer, database, channel, start, w, marks))
            for w in watchers]
    announced = state.announced if desk is None else max(state.announced, marks[1])
    _write_state(database, _State(announced, state.checked_period if failures else period))
    if failures:
        raise failures[0]
    return Outcome.SENT if desk or any(told) else Outcome.NOTHING_NEW


def _attempt(failures: list[NotifyFailed], tell: Callable[[], bool]) -> bool | None:
    """Run one delivery: whether it sent, or ``None`` (noted in ``failures``) if it failed."""
    try:
        return tell()
    except NotifyFailed as error:
        failures.append(error)
        return None


def _tell(channel: Channel, to: Sequence[str], period_start: int, due: bool) -> bool:
    if due:
        channel.deliver(to, period_start)
    return due


def _tell_reviewer(
    database: Database, channel: Channel, period_start: int, watcher: Watcher,
    marks: tuple[int, int],
) -> bool:
    """Tell one reviewer if due; then everything up to ``marks`` counts as told to them."""
    due = _tell(channel, [watcher.address], period_start, is_due(watcher))
    with database.transaction() as conn:
        set_notified(conn, watcher.reviewer_id, marks)
    return due


def _watcher(row: sqlite3.Row) -> Watcher:
    return Watcher(int(row["id"]), Preference(row["notify"]), str(row["notify_email"]),
                   bool(row["new_source"]), bool(row["assigned_activity"]))


@dataclass(frozen=True, slots=True)
class EmailChannel:
    """The notice as an e-mail through the configured relay (:func:`send_mail`)."""

    notify: NotifySettings
    send: Sender | None = None  # None: send_mail; tests pass a recorder

    def deliver(self, to: Sequence[str], period_start: int) -> None:
        """One mail to every address of ``to`` (see :func:`build_message`)."""
        (self.send or send_mail)(self.notify, build_message(self.notify, period_start, to=to))


def build_message(
    notify: NotifySettings, period_start: int, *, to: Sequence[str] | None = None
) -> EmailMessage:
    """The fixed notice to ``to`` (default: the desk list), dated at the start of the period."""
    message = EmailMessage()
    message["From"] = notify.sender
    message["To"] = ", ".join(notify.to if to is None else to)
    message["Subject"] = SUBJECT
    message["Date"] = formatdate(period_start, usegmt=True)
    message["Message-ID"] = f"<{secrets.token_hex(16)}@tipbox.invalid>"
    message.set_content(BODY)
    return message


def send_mail(notify: NotifySettings, message: EmailMessage) -> None:
    """Deliver ``message`` to the configured relay; :class:`NotifyFailed` on any failure."""
    try:
        with _connect(notify) as smtp:
            if notify.smtp_username:
                smtp.login(notify.smtp_username, _password(notify))
            smtp.send_message(message)
    except (smtplib.SMTPException, ssl.SSLError, OSError) as error:
        raise NotifyFailed(
            f"could not send the notice via {notify.smtp_host}: {_why(error)}"
        ) from None


def _connect(notify: NotifySettings) -> smtplib.SMTP:
    context = ssl.create_default_context(
        cafile=str(notify.smtp_ca_file) if notify.smtp_ca_file else None
    )
    host, port = notify.smtp_host, notify.smtp_port
    if notify.smtp_security == "tls":
        return smtplib.SMTP_SSL(
            host, port, local_hostname=_EHLO, timeout=SMTP_TIMEOUT_SECONDS, context=context
        )
    smtp = smtplib.SMTP(host, port, local_hostname=_EHLO, timeout=SMTP_TIMEOUT_SECONDS)
    try:
        if notify.smtp_security == "starttls":
            smtp.starttls(context=context)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _password(notify: NotifySettings) -> str:
    if notify.smtp_password_file is None:
        raise NotifyFailed("TIPBOX_SMTP_USERNAME is set but TIPBOX_SMTP_PASSWORD_FILE is not")
    return notify.smtp_password_file.read_text("utf-8").strip("\r\n")


def _why(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the relay answered {error.smtp_code}"
    return type(error).__name__ if not str(error) else str(error)


def _read_state(database: Database, data_dir: Path) -> _State:
    """The desk's state, from the database (after adopting an earlier version's file)."""
    _adopt_state_file(database, data_dir / LEGACY_STATE_FILE)
    with database.reading() as conn:
        announced = read_meta(conn, _ANNOUNCED)
        checked = read_meta(conn, _CHECKED_PERIOD)
    if announced is None or checked is None:
        return _State()
    return _State(int(announced), int(checked))


def _adopt_state_file(database: Database, path: Path) -> None:
    """Move the state an earlier version kept in ``path`` into the database, unless the
    database has one already; the file goes either way."""
    try:
        document = json.loads(path.read_text("ascii"))
        state = _State(int(document["announced"]), int(document["checked_period"]))
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        state = _State()  # damaged: at worst one extra notice
    with database.transaction() as conn:
        if read_meta(conn, _CHECKED_PERIOD) is None:
            _store_state(conn, state)
    path.unlink(missing_ok=True)
    fsync_path(path.parent)


def _write_state(database: Database, state: _State) -> None:
    with database.transaction() as conn:
        _store_state(conn, state)


def _store_state(conn: sqlite3.Connection, state: _State) -> None:
    write_meta(conn, _ANNOUNCED, str(state.announced))
    write_meta(conn, _CHECKED_PERIOD, str(state.checked_period))
