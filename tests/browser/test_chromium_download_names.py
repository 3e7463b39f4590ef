"""A real Chromium saves a download under exactly the name the inbox shows.

The response is the reviewer app's own ``Content-Disposition`` for a
filtered name (``tipbox.reviewer.downloads``), served through Playwright's
request routing (no server needed); the browser's suggested file name, after
its own sanitising, must be that name unchanged. Firefox/Tor Browser's rules
are modelled in ``tests/domain/test_file_names.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from playwright.sync_api import Browser, Page, Route

from tests.domain.test_file_names import file_names
from tipbox.reviewer.downloads import content_disposition
from tipbox.services.submissions.file_names import FileNameRefused, filter_file_name

REPORTED = [  # issue 11's names and their neighbours
    "Служебная записка о закупках " * 8 + "scan.pdf",
    "scan\u200f.pdf", "sc\u200ban.pdf", "sc\u00adan.pdf", "scan\U000e0001\U000e0065.pdf",
    "minutes 10:30.txt", "CON.txt", "lpt1", "report.pdf. ", "50% ~draft.txt",
    'q*u?o"t<e>|.txt', "a\u00a0\u3000 b.txt", "\u2764\ufe0f notes.txt", "Cafe\u0301.odt",
    "\u00e9" * 126 + ".docx", "x" * 255, "a." + "\u044f" * 200, "file\ue000.txt",
    "\u0646\u0627\u0645\u0647\u200c\u0647\u0627.pdf", "\U0001f469\u200d\U0001f4bb.png",
    "invoice.lnk", "x.{20D04FE0-3AEA-1069-A2D8-08002B30309D}", "Mr. Smith notes", "???", "-",
    "\u044f" * 122 + ".lnk-" + "y" * 8,
]


class Downloads:
    """One page whose link downloads a file named by :attr:`name`."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.name = "x"
        page.route("**/*", self._answer)
        page.goto("http://tipbox.invalid/")

    def _answer(self, route: Route) -> None:
        if route.request.url.endswith("/download"):
            route.fulfill(status=200, body=b"x", headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": content_disposition(self.name)})
        else:
            route.fulfill(status=200, content_type="text/html",
                          body='<a id="file" href="/download">file</a>')

    def saved_as(self, name: str) -> str:
        self.name = name
        with self.page.expect_download() as info:
            self.page.click("#file")
        return info.value.suggested_filename


@pytest.fixture(scope="module")
def downloads(chromium: Browser) -> Iterator[Downloads]:
    context = chromium.new_context(accept_downloads=True)
    try:
        yield Downloads(context.new_page())
    finally:
        context.close()


@pytest.mark.parametrize("name", REPORTED)
def test_reported_names_are_saved_as_shown(downloads: Downloads, name: str) -> None:
    shown = filter_file_name(name)
    assert downloads.saved_as(shown) == shown


@settings(max_examples=150, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(name=file_names())
def test_any_filtered_name_is_saved_as_shown(downloads: Downloads, name: str) -> None:
    try:
        shown = filter_file_name(name)
    except FileNameRefused:
        return
    assert downloads.saved_as(shown) == shown
