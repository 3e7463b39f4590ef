"""``python -m tipbox store migrate|verify --to URL``: move an SQLite instance into PostgreSQL.

``migrate`` copies the database of the instance (the SQLite file in its data
directory) into the PostgreSQL database URL, resumably, and verifies the
copy; ``verify`` compares them again. Both need the apps stopped: the SQLite
file is refused while anything else has it open (see
:mod:`tipbox.services.ops.migrate`). Output is table names and counts only.
Every failure is one ``error: ...`` line with exit status 1.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import click

from tipbox.cli.failures import fail, one_line_errors
from tipbox.cli.groups import Group
from tipbox.cli.instance_dirs import load_cli_settings
from tipbox.config import Settings
from tipbox.services.ops.doctor import foreign_user
from tipbox.services.ops.migrate import (
    DEFAULT_BATCH_ROWS,
    TableCopy,
    Verification,
    migrate_to_postgresql,
    verify_migration,
)
from tipbox.store.blob_store import open_blob_store

__all__ = ["store"]

_one_line_errors = one_line_errors("unexpected decryption error")

_to_option = click.option(
    "--to", "url", required=True, metavar="URL",
    help="The PostgreSQL database: a postgresql:// URL without a password, as for"
         " TIPBOX_DATABASE_URL.")


@click.group(cls=Group)
def store() -> None:
    """The instance's database: move it from SQLite into PostgreSQL."""


@store.command()
@_to_option
@click.option("--batch-rows", type=click.IntRange(1, 100_000), default=DEFAULT_BATCH_ROWS,
              show_default=True, help="Rows copied per transaction.")
@_one_line_errors
def migrate(url: str, batch_rows: int) -> None:
    """Copy this instance's SQLite database into the PostgreSQL database URL, then verify.

    Stop the apps first. The target must be empty, or hold what an
    interrupted run of this command copied: run it again and it goes on
    where it stopped. Blobs, secrets.json and keys stay where they are.
    """
    settings = _as_owner(load_cli_settings())
    target = _checked(url)
    click.echo(f"Copying {settings.database_path} into PostgreSQL, {batch_rows} rows per"
               " transaction.")
    progress = _Progress()
    report = migrate_to_postgresql(
        settings.database_path, target, blobs=open_blob_store(settings), batch_rows=batch_rows,
        progress=progress)
    _show_verification(report.verification)
    copying, verifying = progress.seconds()
    click.echo(f"Copied {_rows(report.copied)} in {copying:.1f} s"
               f" ({report.copied / max(copying, 1e-3):,.0f} rows/s), verified in"
               f" {verifying:.1f} s; schema version {report.schema_version}. Next: set"
               " TIPBOX_DATABASE_URL to this URL and start the apps.")


@store.command()
@_to_option
@_one_line_errors
def verify(url: str) -> None:
    """Compare this instance's SQLite database with its copy in the PostgreSQL database URL.

    Exit status 0 when every row and the export view are equal, 1 otherwise.
    """
    settings = _as_owner(load_cli_settings())
    _show_verification(verify_migration(
        settings.database_path, _checked(url), blobs=open_blob_store(settings)))


def _as_owner(settings: Settings) -> Settings:
    """Refuse another user than the instance's: SQLite could leave files it cannot open."""
    reason = foreign_user(settings)
    if reason is not None:
        fail(reason)
    return settings


def _checked(url: str) -> str:
    """``url`` if it is a ``postgresql://`` URL without a password (as TIPBOX_DATABASE_URL)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        fail("--to is not a valid URL")
    if parts.scheme not in ("postgresql", "postgres"):
        fail("--to must be a postgresql:// URL")
    if password is not None or "password" in parse_qs(parts.query):
        fail("--to must not hold a password: use peer authentication, a client certificate"
             " or a password file (passfile=... in the URL, or ~/.pgpass)")
    return url


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


class _Progress:
    """Shows each table when it is done; remembers when copying started and ended."""

    def __init__(self) -> None:
        self._started = self._copied = time.monotonic()

    def __call__(self, table: TableCopy) -> None:
        already = table.rows - table.copied
        there = f" ({already} were there already)" if already else ""
        click.echo(f"  {table.name}: {_rows(table.rows)}{there}")
        self._copied = time.monotonic()

    def seconds(self) -> tuple[float, float]:
        """Seconds spent copying, and since then (sequences and verification)."""
        return self._copied - self._started, time.monotonic() - self._copied


def _show_verification(found: Verification) -> None:
    click.echo(f"Verified: {found.tables} tables, {_rows(found.rows)}: the same counts and the"
               " same rows (SHA-256 of every row) on both.")
    click.echo(f"Verified: the export view ({found.sources} sources, {found.items} items) is"
               " the same on both.")
    if found.missing_payloads:
        click.echo(f"Warning: {found.missing_payloads} items' payloads are missing from the"
                   " blob directory (in the SQLite instance too: nothing was lost here).")
    elif found.missing_payloads == 0:
        click.echo("Every item's payload is in the blob directory.")
