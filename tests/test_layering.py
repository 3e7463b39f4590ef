"""Enforce DESIGN.md section 3: arrows point down only.

tipbox/crypto imports only the standard library and cryptography (and
itself); nothing under services or core imports flask, werkzeug or
flask_wtf.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tipbox"
CORE = ["crypto", "services", "store", "config.py", "errors.py", "passwords.py", "codenames.py"]
WEB_LIBRARIES = {"flask", "werkzeug", "flask_wtf", "wtforms", "jinja2"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(*parts: str) -> list[Path]:
    files: list[Path] = []
    for part in parts:
        target = PACKAGE / part
        files.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return [f for f in files if f.exists()]


def test_crypto_imports_only_stdlib_and_cryptography() -> None:
    allowed = set(sys.stdlib_module_names) | {"cryptography", "tipbox"}
    for path in python_files("crypto"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top in allowed, f"{path.name} imports {module}"
            if top == "tipbox":
                assert module.startswith("tipbox.crypto"), f"{path.name} imports {module}"


def test_core_and_services_never_import_the_web_layer() -> None:
    files = python_files(*CORE)
    assert len(files) >= 8
    for path in files:
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top not in WEB_LIBRARIES, f"{path} imports {module}"
            assert not module.startswith(("tipbox.web", "tipbox.source", "tipbox.reviewer")), (
                f"{path} imports {module}"
            )
