"""``python -m tipbox age ...`` without click: the same options, parsed in no time.

click, with the ``typing``, ``inspect`` and ``gettext`` it imports, costs
the offline tool about 20 ms of start-up, more than Go's ``age`` takes for a
whole 16 MiB file. So :func:`run` parses the age tool's command lines
itself, giving exactly the parameters click gives for the options that
:mod:`tipbox.cli.age` declares (``tests/cli/test_age_args.py`` compares the
two on generated command lines), and calls :mod:`tipbox.cli.age_tool`.
Anything else (help, a usage error, a command or option it does not know)
goes to the click group, which answers as it always does: help text,
messages and exit statuses have one source.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn

_FLAG, _VALUE, _MANY = "flag", "value", "many"
_OUTPUT = {"-o": ("output", _VALUE), "--output": ("output", _VALUE)}
#: command -> option -> (parameter, kind), as tipbox.cli.age declares them.
_OPTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "keygen": {"--pq": ("pq", _FLAG), **_OUTPUT},
    "recipient": {"-i": ("identity_path", _VALUE), "--identity": ("identity_path", _VALUE)},
    "encrypt": {
        "-r": ("recipient_texts", _MANY), "--recipient": ("recipient_texts", _MANY),
        "-R": ("recipient_files", _MANY), "--recipients-file": ("recipient_files", _MANY),
        "-i": ("identity_files", _MANY), "--identity": ("identity_files", _MANY),
        "-p": ("passphrase", _FLAG), "--passphrase": ("passphrase", _FLAG),
        "-a": ("armor", _FLAG), "--armor": ("armor", _FLAG),
        **_OUTPUT,
    },
    "decrypt": {"-i": ("identity_files", _MANY), "--identity": ("identity_files", _MANY),
                **_OUTPUT},
}
#: Commands that take the argument IN (``input_path``).
_INPUT = ("encrypt", "decrypt")
_REQUIRED = {"recipient": "identity_path"}
_DEFAULTS = {_FLAG: False, _VALUE: None, _MANY: ()}


class Unsupported(Exception):  # noqa: N818 - not an error: click's turn
    """A command line this parser does not answer exactly as click would."""


def parse(argv: Sequence[str]) -> tuple[str, dict[str, object]]:
    """The command and its parameters, as click would pass them; or :class:`Unsupported`."""
    if not argv or argv[0] not in _OPTIONS:
        raise Unsupported
    command = argv[0]
    options = _OPTIONS[command]
    params: dict[str, object] = {name: _DEFAULTS[kind] for name, kind in options.values()}
    positional = _parse_options(options, list(argv[1:]), params)
    if command in _INPUT and len(positional) <= 1:
        params["input_path"] = positional[0] if positional else None
    elif positional:
        raise Unsupported
    required = _REQUIRED.get(command)
    if required is not None and params[required] is None:
        raise Unsupported
    return command, params


def _parse_options(options: dict[str, tuple[str, str]], args: list[str],
                   params: dict[str, object]) -> list[str]:
    """Set ``params`` from the options in ``args``; return the other arguments.

    As click's parser: options and arguments in any order, ``--`` ends the
    options, ``--name=value``, ``-xVALUE`` and flags grouped as ``-pa``.
    """
    positional: list[str] = []
    while args:
        arg = args.pop(0)
        if arg == "--":
            return positional + args
        if arg[:1] != "-" or len(arg) == 1:
            positional.append(arg)
        elif arg.startswith("--"):
            _long_option(options, arg, args, params)
        else:
            _short_options(options, arg, args, params)
    return positional


def _long_option(options: dict[str, tuple[str, str]], arg: str, args: list[str],
                 params: dict[str, object]) -> None:
    name, equals, value = arg.partition("=")
    if name not in options:
        raise Unsupported
    parameter, kind = options[name]
    if kind == _FLAG:
        if equals:
            raise Unsupported
        params[parameter] = True
        return
    if not equals:
        value = _next_value(args)
    _store(params, parameter, kind, value)


def _short_options(options: dict[str, tuple[str, str]], arg: str, args: list[str],
                   params: dict[str, object]) -> None:
    for at in range(1, len(arg)):
        name = "-" + arg[at]
        if name not in options:
            raise Unsupported
        parameter, kind = options[name]
        if kind == _FLAG:
            params[parameter] = True
            continue
        value = arg[at + 1 :] or _next_value(args)
        _store(params, parameter, kind, value)
        return


def _next_value(args: list[str]) -> str:
    if not args:
        raise Unsupported
    return args.pop(0)


def _store(params: dict[str, object], parameter: str, kind: str, value: str) -> None:
    if kind == _MANY:
        previous = params[parameter]
        assert isinstance(previous, tuple)
        params[parameter] = (*previous, value)
    else:
        params[parameter] = value


def run(prog_name: str, argv: Sequence[str]) -> None:
    """Run the age tool with ``argv`` (after ``age``) and end the process.

    Exit status 0, or 1 with one ``error:`` line; help and usage errors as
    the click group gives them.
    """
    try:
        command, params = parse(argv)
    except Unsupported:
        from tipbox.cli.age import age  # noqa: PLC0415 - click, only when it must answer

        age(prog_name=prog_name, args=list(argv))
        return
    from tipbox.cli import age_tool  # noqa: PLC0415 - after parsing: a usage error loads less

    try:
        getattr(age_tool, command)(**params)
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - never a traceback
        sys.stderr.write(f"error: {age_tool.describe(error)}\n")
        _exit(1)
    _exit(0)


def _exit(status: int) -> NoReturn:
    """End the process now: the command has closed its files and flushed its output.

    ``os._exit`` spares the interpreter's clean-up (3 ms: every module and
    buffer freed one by one), which nothing here needs: no thread is left
    (the core ends its own) and no exit handler is ours.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        status = 1
    os._exit(status)
