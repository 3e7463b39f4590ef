"""The one file-name filter: regressions for each reported name, and properties.

The properties run a fixed-seed (derandomized) hypothesis search over all of
Unicode (controls, format and bidi characters, separators, surrogates,
private use, unassigned), names made of the pieces that broke before
(device names, dots, ``:``, invisibles, long stems) and very long names.
Two small models of what Firefox/Tor Browser and Chromium do to a
download's name check that the filtered name is saved exactly as shown.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipbox.errors import InvalidInput
from tipbox.services.submissions.file_names import (
    MAX_NAME_BYTES,
    FileNameRefused,
    extension,
    filter_file_name,
    numbered_file_name,
    saved_file_name,
)

PROPERTY = settings(
    max_examples=2000, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)

BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}
DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"} | {
    f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789¹²³"
}
REASONS = {"path", "control", "long", "empty"}


def is_device(name: str) -> bool:
    """Windows' own reading: the part before the first dot, trailing spaces ignored."""
    return name.split(".", 1)[0].rstrip(" ").upper() in DEVICES


# --- regressions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("Ünïcødé (1).docx", "Ünïcødé (1).docx"),
        ("日本語.txt", "日本語.txt"),
        # invisible format characters and other default-ignorables are dropped
        ("scan\u200f.pdf", "scan.pdf"),  # RLM
        ("sc\u200ban.pdf", "scan.pdf"),  # ZWSP
        ("sc\u00adan.pdf", "scan.pdf"),  # soft hyphen
        ("scan\U000e0001\U000e0065\U000e006e\U000e007f.pdf", "scan.pdf"),  # tag characters
        ("\ufeffscan\u2060.pdf", "scan.pdf"),  # BOM, word joiner
        ("scan\u061c\u200e.pdf", "scan.pdf"),  # ALM, LRM
        ("\u2764\ufe0f.png", "\u2764.png"),  # variation selector
        ("a\U000e0100b\u034fc\u3164.txt", "abc.txt"),  # VS supplement, CGJ, Hangul filler
        ("\u0646\u0627\u0645\u0647\u200c\u0647\u0627.pdf",
         "\u0646\u0627\u0645\u0647\u0647\u0627.pdf"),  # the ZWNJ goes too
        ("e\u200b\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),  # rejoined, then NFC
        ("Cafe\u0301.txt", "Caf\u00e9.txt"),  # NFD (macOS) becomes NFC
        # characters Windows or a browser would replace
        ("minutes 10:30.txt", "minutes 10_30.txt"),
        ("a.txt:hidden", "a.txt_hidden"),  # not an NTFS stream
        ('q*u?o"t<e>|.txt', "q_u_o_t_e__.txt"),
        ("50% ~draft.txt", "50_ _draft.txt"),
        ("private\ue000use\U0010fffd.txt", "private_use_.txt"),
        ("nonchar\ufffe.txt", "nonchar_.txt"),
        # spaces and dots at the ends, runs of spaces
        ("report.pdf. . ", "report.pdf"),
        ("  .hidden", "hidden"),
        ("a\u00a0\u3000 b.txt", "a b.txt"),
        ("...pdf", "pdf"),
        # Windows device names, any case, with extensions, spaces or dots
        ("CON.txt", "_CON.txt"),
        ("con.TXT", "_con.TXT"),
        ("Nul.tar.gz", "_Nul.tar.gz"),
        ("CON .txt", "_CON .txt"),
        ("CON.", "_CON"),
        (".CON", "_CON"),  # found by the property test: a dot file named like a device
        ("aux ", "_aux"),
        ("COM\u00b9.txt", "_COM\u00b9.txt"),
        ("conout$.log", "_conout$.log"),
        ("C\u200bON.txt", "_CON.txt"),  # invisible characters do not hide one
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("COM10.txt", "COM10.txt"),
        ("LPT.txt", "LPT.txt"),
        ("xCON.txt", "xCON.txt"),
        # extensions Windows acts on get .download, as browsers save them
        ("invoice.lnk", "invoice.lnk.download"),
        ("x.URL", "x.URL.download"),
        ("x. scf", "x. scf.download"),
        ("a.desktop", "a.desktop.download"),
        ("x.{20D04FE0-3AEA-1069-A2D8-08002B30309D}",
         "x.{20D04FE0-3AEA-1069-A2D8-08002B30309D}.download"),
        ("x.lnk.download", "x.lnk.download"),
        # what Firefox would read as an extension has no spaces
        ("Mr. Smith notes", "Mr._Smith_notes"),
        ("minutes 2. final.txt", "minutes 2. final.txt"),
        # nothing but _ and -: Chromium would save "download"
        ("???", "file"),
        ("-", "file"),
        ("_-_.pdf", "_-_.pdf"),
    ],
)
def test_names_are_mapped(name: str, expected: str) -> None:
    assert filter_file_name(name) == expected
    assert filter_file_name(expected) == expected


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_every_device_name_is_mapped(device: str) -> None:
    for name in (device, device.lower(), f"{device}.txt", f"{device.lower()} .pdf"):
        assert not is_device(filter_file_name(name))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../etc/passwd", "path"),
        ("a/b", "path"),
        ("C:\\Users\\me\\doc.pdf", "path"),
        (".", "path"),
        ("..", "path"),
        ("nul\0byte", "control"),
        ("tab\tname", "control"),
        ("new\nline", "control"),
        ("c1\x85.txt", "control"),
        ("bad\udcff.txt", "control"),  # bytes that were not UTF-8
        ("line\u2028break", "control"),
        ("invoice\u202efdp.exe", "control"),  # RLO disguises the extension
        ("iso\u2067late.txt", "control"),
        ("x" * 256, "long"),
        ("", "empty"),
        ("\u200b\u200f", "empty"),
        (" . ", "empty"),
    ],
)
def test_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(FileNameRefused) as refused:
        filter_file_name(name)
    assert refused.value.reason == reason
    assert isinstance(refused.value, InvalidInput)
    assert str(refused.value) == f"file name refused: {reason}"  # never the name


