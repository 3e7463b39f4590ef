"""The inbox without HTTP: list, conversation, download, zip, export, reply, delete."""

from __future__ import annotations

import io
import zipfile

import pytest
from reviewer_kit import Person, Submitted, login, submit

from tipbox.crypto import decrypt, parse_identity
from tipbox.crypto.padding import padded_size, payload_size
from tipbox.errors import InvalidInput, NotFound
from tipbox.services.wiring import Instance, ReviewerServices
from tipbox.store.items import SourceFilter, conditions_of, page_query

PDF = b"%PDF-1.4 secret" * 1000


def test_conversation_decrypts_message_and_file_names(
    services: ReviewerServices, admin: Person, submitted: Submitted
) -> None:
    _, session = login(services, admin)
    conversation = services.inbox.conversation(
        submitted.source_id, session.identities(), reviewer="admin"
    )
    kinds = [(e.kind, e.text, e.name, e.size) for e in conversation.entries]
    assert kinds == [
        ("message", "the ministry is lying", None, None),
        ("file", None, "report.pdf", len(PDF)),
    ]
    assert conversation.source.designation == submitted.designation
    assert conversation.source.unread == 2


def test_file_download_is_byte_identical_and_marks_read(
    services: ReviewerServices, admin: Person, submitted: Submitted
) -> None:
    _, session = login(services, admin)
    entries = services.inbox.conversation(submitted.source_id, session.identities(),
                                          reviewer="admin").entries
    download = services.inbox.open_file(submitted.source_id, entries[1].id,
                                        session.identities(), reviewer="admin")
    assert download.name == "report.pdf"
    assert b"".join(download.chunks) == PDF
    # The message was read on the page (issue 13), the file by its download.
    assert services.inbox.source(submitted.source_id).unread == 0
    assert ("download", entries[1].id) in [(e.action, e.item_id) for e in services.audit.recent()]


def test_download_of_another_sources_item_is_not_found(
    services: ReviewerServices, admin: Person, submitted: Submitted, instance: Instance
) -> None:
    other = submit(instance, message="other")
    _, session = login(services, admin)
    entries = services.inbox.conversation(submitted.source_id, session.identities(),
                                          reviewer="admin").entries
    with pytest.raises(NotFound):
        services.inbox.open_file(other.source_id, entries[1].id, session.identities(),
                                 reviewer="admin")


