"""Languages of both web apps: which one a request speaks, and how a visitor picks it.

:func:`install_i18n` (called by :func:`tipbox.web.init_web`) sets up
Flask-Babel with :func:`select_language` and the language picker.

Contract:

- The offered languages are English (the source language of the templates)
  plus every language with a compiled catalog
  (``<dir>/<lang>/LC_MESSAGES/messages.mo``) in the app's translation
  directories; by default :data:`TRANSLATIONS` (``make translations-compile``).
- A request speaks the language the visitor picked, kept under
  :data:`SESSION_KEY` in the Flask session cookie and nowhere else (no extra
  cookie, nothing on the server); else the best match of ``Accept-Language``;
  else English. A value in the session that is not offered is ignored.
- The picker is a list of plain links, ``<page>?lang=xx``: it works without
  JavaScript and sets no cookie until the visitor actually picks a language
  (the landing page stays cookie-free). :func:`apply_language_choice` stores
  the choice and redirects (303) to the same local path without ``lang``.
  A choice arriving from another site (``Sec-Fetch-Site: cross-site``) is
  not stored, so a link elsewhere cannot replace a visitor's session cookie.
  No state but the language changes on GET; every POST still needs CSRF.
- :func:`clear_session` replaces ``session.clear()`` at login and logout: it
  drops everything (no session fixation) but the language choice.
"""

from __future__ import annotations

import functools
import tomllib
import typing as t
from pathlib import Path
from urllib.parse import quote, urlencode

import flask_babel
from babel import Locale, UnknownLocaleError
from flask import Flask, g, redirect, request, session
from werkzeug.wrappers import Response as BaseResponse

#: Compiled catalogs shipped with tipbox (``tipbox/translations``).
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

#: The language the templates and code are written in.
SOURCE_LANGUAGE = "en"

#: Order of the picker: English first, then the languages tipbox ships; any
#: other catalog found (e.g. a new right-to-left language) follows, sorted.
PICKER_ORDER = ("en", "be", "ru", "uk", "pl")

#: The only thing the language choice writes: one key of the session cookie.
SESSION_KEY = "lang"

#: The query parameter of the picker's links.
QUERY_KEY = "lang"

#: ``Sec-Fetch-Site`` values of a request that did not come from another site.
SAME_SITE = frozenset({"same-origin", "none"})


def N_(message: str) -> str:  # noqa: N802 - the name pybabel extracts by default
    """Mark ``message`` for extraction; it is translated later, where it is shown."""
    return message


def gettext(message: str, **variables: object) -> str:
    """``message`` in the language of the current request (typed Flask-Babel wrapper)."""
    return str(flask_babel.gettext(message, **variables))


def ngettext(singular: str, plural: str, num: int, /, **variables: object) -> str:
    """The plural form of the current language for ``num`` (``%(num)d`` is available)."""
    return str(flask_babel.ngettext(singular, plural, num, **variables))


def format_number(number: float, *, pattern: str | None = None) -> str:
    """``5000`` -> ``5,000`` (English), ``5 000`` (Russian): the current language's digits.

    ``pattern`` is a CLDR number pattern such as ``"#,##0.0"`` (one decimal).
    """
    return str(flask_babel.format_decimal(number, format=pattern))


def available_languages() -> tuple[str, ...]:
    """The language codes this app offers, in picker order (cached per request)."""
    cached: tuple[str, ...] | None = g.get("tipbox_languages")
    if cached is None:
        found = {SOURCE_LANGUAGE}
        for directory in flask_babel.get_babel().translation_directories:
            found.update(_compiled_languages(Path(directory)))
        first = [code for code in PICKER_ORDER if code in found]
        cached = (*first, *sorted(found - set(first)))
        g.tipbox_languages = cached
    return cached


@functools.lru_cache(maxsize=16)
def _compiled_languages(directory: Path) -> frozenset[str]:
    """The compiled catalogs in ``directory``, looked up once per process.

    Catalogs are compiled before the apps start (``make run``); a new
    language needs a restart, as a new catalog would anyway.
    """
    if not directory.is_dir():
        return frozenset()
    return frozenset({
        entry.name
        for entry in directory.iterdir()
        if (entry / "LC_MESSAGES" / "messages.mo").is_file() and _is_locale(entry.name)
    })