def test_a_long_name_keeps_its_extension() -> None:
    """The inbox showed ``…scan.pdf`` and the file was saved as ``….html``."""
    name = "Служебная записка о закупках " * 8 + "scan.pdf"
    assert len(name) < 255 < len(name.encode())
    saved = filter_file_name(name)
    assert saved.endswith(".pdf")
    assert len(saved.encode()) <= MAX_NAME_BYTES
    assert name.startswith(saved[: -len(".pdf")])
    assert filter_file_name(saved) == saved


def test_shortening_cuts_between_characters_not_inside_one() -> None:
    accented = "e\u0301" * 60 + "x\u0334" * 60 + ".pdf"  # e + acute composes, x + overlay not
    saved = filter_file_name(accented)
    assert saved == "\u00e9" * 60 + "x\u0334" * 42 + ".pdf"  # a 43rd x would lose its mark
    assert len(saved.encode()) <= MAX_NAME_BYTES
    emoji = "\U0001f4c4" * 70 + ".docx"
    saved = filter_file_name(emoji)
    assert saved == "\U0001f4c4" * 62 + ".docx"


def test_a_name_without_a_sane_extension_is_cut_whole() -> None:
    assert filter_file_name("x" * 255) == "x" * 248
    assert filter_file_name("a." + "b" * 250) == "a." + "b" * 250  # 252 bytes fit
    assert filter_file_name("a." + "я" * 200) == "a." + "я" * 123  # no extension to keep


def test_a_shortened_shell_extension_keeps_its_download_suffix() -> None:
    saved = filter_file_name("я" * 200 + ".lnk")
    assert saved.endswith("я.lnk.download")
    assert len(saved.encode()) <= MAX_NAME_BYTES
    # a cut that ends on ".lnk" gets the suffix too
    saved = filter_file_name("я" * 122 + ".lnk-" + "y" * 8)  # cut at 248 bytes: "я…я.lnk"
    assert saved == "я" * 120 + ".lnk.download"


def test_a_cut_that_exposes_a_device_name_is_mapped() -> None:
    # Only combining marks after CONx: the cut keeps whole clusters, leaving CON.
    assert filter_file_name("CONx" + "\u0334" * 200 + ".pdf") == "_CON.pdf"


def test_saved_name_of_old_or_damaged_values() -> None:
    assert saved_file_name("report.pdf", fallback="file") == "report.pdf"
    assert saved_file_name("x\u200by:CON.txt", fallback="file") == "xy_CON.txt"
    assert saved_file_name("../../etc/passwd", fallback="file") == "_.._etc_passwd"
    assert saved_file_name("cod\u202eexe.doc", fallback="file") == "cod_exe.doc"
    assert saved_file_name("..", fallback="file-7") == "file-7"
    assert saved_file_name(None, fallback="file-7") == "file-7"
    assert saved_file_name(["a"], fallback="file-7") == "file-7"
    old = "я" * 200 + ".pdf"  # accepted before this filter (<= 255 characters)
    assert saved_file_name(old, fallback="file") == "я" * 124 + ".pdf"


def test_numbered_names() -> None:
    assert numbered_file_name("report.pdf", 2) == "report (2).pdf"
    assert numbered_file_name("notes", 3) == "notes (3)"
    assert numbered_file_name("archive.tar.gz", 2) == "archive.tar (2).gz"
    long = filter_file_name("я" * 200 + ".pdf")
    numbered = numbered_file_name(long, 12)
    assert numbered.endswith(" (12).pdf")
    assert len(numbered.encode()) <= MAX_NAME_BYTES


