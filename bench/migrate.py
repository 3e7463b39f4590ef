"""How fast `python -m tipbox store migrate` moves an instance into PostgreSQL.

Builds an SQLite instance through the services (``--sources`` first
submissions, each a message and a 2 KB file, every other one with a
codename, a reply to every tenth), starts a throwaway PostgreSQL server
(tests/postgres_cluster.py, Debian's initdb/pg_ctl, fsync off), then times
the real command line: ``store migrate --to URL`` and ``store verify --to
URL``, and prints rows per second.

    .venv/bin/python bench/migrate.py [--sources 10000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.postgres_cluster import PostgresCluster  # noqa: E402 - after the path
from tests.servers import ROOT, init_with_first_admin, instance_env, process_env  # noqa: E402
from tipbox.config import Settings, load_settings  # noqa: E402
from tipbox.services.wiring import Instance, open_instance  # noqa: E402


def build(settings: Settings, sources: int) -> None:
    """``sources`` first submissions through the services, as the source app makes them."""
    instance = open_instance(settings)
    try:
        for number in range(sources):
            draft = instance.submissions.start(None)
            draft.add_message(f"message {number} " + "x" * 400)
            upload = draft.open_file(f"document-{number}.pdf", "application/pdf")
            upload.write(os.urandom(2000))
            upload.close()
            draft.commit(want_codename=number % 2 == 0)
            if number % 10 == 0:
                _reply_to_newest(instance)
    finally:
        instance.close()


def _reply_to_newest(instance: Instance) -> None:
    with instance.store.db.connection() as conn:
        source = conn.execute(
            "SELECT max(id) FROM sources WHERE reply_recipient IS NOT NULL").fetchone()[0]
    if source is not None:
        instance.sources.add_reply(int(source), "thanks", author="admin")


def count_rows(database: Path) -> int:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return sum(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
                   for table in tables)
    finally:
        conn.close()


def timed_cli(env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "tipbox", *args], cwd=ROOT, env=process_env(env),
        capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed: {done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sources", type=int, default=10_000)
    options = parser.parse_args()
    env = instance_env(Path(tempfile.mkdtemp(prefix="tipbox-bench-migrate-")))
    settings = load_settings(env)
    init_with_first_admin(settings)
    started = time.perf_counter()
    build(settings, options.sources)
    rows = count_rows(settings.database_path)
    size = settings.database_path.stat().st_size / 2**20
    print(f"instance: {options.sources} sources, {rows} rows, {size:.0f} MiB SQLite file"
          f" (built in {time.perf_counter() - started:.0f} s)")
    cluster = PostgresCluster()
    cluster.start()
    try:
        url = cluster.create_database()
        migrate = timed_cli(env, "store", "migrate", "--to", url)
        verify = timed_cli(env, "store", "verify", "--to", url)
    finally:
        cluster.stop()
    print(f"store migrate: {migrate:.1f} s, {rows / migrate:,.0f} rows/s (copy and verification)")
    print(f"store verify:  {verify:.1f} s")
    print(f"load average: {os.getloadavg()[0]:.2f} (other work on the machine slows both)")


if __name__ == "__main__":
    main()
