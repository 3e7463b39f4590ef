"""No import cycles anywhere in tipbox/ (issue 12).

Every ``import`` counts: at module level, inside functions (the lazy imports
of the command line) and under ``TYPE_CHECKING`` (a cycle of types is still
a cycle of concepts). ``from package import submodule`` is an arrow to the
submodule, not to the package's ``__init__``.

Packages too: grouped as ``tipbox.<x>`` (``tipbox.services.<x>`` inside
services), the arrows between them form no cycle, so the folder list reads
as layers (the admin pages sit inside the reviewer app; ``ops`` sits over
``accounts`` over ``custody``).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tipbox"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def arrows(path: Path, known: set[str]) -> set[str]:
    """The tipbox modules that ``path`` imports."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                targets.add(submodule if submodule in known else node.module)
    return targets & known


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_tipbox_has_no_import_cycles() -> None:
    known = modules()
    names = set(known)
    graph = {name: arrows(path, names) - {name} for name, path in known.items()}
    assert len(graph) > 60
    assert cycles(graph) == []


def package_of(module: str) -> str:
    """The package whose arrows count: ``tipbox.<x>``, or ``tipbox.services.<x>`` inside services.

    Arrows inside one package (a parent to its children included) are free;
    arrows between packages must form no cycle, so that the folder list reads
    as layers: web over services, each domain package over the ones it needs.
    """
    parts = module.split(".")
    depth = 3 if parts[1:2] == ["services"] and len(parts) > 2 else 2
    return ".".join(parts[:depth])


def package_graph() -> dict[str, set[str]]:
    known = modules()
    names = set(known)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = graph.setdefault(package_of(name), set())
        edges.update(package_of(target) for target in arrows(path, names))
    return {package: edges - {package} for package, edges in graph.items()}


def test_packages_group_modules_by_folder() -> None:
    assert package_of("tipbox.reviewer.admin.views") == "tipbox.reviewer"
    assert package_of("tipbox.services.inbox.conversations") == "tipbox.services.inbox"
    assert package_of("tipbox.services.audit") == "tipbox.services.audit"
    assert package_of("tipbox.services") == "tipbox.services"


def test_packages_have_no_cycles_between_them() -> None:
    graph = package_graph()
    assert {"tipbox.services.inbox", "tipbox.services.custody", "tipbox.reviewer"} <= set(graph)
    assert cycles(graph) == []
