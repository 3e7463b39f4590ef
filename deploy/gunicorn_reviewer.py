"""gunicorn configuration of the reviewer app (inbox + admin).

Run as ``gunicorn --config deploy/gunicorn_reviewer.py app:reviewer`` (the
``tipbox-reviewer.service`` unit does). Kept consistent with
``deploy/gunicorn_source.py``: threaded workers, no access log, strict
request limits. The bind address comes from ``TIPBOX_REVIEWER_BIND`` through
:func:`tipbox.config.load_settings`, the only reader of the environment.

Security contract:

- No access log, and the error log never carries a client address: the
  ``ip=...`` of gunicorn's "Invalid request" warnings is blanked out (the
  same logger class as the source app's).
- Request line, header count and header size are bounded; a reviewer
  request has no business being large except a form post, whose body the app
  limits itself.
- ``X-Forwarded-*`` headers are trusted from nobody: Tor connects directly.
- Files gunicorn creates are private (``umask 0077``).
"""

from __future__ import annotations

import typing as t

from tipbox.config import load_settings
from tipbox.web.boot import check_instance
from tipbox.web.gunicorn_logging import AddressFreeLogger

_settings = load_settings()


def on_starting(server: t.Any) -> None:
    """Refuse to start, in one line, an instance that cannot open (tipbox.web.boot)."""
    check_instance()


def post_fork(server: t.Any, worker: t.Any) -> None:
    worker.header_seconds = _settings.client_header_seconds
    worker.idle_seconds = _settings.client_idle_seconds


bind = [_settings.reviewer_bind]
wsgi_app = "app:reviewer"

# Threaded workers whose loop gathers each request before a thread takes it
# (tipbox.web.worker): a few journalists at a time, each download streaming a
# decrypted file; one slow client never blocks the others, and sockets that
# trickle header bytes cost no thread.
worker_class = "tipbox.web.worker.GatedThreadWorker"
workers = 2
threads = 16
worker_connections = 2048

# gthread workers heartbeat from their main loop, so ``timeout`` only kills a
# stuck worker; a long download is not a stuck worker.
timeout = 120
graceful_timeout = 30
keepalive = 5

limit_request_line = 2048
limit_request_fields = 40
limit_request_field_size = 8190

accesslog = None
logger_class = AddressFreeLogger
errorlog = "-"
loglevel = "warning"
capture_output = False
# Tor connects from loopback too: trust no X-Forwarded-* header from anyone.
forwarded_allow_ips = ""
umask = 0o077

# No server-side "preload": each worker opens its own database connections.
preload_app = False
proc_name = "tipbox-reviewer"