def test_zip_of_unread_streams_every_unread_item(
    services: ReviewerServices, admin: Person, submitted: Submitted
) -> None:
    _, session = login(services, admin)
    data = b"".join(services.inbox.zip_items(submitted.source_id, None, session.identities(),
                                             reviewer="admin"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert archive.read("report.pdf") == PDF
    assert len(names) == 2
    assert services.inbox.source(submitted.source_id).unread == 0
    assert b"".join(services.inbox.zip_items(submitted.source_id, None, session.identities(),
                                             reviewer="admin")).startswith(b"PK")


def test_age_export_decrypts_offline_with_the_recovery_key(
    services: ReviewerServices, admin: Person, submitted: Submitted, init_result
) -> None:
    _, session = login(services, admin)
    entry = services.inbox.conversation(submitted.source_id, session.identities(),
                                        reviewer="admin").entries[1]
    name, chunks = services.inbox.export_age(submitted.source_id, entry.id,
                                             session.identities(), reviewer="admin")
    assert name.endswith(".age")
    exported = b"".join(chunks)
    recovery = parse_identity(init_result.recovery_identity)
    newsroom = services.instance.keyring.open_identities(recovery)
    assert decrypt(newsroom, exported) == PDF
    # The stored payload is padded; the export is the standard file an unpadded writer makes.
    with services.instance.store.db.reading() as conn:
        header, blob = conn.execute("SELECT header, blob FROM items WHERE id = ?",
                                    (entry.id,)).fetchone()
    payload = payload_size(len(PDF))
    assert len(exported) == len(header) + payload
    stored = (services.instance.settings.blobs_dir / blob).stat().st_size
    assert stored == padded_size(payload) > payload


def test_reply_reaches_the_source(
    services: ReviewerServices, admin: Person, submitted: Submitted, instance: Instance
) -> None:
    _, session = login(services, admin)
    reply_id = services.inbox.reply(submitted.source_id, "thank you, call us", reviewer="admin")
    source = instance.sources.login(submitted.codename)
    assert [r.text for r in instance.sources.replies(source)] == ["thank you, call us"]
    entries = services.inbox.conversation(submitted.source_id, session.identities(),
                                          reviewer="admin").entries
    assert (entries[-1].id, entries[-1].kind, entries[-1].text) == (
        reply_id, "reply", "thank you, call us")
    with pytest.raises(InvalidInput):
        services.inbox.reply(submitted.source_id, "   ", reviewer="admin")


def test_delete_item_then_source_shreds_headers_then_blobs(
    services: ReviewerServices, admin: Person, submitted: Submitted, instance: Instance
) -> None:
    _, session = login(services, admin)
    blobs = instance.settings.blobs_dir
    entries = services.inbox.conversation(submitted.source_id, session.identities(),
                                          reviewer="admin").entries
    before = len(list(blobs.iterdir()))
    services.inbox.delete_item(submitted.source_id, entries[1].id, reviewer="admin")
    assert len(list(blobs.iterdir())) == before - 1
    left = services.inbox.conversation(submitted.source_id, session.identities(),
                                       reviewer="admin").entries
    assert [e.kind for e in left] == ["message"]
    services.inbox.delete_item(submitted.source_id, left[0].id, reviewer="admin")
    with instance.store.db.connection() as conn:  # the emptied submission and manifest too
        assert conn.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    assert designation_deleted(services, submitted) == submitted.designation
    assert list(blobs.iterdir()) == []
    with pytest.raises(NotFound):
        services.inbox.source(submitted.source_id)


def designation_deleted(services: ReviewerServices, submitted: Submitted) -> str:
    return services.inbox.delete_source(submitted.source_id, reviewer="admin")


def test_star_read_and_order(services: ReviewerServices, instance: Instance) -> None:
    ids = [submit(instance, message=f"tip {n}").source_id for n in range(5)]
    services.inbox.set_starred(ids[1], starred=True)
    starred = [s.id for s in services.inbox.sources(order="starred").sources]
    newest = [s.id for s in services.inbox.sources(order="newest").sources]
    assert starred == [ids[1], ids[4], ids[3], ids[2], ids[0]]
    assert newest == list(reversed(ids))
    services.inbox.set_seen(ids[0], None, seen=True)
    assert services.inbox.source(ids[0]).unread == 0
    services.inbox.set_seen(ids[0], None, seen=False)
    assert services.inbox.source(ids[0]).unread == 1
    with pytest.raises(NotFound):
        services.inbox.set_starred(10_000, starred=True)
    with pytest.raises(InvalidInput):
        services.inbox.sources(order="sideways")


@pytest.mark.parametrize("order", ["starred", "newest"])
def test_keyset_pages_cover_every_source_once(instance: Instance, services: ReviewerServices,
                                              order: str) -> None:
    insert_sources(instance, 23)
    inbox = type(services.inbox)(instance.store, instance.sources, services.audit, page_size=5)
    for source_id in (3, 9, 17):
        inbox.set_starred(source_id, starred=True)
    seen: list[int] = []
    cursor = None
    while True:
        page = inbox.sources(order=order, cursor=cursor)
        seen += [s.id for s in page.sources]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == list(range(1, 24))
    assert len(seen) == 23
    if order == "starred":
        assert set(seen[:3]) == {3, 9, 17}
    for junk in ("!!", "AAAA", "x" * 200):
        with pytest.raises(InvalidInput):
            inbox.sources(order=order, cursor=junk)


def insert_sources(instance: Instance, count: int, *, hour: int = 3600) -> None:
    """Plain source rows (no items): enough to exercise listing."""
    with instance.store.db.transaction() as conn:
        conn.executemany(
            "INSERT INTO sources (designation, created_hour, last_activity_hour, desk_id)"
            " VALUES (?, ?, ?, 1)",
            [(f"source {n}", hour, hour * (n % 7)) for n in range(count)],
        )


FILTERS = {
    "none": SourceFilter(),
    "status": SourceFilter(status="in_progress"),
    "label": SourceFilter(label=1),
    "assignee": SourceFilter(assignee=1),
    "combined": SourceFilter(status="new", label=1, unread=True, has_files=True, starred=False,
                             from_hour=0, to_hour=3600),
}


@pytest.mark.parametrize("order", ["starred", "newest"])
@pytest.mark.parametrize("with_cursor", [False, True])
@pytest.mark.parametrize("chosen", FILTERS)
def test_list_walks_an_index_without_sorting(instance: Instance, order: str,
                                             with_cursor: bool, chosen: str) -> None:
    """Page cost independent of the number of sources: no scan, no temp sort, filtered or not."""
    fixed_star = FILTERS[chosen].starred is not None
    conditions, values = conditions_of(FILTERS[chosen])
    sql = page_query(order, conditions, with_cursor=with_cursor, fixed_star=fixed_star)
    walks_starred = order == "starred" and not fixed_star
    cursor = (1, 2, 3)[: (3 if walks_starred else 2) * with_cursor]
    params = (*values, *cursor, 50)
    with instance.store.db.connection() as conn:
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "TEMP B-TREE" not in plan
    assert "SCAN s USING INDEX" in plan or "SEARCH s USING INDEX" in plan
    assert "SCAN i" not in plan  # the per-row counts use the items index
