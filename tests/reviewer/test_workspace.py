"""The journalists' workspace (issue 13): triage, notes, filters, bulk actions, reply records."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from reviewer_kit import Person, ReviewerSite, Submitted, csrf_of, login, submit

from tipbox.crypto import DecryptionError, decrypt_detached, parse_identity
from tipbox.errors import InvalidInput, NotFound
from tipbox.services.inbox.triage import Filters, check_label
from tipbox.services.instance import InitResult
from tipbox.services.wiring import Instance, ReviewerServices

NOTE = "our contact at the ministry confirms the dates"


def _ids(services: ReviewerServices, filters: Filters, **kwargs: object) -> list[int]:
    chosen = services.triage.resolve(filters)
    return [s.id for s in services.inbox.sources(chosen=chosen, **kwargs).sources]  # type: ignore[arg-type]


# -- services --------------------------------------------------------------------------


def test_status_labels_and_assignment_filter_the_list(
    instance: Instance, services: ReviewerServices, admin: Person
) -> None:
    first, second, third = (submit(instance, f"tip {n}") for n in range(3))
    triage = services.triage
    triage.set_status([first.source_id, second.source_id], "in_progress", by="admin")
    triage.add_label([second.source_id, third.source_id], "Urgent", by="admin")
    triage.assign([third.source_id], "admin", by="admin")
    assert _ids(services, Filters(status="in_progress")) == [second.source_id, first.source_id]
    assert _ids(services, Filters(label="urgent")) == [third.source_id, second.source_id]
    assert _ids(services, Filters(assignee="admin")) == [third.source_id]
    assert _ids(services, Filters(label="unknown label")) == []
    assert _ids(services, Filters(status="new", label="Urgent")) == [third.source_id]
    summary = services.inbox.source(third.source_id)
    assert (summary.status, summary.labels, summary.assignees) == ("new", ("Urgent",), ("admin",))
    triage.remove_label([third.source_id], "URGENT", by="admin")
    triage.unassign([third.source_id], "admin", by="admin")
    assert services.inbox.source(third.source_id).labels == ()
    assert _ids(services, Filters(assignee="admin")) == []
    assert [label.name for label in triage.labels()] == ["Urgent"]


def test_unread_files_star_and_hours_filter_the_list(
    instance: Instance, services: ReviewerServices
) -> None:
    with_file = submit(instance, "with a file", files={"a.pdf": b"%PDF"})
    plain = submit(instance, "no file")
    services.inbox.set_seen(plain.source_id, None, seen=True)
    services.inbox.set_starred(with_file.source_id, starred=True)
    assert _ids(services, Filters(has_files=True)) == [with_file.source_id]
    assert _ids(services, Filters(has_files=False)) == [plain.source_id]
    assert _ids(services, Filters(unread=True)) == [with_file.source_id]
    assert _ids(services, Filters(unread=False)) == [plain.source_id]
    assert _ids(services, Filters(starred=True)) == [with_file.source_id]
    hour = services.inbox.source(plain.source_id).last_activity_hour
    assert set(_ids(services, Filters(from_hour=hour, to_hour=hour))) == {
        plain.source_id, with_file.source_id}
    assert _ids(services, Filters(from_hour=hour + 3600)) == []


def test_newest_first_orders_activity_within_one_hour(
    instance: Instance, services: ReviewerServices
) -> None:
    first, second = submit(instance, "first"), submit(instance, "second")
    assert _ids(services, Filters(), order="newest") == [second.source_id, first.source_id]
    draft = instance.submissions.start(instance.sources.login(first.codename))
    draft.add_message("first again")
    draft.commit()
    assert _ids(services, Filters(), order="newest") == [first.source_id, second.source_id]
    same_hour = {services.inbox.source(s).last_activity_hour for s in
                 (first.source_id, second.source_id)}
    assert len(same_hour) == 1  # the order came from the sequence, not the time


def test_changes_refuse_unknown_sources_and_bad_names_and_change_nothing(
    instance: Instance, services: ReviewerServices, admin: Person
) -> None:
    tip = submit(instance)
    triage = services.triage
    with pytest.raises(NotFound):
        triage.set_status([tip.source_id, 999], "closed", by="admin")
    assert services.inbox.source(tip.source_id).status == "new"
    with pytest.raises(InvalidInput):
        triage.set_status([tip.source_id], "archived", by="admin")
    with pytest.raises(InvalidInput):
        triage.add_label([tip.source_id], "   ", by="admin")
    with pytest.raises(InvalidInput):
        triage.add_label([tip.source_id], "x" * 41, by="admin")
    with pytest.raises(InvalidInput):
        triage.add_label([tip.source_id], "tab\there", by="admin")
    with pytest.raises(NotFound):
        triage.assign([tip.source_id], "nobody", by="admin")
    with pytest.raises(NotFound):
        triage.remove_label([tip.source_id], "never made", by="admin")
    with pytest.raises(InvalidInput):
        triage.set_status([], "closed", by="admin")
    assert triage.labels() == []


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60))
def test_a_label_is_accepted_exactly_when_it_is_short_printable_and_not_blank(name: str) -> None:
    try:
        cleaned = check_label(name)
    except InvalidInput:
        return
    assert 0 < len(cleaned) <= 40
    assert cleaned == cleaned.strip()
    assert all(char.isprintable() or char == " " for char in cleaned)


def test_every_triage_change_is_audited_per_source(
    instance: Instance, services: ReviewerServices, admin: Person
) -> None:
    one, two = submit(instance), submit(instance)
    services.triage.add_label([one.source_id, two.source_id], "verify", by="admin")
    rows = [r for r in services.audit.recent() if r.action == "label"]
    assert sorted(r.designation for r in rows) == sorted([one.designation, two.designation])
    assert {(r.reviewer, r.target) for r in rows} == {("admin", "verify")}


def test_notes_are_encrypted_to_the_newsroom_and_shown_with_their_author(
    instance: Instance, services: ReviewerServices, admin: Person
) -> None:
    tip = submit(instance)
    note_id = services.notes.add(tip.source_id, NOTE, author="admin")
    with instance.store.db.connection() as conn:
        row = conn.execute("SELECT header, blob, kind FROM items WHERE id = ?",
                           (note_id,)).fetchone()
    assert row["kind"] == "note"
    assert NOTE.encode() not in bytes(row["header"])
    source = instance.sources.login(tip.codename)
    with instance.store.blobs.open_blob(row["blob"]) as payload, pytest.raises(DecryptionError):
        b"".join(decrypt_detached([source.identity], row["header"], payload))
    assert instance.sources.replies(source) == []  # never shown to the source
    _, session = login(services, admin)
    entries = services.inbox.conversation(tip.source_id, session.identities(),
                                          reviewer="admin").entries
    note = next(e for e in entries if e.id == note_id)
    assert (note.kind, note.text, note.author) == ("note", NOTE, "admin")
    assert services.inbox.source(tip.source_id).items == 1  # notes are not the source's items
    with pytest.raises(NotFound):
        services.notes.add(999, NOTE, author="admin")
    with pytest.raises(InvalidInput):
        services.notes.add(tip.source_id, " ", author="admin")


# -- web -------------------------------------------------------------------------------


def _page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_a_desk_triages_from_the_source_page(site: ReviewerSite, client: FlaskClient) -> None:
    tip = submit(site.services.instance)
    path = f"/sources/{tip.source_id}"
    page = _page(client, path)
    assert "stored unencrypted" in page  # said where labels are typed
    token = csrf_of(page)
    for url, data in (
        (f"{path}/status", {"status": "waiting"}),
        (f"{path}/labels", {"label": "legal review"}),
        (f"{path}/assignees", {"reviewer": "admin"}),
        (f"{path}/notes", {"note": NOTE}),
    ):
        response = client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 303, (url, response.get_data(as_text=True)[:500])
    page = _page(client, path)
    assert "legal review" in page
    assert NOTE in page
    assert "Internal note by admin" in page
    assert "waiting for the source" in page
    listed = _page(client, "/?assignee=me&status=waiting&label=legal+review")
    assert tip.designation in listed
    assert tip.designation not in _page(client, "/?status=closed")


def test_refused_triage_says_why_on_the_page(site: ReviewerSite, client: FlaskClient) -> None:
    tip = submit(site.services.instance)
    path = f"/sources/{tip.source_id}"
    token = csrf_of(_page(client, path))
    response = client.post(f"{path}/labels", data={"csrf_token": token, "label": "x" * 41})
    assert response.status_code == 400
    assert "a label has at most 40 characters" in response.get_data(as_text=True)
    response = client.post(f"{path}/status", data={"csrf_token": token, "status": "gone"})
    assert response.status_code == 400
    response = client.post(f"{path}/assignees", data={"csrf_token": token, "reviewer": "zed"})
    assert response.status_code == 404
    for bad in ("status=lost", "starred=maybe", "from=yesterday", "label=" + "x" * 300):
        response = client.get(f"/?{bad}")
        assert response.status_code == 400, bad
        assert "Sources" in response.get_data(as_text=True)


def test_bulk_actions_and_a_confirmed_bulk_delete(
    site: ReviewerSite, client: FlaskClient
) -> None:
    tips = [submit(site.services.instance, f"tip {n}") for n in range(3)]
    token = csrf_of(_page(client, "/"))
    picked = [str(t.source_id) for t in tips[:2]]
    for action, value in (("status", "closed"), ("label", "batch"), ("assign", "admin"),
                          ("read", ""), ("star", "")):
        response = client.post("/bulk", data={"csrf_token": token, "action": action,
                                              "value": value, "source": picked})
        assert response.status_code == 303, (action, response.get_data(as_text=True)[:500])
    inbox = site.services.inbox
    for tip in tips[:2]:
        summary = inbox.source(tip.source_id)
        assert (summary.status, summary.labels, summary.assignees, summary.unread,
                summary.starred) == ("closed", ("batch",), ("admin",), 0, True)
    assert inbox.source(tips[2].source_id).status == "new"
    asked = client.post("/bulk", data={"csrf_token": token, "action": "delete",
                                       "source": picked})
    assert asked.status_code == 200
    confirm_page = asked.get_data(as_text=True)
    assert tips[0].designation in confirm_page
    assert "cannot be undone" in confirm_page
    inbox.source(tips[0].source_id)  # nothing deleted yet
    done = client.post("/bulk", data={"csrf_token": csrf_of(confirm_page), "action": "delete",
                                      "confirm": "yes", "source": picked})
    assert done.status_code == 303
    for tip in tips[:2]:
        with pytest.raises(NotFound):
            inbox.source(tip.source_id)
    assert inbox.source(tips[2].source_id)


def test_bulk_refusals_change_nothing(site: ReviewerSite, client: FlaskClient) -> None:
    tip = submit(site.services.instance)
    token = csrf_of(_page(client, "/"))
    for data, status in (
        ({"action": "status", "value": "closed"}, 400),  # nothing selected
        ({"action": "explode", "source": [str(tip.source_id)]}, 400),
        ({"action": "status", "value": "closed", "source": [str(tip.source_id), "99999"]}, 404),
        ({"action": "status", "value": "closed", "source": ["1x"]}, 400),
        ({"action": "label", "value": "", "source": [str(tip.source_id)]}, 400),
    ):
        response = client.post("/bulk", data={"csrf_token": token, **data})
        assert response.status_code == status, data
    assert site.services.inbox.source(tip.source_id).status == "new"


def test_bulk_redirects_only_within_the_app(site: ReviewerSite, client: FlaskClient) -> None:
    tip = submit(site.services.instance)
    token = csrf_of(_page(client, "/"))
    for back, expected in (("/?status=new", "/?status=new"), ("//evil.example/", "/"),
                           ("https://evil.example/", "/"), ("/\\evil", "/")):
        response = client.post("/bulk", data={"csrf_token": token, "action": "star",
                                              "source": [str(tip.source_id)], "back": back})
        assert response.status_code == 303
        assert response.headers["Location"] == expected, back


def test_a_reply_shows_its_author_and_when_the_source_saw_it(
    site: ReviewerSite, client: FlaskClient, submitted_site: Submitted
) -> None:
    path = f"/sources/{submitted_site.source_id}"
    token = csrf_of(_page(client, path))
    client.post(f"{path}/reply", data={"csrf_token": token, "reply": "did you keep a copy?"})
    assert "Not seen by the source yet" in _page(client, path)
    sources = site.services.instance.sources
    sources.replies(sources.login(submitted_site.codename))
    page = _page(client, path)
    assert re.search(r"Seen by the source around \d{4}-\d\d-\d\d \d\d:00 UTC", page)
    assert "Reply by admin" in page


@pytest.fixture
def submitted_site(site: ReviewerSite) -> Submitted:
    return submit(site.services.instance)


def test_key_rotation_keeps_a_source_deleted_reply_from_the_source(
    instance: Instance, services: ReviewerServices, init_result: InitResult
) -> None:
    tip = submit(instance)
    reply = instance.sources.add_reply(tip.source_id, "the newsroom's copy", author="admin")
    source = instance.sources.login(tip.codename)
    instance.sources.delete_reply(source, reply)
    old = instance.keyring.open_identities(parse_identity(init_result.recovery_identity))
    services.admin.rotation.rotate()
    report = services.admin.rotation.rewrap(old)
    assert report.skipped == 0
    with instance.store.db.connection() as conn:
        row = conn.execute("SELECT header, blob FROM items WHERE id = ?", (reply,)).fetchone()
    with instance.store.blobs.open_blob(row["blob"]) as payload, pytest.raises(DecryptionError):
        b"".join(decrypt_detached([source.identity], row["header"], payload))
    new = instance.keyring.open_identities(parse_identity(init_result.recovery_identity))
    with instance.store.blobs.open_blob(row["blob"]) as payload:
        assert b"".join(decrypt_detached(new, row["header"], payload)) == b"the newsroom's copy"


# -- search ----------------------------------------------------------------------------


def test_search_finds_messages_file_names_and_notes(
    instance: Instance, services: ReviewerServices, admin: Person
) -> None:
    _, session = login(services, admin)
    search, key, identities = services.search, session.id_hash, session.identities()
    ledger = submit(instance, "The Ministry paid in cash", files={"ledger-2024.xlsx": b"PK"})
    other = submit(instance, "unrelated")
    services.notes.add(other.source_id, "ask about the Harbour contract", author="admin")
    assert search.sources(key, identities, "ministry CASH") == [ledger.source_id]
    assert search.sources(key, identities, "ledger-2024") == [ledger.source_id]
    assert search.sources(key, identities, "harbour") == [other.source_id]
    assert search.sources(key, identities, "ministry harbour") == []
    later = submit(instance, "a later tip about the ministry")  # seen by the next query
    assert search.sources(key, identities, "ministry") == [ledger.source_id, later.source_id]
    services.inbox.delete_source(ledger.source_id, reviewer="admin")
    assert search.sources(key, identities, "ministry") == [later.source_id]
    for bad in ("", "   ", "x" * 201):
        with pytest.raises(InvalidInput):
            search.sources(key, identities, bad)
    assert search.sources(b"another session", [], "ministry") == []  # no keys, nothing found
    search.forget(key)


def test_search_writes_nothing_it_found(site: ReviewerSite, client: FlaskClient) -> None:
    canary = "CANARY-SEARCH-7f3a"
    tip = submit(site.services.instance, f"the word is {canary}")
    page = _page(client, f"/?q={canary.lower()}")
    assert tip.designation in page
    assert tip.designation not in _page(client, "/?q=absent-word")
    data_dir = site.services.instance.settings.data_dir
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
            assert canary.lower().encode() not in path.read_bytes(), path


def test_logging_out_drops_the_search_index(site: ReviewerSite) -> None:
    client = site.client()
    site.log_in(client)
    submit(site.services.instance, "a word to find: quarry")
    _page(client, "/?q=quarry")
    indexes = site.services.search._indexes  # noqa: SLF001 - what the process holds
    assert len(indexes) == 1
    page = _page(client, "/")
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert len(indexes) == 0


@pytest.mark.parametrize("order", ["starred", "newest"])
def test_filtered_pages_cover_every_match_once(
    instance: Instance, services: ReviewerServices, order: str
) -> None:
    tips = [submit(instance, f"tip {n}") for n in range(7)]
    starred = {tip.source_id for tip in tips[:5]}
    for source_id in starred:
        services.inbox.set_starred(source_id, starred=True)
    inbox = type(services.inbox)(instance.store, instance.sources, services.audit, page_size=2)
    chosen = services.triage.resolve(Filters(starred=True))
    seen: list[int] = []
    cursor = None
    while True:
        page = inbox.sources(order=order, cursor=cursor, chosen=chosen)
        seen += [s.id for s in page.sources]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(starred, reverse=True)


def test_a_conversation_says_why_an_entry_does_not_decrypt(
    instance: Instance, services: ReviewerServices
) -> None:
    tip = submit(instance)
    entries = services.inbox.conversation(tip.source_id, [], reviewer="admin").entries
    message = next(e for e in entries if e.kind == "message")
    assert message.text is None
    assert message.undecryptable == "item_key_not_granted"


def test_bulk_zip_holds_every_selected_source_in_its_folder(
    site: ReviewerSite, client: FlaskClient
) -> None:
    one = submit(site.services.instance, "first source", files={"a.pdf": b"%PDF-1 one"})
    two = submit(site.services.instance, "second source", files={"a.pdf": b"%PDF-1 two"})
    left_out = submit(site.services.instance, "not selected")
    token = csrf_of(_page(client, "/"))
    response = client.post("/bulk", data={"csrf_token": token, "action": "zip",
                                          "source": [str(one.source_id), str(two.source_id)]})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = archive.namelist()
    folder_one = one.designation.replace(" ", "-") + "/"
    folder_two = two.designation.replace(" ", "-") + "/"
    assert archive.read(folder_one + "a.pdf") == b"%PDF-1 one"
    assert archive.read(folder_two + "a.pdf") == b"%PDF-1 two"
    assert any(name.startswith(folder_one) and "message" in name for name in names)
    assert not any(name.startswith(left_out.designation.replace(" ", "-")) for name in names)
    missing = client.post("/bulk", data={"csrf_token": token, "action": "zip",
                                         "source": [str(one.source_id), "99999"]})
    assert missing.status_code == 404


def test_opening_a_conversation_marks_its_messages_read_but_not_its_files(
    instance: Instance, services: ReviewerServices, admin: Person
) -> None:
    tip = submit(instance, "read me", files={"x.pdf": b"%PDF"})
    assert services.inbox.source(tip.source_id).unread == 2
    _, session = login(services, admin)
    first = services.inbox.conversation(tip.source_id, session.identities(), reviewer="admin")
    assert [e.seen for e in first.entries if e.kind == "message"] == [False]  # new this time
    assert services.inbox.source(tip.source_id).unread == 1  # the file waits for a download
    again = services.inbox.conversation(tip.source_id, session.identities(), reviewer="admin")
    assert [e.seen for e in again.entries if e.kind == "message"] == [True]
    services.inbox.conversation(tip.source_id, [], reviewer="admin")  # cannot decrypt
    other = submit(instance, "unseen")
    services.inbox.conversation(other.source_id, [], reviewer="admin")
    assert services.inbox.source(other.source_id).unread == 1  # not shown, still unread
