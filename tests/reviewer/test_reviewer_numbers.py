"""Numbers are ASCII only (issue 11): one parser, and every numeric field goes through it.

``int()``, ``str.isdecimal()``, ``\\d`` and Werkzeug's ``int`` converter take
``١٢`` or ``１２`` for 12. Regression tests pin the fields one by one; the
property tests generate what is not ``^[0-9]+$`` (Unicode ``Nd`` digits
above all) and check that the parser, the URL converter and the form
readers refuse it with their specific error, and that the apps answer with
their 400/404 page, never a 500.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reviewer_kit import ReviewerSite, csrf, submit
from werkzeug.exceptions import NotFound as HTTPNotFound
from werkzeug.routing import Map, Rule

from tipbox.digits import MAX_SQL_INT, NotANumber, is_ascii_digits, parse_number
from tipbox.errors import InvalidInput, NotFound
from tipbox.reviewer import forms
from tipbox.services.accounts.totp import match_totp, totp_code
from tipbox.services.inbox.conversations import decode_cursor, encode_cursor
from tipbox.web.numbers import IdConverter, id_field

FUZZ = settings(derandomize=True, deadline=None, max_examples=150,
                suppress_health_check=list(HealthCheck))
WEB_FUZZ = settings(derandomize=True, deadline=None, max_examples=40,
                    suppress_health_check=list(HealthCheck))

ASCII_NUMBER = re.compile(r"[0-9]+", re.ASCII)
#: Decimal digits of every script but ASCII: Arabic-Indic, fullwidth, Devanagari...
UNICODE_DIGIT = st.characters(categories=["Nd"]).filter(lambda c: c not in "0123456789")
ASCII_DIGITS = st.text(alphabet="0123456789", max_size=6)


@st.composite
def unicode_numbers(draw: st.DrawFn) -> str:
    """Digits that ``int()`` reads, with at least one that is not ASCII."""
    return draw(ASCII_DIGITS) + draw(UNICODE_DIGIT) + "".join(
        draw(st.lists(st.one_of(UNICODE_DIGIT, st.sampled_from("0123456789")), max_size=6)))


NOT_NUMBERS = st.one_of(
    unicode_numbers(),
    st.text(max_size=24),
    st.builds(lambda pre, digits, post: pre + digits + post,
              st.sampled_from(["", " ", "+", "-", "_", "\t", "0x", "\u00a0", "\u200b"]),
              st.text(alphabet="0123456789", min_size=1, max_size=8),
              st.sampled_from(["", " ", "_1", ".0", "e3", "\n", "\u0301", "L"])),
).filter(lambda text: not ASCII_NUMBER.fullmatch(text))

EXAMPLES = ["١٢٣٤٥٦", "１２３", "१२", "٣", "12\u0663", " 12", "12 ", "+12", "-1", "1_000",
            "", "0x1f", "1e3", "½", "²", "Ⅻ"]


# --- the parser -----------------------------------------------------------------------


@pytest.mark.parametrize("text", EXAMPLES)
def test_the_parser_refuses_what_int_accepts(text: str) -> None:
    with pytest.raises(NotANumber, match="digits 0-9"):
        parse_number(text)
    assert not is_ascii_digits(text)


def test_the_parser_reads_ascii_digits_within_bounds() -> None:
    assert parse_number("0") == 0
    assert parse_number("007", low=1) == 7
    assert parse_number(str(MAX_SQL_INT)) == MAX_SQL_INT
    with pytest.raises(NotANumber, match="between 1 and 10"):
        parse_number("11", low=1, high=10)
    with pytest.raises(NotANumber, match="between"):
        parse_number("9" * 5000)  # never handed to int(): no ValueError for huge input
    with pytest.raises(NotANumber, match="between 1 and"):
        parse_number("0", low=1)
    with pytest.raises(NotANumber):
        parse_number(None)


@FUZZ
@given(NOT_NUMBERS)
def test_anything_but_ascii_digits_is_refused_everywhere(text: str) -> None:
    with pytest.raises(NotANumber, match="must be a whole number written with the digits 0-9"):
        parse_number(text)
    with pytest.raises(InvalidInput, match="an item number is not valid"):
        forms.item_id(text)
    with pytest.raises(NotFound):
        id_field(text)
    urls = Map([Rule("/x/<id:n>", endpoint="x")], converters={"id": IdConverter}).bind("h")
    with pytest.raises(HTTPNotFound):
        urls.match("/x/" + quote(text, safe=""))


@FUZZ
@given(st.integers(min_value=0, max_value=MAX_SQL_INT), st.integers(min_value=0, max_value=3))
def test_ascii_digits_within_bounds_are_read(number: int, zeros: int) -> None:
    text = "0" * zeros + str(number)
    assert parse_number(text) == number
    if number:
        assert forms.item_id(text) == number
        urls = Map([Rule("/x/<id:n>", endpoint="x")], converters={"id": IdConverter}).bind("h")
        assert urls.match(f"/x/{text}") == ("x", {"n": number})


# --- the fields, one by one -------------------------------------------------------------


def test_totp_codes_in_other_scripts_match_nothing() -> None:
    secret = b"s" * 20
    code = totp_code(secret, 1_800_000_000)
    arabic = code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    fullwidth = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert match_totp(secret, code, now=1_800_000_000, last_step=-1) is not None
    for other in (arabic, fullwidth):
        assert int(other) == int(code)  # what int() would have let through
        assert match_totp(secret, other, now=1_800_000_000, last_step=-1) is None


def _cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")


@pytest.mark.parametrize("raw", [" 1.2", "1.+2", "1_0.2", "1.2 ", "-0.2", "1..2"])
def test_page_cursors_hold_ascii_digits_only(raw: str) -> None:
    assert decode_cursor(encode_cursor((5, 7)), "newest") == (5, 7)
    with pytest.raises(InvalidInput, match="malformed page cursor"):
        decode_cursor(_cursor_of(raw), "newest")


@pytest.mark.parametrize("number", ["١", "１", "१२", "٣٤"])
def test_the_reviewer_app_refuses_unicode_ids(site: ReviewerSite, client: FlaskClient,
                                              number: str) -> None:
    submitted = submit(site.services.instance, files={"a.pdf": b"%PDF"})
    path = f"/sources/{submitted.source_id}"
    assert client.get(path).status_code == 200
    assert client.get(f"/sources/{number}").status_code == 404
    assert client.get(f"{path}/items/{number}/download").status_code == 404
    assert client.get(f"{path}/zip?item={number}").status_code == 400
    assert client.get(f"/admin/audit?before={number}").status_code == 400
    response = client.post(f"{path}/seen", data={"csrf_token": csrf(client, path), "seen": "1",
                                                 "item": number})
    assert response.status_code == 400
    assert "an item number is not valid" in response.get_data(as_text=True)


@WEB_FUZZ
@given(number=unicode_numbers())
def test_no_unicode_number_reaches_a_reviewer_route(site: ReviewerSite, client: FlaskClient,
                                                    number: str) -> None:
    quoted = quote(number, safe="")
    if not site.services.inbox.sources().sources:
        submit(site.services.instance)  # source 1, whose routes parse the item numbers
    statuses = {
        "url id": client.get(f"/sources/{quoted}").status_code,
        "item id": client.get(f"/sources/1/items/{quoted}/export").status_code,
        "zip item": client.get(f"/sources/1/zip?item={quoted}").status_code,
        "cursor": client.get(f"/?after={quoted}").status_code,
        "audit page": client.get(f"/admin/audit?before={quoted}").status_code,
        "key id": client.post(f"/admin/keys/{quoted}/destroy",
                              data={"csrf_token": csrf(client, "/admin/keys"),
                                    "confirm": "yes"}).status_code,
        "setting": client.post("/admin/settings", data={
            "csrf_token": csrf(client, "/admin/settings"), "max_files": number}).status_code,
    }
    assert statuses == {"url id": 404, "item id": 404, "zip item": 400, "cursor": 400,
                        "audit page": 400, "key id": 404, "setting": 400}