def test_extension() -> None:
    assert extension("scan.pdf") == "pdf"
    assert extension("archive.tar.gz") == "gz"
    assert extension("README") == ""
    assert extension("pdf") == ""
    assert extension("a.not an extension") == ""
    assert extension("a." + "x" * 17) == ""


# --- properties -------------------------------------------------------------------------

#: Everything: every category including Cs (lone surrogates) and Cn.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
#: The pieces that broke before, to meet each other more often than by chance.
PIECES = st.sampled_from([
    ".", "..", " ", "  ", ":", "/", "\\", "~", "%", "*", "CON", "nul", "Com1", "LPT\u00b9",
    "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u00ad", "\u061c", "\u2060", "\ufeff",
    "\u202e", "\u2066", "\u2069", "\U000e0001", "\U000e0041", "\ufe0f", "\U000e0100",
    "\u034f", "\u3164", "\u180e", "\u00a0", "\u3000", "\u2028", "\x00", "\t", "\x7f",
    "\u0301", "\u0334", "e\u0301", "\ue000", "\U0010ffff", "\ufffe", "\u0378",
    "я", "日本", "\U0001f4c4", "\U0001f469\u200d\U0001f4bb", "report", "scan",
])
EXTENSIONS = st.one_of(
    st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True),
    st.sampled_from(["pdf", "lnk", "URL", "desktop", "download"]),
)
SHELL = {"lnk", "local", "url", "scf", "desktop"}


@st.composite
def file_names(draw: st.DrawFn) -> str:
    """Any text, or a name built from pieces, maybe long, maybe with a sane extension."""
    kind = draw(st.sampled_from(["text", "pieces", "long"]))
    if kind == "text":
        stem = draw(st.text(ANY_CHAR, max_size=40))
    elif kind == "pieces":
        parts = st.one_of(PIECES, st.text(ANY_CHAR, max_size=3))
        stem = "".join(draw(st.lists(parts, max_size=12)))
    else:
        unit = draw(st.one_of(PIECES, st.text(ANY_CHAR, min_size=1, max_size=4)))
        stem = unit * draw(st.integers(20, 300))
        stem = stem[: draw(st.integers(0, 300))]
    if draw(st.booleans()):
        stem = f"{stem}.{draw(EXTENSIONS)}"
    return stem


def sane_extension(name: str) -> str | None:
    """The original's extension, if it had a short sane one."""
    match = re.fullmatch(r"(.*)\.([A-Za-z0-9]{1,8})", name, flags=re.DOTALL)
    return match.group(2) if match else None


def filtered(name: str) -> str | None:
    """The filter's result, or ``None`` if it refused ``name`` for a documented reason."""
    try:
        return filter_file_name(name)
    except FileNameRefused as refused:
        reason = refused.reason
    assert reason in REASONS
    return None


@PROPERTY
@given(name=file_names())
def test_filter_property(name: str) -> None:
    saved = filtered(name)
    if saved is None:
        return
    # (a) nothing invisible, unassigned, private, control, bidi or path-like
    for char in saved:
        assert unicodedata.category(char) not in FORBIDDEN_CATEGORIES, (name, saved)
        assert char not in BIDI_CONTROLS
        assert char not in '/\\:*?"<>|~%'
    # (b) not a device name, (c) within the byte limit
    assert not is_device(saved)
    assert 0 < len(saved.encode("utf-8")) <= MAX_NAME_BYTES <= 255
    # (d) a short sane extension survives (with .download after a shell one)
    ext = sane_extension(name)
    if ext is not None:
        kept = f".{ext}.download" if ext.lower() in SHELL else f".{ext}"
        # ...unless nothing of the stem was left (".CON", "\u200b.pdf"): then the name
        # is the extension word alone, filtered
        assert saved.endswith(kept) or saved == filter_file_name(ext), (name, saved)
    # (e) idempotent, NFC, tidy ends
    assert filter_file_name(saved) == saved
    assert unicodedata.normalize("NFC", saved) == saved
    assert saved == saved.strip(" .")
    assert "  " not in saved


@PROPERTY
@given(name=st.one_of(file_names(), st.text(ANY_CHAR, max_size=600)))
def test_saved_name_property(name: str) -> None:
    """Any stored value gives a safe name, the filter's own result when it accepts it."""
    saved = saved_file_name(name, fallback="file-1")
    assert filter_file_name(saved) == saved
    accepted = filtered(name)
    if accepted is not None:
        assert saved == accepted


