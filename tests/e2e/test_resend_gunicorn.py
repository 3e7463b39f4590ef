"""The same form sent again to a real gunicorn (two workers): one source, one receipt."""

from __future__ import annotations

import re

from tests.e2e.conftest import Served
from tests.servers import count_rows

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_CODENAME = re.compile(r'<p class="codename" lang="en"><strong>([a-z\- ]+)</strong></p>')


def test_resending_the_form_to_either_worker_makes_one_source(served: Served) -> None:
    browser = served.browser()
    status, page = browser.request("GET", "/submit")
    assert status == 200
    csrf, token = _CSRF.search(page), _FORM_TOKEN.search(page)
    assert csrf is not None
    assert token is not None
    body, headers = browser.multipart(
        [("csrf_token", csrf.group(1)), ("form_token", token.group(1)), ("message", "once")],
        [("evidence.txt", b"only once\n")])
    # Back and resend, many times: each answer's cookie says the form was sent,
    # whichever worker reads it.
    answers = [browser.request("POST", "/submit", body, headers)[0] for _ in range(6)]
    assert answers == [303] * 6
    assert count_rows(served.settings, "sources") == 1
    assert count_rows(served.settings, "submissions") == 1
    status, receipt = browser.request("GET", "/submit/receipt")
    assert status == 200
    assert _CODENAME.search(receipt) is not None
    assert "evidence.txt" in receipt
    status, again = browser.request("GET", "/submit/receipt")
    assert "already shown" in again
    assert _CODENAME.search(again) is None
