"""A real gunicorn serving the source app, on a free loopback port, with temp dirs.

The server (:class:`tests.servers.AppServer`) uses ``deploy/gunicorn_source.py``
unchanged except for the bind address. :class:`Browser` speaks plain HTTP
the way a browser without JavaScript does: one session cookie, forms posted
as ``multipart/form-data``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CHEAP_ARGON2
from tests.servers import AppServer, FormClient, free_port, process_env
from tipbox.config import Settings, load_settings
from tipbox.services.instance import InitResult, init_instance

__all__ = ["CHEAP_ARGON2", "Browser", "Served", "free_port"]

Browser = FormClient


@dataclass
class Served:
    settings: Settings
    init: InitResult
    server: AppServer

    def browser(self) -> Browser:
        return Browser(self.server.port)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    values = {
        "TIPBOX_DATA_DIR": str(tmp_path / "data"),
        "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
        "TIPBOX_SOURCE_BIND": f"127.0.0.1:{free_port()}",
        "TIPBOX_MIN_FREE_BYTES": "0",
        "TIPBOX_MAX_UPLOAD_BYTES": str(64 * 1024 * 1024),
        "TIPBOX_DEV": "1",
        **CHEAP_ARGON2,
    }
    settings = load_settings(values)
    result = init_instance(settings)
    server = AppServer("source", process_env(values), tmp_path / "gunicorn.log")
    server.start()
    try:
        yield Served(settings=settings, init=result, server=server)
    finally:
        server.stop()


@pytest.fixture
def isolated_env(tmp_path: Path) -> tuple[dict[str, str], int]:
    """The process environment for a tipbox under ``tmp_path`` and a free port."""
    port = free_port()
    env = process_env({
        **CHEAP_ARGON2,
        "TIPBOX_DATA_DIR": str(tmp_path / "data"),
        "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
        "TIPBOX_SOURCE_BIND": f"127.0.0.1:{port}",
        "TIPBOX_MIN_FREE_BYTES": "0",
    })
    return env, port
