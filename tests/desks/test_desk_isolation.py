"""Reviewers see only their desks' sources, and cannot decrypt another desk's, even offline."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from desk_kit import Desks, Person, csrf, logged_in, send
from flask import url_for

from tests.conftest import database_env_of
from tests.reviewer.reviewer_kit import ReviewerSite, make_settings
from tipbox.crypto import DecryptionError, decrypt_detached
from tipbox.services.accounts.reviewers import Reviewers
from tipbox.services.accounts.totp import totp_code
from tipbox.services.custody.keyring import Keyring
from tipbox.services.desks.desks import DEFAULT_DESK
from tipbox.services.ops.notify import Preference, notify_if_due
from tipbox.store.blobs import BlobDir
from tipbox.store.db import open_database

SECRET = "the colonel signed the order"


def test_a_member_of_desk_a_with_a_copy_of_the_data_cannot_decrypt_desk_b(
    site: ReviewerSite, desks: Desks, tmp_path: Path
) -> None:
    """Alice (newsroom desk) copies the data directory and uses her own password."""
    instance = site.services.instance
    send(instance, desks.legal.id, SECRET, files={"order.pdf": b"%PDF order 17" * 100},
         answers={1: "Defence"})
    send(instance, DEFAULT_DESK, "for the newsroom")
    copy = tmp_path / "stolen"
    shutil.copytree(instance.settings.data_dir, copy / "data")
    shutil.copytree(instance.settings.keys_dir, copy / "keys")
    settings = make_settings(copy, **database_env_of(instance.settings))  # PostgreSQL: the same
    database = open_database(settings)
    try:
        reviewers = Reviewers(database, params=settings.password_argon2, throttle_key=b"k" * 32)
        unlocked = reviewers.unlock("alice", desks.alice.password)
        held = Keyring(database).open_identities(unlocked.identity)
        assert held  # she holds the newsroom desk's key...
        with database.reading() as conn:
            rows = conn.execute(
                "SELECT i.header, i.blob, k.desk_id FROM items i"
                " JOIN newsroom_keys k ON k.id = i.key_id").fetchall()
    finally:
        database.close()
    blobs = BlobDir(settings.blobs_dir, min_free_bytes=0)
    opened = {DEFAULT_DESK: 0, desks.legal.id: 0}
    refused = {DEFAULT_DESK: 0, desks.legal.id: 0}
    for header, blob, desk_id in rows:
        with blobs.open_blob(blob) as payload:
            try:
                b"".join(decrypt_detached(held, bytes(header), payload))
                opened[desk_id] += 1
            except DecryptionError:
                refused[desk_id] += 1
    assert opened == {DEFAULT_DESK: 1, desks.legal.id: 0}  # ...and none of the legal desk's
    assert refused[desks.legal.id] == 3  # message, file, manifest with the answers


def test_the_inbox_api_and_search_list_only_the_reviewers_desks(
    site: ReviewerSite, desks: Desks
) -> None:
    instance = site.services.instance
    _, legal_source = send(instance, desks.legal.id, SECRET, answers={1: "Defence"})
    _, newsroom_source = send(instance, DEFAULT_DESK, "for the newsroom")
    alice, lena = logged_in(site, desks.alice), logged_in(site, desks.lena)
    listed_by_alice = alice.get("/").get_data(as_text=True)
    listed_by_lena = lena.get("/").get_data(as_text=True)
    designation = {sid: site.services.inbox.source(sid).designation
                   for sid in (legal_source, newsroom_source)}
    assert designation[newsroom_source] in listed_by_alice
    assert designation[legal_source] not in listed_by_alice
    assert designation[legal_source] in listed_by_lena
    assert designation[newsroom_source] not in listed_by_lena
    assert designation[legal_source] not in alice.get("/?q=colonel").get_data(as_text=True)
    assert designation[legal_source] in lena.get("/?q=colonel").get_data(as_text=True)


def test_every_route_about_another_desks_source_answers_404(
    site: ReviewerSite, desks: Desks
) -> None:
    """The class: every rule with a source or item id, for the pages and the JSON API."""
    instance = site.services.instance
    _, source_id = send(instance, desks.legal.id, SECRET, files={"a.pdf": b"%PDF"},
                        answers={1: "Defence"})
    item_id = site.services.inbox.conversation(source_id, [], reviewer="t").entries[0].id
    alice = logged_in(site, desks.alice)
    token = csrf(alice, "/")
    api_token = _api_token(site, desks.alice)
    checked = 0
    with site.app.test_request_context():
        for rule in site.app.url_map.iter_rules():
            if not {"source_id", "item_id"} & set(rule.arguments):
                continue
            values = {"source_id": source_id, "item_id": item_id}
            url = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                headers = {"Authorization": f"Bearer {api_token}"}
                response = alice.open(url, method=method, headers=headers,
                                      data={"csrf_token": token, "confirm": "yes", "desk": "1"})
                assert response.status_code == 404, (rule.endpoint, method, response.status_code)
                checked += 1
    assert checked >= 20
    assert site.services.inbox.source(source_id).items == 2  # nothing changed, nothing deleted


def _api_token(site: ReviewerSite, person: Person) -> str:
    """A bearer token of the JSON API for ``person``."""
    site.clock.step()
    response = site.client().post("/api/v1/token", json={
        "username": person.username, "password": person.password,
        "code": totp_code(person.totp_secret, site.clock.now)})
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_json()["token"])


def test_bulk_actions_refuse_another_desks_source(site: ReviewerSite, desks: Desks) -> None:
    instance = site.services.instance
    _, legal_source = send(instance, desks.legal.id, SECRET)
    _, own = send(instance, DEFAULT_DESK, "mine")
    alice = logged_in(site, desks.alice)
    for action in ("star", "delete", "zip", "read"):
        response = alice.post("/bulk", data={"csrf_token": csrf(alice, "/"), "action": action,
                                             "source": [str(own), str(legal_source)],
                                             "confirm": "yes"})
        assert response.status_code == 404, action
    assert site.services.inbox.source(legal_source).items == 1
    assert not site.services.inbox.source(own).starred


def test_assigning_a_non_member_is_refused(site: ReviewerSite, desks: Desks) -> None:
    instance = site.services.instance
    _, legal_source = send(instance, desks.legal.id, SECRET)
    lena = logged_in(site, desks.lena)
    path = f"/sources/{legal_source}"
    refused = lena.post(f"{path}/assignees", data={"csrf_token": csrf(lena, path),
                                                   "reviewer": "alice"})
    assert refused.status_code == 400
    assert "not a member" in refused.get_data(as_text=True)
    taken = lena.post(f"{path}/assignees", data={"csrf_token": csrf(lena, path),
                                                 "reviewer": "lena"})
    assert taken.status_code == 303
    assert site.services.inbox.source(legal_source).assignees == ("lena",)


def test_notices_follow_the_desks(site: ReviewerSite, desks: Desks) -> None:
    instance = site.services.instance
    for person in (desks.alice, desks.lena):
        account = site.services.reviewers.by_username(person.username)
        site.services.notifications.choose(account.id, Preference.NEW_SOURCES.value,
                                           f"{person.username}@example.org", by=person.username)
    send(instance, desks.legal.id, SECRET)
    told: list[str] = []

    class Recorder:
        def deliver(self, to: list[str], period_start: int) -> None:
            told.extend(to)

    settings = replace(instance.settings,
                       notify=replace(instance.settings.notify, to=("desk@example.org",)))
    notify_if_due(settings, channel=Recorder(), now=lambda: 7 * 3600.0)
    assert "lena@example.org" in told
    assert "alice@example.org" not in told
