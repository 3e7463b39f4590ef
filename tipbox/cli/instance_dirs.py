"""Which instance a command works on: ``--data-dir`` / ``--keys-dir`` or the environment.

The global options (given before the command) override ``TIPBOX_DATA_DIR``
and ``TIPBOX_KEYS_DIR`` for this run only; every command that needs an
instance gets its settings from :func:`load_cli_settings`. :data:`HINT` is
what a command says when the directory it was pointed to holds no instance.

The settings module is imported only when a command asks for settings: the
offline ``age`` tool never needs it (nor its Argon2 dependency).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from tipbox.config import Settings

__all__ = ["HINT", "child_environment", "instance_dir_options", "load_cli_settings"]

HINT = "set TIPBOX_DATA_DIR or pass --data-dir"

_F = TypeVar("_F", bound=Callable[..., object])
_META_KEY = "tipbox.instance_dirs"
#: Settings field (the option's name) -> the variable it overrides
_OPTIONS = {"data_dir": "TIPBOX_DATA_DIR", "keys_dir": "TIPBOX_KEYS_DIR"}


def _remember(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_META_KEY, {})[param.name] = value.expanduser().absolute()


def instance_dir_options(group: _F) -> _F:
    """Add ``--data-dir`` and ``--keys-dir`` to the root group."""
    for name, variable in reversed(_OPTIONS.items()):
        option = click.option(
            f"--{name.replace('_', '-')}",
            name,
            type=click.Path(file_okay=False, path_type=Path),
            expose_value=False,
            callback=_remember,
            help=f"The instance's {name.split('_')[0]} directory (overrides {variable}).",
        )
        group = option(group)
    return group


def _overrides() -> dict[str, Path]:
    return dict(click.get_current_context().meta.get(_META_KEY, {}))


def load_cli_settings() -> Settings:
    """The settings from ``TIPBOX_*``, with the directories the options gave."""
    from tipbox.config import load_settings  # noqa: PLC0415 - see the module docstring

    settings, given = load_settings(), _overrides()
    return dataclasses.replace(
        settings,
        data_dir=given.get("data_dir", settings.data_dir),
        keys_dir=given.get("keys_dir", settings.keys_dir),
    )


def child_environment() -> dict[str, str] | None:
    """The environment for a server process, with the options' directories (None: as is)."""
    overrides = _overrides()
    if not overrides:
        return None
    return {**os.environ, **{_OPTIONS[name]: str(path) for name, path in overrides.items()}}
