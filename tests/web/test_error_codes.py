"""Errors carry a stable code and params; one table turns them into a status and a message.

Every :class:`~tipbox.errors.TipboxError` (subclasses anywhere under
``tipbox/`` included) has a snake_case code listed in
:data:`tipbox.web.errors.CODES`; so has every code given at a ``raise``.
Both apps answer an error with the status of its code and never show its
English ``str()``; :func:`~tipbox.web.errors.explain` words every code in
every shipped language from params alone. No module translates errors by
matching their English text.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, current_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tipbox
from tests.web.conftest import SourceSite
from tipbox import errors
from tipbox.reviewer import create_reviewer_app
from tipbox.services.accounts.rules import check_password
from tipbox.services.accounts.throttle import AccountLocked
from tipbox.services.submissions.file_names import FileNameRefused, filter_file_name
from tipbox.web.errors import CODES, explain, page_for
from tipbox.web.i18n import install_i18n

ROOT = Path(tipbox.__file__).resolve().parent
SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
LANGUAGES = ("en", "be", "ru", "uk", "pl")
FUZZ = settings(derandomize=True, deadline=None, max_examples=200,
                suppress_health_check=list(HealthCheck))

#: Every param name a wording may use, with a value of its kind.
PARAMS = st.fixed_dictionaries({
    "num": st.integers(min_value=0, max_value=10**9),
    "hours": st.integers(min_value=0, max_value=1000),
    "low": st.integers(min_value=0, max_value=10**6),
    "high": st.integers(min_value=0, max_value=10**9),
    "label": st.sampled_from(["password", "code", "reply", "max files"]),
    "key": st.text("0123456789abcdef", min_size=8, max_size=16),
    "reason": st.sampled_from(["path", "control", "long", "empty"]),
    "question": st.sampled_from(["Where did it happen?", "Где это было?"]),
    "name": st.sampled_from(["alice", "bob"]),
})


def _modules() -> Iterator[str]:
    for info in pkgutil.walk_packages([str(ROOT)], prefix="tipbox."):
        if not info.name.endswith("__main__"):
            yield info.name


def _all_subclasses(cls: type[errors.TipboxError]) -> set[type[errors.TipboxError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


@pytest.fixture(scope="module")
def error_classes() -> set[type[errors.TipboxError]]:
    for name in _modules():
        importlib.import_module(name)
    return {errors.TipboxError, *_all_subclasses(errors.TipboxError)}


def _codes_given(node: ast.AST) -> list[str]:
    """The texts of a ``code="..."`` keyword or a ``code = "..."`` assignment (both
    branches of ``"a" if x else "b"``)."""
    is_keyword = isinstance(node, ast.keyword) and node.arg == "code"
    is_assign = isinstance(node, ast.Assign) and [
        getattr(target, "id", None) for target in node.targets] == ["code"]
    value = getattr(node, "value", None) if is_keyword or is_assign else None
    values = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
    return [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]


def _raised_codes() -> set[str]:
    """Every code given anywhere under ``tipbox/``: at a raise, or as a class's."""
    codes = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            codes.update(_codes_given(node))
    return codes


def test_every_error_class_has_a_mapped_snake_case_code(
        error_classes: set[type[errors.TipboxError]]) -> None:
    assert len(error_classes) > 20
    for cls in error_classes:
        assert SNAKE.fullmatch(cls.code), cls
        assert cls.code in CODES, f"{cls.__qualname__}: {cls.code!r} is not in CODES"


def test_every_code_given_at_a_raise_is_mapped() -> None:
    codes = _raised_codes()
    assert {"reply_too_long", "note_too_long", "password_too_short", "account_locked",
            "key_in_use"} <= codes
    unmapped = sorted(code for code in codes if code not in CODES and SNAKE.fullmatch(code))
    assert not unmapped
    for code, outcome in CODES.items():
        assert SNAKE.fullmatch(code)
        assert 400 <= outcome.status <= 599
        assert (ROOT.parent / "templates" / "errors" / f"{outcome.template}.html").is_file()


def test_code_and_params_are_kept_and_str_is_unchanged() -> None:
    error = errors.TooLarge("a reply has at most 9 characters", code="reply_too_long",
                            params={"num": 9})
    assert (str(error), error.code, error.params) == (
        "a reply has at most 9 characters", "reply_too_long", {"num": 9})
    assert errors.TooLarge("x").code == "too_large"
    assert errors.TooLarge("x").params == {}
    assert errors.TooLarge.code == "too_large"  # an override changes the instance only


