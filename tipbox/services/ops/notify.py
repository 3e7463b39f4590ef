"""E-mail to reviewers that new submissions wait, batched so that it says nothing.

Call :func:`notify_if_due` every few minutes (``python -m tipbox notify``
from ``tipbox-notify.timer``, or the reviewer app's periodic task). Time is
cut into periods of ``TIPBOX_NOTIFY_PERIOD_SECONDS`` aligned on the Unix
epoch (hourly periods start on the hour). Only the **first call in each
period** may send, and only if a submission was committed since the last
mail. So a mail leaves shortly after a period boundary whatever the moment
the submissions arrived: its timing says "at least one submission during
the last period(s)", nothing finer.

Security contract:

- The mail is always the same text: no content, no designation, no count,
  no time. Its ``Date`` header is the start of the period, its
  ``Message-ID`` random, the EHLO name ``localhost`` (the server's host
  name is not sent).
- Only the highest submission id already announced and the last period
  checked are stored, in ``notify.json`` (mode 0600) in the data directory.
- The relay is reached with STARTTLS or implicit TLS, certificate and host
  name verified (``TIPBOX_SMTP_CA_FILE`` adds a CA); plain SMTP only to a
  loopback relay (enforced by the settings). The password is read from a
  file at send time and never logged.
- A failed send raises :class:`NotifyFailed` and records nothing, so the
  next call in the same period retries.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from tipbox.config import NotifySettings, Settings
from tipbox.errors import NotInitialised, TipboxError
from tipbox.store import Database
from tipbox.store.files import write_atomically
from tipbox.store.items import latest_submission_id

__all__ = [
    "STATE_FILE",
    "NotifyFailed",
    "Outcome",
    "build_message",
    "notify_if_due",
    "send_mail",
]

STATE_FILE = "notify.json"
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
    announced: int = 0  # highest submission id a mail has covered
    checked_period: int = -1


Sender = Callable[[NotifySettings, EmailMessage], None]


def notify_if_due(
    settings: Settings,
    *,
    now: Callable[[], float] = time.time,
    send: Sender | None = None,
) -> Outcome:
    """Send the notice if this is the period's first call and something is new.

    Raises :class:`NotifyFailed` if sending fails (nothing is recorded then).
    """
    notify = settings.notify
    if not notify.enabled:
        return Outcome.DISABLED
    if not settings.database_path.exists():
        raise NotInitialised("no instance here; run `python -m tipbox init` first")
    with _locked(settings.data_dir):  # one caller at a time: never two notices
        return _notify_locked(settings, notify, int(now()) // notify.period_seconds, send)


def _notify_locked(
    settings: Settings, notify: NotifySettings, period: int, send: Sender | None
) -> Outcome:
    path = settings.data_dir / STATE_FILE
    state = _read_state(path)
    if period <= state.checked_period:
        return Outcome.NOT_DUE
    latest = _latest_submission(settings)
    if latest <= state.announced:
        _write_state(path, _State(state.announced, period))
        return Outcome.NOTHING_NEW
    (send or send_mail)(notify, build_message(notify, period * notify.period_seconds))
    _write_state(path, _State(latest, period))
    return Outcome.SENT


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def build_message(notify: NotifySettings, period_start: int) -> EmailMessage:
    """The fixed notice, dated at the start of the period."""
    message = EmailMessage()
    message["From"] = notify.sender
    message["To"] = ", ".join(notify.to)
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


def _latest_submission(settings: Settings) -> int:
    database = Database(settings.database_path)
    try:
        with database.connection() as conn:
            return latest_submission_id(conn)
    finally:
        database.close()


def _read_state(path: Path) -> _State:
    try:
        document = json.loads(path.read_text("ascii"))
        return _State(int(document["announced"]), int(document["checked_period"]))
    except FileNotFoundError:
        return _State()
    except (OSError, ValueError, KeyError, TypeError):
        return _State()  # damaged: at worst one extra notice


def _write_state(path: Path, state: _State) -> None:
    """Replace the state file atomically (0600 temporary, fsync, rename)."""
    document = {"announced": state.announced, "checked_period": state.checked_period}
    write_atomically(path, json.dumps(document).encode("ascii"), 0o600)