@PROPERTY
@given(name=file_names(), number=st.integers(2, 10_000))
def test_numbered_name_property(name: str, number: int) -> None:
    saved = filtered(name)
    if saved is None:
        return
    numbered = numbered_file_name(saved, number)
    assert numbered != saved
    assert filter_file_name(numbered) == numbered
    assert extension(numbered) == extension(saved)


# --- what browsers save -------------------------------------------------------------------


def firefox_saves(name: str) -> str:
    """Firefox's (and Tor Browser's) ``SanitizeFileName`` for a download, in short.

    nsExternalHelperAppService.cpp: ``/\\:*?"<>|%`` and C0 controls become
    ``_``; other controls and line/paragraph separators are dropped; space
    separators and U+FEFF become one space (none at the start, runs
    collapsed); leading dots and U+180E are dropped; other format
    characters become ``_``; trailing spaces, dots and U+180E are trimmed;
    ASCII white space after the last dot is deleted, and ``.download`` goes
    after ``.lnk``, ``.local``, ``.url``, ``.scf`` and ``.desktop``; past
    254 bytes (or a part before the last dot over 248) it truncates.
    """
    out: list[str] = []
    for char in name:
        category = unicodedata.category(char)
        if char in '/\\:*?"<>|%' or ord(char) < 0x20:
            out.append("_")
        elif category in {"Cc", "Zl", "Zp"}:
            continue
        elif category == "Zs" or char == "\ufeff":
            if out and out[-1] not in {" ", "\u3000"}:
                out.append(char if char == "\u3000" else " ")
        elif char in {".", "\u180e"} and not out:
            continue
        else:
            out.append("_" if category == "Cf" and char != "\u180e" else char)
    saved = "".join(out).rstrip(" \u3000.\u180e")
    stem, dot, ext = saved.rpartition(".")
    if not dot:
        stem, ext = saved, ""
    ext = "".join(char for char in ext if char not in " \t\r\n\f")
    if ext.lower() in {"lnk", "local", "url", "scf", "desktop"}:
        ext += ".download"
    saved = f"{stem}{dot}{ext}"
    if len(saved.encode()) > 254 or len(stem.encode()) > 248:
        return "<truncated>"
    return saved


def chromium_saves(name: str) -> str:
    """Chromium's ``ReplaceIllegalCharactersInPath`` (base/i18n/file_util_icu.cc).

    ``"*/:<>?\\|``, controls, format characters and non-characters become
    ``_`` anywhere; white space, ``.`` and ``~`` become ``_`` at either end
    (older releases: ``~`` anywhere); a name of only ``_`` and ``-`` becomes
    ``download`` (net/base/filename_util_internal.cc); on Windows, an
    extension ``lnk``, ``local`` or ``{...}`` becomes ``download``.
    """
    def illegal(char: str) -> bool:
        category = unicodedata.category(char)
        noncharacter = 0xFDD0 <= ord(char) <= 0xFDEF or ord(char) & 0xFFFE == 0xFFFE
        return char in '"*/:<>?\\|~' or category in {"Cc", "Cf"} or noncharacter

    if not name.strip("_-"):
        return "download"
    chars = ["_" if illegal(char) else char for char in name]
    for end in (0, -1):
        if chars and (chars[end].isspace() or chars[end] in ".~"):
            chars[end] = "_"
    stem, dot, ext = "".join(chars).rpartition(".")
    if dot and (ext.lower() in {"lnk", "local"} or ext[:1] + ext[-1:] == "{}"):
        ext = "download"
    return f"{stem}.{ext}" if dot else ext


@PROPERTY
@given(name=file_names())
def test_browsers_save_the_name_the_inbox_shows(name: str) -> None:
    saved = filtered(name)
    if saved is None:
        return
    assert firefox_saves(saved) == saved, (name, saved)
    assert chromium_saves(saved) == saved, (name, saved)


@pytest.mark.parametrize(
    ("name", "firefox"),
    [  # the model against Firefox's own test expectations (test_validate_filename_method)
        (" .whitespaceanddots.png...", "whitespaceanddots.png"),
        ("  filename  with  whitespace.png  ", "filename with whitespace.png"),
        ("\\path*and/$?~file.png", "_path_and_$_~file.png"),
        (" happy\u061c\u2069.png", "happy__.png"),
        ("\u3000簡単\u3000\u3000簡単簡単\u3000\u3000.png\u3000", "簡単\u3000簡単簡単\u3000.png"),
        ("1. First", "1.First"),
        ("filename.LNK", "filename.LNK.download"),
        ("filename.\n\t  lnk", "filename.__lnk"),
    ],
)
def test_firefox_model(name: str, firefox: str) -> None:
    assert firefox_saves(name) == firefox
