"""The tiny accessor between views and the services an app factory built.

An app factory opens the instance once and calls :func:`install_instance`;
views call :func:`instance` instead of importing any global.
"""

from __future__ import annotations

import typing as t

from flask import Flask, current_app

if t.TYPE_CHECKING:
    from tipbox.services.wiring import Instance

_KEY = "tipbox.instance"


def install_instance(app: Flask, instance: Instance) -> None:
    """Keep ``instance`` in ``app.extensions`` for :func:`instance`."""
    app.extensions[_KEY] = instance


def instance() -> Instance:
    """The services of the current app (requires an app context)."""
    return t.cast("Instance", current_app.extensions[_KEY])
