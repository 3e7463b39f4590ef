"""The one filter for uploaded file names, and the name a reviewer saves.

:func:`filter_file_name` runs once, when a file starts to upload. It either
refuses the name with :class:`FileNameRefused` or returns the safe name that
is stored (encrypted, in the manifest), shown in the inbox, written into the
``Content-Disposition`` of the download and used by the exports. Nothing
later shortens or rewrites it again; :func:`saved_file_name` applies the same
filter to whatever a manifest holds (a no-op for names stored since this
filter exists) so that older items display and download the same way.

Refused, because the name cannot be made safe without losing its meaning
(``FileNameRefused.reason``):

- ``"path"``: a ``/`` or ``\\`` anywhere, or the name ``.`` or ``..``. Old
  browsers sent a full path, which can name the source; it is refused
  rather than trimmed.
- ``"control"``: control characters (NUL, CR, LF, DEL, C1), lone surrogates
  (bytes that were not UTF-8), line/paragraph separators, and the bidi
  embeddings, overrides and isolates that disguise an extension
  (``cod\\u202eexe.doc`` shows as ``codcod.exe``).
- ``"long"``: more than :data:`MAX_INPUT_CHARS` characters, which no file
  system produces (each limits a name to 255 bytes or 255 UTF-16 units).
- ``"empty"``: nothing visible is left (only dots, spaces, invisibles).

Mapped, in this order, so that the browser saves exactly what the inbox
shows: the result is a fixed point of this filter and of the download-name
rules of Firefox/Tor Browser (modelled in ``tests/domain/test_file_names.py``)
and Chromium (checked with a real one in ``tests/browser/test_chromium_download_names.py``):

1. NFC normalisation (macOS sends NFD; the reviewer sees one form).
2. Invisible characters are dropped: every format character (category Cf:
   soft hyphen, ZWSP, ZWJ/ZWNJ, LRM/RLM/ALM, word joiner, BOM, tag
   characters...) and every other ``Default_Ignorable_Code_Point``
   (variation selectors, combining grapheme joiner, Hangul fillers,
   reserved ignorable ranges). Persian names lose their ZWNJ and emoji
   sequences fall apart into their parts; what is shown is what is saved.
3. Characters Windows or a browser refuses become ``_``: ``: * ? " < > |``,
   ``~`` and ``%`` (Chromium and Firefox replace them too; ``:`` would
   name an NTFS stream), private-use and unassigned code points. Every
   space separator (no-break, ideographic...) becomes a plain space.
4. NFC again (a dropped character may have separated a base and its
   accent), runs of spaces become one, and leading and trailing spaces and
   dots are removed (no hidden dot files; Windows strips trailing dots and
   spaces).
5. A Windows device name (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0-9``,
   ``LPT0-9`` with ``¹²³`` too, ``CONIN$``, ``CONOUT$``, ``CLOCK$``; any
   case; with any extension or trailing spaces, as Windows reads them)
   gets a ``_`` in front: ``CON.txt`` -> ``_CON.txt``.
6. An extension Windows runs or resolves by itself (``.lnk``, ``.local``,
   ``.url``, ``.scf``, ``.desktop``, ``.{CLSID}``) gets ``.download``
   after it, as Firefox and Chromium save it: ``x.lnk`` -> ``x.lnk.download``.
7. A name over :data:`MAX_NAME_BYTES` UTF-8 bytes, or whose part before the
   last dot is over :data:`MAX_STEM_BYTES`, is shortened: the stem is cut
   (on a character boundary, never between a letter and its accents) and a
   short sane extension (:func:`extension`) is kept, with ``.lnk`` before
   a ``.download`` of step 6.
8. Spaces after the last dot become ``_`` (Firefox deletes them: it reads
   that part as the extension), and a name of nothing but ``_`` and ``-``
   becomes ``file`` (Chromium would save it as ``download``).

Pure: no Flask, no I/O; names are never logged or put in error messages.
"""

from __future__ import annotations

import re
import unicodedata

from tipbox.errors import InvalidInput

__all__ = [
    "MAX_INPUT_CHARS",
    "MAX_NAME_BYTES",
    "MAX_STEM_BYTES",
    "FileNameRefused",
    "extension",
    "filter_file_name",
    "numbered_file_name",
    "saved_file_name",
]

