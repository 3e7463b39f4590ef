"""gunicorn settings for the source app: ``gunicorn -c deploy/gunicorn_source.py``.

- Threaded workers (gthread): a source on a slow Tor circuit may take hours
  to upload; each request holds one thread, not a whole worker, and the
  worker's heartbeat comes from its main loop, so long requests never look
  like a hung worker.
- No access log at all, and an error log without client addresses or
  timestamps: nothing here may record who a source is or when they came.
- Small limits on the request line and headers; the body limit is enforced
  by the app (413 from ``Content-Length`` and again while streaming).
- Never put a buffering proxy in front of this (DESIGN 8).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import typing as t

from tipbox.config import load_settings
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


def post_fork(server: t.Any, worker: t.Any) -> None:
    tune_malloc()


wsgi_app = "app:source"
bind = [load_settings().source_bind]
proc_name = "tipbox-source"

worker_class = "gthread"
workers = 2
# Slow Tor uploads each hold a thread for their whole duration; with 48
# threads a worker (96 in all) keeps serving pages while dozens of uploads
# trickle in. An idle thread costs little; an upload's buffers are bounded
# (about 5 MiB: read buffer, two-chunk queues, one write buffer).
threads = 48
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
