"""Every message the code translates is one the extractor finds.

``gettext(text)`` with ``text`` a variable is never extracted by pybabel: the
message then shows in English in every language (found in the admin pages:
"%(name)s is now an admin." and the desk pages). A message must be a string
literal at the call, or come from a table whose strings are marked with
``N_`` (listed below, each with its table).
"""

from __future__ import annotations

import ast
from pathlib import Path

TIPBOX = Path(__file__).resolve().parents[2] / "tipbox"

#: (file, function) whose ``gettext`` takes a message from an ``N_``-marked table.
FROM_MARKED_TABLES = {
    ("web/i18n.py", "gettext"): "the typed wrapper itself",
    ("web/i18n.py", "ngettext"): "the typed wrapper itself",
    ("web/errors.py", "_fixed"): "CODES: every wording is N_(...)",
    ("web/errors.py", "explain"): "TRANSLATED_PARAMS: field labels marked N_ where raised",
    ("web/app.py", "human_size"): "SIZE_UNITS: N_('%(num)s GB')...",
    ("reviewer/views.py", "status_names"): "STATUS_NAMES: N_('new')...",
    ("reviewer/admin/views.py", "_disable"): "_DISABLED = N_(...)",
    ("reviewer/admin/views.py", "_delete"): "_DELETED = N_(...)",
}
NAMES = {"gettext": 1, "ngettext": 2, "_": 1, "lazy_gettext": 1}


def calls_with_a_variable_message() -> set[tuple[str, str]]:
    """(file, enclosing function or ``<module>``) of every call that translates a variable."""
    found = set()
    for path in sorted(TIPBOX.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope, node in _calls_in(tree, "<module>"):
            if _translates_a_variable(node):
                found.add((str(path.relative_to(TIPBOX)), scope))
    return found


def _calls_in(node: ast.AST, scope: str) -> list[tuple[str, ast.AST]]:
    """Every node under ``node`` with the name of the function it is written in."""
    found = []
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, ast.FunctionDef) else scope
        found.append((inner, child))
        found += _calls_in(child, inner)
    return found


def _translates_a_variable(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    count = NAMES.get(str(called))
    if count is None or not node.args:
        return False
    return not all(isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                   for arg in node.args[:count])


def test_every_translated_message_is_a_literal_or_from_a_marked_table() -> None:
    found = calls_with_a_variable_message()
    unexpected = found - set(FROM_MARKED_TABLES)
    assert not unexpected, sorted(unexpected)
    assert set(FROM_MARKED_TABLES) <= found, "stale entries in FROM_MARKED_TABLES"


def test_the_check_sees_a_variable_message() -> None:
    call = ast.parse("gettext(text, name=x)").body[0].value  # type: ignore[attr-defined]
    literal = ast.parse("gettext('Saved.')").body[0].value  # type: ignore[attr-defined]
    assert _translates_a_variable(call)
    assert not _translates_a_variable(literal)
