"""Instance settings that admins edit in the web app, stored in the database.

How they combine with the environment (:class:`~tipbox.config.Settings`):
the environment gives the **default** of every value and the **ceiling** of
every limit; the database holds only what an admin changed. So an operator
who sets ``TIPBOX_MAX_UPLOAD_BYTES=1GiB`` knows no admin can raise uploads
above it, and an admin can tighten limits without a restart: the apps and
services read :meth:`SettingsStore.effective` per submission, request or
session check.

- ``organisation`` (1-100 printable characters) and ``landing_text`` (up to
  5,000 characters, shown to sources as plain text, never as HTML), with one
  ``landing_text_<language>`` per translated language (:data:`LANDING_LANGUAGES`):
  a page in a language whose text is empty shows ``landing_text``;
- ``max_upload_bytes``, ``max_files``, ``max_message_chars``: 1 up to the
  environment's value;
- ``session_idle_seconds`` (at least 60) and ``session_absolute_seconds``
  (at least 300), each up to the environment's value, idle not above
  absolute;
- ``retention_days``: 0 (keep forever) to 36,500 when the environment has
  no retention; when it has one (``TIPBOX_RETENTION_DAYS`` > 0) that is a
  policy, and admins may only shorten it (1 up to that value);
- ``require_security_keys`` (issue 17): ``1`` or ``0`` (default); when set,
  every account logs in with a security key, and one without a key must add
  one before anything else (:mod:`tipbox.services.accounts.security_keys`).

:meth:`SettingsStore.effective` returns the environment settings with the
stored values applied, for the app factories and commands that honour them.
The logo (:mod:`tipbox.services.logo`) is a setting too, changed only through
:meth:`SettingsStore.set_logo` and :meth:`SettingsStore.remove_logo`: a clean
PNG in the database (:mod:`tipbox.store.logo`) and a ``logo`` setting naming
its version (a digest of the PNG), written together, so that the pages of
every process and host (and their caches) follow a change.
Nothing here is secret; every value is validated before it is stored.
Every stored change writes one "change settings" audit row naming the
changed fields (never their values); ``by`` is the acting admin's username,
``None`` for the host (the command line).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tipbox.config import Settings
from tipbox.digits import parse_number
from tipbox.errors import InvalidInput, StorageUnavailable
from tipbox.services.audit import Audit
from tipbox.services.logo import clean_logo
from tipbox.store.db import Database
from tipbox.store.instance_settings import read_settings, write_settings
from tipbox.store.logo import read_logo, remove_logo, write_logo

__all__ = ["DEFAULT_ORGANISATION", "LANDING_LANGUAGES", "InstanceSettings", "SettingsStore"]

DEFAULT_ORGANISATION = "Our newsroom"
MAX_ORGANISATION_CHARS = 100
MAX_LANDING_CHARS = 5000
MAX_RETENTION_DAYS = 36_500
#: The languages with their own landing text besides the default one.
LANDING_LANGUAGES = ("be", "pl", "ru", "uk")
LOGO_VERSION_CHARS = 16


@dataclass(frozen=True, slots=True)
class InstanceSettings:
    """The admin-editable settings, as in effect."""

    organisation: str
    landing_text: str
    landing_text_be: str
    landing_text_pl: str
    landing_text_ru: str
    landing_text_uk: str
    max_upload_bytes: int
    max_files: int
    max_message_chars: int
    session_idle_seconds: int
    session_absolute_seconds: int
    retention_days: int
    #: The stored logo's version (hex digest), ``""`` when there is none.
    logo: str = ""
    #: Every account must log in with a security key (issue 17).
    require_security_keys: bool = False

    def landing_for(self, language: str) -> str:
        """The landing text of ``language`` (``"uk"``), else the default one."""
        own = getattr(self, f"landing_text_{language}", "") if language in LANDING_LANGUAGES else ""
        return own or self.landing_text


#: The fields admins edit in the settings form (the logo has its own form).
NAMES = tuple(field.name for field in dataclasses.fields(InstanceSettings) if field.name != "logo")
_LANDING = ("landing_text", *(f"landing_text_{code}" for code in LANDING_LANGUAGES))
_TEXT = ("organisation", *_LANDING)
#: Yes/no settings, stored as ``1`` or ``0``.
_FLAGS = ("require_security_keys",)


def defaults(env: Settings) -> InstanceSettings:
    """The settings when no admin has changed anything."""
    return InstanceSettings(
        organisation=DEFAULT_ORGANISATION,
        landing_text="",
        landing_text_be="",
        landing_text_pl="",
        landing_text_ru="",
        landing_text_uk="",
        max_upload_bytes=env.max_upload_bytes,
        max_files=env.max_files,
        max_message_chars=env.max_message_chars,
        session_idle_seconds=env.session_idle_seconds,
        session_absolute_seconds=env.session_absolute_seconds,
        retention_days=env.retention_days,
    )


def _bounds(env: Settings) -> dict[str, tuple[int, int]]:
    retention = (1, env.retention_days) if env.retention_days else (0, MAX_RETENTION_DAYS)
    return {
        "max_upload_bytes": (1, env.max_upload_bytes),
        "max_files": (1, env.max_files),
        "max_message_chars": (1, env.max_message_chars),
        "session_idle_seconds": (min(60, env.session_idle_seconds), env.session_idle_seconds),
        "session_absolute_seconds": (
            min(300, env.session_absolute_seconds),
            env.session_absolute_seconds,
        ),
        "retention_days": retention,
    }


def _check_organisation(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= MAX_ORGANISATION_CHARS or not value.isprintable():
        raise InvalidInput(
            f"the organisation name has 1 to {MAX_ORGANISATION_CHARS} printable characters",
            code="organisation_name", params={"num": MAX_ORGANISATION_CHARS},
        )
    return value


def _check_landing(value: str) -> str:
    value = value.replace("\r\n", "\n").strip()
    if len(value) > MAX_LANDING_CHARS:
        raise InvalidInput(f"the landing text has at most {MAX_LANDING_CHARS} characters",
                           code="landing_text_too_long", params={"num": MAX_LANDING_CHARS})
    if any(not (char.isprintable() or char in "\n\t") for char in value):
        raise InvalidInput("the landing text must not contain control characters",
                           code="landing_text_control")
    return value


_TEXT_CHECKS: dict[str, Callable[[str], str]] = {
    "organisation": _check_organisation,
    **dict.fromkeys(_LANDING, _check_landing),
}


def _check_flag(name: str, value: str) -> bool:
    """``1`` (yes) or ``0`` (no), ASCII digits only (:mod:`tipbox.digits`)."""
    return bool(parse_number(value, low=0, high=1, label=name.replace("_", " ")))


def _check_number(name: str, value: str, bounds: tuple[int, int]) -> int:
    """ASCII digits only (:mod:`tipbox.digits`): no sign, space, ``_`` or Unicode digit."""
    low, high = bounds
    return parse_number(value, low=low, high=high, label=name.replace("_", " "))


class SettingsStore:
    """The ``instance_settings`` table over the environment's defaults and ceilings.

    Reads are cached for ``max_age`` seconds (every page of both apps needs
    them); an update through this object is seen at once, one made by
    another process or host within ``max_age``. While the database cannot
    be reached, the last settings read stand in, so that the "briefly
    unavailable" page renders with them. ``audit`` receives the rows of
    each change.
    """

    def __init__(
        self,
        db: Database,
        env: Settings,
        *,
        audit: Audit,
        max_age: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._audit = audit
        self._env = env
        self._max_age = max_age
        self._clock = clock
        self._cached: tuple[float, InstanceSettings] | None = None

    def current(self) -> InstanceSettings:
        """The settings in effect: stored values over the defaults (out-of-bounds ones ignored)."""
        now = self._clock()
        cached = self._cached
        if cached is not None and now - cached[0] < self._max_age:
            return cached[1]
        try:
            result = self._read()
        except StorageUnavailable:
            if cached is None:
                raise
            return cached[1]  # the last ones read, so that the error page still renders
        self._cached = (now, result)
        return result

    def _read(self) -> InstanceSettings:
        with self._db.reading() as conn:
            stored = read_settings(conn)
        values = dataclasses.asdict(defaults(self._env))
        for name, value in self._parse(stored, ignore_invalid=True).items():
            values[name] = value
        values["logo"] = _logo_version(stored.get("logo", ""))
        result = InstanceSettings(**values)
        if result.session_idle_seconds > result.session_absolute_seconds:
            return dataclasses.replace(result, session_idle_seconds=result.session_absolute_seconds)
        return result

    def update(self, changes: Mapping[str, str], *, by: str | None = None) -> InstanceSettings:
        """Validate and store ``changes`` (field name -> text); returns the new settings.

        Raises ``InvalidInput`` naming the first bad field; then nothing is stored.
        """
        unknown = set(changes) - set(NAMES)
        if unknown:
            raise InvalidInput(f"unknown setting {sorted(unknown)[0]!r}", code="unknown_setting")
        parsed = self._parse(changes, ignore_invalid=False)
        merged = dataclasses.replace(self.current(), **parsed)  # type: ignore[arg-type]
        if merged.session_idle_seconds > merged.session_absolute_seconds:
            raise InvalidInput("the idle timeout cannot be longer than the absolute one",
                           code="idle_over_absolute")
        with self._db.transaction() as conn:
            write_settings(conn, {name: _stored(value) for name, value in parsed.items()})
        self._cached = None
        self._audit.record("change settings", reviewer=by, target=", ".join(sorted(changes)))
        return merged

    def set_logo(self, upload: bytes, *, by: str | None = None) -> None:
        """Store the clean PNG made of ``upload`` (:func:`~tipbox.services.logo.clean_logo`).

        Raises ``InvalidInput`` (``logo_*`` codes) when it is refused; then
        nothing is stored.
        """
        png = clean_logo(upload)
        version = hashlib.sha256(png).hexdigest()[:LOGO_VERSION_CHARS]
        with self._db.transaction() as conn:
            write_logo(conn, png)
            write_settings(conn, {"logo": version})
        self._logo_changed(by)

    def remove_logo(self, *, by: str | None = None) -> None:
        """Remove the logo (its setting and its PNG, together)."""
        with self._db.transaction() as conn:
            write_settings(conn, {"logo": ""})
            remove_logo(conn)
        self._logo_changed(by)

    def logo_png(self) -> bytes | None:
        """The stored logo (a clean PNG), ``None`` when there is none."""
        if not self.current().logo:
            return None
        with self._db.connection() as conn:
            return read_logo(conn)

    def _logo_changed(self, by: str | None) -> None:
        self._cached = None
        self._audit.record("change settings", reviewer=by, target="logo")

    def effective(self) -> Settings:
        """The environment settings with the stored values applied."""
        current = self.current()
        return dataclasses.replace(
            self._env,
            max_upload_bytes=current.max_upload_bytes,
            max_files=current.max_files,
            max_message_chars=current.max_message_chars,
            session_idle_seconds=current.session_idle_seconds,
            session_absolute_seconds=current.session_absolute_seconds,
            retention_days=current.retention_days,
        )

    def _parse(
        self, raw: Mapping[str, str], *, ignore_invalid: bool
    ) -> dict[str, str | int | bool]:
        bounds = _bounds(self._env)
        parsed: dict[str, str | int | bool] = {}
        for name, value in raw.items():
            if name not in NAMES:
                continue
            try:
                if name in _TEXT:
                    parsed[name] = _TEXT_CHECKS[name](value)
                elif name in _FLAGS:
                    parsed[name] = _check_flag(name, value)
                else:
                    parsed[name] = _check_number(name, value, bounds[name])
            except InvalidInput:
                if not ignore_invalid:
                    raise
        return parsed


def _stored(value: str | int | bool) -> str:
    """How a parsed value is stored: flags as ``1``/``0``, the rest as text."""
    return str(int(value)) if isinstance(value, bool) else str(value)


def _logo_version(value: str) -> str:
    """A stored logo version, ``""`` unless it is one of ours (hex digits)."""
    valid = len(value) == LOGO_VERSION_CHARS and all(c in "0123456789abcdef" for c in value)
    return value if valid else ""
