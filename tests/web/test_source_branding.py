"""The newsroom's voice on the source pages: its name, its logo, its landing text per language."""

from __future__ import annotations

import io
import re

from flask.testing import FlaskClient
from PIL import Image

from tests.web.conftest import SourceSite

UKRAINIAN = {"Accept-Language": "uk"}


def _text(client: FlaskClient, path: str, **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def _header(page: str) -> str:
    match = re.search(r'<header class="site">(.*?)</header>', page, re.S)
    assert match is not None
    return match.group(1)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 10), (0, 90, 200)).save(out, format="PNG")
    return out.getvalue()


def test_header_and_title_fall_back_to_secure_tip_box(client: FlaskClient) -> None:
    for path in ("/", "/submit", "/login"):
        page = _text(client, path)
        assert re.search(r"<title>[^<]* · Secure tip box</title>", page)
        assert "Secure tip box" in _header(page)
        assert "<img" not in _header(page)


def test_header_and_title_show_the_organisation(site: SourceSite, client: FlaskClient) -> None:
    site.instance.instance_settings.update({"organisation": "Kyiv <Ledger>"})
    for path in ("/", "/submit", "/login", "/no-such-page"):
        page = client.get(path).get_data(as_text=True)
        assert "· Kyiv &lt;Ledger&gt;</title>" in page, path
        assert "Kyiv &lt;Ledger&gt;" in _header(page), path
        assert "Secure tip box" not in page, path


def test_the_logo_is_in_the_header_and_served_from_this_origin(
    site: SourceSite, client: FlaskClient
) -> None:
    assert client.get("/logo.png").status_code == 404
    settings = site.instance.instance_settings
    settings.update({"organisation": "The Daily"})
    settings.set_logo(_png())
    header = _header(_text(client, "/"))
    match = re.search(r'<img src="(/logo\.png\?v=[0-9a-f]{16})" alt="The Daily"', header)
    assert match is not None, header
    served = client.get(match.group(1))
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Cache-Control"] == "no-store"
    assert "img-src 'self'" in served.headers["Content-Security-Policy"]
    assert served.data == settings.logo_png()
    settings.remove_logo()
    assert client.get("/logo.png").status_code == 404
    assert "<img" not in _header(_text(client, "/"))


def test_the_landing_text_follows_the_language(site: SourceSite, client: FlaskClient) -> None:
    settings = site.instance.instance_settings
    settings.update({"landing_text": "Write to us in English.",
                     "landing_text_uk": "Пишіть нам українською."})
    ukrainian = _text(client, "/", **UKRAINIAN)
    assert "Пишіть нам українською." in ukrainian
    assert "Write to us in English." not in ukrainian
    assert "Write to us in English." in _text(client, "/")
    polish = _text(client, "/", **{"Accept-Language": "pl"})
    assert "Write to us in English." in polish  # no Polish text: the default one


def test_an_empty_language_text_falls_back_to_the_default(
    site: SourceSite, client: FlaskClient
) -> None:
    settings = site.instance.instance_settings
    settings.update({"landing_text": "Default words.", "landing_text_uk": "Слова."})
    settings.update({"landing_text_uk": "  "})
    assert "Default words." in _text(client, "/", **UKRAINIAN)