#: Longer input is refused: no file system stores a longer name.
MAX_INPUT_CHARS = 255
#: Firefox's limit (``kDefaultMaxFileNameLength``), under every file
#: system's 255 bytes or 255 UTF-16 units, and what ``filename*`` carries.
MAX_NAME_BYTES = 254
#: Firefox also keeps the part before the last dot 6 bytes shorter (room
#: for ``_files``); a longer one it would cut again when saving.
MAX_STEM_BYTES = MAX_NAME_BYTES - len("_files")
#: An extension is kept when shortening if it has 1 to this many
#: characters, all letters or digits.
MAX_EXTENSION_CHARS = 16


class FileNameRefused(InvalidInput):
    """An uploaded file name that cannot be made safe without losing its meaning.

    ``reason`` (also ``params["reason"]``) is ``"path"``, ``"control"``,
    ``"long"`` or ``"empty"`` (see the module docstring). The message never
    contains the name.
    """

    code = "file_name_refused"

    def __init__(self, reason: str) -> None:
        super().__init__(f"file name refused: {reason}", params={"reason": reason})
        self.reason = reason


#: Embeddings, overrides and isolates: they can reorder what is displayed.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: Default_Ignorable_Code_Point (Unicode 15 DerivedCoreProperties) that is
#: not already category Cf; all of Cf is dropped as well.
_IGNORABLE = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2065\u3164\ufe00-\ufe0f\uffa0"
    "\ufff0-\ufff8\U000e0000-\U000e0fff]"
)
_UNDERSCORED = frozenset(':*?"<>|~%')
_UNDERSCORED_CATEGORIES = frozenset({"Co", "Cn"})
_SPACES = re.compile(" {2,}")
_DEVICE = re.compile(
    r"(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|CLOCK\$|COM[0-9¹²³]|LPT[0-9¹²³])",
    re.IGNORECASE | re.ASCII,
)
_SANE_EXTENSION = re.compile(rf"[^\W_]{{1,{MAX_EXTENSION_CHARS}}}")
#: Extensions that Windows' shell acts on; browsers add ``.download``.
_SHELL_EXTENSIONS = frozenset({"lnk", "local", "url", "scf", "desktop"})
_SHELL_SUFFIX = "download"
#: What a name made only of ``_`` and ``-`` becomes.
_STAND_IN = "file"


def filter_file_name(name: str) -> str:
    """The safe name for an uploaded file's ``name``, or :class:`FileNameRefused`.

    Idempotent: ``filter_file_name(filter_file_name(x)) == filter_file_name(x)``.
    The result has at least one character and at most :data:`MAX_NAME_BYTES`
    UTF-8 bytes, no control, format, private-use, unassigned or
    default-ignorable character, none of ``/ \\ : * ? " < > | ~ %``, no
    leading or trailing space or dot, no run of spaces, no space after its
    last dot, is not a Windows device name, does not end in an extension
    the Windows shell acts on and is not made of ``_`` and ``-`` only.
    """
    if len(name) > MAX_INPUT_CHARS:
        raise FileNameRefused("long")
    if name in {".", ".."}:
        raise FileNameRefused("path")
    mapped = "".join(_map_char(char) for char in unicodedata.normalize("NFC", name))
    tidy = _tidy(unicodedata.normalize("NFC", mapped))
    if not tidy:
        raise FileNameRefused("empty")
    fitted = _fit(_inert(_not_a_device(tidy)))
    return _stand_in(_no_spaces_after_last_dot(_not_a_device(fitted)))


def saved_file_name(name: object, *, fallback: str) -> str:
    """The name a stored ``name`` is shown and saved under; never raises.

    The same filter as at upload time, so a no-op for names stored since.
    Older or damaged values are made safe instead of refused: refused
    characters become ``_`` and a name with nothing left (or not a string
    at all) becomes ``fallback`` (which must itself be a valid name).
    """
    if isinstance(name, str):
        for candidate in (name, _defused(name)):
            try:
                return filter_file_name(candidate)
            except FileNameRefused:
                continue
    return filter_file_name(fallback)


def numbered_file_name(name: str, number: int) -> str:
    """``name`` made distinct as ``stem (number).ext``, within the same limits.

    For an export or zip that holds two files of the same name; ``name``
    should already be a filtered name.
    """
    stem, ext = _split(name)
    suffix = f" ({number}){ext}"
    budget = min(MAX_STEM_BYTES, MAX_NAME_BYTES - _size(ext)) - _size(f" ({number})")
    return filter_file_name(_cut(stem, budget).rstrip(" .") + suffix)


