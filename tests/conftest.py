"""Shared fixtures: settings under ``tmp_path`` with cheap Argon2, an initialised instance.

Kept small and generic; layer-specific fixtures live in each test folder.

The database back end: ``settings`` uses the one ``database_backend`` names,
SQLite unless a folder or module overrides that fixture, e.g. with
``pytest.fixture(params=BACKENDS)`` to run its tests on both. A PostgreSQL
test gets a new database on one throwaway server started for the session
(:mod:`tests.postgres_cluster`), dropped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.postgres_cluster import PostgresCluster
from tipbox.config import Settings, load_settings
from tipbox.services.instance import InitResult, init_instance
from tipbox.services.wiring import Instance, open_instance
from tipbox.store import Database

#: The database back ends, for ``pytest.fixture(params=BACKENDS)``.
BACKENDS = ("sqlite", "postgresql")

#: Argon2 parameters that cost almost nothing (never use outside tests).
CHEAP_ARGON2 = {
    f"TIPBOX_{which}_ARGON2_{name}": value
    for which in ("CODENAME", "PASSWORD")
    for name, value in (("TIME_COST", "1"), ("MEMORY_KIB", "8"), ("PARALLELISM", "1"))
}


def make_test_settings(tmp_path: Path, **extra: str) -> Settings:
    """Settings with data and keys under ``tmp_path``, cheap Argon2, no disk floor."""
    env = {
        "TIPBOX_DATA_DIR": str(tmp_path / "data"),
        "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
        "TIPBOX_MIN_FREE_BYTES": "0",
        **CHEAP_ARGON2,
        **extra,
    }
    return load_settings(env)


def database_env_of(settings: Settings) -> dict[str, str]:
    """The variable that points a subprocess or CliRunner at ``settings``' database (none for
    SQLite, which is found in the data directory)."""
    return {} if settings.database_url is None else {"TIPBOX_DATABASE_URL": settings.database_url}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only: tests SQLite itself (its files, pragmas, WAL, instances made by earlier"
        " releases), not the store's API: runs on SQLite only",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A ``sqlite_only`` test in a folder that runs on both back ends runs on SQLite only."""
    kept, dropped = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_postgresql = params.get("database_backend") == "postgresql"
        (dropped if on_postgresql and item.get_closest_marker("sqlite_only") else kept).append(
            item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One PostgreSQL server for the whole run, started on first use."""
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def database_backend() -> str:
    """The back end of this test's database: SQLite unless overridden (see the module)."""
    return "sqlite"


@pytest.fixture
def new_database_url(request: pytest.FixtureRequest) -> Callable[[], str]:
    """Makes new PostgreSQL databases (each dropped after the test); starts the server."""
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")

    def make() -> str:
        url = cluster.create_database()
        request.addfinalizer(lambda: cluster.drop_database(url))
        return url

    return make


@pytest.fixture
def make_database_env(
    request: pytest.FixtureRequest, database_backend: str
) -> Callable[[], dict[str, str]]:
    """Makes the environment of one more instance's database on this test's back end: a
    new PostgreSQL database each call, nothing for SQLite (it lives in the data directory)."""
    if database_backend == "sqlite":
        return dict
    make_url: Callable[[], str] = request.getfixturevalue("new_database_url")
    return lambda: {"TIPBOX_DATABASE_URL": make_url()}


@pytest.fixture
def database_env(make_database_env: Callable[[], dict[str, str]]) -> dict[str, str]:
    """The environment that selects this test's database (see ``settings``)."""
    return make_database_env()


@pytest.fixture
def store_database(
    tmp_path: Path, database_env: dict[str, str]
) -> Iterator[Database]:
    """A migrated, empty :class:`Database` on this test's back end, closed afterwards."""
    database = Database(tmp_path / "tipbox.db", url=database_env.get("TIPBOX_DATABASE_URL"))
    database.migrate()
    yield database
    database.close()


@pytest.fixture
def settings(tmp_path: Path, database_env: dict[str, str]) -> Settings:
    return make_test_settings(tmp_path, **database_env)


@pytest.fixture
def init_result(settings: Settings) -> InitResult:
    """``init`` has run; holds the recovery identity it printed."""
    return init_instance(settings)


@pytest.fixture
def instance(settings: Settings, init_result: InitResult) -> Iterator[Instance]:
    """An open, initialised instance, closed after the test."""
    opened = open_instance(settings)
    yield opened
    opened.close()
