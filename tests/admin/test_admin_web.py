"""The admin pages of the reviewer app, through the test client."""

from __future__ import annotations

import re
import time

from admin_kit import (
    Site,
    item_rows,
    let_a_day_pass,
    one_time_password_of,
    secret_of,
    source_id,
    submit,
    web_enrol,
)
from flask.testing import FlaskClient

from tipbox.reviewer.admin.tasks import PeriodicPurge
from tipbox.services.audit import Audit
from tipbox.services.instance_settings import SettingsStore
from tipbox.services.ops.retention import DAY_SECONDS
from tipbox.services.wiring import AdminServices, open_instance
from tipbox.store.desks import DEFAULT_DESK


def _admin_services(site: Site) -> AdminServices:
    return AdminServices.open(site.services.instance, site.services.reviewers)


def _text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def test_the_admin_link_shows_for_admins_only(site: Site, client: FlaskClient) -> None:
    assert 'href="/admin/"' in _text(client.get("/"))
    assert client.get("/admin/").headers["Location"].endswith("/admin/reviewers")
    _, enrolment = site.services.reviewers.create("ivy")
    other = site.client()
    ivy = web_enrol(site.clock, other, "ivy", enrolment.password, "ivy's long password!")
    site.log_in(other, ivy)
    assert 'href="/admin/"' not in _text(other.get("/"))
    assert other.get("/admin/keys").status_code == 403


def test_add_a_reviewer_shows_the_credentials_once_and_grants_keys(
    site: Site, client: FlaskClient,
) -> None:
    response = site.post(client, "/admin/reviewers", username="Jane", is_admin="1")
    assert response.status_code == 200
    page = _text(response)
    one_time, secret = one_time_password_of(page), secret_of(page)
    assert "<svg" in page
    jane = site.services.reviewers.by_username("jane")
    assert jane.is_admin
    assert _admin_services(site).accounts.get(jane.id).grants == 1
    assert one_time not in _text(client.get("/admin/reviewers"))
    person = web_enrol(site.clock, site.client(), "jane", one_time, "jane's long password")
    assert person.totp_secret == secret
    bad = site.post(client, "/admin/reviewers", username="no spaces allowed")
    assert bad.status_code == 400


def test_disable_delete_and_the_last_admin(site: Site, client: FlaskClient) -> None:
    _, _ = site.services.reviewers.create("kim")
    kim = site.services.reviewers.by_username("kim")
    admin_id = site.services.reviewers.by_username("admin").id

    disabled = site.post(client, f"/admin/reviewers/{kim.id}/disable")
    assert disabled.status_code == 200
    assert "Rotate the newsroom key now" in _text(disabled)
    assert _admin_services(site).accounts.get(kim.id).disabled
    assert site.post(client, f"/admin/reviewers/{kim.id}/enable").status_code == 200
    assert not _admin_services(site).accounts.get(kim.id).disabled

    unconfirmed = site.post(client, f"/admin/reviewers/{kim.id}/delete")
    assert unconfirmed.status_code == 400
    deleted = site.post(client, f"/admin/reviewers/{kim.id}/delete", confirm="yes")
    assert "kim is deleted" in _text(deleted)

    for action, data in (("delete", {"confirm": "yes"}), ("disable", {}),
                         ("admin", {"admin": "0"})):
        refused = site.post(client, f"/admin/reviewers/{admin_id}/{action}", **data)
        assert refused.status_code == 400, action
        assert "last admin" in _text(refused)
    assert site.post(client, f"/admin/reviewers/{admin_id}/explode").status_code == 404


def test_reset_shows_new_credentials(site: Site, client: FlaskClient) -> None:
    site.services.reviewers.create("lee")
    lee = site.services.reviewers.by_username("lee")
    response = site.post(client, f"/admin/reviewers/{lee.id}/reset-2fa")
    assert response.status_code == 200
    one_time = one_time_password_of(_text(response))
    assert site.services.reviewers.by_username("lee").recipient != lee.recipient
    web_enrol(site.clock, site.client(), "lee", one_time, "lee's long new password")