@given(code=st.sampled_from(sorted(CODES)), params=PARAMS, language=st.sampled_from(LANGUAGES))
@FUZZ
def test_explain_words_every_code_from_params_alone(code: str, params: dict[str, object],
                                                     language: str) -> None:
    app = Flask(__name__)
    install_i18n(app)
    marker = "RAW ENGLISH TEXT OF ANOTHER ERROR"
    error = errors.TipboxError(marker, code=code, params=params)  # type: ignore[arg-type]
    with app.test_request_context(f"/?lang={language}", headers={"Accept-Language": language}):
        status, message = explain(error)
    assert status == CODES[code].status
    assert message
    assert marker not in message
    assert "%(" not in message
    assert "%d" not in message


@pytest.fixture
def apps(site: SourceSite) -> tuple[Flask, Flask]:
    """The source app of ``site`` and a reviewer app on the same instance, each with a route
    that raises whatever error the test puts in ``app.config["RAISE"]``."""
    source = site.app
    reviewer = create_reviewer_app(site.settings)
    for app in (source, reviewer):
        app.add_url_rule("/_raise", "raise_for_test", _raise_configured)
    return source, reviewer


def _raise_configured() -> str:
    raise current_app.config["RAISE"]


_CLASSES = (errors.InvalidInput, errors.NotFound, errors.TooLarge, errors.Busy,
            errors.AuthenticationFailed, errors.Forbidden, errors.TipboxError)


@given(code=st.sampled_from(sorted(CODES)), cls=st.sampled_from(_CLASSES), params=PARAMS,
       other=st.sampled_from(sorted(CODES)))
@FUZZ
def test_both_apps_answer_a_code_with_its_status_never_with_str(
        apps: tuple[Flask, Flask], code: str, cls: type[errors.TipboxError],
        params: dict[str, object], other: str) -> None:
    """Whatever class carries it, the code decides; the text of the error is never shown."""
    raw = f"the raw English of {other}: key 0123abcd still protects 7 stored items"
    error = cls(raw, code=code, params=params)  # type: ignore[arg-type]
    for app in apps:
        app.config["RAISE"] = error
        response = app.test_client().get("/_raise")
        assert response.status_code == CODES[code].status == page_for(error).status
        page = response.get_data(as_text=True)
        assert raw not in page
        assert "0123abcd" not in page


def test_a_locked_login_and_a_weak_password_are_worded_by_code() -> None:
    """Regression: the old regex table matched English; now the params carry the numbers."""
    app = Flask(__name__)
    install_i18n(app)
    with app.test_request_context("/"):
        assert explain(AccountLocked(61)) == (
            429, "Too many failed attempts. Try again in 2 minutes.")
        with pytest.raises(errors.InvalidInput) as short:
            check_password("short")
        status, message = explain(short.value)
        assert status == 400
        assert message == str(short.value)  # the English wording is the service's text


def _shown_texts(tree: ast.AST) -> list[str]:
    """Calls ``str(x)`` of an exception-like name, and ``re`` calls given such a ``str()``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id == "str") and any(
                isinstance(arg, ast.Name) and arg.id in {"error", "exc", "err", "e", "locked"}
                for arg in node.args):
            found.append(ast.unparse(node))
    return found


def test_no_module_translates_errors_by_their_text() -> None:
    """No regex table over messages; no view, page or web module turns ``str(error)`` into text."""
    assert not (ROOT / "reviewer" / "error_messages.py").exists()
    for path in ROOT.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(ROOT).as_posix()
        tree = ast.parse(text)
        imported = {alias.name for node in ast.walk(tree)
                    if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names}
        assert not any("error_messages" in name for name in imported), relative
        if relative.split("/")[0] in {"web", "reviewer", "admin", "source"}:
            assert not _shown_texts(tree), relative
            assert not [ast.unparse(node) for node in ast.walk(tree)
                        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                        and "str(" in ast.unparse(node)], relative


@pytest.mark.parametrize("language", ["be", "ru", "uk", "pl"])
def test_every_wording_is_translated(language: str) -> None:
    """Regression: admin refusals (last admin, key in use, settings) were shown in English."""
    app = Flask(__name__)
    install_i18n(app)
    params = {"num": 5, "hours": 24, "low": 1, "high": 9, "label": "password",
              "question": "Where did it happen?", "name": "alice",
              "key": "0123abcd", "reason": "path"}
    untranslated = []
    for code in sorted(CODES):
        error = errors.TipboxError("raw", code=code, params=params)
        with app.test_request_context("/"):
            english = explain(error)[1]
        with app.test_request_context("/", headers={"Accept-Language": language}):
            translated = explain(error)[1]
        if translated == english:
            untranslated.append(code)
    assert not untranslated


def test_a_refused_file_name_says_why_in_params_not_in_text() -> None:
    with pytest.raises(FileNameRefused) as refused:
        filter_file_name("../secret plan.pdf")
    assert refused.value.code == "file_name_refused"
    assert refused.value.params == {"reason": "path"}
    assert "secret" not in str(refused.value)
