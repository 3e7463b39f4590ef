"""WSGI entry points: ``gunicorn app:source`` and ``gunicorn app:reviewer``.

Each app is built from the environment's settings when gunicorn first asks
for it, so a source-app process never builds the reviewer app (nor the
reverse). They are separate WSGI apps served by separate gunicorn processes
on separate ports; the source app does not even register the reviewer
routes. A problem found while building one (no ``init`` yet, a bad
``TIPBOX_*`` value, an unreachable database, another instance's
``secrets.json``) ends the worker with one ``tipbox: ...`` line on standard
error and gunicorn's boot-error status, so the master stops with "Worker
failed to boot" instead of printing a traceback.
"""

from __future__ import annotations

import sys

from flask import Flask

from tipbox.config import load_settings
from tipbox.errors import TipboxError

#: gunicorn's exit status for a worker that could not boot: the master stops.
WORKER_BOOT_ERROR = 3


def __getattr__(name: str) -> Flask:
    """``source`` or ``reviewer``: the app, built on first use."""
    if name not in ("source", "reviewer"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        built = _build(name)
    except TipboxError as error:
        print(f"tipbox: {error}", file=sys.stderr, flush=True)
        raise SystemExit(WORKER_BOOT_ERROR) from None
    globals()[name] = built
    return built


def _build(name: str) -> Flask:
    settings = load_settings()
    if name == "source":
        from tipbox.source import create_source_app  # noqa: PLC0415 - only the app asked for

        return create_source_app(settings)
    from tipbox.reviewer import create_reviewer_app  # noqa: PLC0415 - only the app asked for

    return create_reviewer_app(settings)