def test_rotate_rewrap_destroy_from_the_keys_page(site: Site, client: FlaskClient) -> None:
    instance = site.services.instance
    before = submit(instance, "before the rotation")
    old = instance.keyring.active_key(DEFAULT_DESK)
    page = _text(client.get("/admin/keys"))
    assert old.fingerprint in page
    assert "active" in page

    asked = site.post(client, "/admin/keys/rotate", "/admin/keys")
    assert asked.status_code == 200
    assert instance.keyring.active_key(DEFAULT_DESK).id == old.id  # nothing changes before "yes"
    for shown in (old.fingerprint, "publish the new fingerprint and withdraw the old one"):
        assert shown in _text(asked)
    rotated = site.post(client, "/admin/keys/rotate", "/admin/keys", confirm="yes")
    assert rotated.status_code == 200
    new = instance.keyring.active_key(DEFAULT_DESK)
    assert new.id != old.id
    assert "Publish the new fingerprint" in _text(rotated)
    assert new.fingerprint in _text(rotated)
    assert "1 item is still on retired keys" in _text(rotated)
    after = submit(instance, "after the rotation")

    rewrapped = site.post(client, "/admin/keys/rewrap", "/admin/keys")
    assert "1 of 2 items" not in _text(rewrapped)
    done = "2 of 2 items are on the active key. 0 items are still on retired keys"
    assert done in _text(rewrapped)
    refused = site.post(client, f"/admin/keys/{new.id}/destroy", "/admin/keys", confirm="yes")
    assert refused.status_code == 400
    let_a_day_pass(instance)
    destroyed = site.post(client, f"/admin/keys/{old.id}/destroy", "/admin/keys", confirm="yes")
    assert destroyed.status_code == 200
    every_key = instance.keyring.keys()
    assert [k.state for k in every_key] == ["active", "destroyed"]
    # The admin's session received the new key at the rotation: both messages open.
    for receipt, text in ((before, "before the rotation"), (after, "after the rotation")):
        with instance.store.db.connection() as conn:
            source_id = conn.execute("SELECT id FROM sources WHERE designation = ?",
                                     (receipt.designation,)).fetchone()[0]
        assert text in _text(client.get(f"/sources/{source_id}"))


def test_retention_settings_and_audit_pages(site: Site, client: FlaskClient) -> None:
    assert "Retention is off" in _text(client.get("/admin/retention"))
    saved = site.post(client, "/admin/settings", "/admin/settings", organisation="The Daily",
                      landing_text="Hello", max_upload_bytes="1000000", max_files="3",
                      max_message_chars="1000", session_idle_seconds="600",
                      session_absolute_seconds="3600", retention_days="30")
    assert saved.status_code == 200
    assert "Settings saved" in _text(saved)
    instance = site.services.instance
    store = SettingsStore(instance.store.db, instance.settings, audit=Audit(instance.store.db))
    assert store.current().max_files == 3
    too_many = site.post(client, "/admin/settings", "/admin/settings", max_files="100000")
    assert too_many.status_code == 400
    assert store.current().max_files == 3
    preview = _text(client.get("/admin/retention"))
    assert "30 days" in preview
    assert "0 items" in preview
    purged = site.post(client, "/admin/retention/purge", "/admin/retention")
    assert "Removed 0 items and 0 sources." in _text(purged)

    log = _text(client.get("/admin/audit"))
    assert "change settings" in log
    assert "login" in log
    only = _text(client.get("/admin/audit?action=change+settings&reviewer=admin"))
    rows = re.findall(r"<tr>\s*<td>", only)
    assert len(rows) == 1
    assert client.get("/admin/audit?before=abc").status_code == 400


def test_the_reviewer_app_purges_expired_items_periodically(site: Site) -> None:
    instance = site.services.instance
    instance.instance_settings.update({"retention_days": "30"})
    past = open_instance(instance.settings, now=lambda: time.time() - 40 * DAY_SECONDS)
    try:
        submit(past, "an old tip", codename=False)
    finally:
        past.close()
    submit(instance, "a new tip", codename=False)
    task = PeriodicPurge(interval=3600)
    with site.app.test_request_context("/login"):
        task()
        assert len(item_rows(instance)) == 1
        submit(instance, "another new one", codename=False)
        task()  # within the interval: nothing runs
    assert len(item_rows(instance)) == 2
    entries = Audit(instance.store.db).page(action="purge").entries
    assert [entry.target for entry in entries] == ["1 items"]


def test_a_refused_new_account_shows_its_error_in_the_add_form(site: Site,
                                                               client: FlaskClient) -> None:
    refused = site.post(client, "/admin/reviewers", username="no spaces allowed")
    assert refused.status_code == 400
    page = _text(refused)
    error = page.index('class="error"')
    opened = page.rindex("<form ", 0, error)
    assert opened == page.index('<form method="post" action="/admin/reviewers"')
    assert "</form>" not in page[opened:error]


def test_after_a_web_rotation_the_admin_still_takes_later_grants(
    site: Site, client: FlaskClient
) -> None:
    """The admin's session is replaced after its own rotation: it keeps the admin's identity."""
    instance = site.services.instance
    site.post(client, "/admin/keys/rotate", "/admin/keys", confirm="yes")
    site.services.admin.rotation.rotate()  # another admin, or the command line, rotates again
    sent = submit(instance, "sent after the second rotation")
    page = _text(client.get(f"/sources/{source_id(instance, sent.designation)}"))
    assert "sent after the second rotation" in page
