"""Starting the apps under gunicorn: a start-up problem is one line, never a traceback.

A worker that cannot build its app (no ``init`` yet, a bad ``TIPBOX_*``
value, an unreachable database, another instance's ``secrets.json``) would
print gunicorn's traceback. Instead :func:`check_instance`, called by each
gunicorn master before it forks (``on_starting`` in ``deploy/gunicorn_*.py``),
opens and closes the instance as a worker will, and :func:`one_line_on_error`
turns a :class:`~tipbox.errors.TipboxError` into one ``tipbox: ...`` line on
standard error and gunicorn's boot-error exit status, so the master stops
before any worker starts.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from tipbox.config import load_settings
from tipbox.errors import TipboxError

__all__ = ["WORKER_BOOT_ERROR", "check_instance", "one_line_on_error"]

#: gunicorn's exit status for a worker that could not boot: the master stops.
WORKER_BOOT_ERROR = 3


@contextlib.contextmanager
def one_line_on_error() -> Iterator[None]:
    """Turn a :class:`TipboxError` of the block into one line and :data:`WORKER_BOOT_ERROR`."""
    try:
        yield
    except TipboxError as error:
        print(f"tipbox: {error}", file=sys.stderr, flush=True)
        raise SystemExit(WORKER_BOOT_ERROR) from None


def check_instance() -> None:
    """Open and close the instance of the environment's settings, as a worker will."""
    from tipbox.services.wiring import open_instance  # noqa: PLC0415 - the master's only use

    with one_line_on_error():
        open_instance(load_settings()).close()
