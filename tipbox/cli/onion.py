"""``python -m tipbox onion-auth``: Tor client-authorization keys for reviewers.

The reviewer onion service only answers clients whose x25519 public key is
listed in its ``authorized_clients`` directory (``deploy/torrc``). This
command makes such a pair in Tor's text format. It needs no instance and
imports nothing of the server, so it runs on the reviewer's own machine,
where the private key should stay: it is printed once and written nowhere.
"""

from __future__ import annotations

import base64
import re
from typing import IO, Any

import click
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

__all__ = ["onion_auth", "onion_client_keys"]

_CLIENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ONION = re.compile(r"([a-z2-7]{56})(\.onion)?")


class _UsageError(click.ClickException):
    """One ``error: ...`` line, exit status 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


@click.command("onion-auth")
@click.argument("name")
@click.option("--onion", help="The reviewer onion address, to complete the client's file.")
def onion_auth(name: str, onion: str | None) -> None:
    """Make a Tor client-authorization key pair for reviewer NAME.

    Run it on the reviewer's own machine (it needs no instance): the private
    key must never be stored on the server. Prints the line for the
    server's authorized_clients/NAME.auth and the client's private key.
    """
    if not _CLIENT_NAME.fullmatch(name):
        raise _UsageError("NAME may only contain letters, digits, '-' and '_' (at most 64)")
    address = _ONION.fullmatch((onion or "").strip().lower())
    if onion is not None and address is None:
        raise _UsageError("--onion must be a v3 onion address (56 characters, then .onion)")
    public, private = onion_client_keys()
    click.echo(f"# server: /var/lib/tor/tipbox-reviewer/authorized_clients/{name}.auth")
    click.echo(f"descriptor:x25519:{public}")
    click.echo("# client: paste this private key when Tor Browser asks for the key:")
    click.echo(private)
    if address is not None:
        click.echo(f"# or save as {name}.auth_private in the ClientOnionAuthDir of a tor daemon:")
        click.echo(f"{address[1]}:descriptor:x25519:{private}")


def onion_client_keys() -> tuple[str, str]:
    """A new x25519 pair as Tor writes it: unpadded base32 (public, private)."""
    key = X25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    return _base32(public), _base32(key.private_bytes_raw())


def _base32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")
