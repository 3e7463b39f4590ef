"""The notification preferences page: set, show, refuse a malformed address, CSRF, audit."""

from __future__ import annotations

from flask.testing import FlaskClient
from reviewer_kit import ReviewerSite, csrf_of

from tipbox.services.accounts.notifications import Preference

PAGE = "/account/notifications"


def _post(client: FlaskClient, **form: str) -> tuple[int, str]:
    token = csrf_of(client.get(PAGE).get_data(as_text=True))
    response = client.post(PAGE, data={"csrf_token": token, **form})
    return response.status_code, response.get_data(as_text=True)


def test_the_page_sets_and_shows_the_choice(site: ReviewerSite, client: FlaskClient) -> None:
    page = client.get(PAGE).get_data(as_text=True)
    assert 'value="none" checked' in page
    assert 'href="/account/notifications"' in page  # linked from the navigation
    status, page = _post(client, preference="assigned", email="admin@newsroom.example")
    assert status == 200
    assert "Your notification preferences were saved." in page
    page = client.get(PAGE).get_data(as_text=True)
    assert 'value="assigned" checked' in page
    assert 'value="admin@newsroom.example"' in page
    choice = site.services.notifications.of(
        next(a.id for a in site.services.admin.accounts.accounts() if a.username == "admin"))
    assert (choice.preference, choice.email) == (Preference.ASSIGNED, "admin@newsroom.example")
    actions = [e.action for e in site.services.audit.recent(5)]
    assert "notification preferences" in actions
    assert "admin@newsroom.example" not in str(site.services.audit.recent(5))


def test_a_malformed_address_is_refused_with_a_clear_error(client: FlaskClient) -> None:
    status, page = _post(client, preference="new_sources",
                         email="desk@newsroom.example\r\nBcc: spy@evil.example")
    assert status == 400
    assert "e-mail address" in page
    assert 'class="error"' in page
    assert 'value="new_sources" checked' in page  # what was chosen is kept on the page
    assert 'value="none" checked' in client.get(PAGE).get_data(as_text=True)  # nothing stored
    status, page = _post(client, preference="everything", email="")
    assert status == 400
    assert "notifications" in page


def test_the_form_needs_csrf_and_a_login(site: ReviewerSite, client: FlaskClient) -> None:
    response = client.post(PAGE, data={"preference": "new_sources", "email": ""})
    assert response.status_code == 400
    assert 'value="none" checked' in client.get(PAGE).get_data(as_text=True)
    anonymous = site.client()
    response = anonymous.get(PAGE)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login")
