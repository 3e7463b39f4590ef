"""A throwaway PostgreSQL server for the tests: Debian's initdb and pg_ctl, a Unix socket only.

:class:`PostgresCluster` creates a cluster in a fresh temporary directory
(trust authentication, no TCP listener, fsync off: nothing in it outlives
the test run), starts it, and hands out one new database per test
(:meth:`PostgresCluster.create_database`), dropped afterwards. No mock: the
store talks to a real server through psycopg.

PostgreSQL refuses to run as root; as root (CI) the server runs as
``nobody``, which then owns the temporary directory. The binaries are found
on ``PATH`` or in Debian's ``/usr/lib/postgresql/<version>/bin`` (the
``postgresql`` package, installed by ``tools/test-packages``).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

__all__ = ["PostgresCluster", "server_programs"]

SUPERUSER = "tipbox"
_SERVER_OPTIONS = (
    "-c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    " -c max_connections=400 -c shared_buffers=32MB"
)


def server_programs() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``; ``FileNotFoundError`` naming the
    package when there is none."""
    found = shutil.which("initdb")
    if found is not None:
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if not versions:
        raise FileNotFoundError(
            "PostgreSQL's initdb is missing: install the Debian package postgresql"
            " (bash tools/test-packages does)"
        )
    return versions[-1].parent


class PostgresCluster:
    """A PostgreSQL server of its own, in a temporary directory, reached by its socket."""

    def __init__(self, server_options: str = _SERVER_OPTIONS) -> None:
        """``server_options``: the server's ``-c`` settings (default: the tests' fast, not
        durable, ones)."""
        self._options = server_options
        self._bin = server_programs()
        self.root = Path(tempfile.mkdtemp(prefix="tipbox-postgres-"))
        self._as_user: dict[str, object] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as_user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        self.data = self.root / "data"

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        self._server_program(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--no-sync",
            "-E", "UTF8", "--locale=C.UTF-8",
        )
        self._server_program(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-s",
            "-o", f"-k {self.root} {self._options}", "start",
        )

    def stop(self) -> None:
        """Stop the server at once and delete the cluster."""
        try:
            self._server_program("pg_ctl", "-D", str(self.data), "-m", "immediate", "-s", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """The libpq URL of ``database`` on this server (through the socket)."""
        return f"postgresql:///{database}?host={self.root}&user={SUPERUSER}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"test_{secrets.token_hex(6)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database :meth:`create_database` made, ending its connections."""
        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def cut_off(self, url: str, *, cut: bool = True) -> None:
        """Make the database of ``url`` refuse new connections and end its open ones, as an
        outage would (``cut=False``: accept connections again)."""
        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        self._admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"false" if cut else "true"}')
        if cut:
            ending = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            self._admin(ending + f"'{name}'")  # a name create_database made

    def _admin(self, statement: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement.encode())

    def _server_program(self, name: str, *args: str) -> None:
        subprocess.run(  # noqa: S603 - fixed programs, arguments of our own
            [str(self._bin / name), *args], check=True, capture_output=True, cwd=self.root,
            **self._as_user,  # type: ignore[arg-type]
        )
