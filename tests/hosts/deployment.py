"""A deployment of several hosts on one machine: one PostgreSQL database, one shared directory.

What docs/deploy.md ("Several hosts") tells an operator to build, built for
the tests and benchmarks: every host has its own data directory (its slot
files) holding a copy of the first host's ``secrets.json``; the blobs and the
keys directory are one shared directory (``TIPBOX_BLOBS_DIR`` and
``TIPBOX_KEYS_DIR``), as a network file system would give them; the
database is one PostgreSQL database (``TIPBOX_DATABASE_URL``). Each host
runs its app under the shipped gunicorn configuration (:class:`AppServer`).

The hosts share the machine's kernel, so what crosses hosts here is the
database and the directory, not a network file system: docs/deploy.md says
what that does and does not show.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import AppServer, init_with_first_admin, instance_env, process_env
from tipbox.config import Settings, load_settings
from tipbox.services.accounts.totp import Enrolment
from tipbox.services.instance import InitResult

__all__ = ["Deployment", "deployed", "host_env"]


def host_env(root: Path, host: str, database_url: str, **extra: str) -> dict[str, str]:
    """The ``TIPBOX_*`` values of ``host``: its own data directory, the shared rest."""
    return instance_env(
        root / host,
        TIPBOX_KEYS_DIR=str(root / "shared" / "keys"),
        TIPBOX_BLOBS_DIR=str(root / "shared" / "blobs"),
        TIPBOX_DATABASE_URL=database_url,
        **extra,
    )


@dataclass
class Deployment:
    """The instance (its recovery identity and first admin) and the running hosts."""

    root: Path
    init: InitResult
    admin: Enrolment
    sources: list[AppServer] = field(default_factory=list)
    reviewers: list[AppServer] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        """Settings of the first host (any host's reach the same database and blobs)."""
        return load_settings(self.sources[0].env)


@contextmanager
def deployed(
    root: Path, database_url: str, *, sources: int = 2, reviewers: int = 2, **extra: str
) -> Iterator[Deployment]:
    """``sources`` source hosts and ``reviewers`` reviewer hosts of one new instance.

    ``init`` runs on the first reviewer host (with its first admin), or on the
    first source host when ``reviewers`` is 0; every other host receives a copy
    of its ``secrets.json``, as an operator would copy it. The hosts are
    stopped afterwards.
    """
    names = [f"reviewer-{n}" for n in range(1, reviewers + 1)]
    names += [f"source-{n}" for n in range(1, sources + 1)]
    envs = {name: host_env(root, name, database_url, **extra) for name in names}
    init, admin = init_with_first_admin(load_settings(envs[names[0]]))
    first = load_settings(envs[names[0]])
    for name in names[1:]:
        copy_secrets(first, load_settings(envs[name]))
    deployment = Deployment(root, init, admin)
    with ExitStack() as stack:
        for name in names:
            app = name.split("-")[0]
            server = AppServer(app, process_env(envs[name]), root / f"{name}.log")
            server.start()
            stack.callback(server.stop)
            (deployment.sources if app == "source" else deployment.reviewers).append(server)
        yield deployment


def copy_secrets(first: Settings, other: Settings) -> None:
    """Give ``other`` host the first host's secrets file (mode 0600, in a 0700 directory)."""
    other.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy2(first.secrets_path, other.secrets_path)
    other.secrets_path.chmod(0o600)
