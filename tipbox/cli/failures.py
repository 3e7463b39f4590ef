"""How every command fails: one ``error: ...`` line and exit status 1.

Never a traceback: a journalist on an air-gapped laptop or an admin at a
console must see what went wrong in words, and a traceback could carry
local values into a terminal log. A missing instance also says how to
point to another one (:data:`tipbox.cli.instance_dirs.HINT`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import IO, Any, NoReturn, ParamSpec, TypeVar

import click

from tipbox.crypto import DecryptionError
from tipbox.errors import NotInitialised, TipboxError

__all__ = ["CliError", "fail", "one_line_errors"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
Decorator = Callable[[Callable[_P, _T]], Callable[_P, _T]]


class CliError(click.ClickException):
    """A failure shown as one ``error: ...`` line, exit status 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        message = " ".join(self.format_message().split())
        click.echo(f"error: {message}", err=True, file=file)


def fail(message: str) -> NoReturn:
    raise CliError(message)


def one_line_errors(
    decryption: str | Callable[[DecryptionError], str],
) -> Callable[[Callable[_P, _T]], Callable[_P, _T]]:
    """A decorator turning every exception into :class:`CliError`.

    ``decryption`` is the message for a :class:`DecryptionError` (or a
    function of it): what a failed decryption means depends on the command.
    """

    def describe(error: DecryptionError) -> str:
        return decryption if isinstance(decryption, str) else decryption(error)

    def decorate(func: Callable[_P, _T]) -> Callable[_P, _T]:
        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            try:
                return func(*args, **kwargs)
            except (click.ClickException, click.exceptions.Exit):
                raise
            except DecryptionError as error:
                fail(describe(error))
            except NotInitialised as error:
                # Imported here: pathlib and dataclasses would slow the age tool's start.
                from tipbox.cli.instance_dirs import HINT  # noqa: PLC0415

                fail(f"{error} ({HINT})")
            except (TipboxError, ValueError) as error:
                fail(str(error) or type(error).__name__)
            except OSError as error:
                where = f"{error.filename}: " if error.filename else ""
                fail(f"{where}{error.strerror or error}")
            except (KeyboardInterrupt, click.Abort):
                fail("interrupted")
            except Exception as error:  # noqa: BLE001 - the contract is "never a traceback"
                fail(f"unexpected {type(error).__name__}")

        return wrapper

    return decorate
