"""A fresh instance and a real gunicorn source app per fault test.

``make_source(preexec=..., data_owner=...)`` initialises an instance in a
temporary directory, stores one earlier submission (the one that must
survive the fault) and starts ``deploy/gunicorn_source.py`` with an optional
``preexec`` hook run in the server process before ``exec`` (a resource
limit, dropped privileges). The server is stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.fault_site import EARLIER_FILE, EARLIER_MESSAGE, FaultSite
from tests.servers import AppServer, instance_env, process_env
from tipbox.config import load_settings
from tipbox.services.instance import init_instance


@pytest.fixture
def make_source(tmp_path: Path) -> Iterator[Callable[..., FaultSite]]:
    servers: list[AppServer] = []

    def make(preexec: Callable[[], None] | None = None, **extra: str) -> FaultSite:
        base = tmp_path / str(len(servers))
        values = instance_env(base, **extra)
        settings = load_settings(values)
        result = init_instance(settings)
        server = AppServer("source", process_env(values), base / "source.log",
                           preexec=preexec)
        servers.append(server)
        server.start()
        site = FaultSite(settings, result, server)
        status, _ = site.client().submit(EARLIER_MESSAGE, [("earlier.txt", EARLIER_FILE)])
        assert status == 200
        return site

    yield make
    for server in servers:
        server.stop()
