"""``python -m tipbox init`` and ``python -m tipbox export``.

Settings come from the ``TIPBOX_*`` environment and the global ``--data-dir`` /
``--keys-dir`` (:func:`tipbox.cli.instance_dirs.load_cli_settings`).
Every failure is one ``error: ...`` line on stderr with exit status 1, never
a traceback; messages never contain key material or submitted content.
"""

from __future__ import annotations

from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from tipbox.cli.failures import fail, one_line_errors
from tipbox.cli.instance_dirs import load_cli_settings
from tipbox.cli.reviewers import print_first_admin
from tipbox.crypto import parse_identity_file
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.instance import InitResult, init_instance
from tipbox.services.ops.export import export_submissions, unlock_identities
from tipbox.services.wiring import open_instance

__all__ = ["commands", "export", "init"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

RECOVERY_NOTICE = """\
RECOVERY IDENTITY: shown this once, stored nowhere.

    {identity}

Write it on paper now (or print it on a printer that keeps no copy) and keep
it offline, somewhere safe, away from this server. Whoever holds it can
decrypt every submission; without it, a newsroom that loses every reviewer
password loses every submission. Do not save it in a file on this machine,
do not photograph it, do not send it by e-mail or chat.
"""


_fail = fail
_one_line_errors = one_line_errors(
    "the identity could not decrypt the newsroom keys (wrong or damaged file?)"
)


@click.command()
@click.option(
    "--classic",
    is_flag=True,
    help="Use X25519 keys instead of post-quantum mlkem768x25519 (not recommended).",
)
@_one_line_errors
def init(classic: bool) -> None:
    """Set up a new instance: data directory, secrets, newsroom and recovery keys.

    Prints the recovery identity once. Refuses to touch an existing instance.
    """
    settings = load_cli_settings()
    result = init_instance(settings, classic=classic)
    _print_init(result, settings.data_dir, settings.keys_dir)
    print_first_admin(settings, result.recovery_identity)


def _print_init(result: InitResult, data_dir: Path, keys_dir: Path) -> None:
    kind = "post-quantum mlkem768x25519" if result.kind == "pq" else "classic X25519"
    click.echo(f"tipbox initialised in {data_dir} (public keys in {keys_dir}).")
    click.echo(f"Newsroom key ({kind}): {result.newsroom_recipient}")
    click.echo(f"Fingerprint: {result.fingerprint}")
    click.echo(f"Recovery recipient: {result.recovery_recipient}")
    click.echo("")
    click.echo(RECOVERY_NOTICE.format(identity=result.recovery_identity))


@click.command()
@click.option(
    "--identity",
    "identity_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="age identity file: the recovery identity or a newsroom identity.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="New or empty directory to write into.",
)
@click.option(
    "--encrypted",
    is_flag=True,
    help="Write standard .age files (header + payload) instead of decrypting.",
)
@_one_line_errors
def export(identity_file: Path | None, out_dir: Path, encrypted: bool) -> None:
    """Export every submission to OUT/<designation>/, decrypted or as .age files."""
    if identity_file is None and not encrypted:
        _fail("--identity is required unless --encrypted is given")
    instance = open_instance(load_cli_settings())
    try:
        identities: list[KeyIdentity] = []
        if identity_file is not None:
            given = parse_identity_file(identity_file.read_text("utf-8"))
            identities = unlock_identities(instance.keyring, given)
        summary = export_submissions(
            instance.store, out_dir, identities=identities, encrypted=encrypted
        )
    finally:
        instance.close()
    click.echo(f"Exported {summary.files} items from {summary.sources} sources to {out_dir}.")
    if summary.failed:
        _fail(f"{summary.failed} items could not be decrypted with the given identity")


#: The commands this module adds to ``python -m tipbox``.
commands: list[click.Command] = [init, export]
