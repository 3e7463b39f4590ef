"""The age tool's own parser gives exactly what click gives, or hands over to click.

``python -m tipbox age`` parses its options without click
(:mod:`tipbox.cli.age_args`) to start fast. For any command line, either it
hands over to click (:class:`Unsupported`: help, usage errors, anything it
is not sure of) or its parameters are the very ones click passes to the
command. Checked on generated command lines against the click commands of
:mod:`tipbox.cli.age`, and on the usual ones, which must not need click.
"""

from __future__ import annotations

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tipbox.cli.age import age
from tipbox.cli.age_args import Unsupported, parse

COMMANDS = ["keygen", "recipient", "encrypt", "decrypt"]
TOKENS = [
    "-r", "-R", "-i", "-p", "-a", "-o", "-pa", "-ap", "-pao", "-ro", "-rX", "-oX", "-iY", "-o=",
    "-pr", "-ph", "-h", "--help", "-x", "-", "--", "--recipient", "--recipient=X",
    "--recipients-file", "--identity", "--identity=", "--passphrase", "--passphrase=1",
    "--armor", "--output", "--output=Y", "--pq", "--pq=", "--bogus", "--=", "-=", "X", "Y",
    "in.txt", "age1abc", "",
]


def click_params(argv: list[str]) -> dict[str, object] | None:
    """The parameters click passes to the command, or None if it stops (usage error, help)."""
    command = age.commands.get(argv[0]) if argv else None
    if command is None:
        return None
    # Under the group's context, as the command runs (-h is --help there; click keeps
    # the help option of the first context it sees).
    group = click.Context(age, info_name="age", **age.context_settings)
    try:
        with command.make_context(argv[0], list(argv[1:]), parent=group) as context:
            return dict(context.params)
    except (click.ClickException, click.exceptions.Exit):
        return None


def fast_params(argv: list[str]) -> dict[str, object] | None:
    try:
        command, params = parse(argv)
    except Unsupported:
        return None
    assert command == argv[0]
    return params


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(COMMANDS), st.lists(st.sampled_from(TOKENS), max_size=6))
def test_the_parser_agrees_with_click_or_hands_over(command: str, tokens: list[str]) -> None:
    argv = [command, *tokens]
    fast = fast_params(argv)
    if fast is not None:
        assert fast == click_params(argv)


@pytest.mark.parametrize("argv", [
    ["keygen"], ["keygen", "--pq", "-o", "key.txt"], ["keygen", "-okey.txt"],
    ["recipient", "-i", "key.txt"], ["recipient", "--identity=-"],
    ["encrypt", "-r", "age1abc", "-o", "out.age", "in.txt"],
    ["encrypt", "in.txt", "-r", "age1abc", "-r", "age1def", "-R", "team.txt", "-a"],
    ["encrypt", "-p", "-a", "-o", "note.age", "note.txt"], ["encrypt", "-pa"],
    ["encrypt", "-i", "key.txt", "--", "-in.txt"], ["encrypt", "--recipient", "age1abc", "-"],
    ["decrypt", "-i", "key.txt", "-o", "tip.pdf", "tip.pdf.age"], ["decrypt"],
    ["decrypt", "-i", "a.txt", "-i", "b.txt"], ["decrypt", "--output=out", "--identity", "k"],
])
def test_the_usual_command_lines_need_no_click(argv: list[str]) -> None:
    fast = fast_params(argv)
    assert fast is not None
    assert fast == click_params(argv)


@pytest.mark.parametrize("argv", [
    [], ["-h"], ["--help"], ["keygn"], ["-x", "keygen"], ["encrypt", "-h"], ["encrypt", "-ph"],
    ["encrypt", "--bogus"], ["encrypt", "-r"], ["encrypt", "a", "b"], ["keygen", "in"],
    ["keygen", "--pq=1"], ["recipient"], ["decrypt", "--output"],
])
def test_help_and_usage_errors_go_to_click(argv: list[str]) -> None:
    with pytest.raises(Unsupported):
        parse(argv)
