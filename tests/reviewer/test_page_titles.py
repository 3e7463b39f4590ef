"""Every reviewer and admin page has a plain-text title (a template block cannot leak into it)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from reviewer_kit import ReviewerSite

PAGES = ["/", "/account/password", "/account/notifications", "/admin/reviewers", "/admin/keys",
         "/admin/settings", "/admin/retention", "/admin/audit"]


@pytest.mark.parametrize("path", PAGES)
def test_the_title_is_plain_text(site: ReviewerSite, client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, path
    page = response.get_data(as_text=True)
    titles = re.findall(r"<title>(.*?)</title>", page, re.DOTALL)
    assert len(titles) == 1, path
    assert "<" not in titles[0], (path, titles[0][:200])
    assert len(titles[0]) < 120, path
