"""WSGI entry points: ``gunicorn app:source`` and ``gunicorn app:reviewer``.

Each app is built from the environment's settings when gunicorn first asks
for it, so a source-app process never builds the reviewer app (nor the
reverse). They are separate WSGI apps served by separate gunicorn processes
on separate ports; the source app does not even register the reviewer
routes. A problem found while building one ends the worker with one
``tipbox: ...`` line (:mod:`tipbox.web.boot`); the shipped gunicorn
configurations find such problems in the master, before any worker starts.
"""

from __future__ import annotations

from flask import Flask

from tipbox.config import load_settings
from tipbox.web.boot import one_line_on_error


def __getattr__(name: str) -> Flask:
    """``source`` or ``reviewer``: the app, built on first use."""
    if name not in ("source", "reviewer"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with one_line_on_error():
        built = _build(name)
    globals()[name] = built
    return built


def _build(name: str) -> Flask:
    settings = load_settings()
    if name == "source":
        from tipbox.source import create_source_app  # noqa: PLC0415 - only the app asked for

        return create_source_app(settings)
    from tipbox.reviewer import create_reviewer_app  # noqa: PLC0415 - only the app asked for

    return create_reviewer_app(settings)