def extension(name: str) -> str:
    """The extension shortening keeps (``"pdf"`` of ``"scan.pdf"``), or ``""``.

    The text after the last dot, if something comes before that dot and it
    is 1 to :data:`MAX_EXTENSION_CHARS` letters or digits.
    """
    stem, dot, ext = name.rpartition(".")
    return ext if dot and stem and _SANE_EXTENSION.fullmatch(ext) else ""


def _map_char(char: str) -> str:
    """One character of the NFC name: refuse, drop (``""``), replace or keep it."""
    category = unicodedata.category(char)
    if char in "/\\":
        raise FileNameRefused("path")
    if category in _REFUSED_CATEGORIES or char in _BIDI_CONTROLS:
        raise FileNameRefused("control")
    if category == "Cf" or _IGNORABLE.match(char):
        return ""
    if char in _UNDERSCORED or category in _UNDERSCORED_CATEGORIES:
        return "_"
    return " " if category == "Zs" else char


def _tidy(name: str) -> str:
    """One space for each run of spaces; no leading or trailing space or dot."""
    return _SPACES.sub(" ", name).strip(" .")


def _not_a_device(name: str) -> str:
    """``_`` in front of a Windows device name (``CON``, ``con .txt``, ``NUL.tar.gz``)."""
    device = name.split(".", 1)[0].rstrip(" ")
    return f"_{name}" if _DEVICE.fullmatch(device) else name


def _inert(name: str) -> str:
    """``.download`` after an extension Windows acts on (``x.lnk``, ``x. URL``, ``x.{id}``)."""
    stem, dot, ext = name.rpartition(".")
    ext = ext.replace(" ", "")
    shell = ext.lower() in _SHELL_EXTENSIONS or (ext.startswith("{") and ext.endswith("}"))
    return f"{name}.{_SHELL_SUFFIX}" if dot and stem and shell else name


def _fit(name: str) -> str:
    """Shortened; again if the cut left a shell extension at the end (``a.lnk-...``)."""
    shortened = _shorten(name)
    inert = _inert(shortened)
    return shortened if inert == shortened else _shorten(inert)


def _no_spaces_after_last_dot(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{ext.replace(' ', '_')}" if dot else name


def _stand_in(name: str) -> str:
    return name if name.strip("_-") else _STAND_IN


def _shorten(name: str) -> str:
    """``name`` cut to the byte limits, keeping its extension (see the module docstring)."""
    before_last_dot = name.rpartition(".")[0] if "." in name else name
    if _size(name) <= MAX_NAME_BYTES and _size(before_last_dot) <= MAX_STEM_BYTES:
        return name
    stem, ext = _split(name)
    budget = min(MAX_STEM_BYTES, MAX_NAME_BYTES - _size(ext))
    return _cut(stem, budget).rstrip(" .") + ext


def _split(name: str) -> tuple[str, str]:
    """``(stem, ".ext")`` if ``name`` has a sane extension (or ``.lnk.download``)."""
    ext = extension(name)
    if not ext:
        return name, ""
    inner = extension(name[: -len(ext) - 1])
    if ext == _SHELL_SUFFIX and inner.lower() in _SHELL_EXTENSIONS:
        ext = f"{inner}.{ext}"  # keep x.lnk.download whole
    return name[: -len(ext) - 1], f".{ext}"


def _cut(text: str, budget: int) -> str:
    """The longest prefix of ``text`` within ``budget`` UTF-8 bytes that ends a cluster.

    Never ends between a character and its combining marks, unless the
    first character alone carries more marks than fit.
    """
    end = len(text.encode("utf-8")[:budget].decode("utf-8", "ignore"))
    if end == len(text):
        return text
    start = end
    while start > 0 and unicodedata.category(text[start]).startswith("M"):
        start -= 1
    return text[: start or end]


def _defused(name: str) -> str:
    """``name`` with each character the filter refuses replaced by ``_``."""
    return "".join(
        "_" if char in "/\\" or char in _BIDI_CONTROLS
        or unicodedata.category(char) in _REFUSED_CATEGORIES else char
        for char in name[:MAX_INPUT_CHARS]
    )


def _size(text: str) -> int:
    return len(text.encode("utf-8"))
