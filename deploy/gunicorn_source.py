"""gunicorn settings for the source app: ``gunicorn -c deploy/gunicorn_source.py``.

- Threaded workers whose loop gathers each request's headers (and small
  bodies) before a thread takes it (:mod:`tipbox.web.worker`): sockets that
  trickle header bytes cost no thread, and refusals are delivered with a
  lingering close. A source on a slow Tor circuit may take hours to upload;
  each upload holds one thread, not a whole worker, and the worker's
  heartbeat comes from its loop, so long requests never look like a hung
  worker. The app admits at most ``TIPBOX_MAX_CONCURRENT_UPLOADS`` uploads
  per worker, so threads stay free for page views.
- No access log at all, and an error log without client addresses or
  timestamps: nothing here may record who a source is or when they came.
- Small limits on the request line and headers; the body limit is enforced
  by the app (413 from ``Content-Length`` and again while streaming).
- Never put a buffering proxy in front of this (DESIGN 8).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource
import typing as t

from tipbox.config import load_settings
from tipbox.web.boot import check_instance
from tipbox.web.gunicorn_logging import AddressFreeLogger

# glibc malloc: serve an upload's 1-2 MiB buffers from the heap and keep
# freed memory for the next read, instead of mmap/munmap per buffer (which
# made every read page-fault fresh memory: gunicorn's body reading became
# 4x slower). Few arenas, each keeping at most TRIM_THRESHOLD free, so the
# memory kept stays small whatever the number of threads and uploads.
MMAP_THRESHOLD = 4 * 1024 * 1024
TRIM_THRESHOLD = 8 * 1024 * 1024
ARENA_MAX = 2
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc() -> None:
    """Apply the settings above through ``mallopt`` (no-op off glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
    except (OSError, AttributeError):
        return


def raise_open_files_limit() -> None:
    """Allow as many open sockets as the hard limit permits (one per connection)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def on_starting(server: t.Any) -> None:
    """Refuse to start, in one line, an instance that cannot open (tipbox.web.boot)."""
    check_instance()


def post_fork(server: t.Any, worker: t.Any) -> None:
    tune_malloc()
    raise_open_files_limit()
    worker.header_seconds = _settings.client_header_seconds
    worker.idle_seconds = _settings.client_idle_seconds


_settings = load_settings()
wsgi_app = "app:source"
bind = [_settings.source_bind]
proc_name = "tipbox-source"

worker_class = "tipbox.web.worker.GatedThreadWorker"
workers = 2
# Slow Tor uploads each hold a thread for their whole duration; with 1024
# threads a worker keeps serving pages while hundreds of uploads trickle in
# (the app refuses uploads beyond TIPBOX_MAX_CONCURRENT_UPLOADS, 960, with a
# 503 page, so 64 threads stay for page views). The two workers do not share
# connections evenly under a burst, so each can take most of them. Threads
# are started on demand; an idle one costs little, and a slow upload's
# buffers stay small (tipbox.web.uploads reads, tipbox.store.blobs writes).
threads = 1024
# Open connections per worker, including those still sending their headers.
worker_connections = 4096
# Only a worker whose *main loop* stops for this long is restarted (see above);
# generous anyway, matching the CSRF token lifetime of a multi-hour upload.
timeout = 8 * 3600
graceful_timeout = 30
keepalive = 5
# Tor connects from 127.0.0.1: trust no X-Forwarded-* header from anyone, so
# nothing downstream can be fed a client address.
forwarded_allow_ips = ""

limit_request_line = 2048
limit_request_fields = 40
limit_request_field_size = 8190

accesslog = None
logger_class = AddressFreeLogger
errorlog = "-"
loglevel = "warning"
capture_output = False
