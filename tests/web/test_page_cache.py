"""The landing page cache: per language and inputs, short-lived, bounded."""

from __future__ import annotations

from flask.testing import FlaskClient

from tipbox.web.page_cache import PageCache


def test_a_page_is_rendered_once_per_key_until_it_is_too_old() -> None:
    clock = [0.0]
    renders: list[str] = []
    cache = PageCache(max_entries=2, max_age=2.0, clock=lambda: clock[0])

    def render(text: str) -> str:
        renders.append(text)
        return text

    assert cache.get("en", lambda: render("en page")) == "en page"
    assert cache.get("en", lambda: render("again")) == "en page"
    assert cache.get("be", lambda: render("be page")) == "be page"
    clock[0] = 2.5
    assert cache.get("en", lambda: render("en fresh")) == "en fresh"
    cache.get("ru", lambda: render("ru page"))
    cache.get("uk", lambda: render("uk page"))  # evicts the least recently used
    assert cache.get("en", lambda: render("en evicted")) == "en evicted"
    assert renders == ["en page", "be page", "en fresh", "ru page", "uk page", "en evicted"]


def test_cached_landing_pages_follow_the_language_and_set_no_cookie(
    client: FlaskClient,
) -> None:
    english = client.get("/").get_data(as_text=True)
    assert client.get("/").get_data(as_text=True) == english
    polish = client.get("/", headers={"Accept-Language": "pl"})
    assert 'lang="pl"' in polish.get_data(as_text=True)
    assert 'lang="en"' in client.get("/").get_data(as_text=True)
    assert polish.headers.get("Set-Cookie") is None
