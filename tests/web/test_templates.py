"""Source pages work without JavaScript and load nothing from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STATIC = Path(__file__).resolve().parents[2] / "tipbox" / "static"
SHARED = [*TEMPLATES.glob("*.html"), *TEMPLATES.glob("source/*.html"),
          *TEMPLATES.glob("errors/*.html")]


def test_there_are_templates() -> None:
    assert len(SHARED) > 15


@pytest.mark.parametrize("path", SHARED, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_script_no_external_resource(path: Path) -> None:
    text = path.read_text("utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"\bon[a-z]+\s*=", text), "inline event handler"
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", text)
    assert "style=" not in text, "inline styles are blocked by the CSP"


def test_base_declares_language_and_charset() -> None:
    base = (TEMPLATES / "base.html").read_text("utf-8")
    # The language and direction come from the request's locale (issue 8, tests/i18n).
    assert '<html lang="{{ html_lang }}" dir="{{ text_direction }}">' in base
    assert '<meta charset="utf-8">' in base


@pytest.mark.parametrize("path", [p for p in SHARED if "<input" in p.read_text("utf-8")],
                         ids=lambda p: p.name)
def test_visible_inputs_have_labels(path: Path) -> None:
    text = path.read_text("utf-8")
    for match in re.finditer(r"<(input|textarea)\b([^>]*)>", text):
        attributes = match.group(2)
        if 'type="hidden"' in attributes:
            continue
        field_id = re.search(r'id="([^"]+)"', attributes)
        assert field_id is not None, match.group(0)
        assert f'for="{field_id.group(1)}"' in text


def test_css_loads_nothing_external() -> None:
    for css in STATIC.glob("*.css"):
        text = css.read_text("utf-8")
        assert "url(" not in text
        assert "@import" not in text