def _is_locale(code: str) -> bool:
    try:
        Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return False
    return True


def select_language() -> str:
    """The picked language, else the best ``Accept-Language`` match, else English."""
    offered = available_languages()
    picked = session.get(SESSION_KEY)
    if isinstance(picked, str) and picked in offered:
        return picked
    return request.accept_languages.best_match(offered) or SOURCE_LANGUAGE


def current_locale() -> Locale:
    """The :class:`~babel.Locale` of this request."""
    return t.cast(Locale, flask_babel.get_locale())


@functools.lru_cache(maxsize=64)
def language_name(code: str) -> str:
    """A language's name in that language, capitalised: ``Беларуская``, ``Polski``."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def _page_context() -> dict[str, object]:
    locale = current_locale()
    return {
        "html_lang": str(locale).replace("_", "-"),
        "text_direction": locale.text_direction,
        "languages": [(code, language_name(code), picker_href(code))
                      for code in available_languages()],
        "current_language": str(locale),
        "unreviewed_translation": not native_review(str(locale)),
    }


#: Per language, beside ``LC_MESSAGES``: the catalog's glossary and review status.
GLOSSARY = "glossary.toml"


def native_review(code: str) -> bool:
    """Has a native speaker reviewed the catalog of ``code``? English, the source, has no catalog.

    The answer is ``[catalog] native_review`` of ``<dir>/<code>/glossary.toml`` in the
    first translation directory that has the language; a catalog without one counts as
    not reviewed, so a new language shows the invitation to correct it until someone
    says otherwise.
    """
    if code == SOURCE_LANGUAGE:
        return True
    for directory in flask_babel.get_babel().translation_directories:
        if (Path(directory) / code / "LC_MESSAGES" / "messages.mo").is_file():
            return _reviewed_in(Path(directory) / code / GLOSSARY)
    return False


@functools.lru_cache(maxsize=16)
def _reviewed_in(glossary: Path) -> bool:
    try:
        with glossary.open("rb") as handle:
            catalog = tomllib.load(handle).get("catalog", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return catalog.get("native_review") is True


def picker_href(code: str) -> str:
    """The picker link to ``code``: this page again (GET), else the start page."""
    if request.method != "GET":
        return f"{request.script_root}/?{urlencode({QUERY_KEY: code})}"
    kept = [(key, value) for key, value in request.args.items(multi=True) if key != QUERY_KEY]
    return f"{_local_path()}?{urlencode([*kept, (QUERY_KEY, code)])}"


def _local_path() -> str:
    """This request's path on this site; never ``//host`` (a link to another site).

    The path is percent-encoded: a decoded tab, CR/LF or backslash would let
    ``/%09/evil.example`` become ``//evil.example`` in a browser (an open
    redirect) or break the ``Location`` header (a 500).
    """
    return request.script_root + "/" + quote(request.path.lstrip("/"), safe="/")


def apply_language_choice() -> BaseResponse | None:
    """``before_request``: on ``GET ...?lang=xx`` store the choice and drop the parameter."""
    if request.method != "GET" or QUERY_KEY not in request.args:
        return None
    code = request.args.get(QUERY_KEY, "")
    if code in available_languages() and _same_site():
        session[SESSION_KEY] = code
    kept = [(key, value) for key, value in request.args.items(multi=True) if key != QUERY_KEY]
    query = f"?{urlencode(kept)}" if kept else ""
    return redirect(_local_path() + query, code=303)


def _same_site() -> bool:
    """Browsers say where a request comes from; absent (old browser, tests) counts as ours."""
    return request.headers.get("Sec-Fetch-Site", "same-origin") in SAME_SITE


def clear_session() -> None:
    """Clear the whole session (login, logout) but keep the visitor's language."""
    language = session.get(SESSION_KEY)
    session.clear()
    if isinstance(language, str):
        session[SESSION_KEY] = language


def install_i18n(app: Flask) -> None:
    """Flask-Babel with :func:`select_language`, the picker hook and page variables."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    flask_babel.Babel(app, locale_selector=select_language, default_timezone="UTC")
    # Whitespace inside {% trans %} blocks is collapsed, as babel.cfg extracts it.
    app.jinja_env.policies["ext.i18n.trimmed"] = True
    app.before_request(apply_language_choice)
    app.context_processor(_page_context)
